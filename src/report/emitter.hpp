// From engine facts to report facts (SPEC §5, issue 5). Pure: no I/O, no clock.
//  - records_for(): an accepted message → one store::MessageRecord per recipient (the message
//    log's rows), with the per-recipient message id, the bulk id (X-IB-bulk-id, else the queue
//    id: one generated per submission, stable across replays) and the callback data.
//  - report_for(): one delivery event of one recipient → zero or one outbox item (kind
//    "report"): final events (delivered, bounced, expired, rejected) whenever a notify URL is
//    known; "deferred" only with intermediate reports on (a PENDING report carrying the
//    temporary error); nothing for accepted/opened/clicked/webhook events.
//
// Where the settings come from: the message's own options (options_json, written at acceptance
// with the account defaults of that moment merged in) win; the account's current defaults fill
// what the message does not say (notify URL, format, intermediateReport when absent).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "queue/envelope.hpp"
#include "report/report.hpp"
#include "store/message_log.hpp"
#include "store/outbox.hpp"
#include "store/store.hpp"

namespace tern::report {

// The account's report defaults (store::AccountSettings notify_url, report_format,
// intermediate_report).
struct AccountReportDefaults {
  std::string notify_url;
  store::ReportFormat report_format = store::ReportFormat::json;
  bool intermediate_report = false;
};

std::vector<store::MessageRecord> records_for(const queue::QueuedMessage& m);

// The row of `records` the event is about (same queue id, same recipient with the domain
// compared case-insensitively); null when there is none.
const store::MessageRecord* record_for_event(const std::vector<store::MessageRecord>& records,
                                             const store::DeliveryEvent& e);

// The outbox item for the event, nullopt when no report is due (no notify URL, an event that
// is not reported, a deferral without intermediate reports). An error only for what
// make_result refuses (times out of range). created_ms and next_attempt_ms are left 0 (now).
// `price` is the operator's per-message price ([webhooks] price_per_message, currency).
core::Result<std::optional<store::OutboxItem>> report_for(const store::DeliveryEvent& e,
                                                          const store::MessageRecord& rec,
                                                          const AccountReportDefaults& account,
                                                          const Price& price = {});

}  // namespace tern::report
