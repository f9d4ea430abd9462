// Delivery reports (SPEC §5, issues 5 and 14): one result per recipient event, with the field
// names and types of the seed's vendor's email delivery-report webhook (its published API
// clients' EmailWebhookDeliveryReport / DeliveryReport models), so handlers written for it work
// unchanged, and the JSON and XML bodies that carry one or more results. Pure: no I/O, no clock
// (callers pass times).
//
// JSON body: {"results":[{
//   vendor fields: "bulkId","messageId","to","sentAt","doneAt","smsCount" (integer, always 1:
//     one email per result),"price":{"pricePerMessage" (number),"currency" (string)},
//     "status":{"groupId","groupName","id","name","description"},
//     "error":{"groupId","groupName","id","name","description","permanent"},
//     "sendingIp" (our address on the delivery connection; absent when no connection was made),
//     "callbackData" (absent when the message gave none), "attemptCount" (integer),
//     "timeToFirstAttempt" (integer ms from sentAt until the first attempt's outcome; absent
//     when there was no attempt, e.g. a suppressed recipient),
//   Tern's extras: "channel":"EMAIL","messageCount" (= smsCount),"smtpReply","mxHost",
//     "attempt" (= attemptCount),"tls"}]}
// XML body: <?xml ...?><reportResponse><results><result> the same fields as elements, status,
//   error and price as nested elements, absent fields absent </result>...</results>
//   </reportResponse>
//
// Status table (groups and ids are the vendor's documented general status codes):
//   event      group              id  name
//   delivered  3 DELIVERED         5  DELIVERED_TO_HANDSET
//   deferred   1 PENDING           3  PENDING_WAITING_DELIVERY   (intermediate report)
//   bounced    2 UNDELIVERABLE     9  UNDELIVERABLE_NOT_DELIVERED
//   expired    4 EXPIRED          15  EXPIRED_EXPIRED
//   rejected   5 REJECTED         14  REJECTED_DESTINATION
// Error table. Group 0 / id 0 NO_ERROR (permanent false) is the vendor's "no error"; the
// vendor's email-specific error ids could not be confirmed, so the rest are Tern's own ids in
// the vendor's general groups (1 HANDSET_ERRORS = the recipient's mailbox, 2 USER_ERRORS = the
// message or sender, 3 OPERATOR_ERRORS = the remote system or the network). Chosen from the
// RFC 3463 enhanced status (else the reply code / phase):
//   7001 EC_MAILBOX_UNKNOWN     g1  X.1.0 X.1.1 X.1.3 X.1.6 (bad / moved destination mailbox)
//   7002 EC_DOMAIN_UNKNOWN      g1  X.1.2, phase "dns" (no such domain / no usable MX)
//   7003 EC_MAILBOX_FULL        g1  X.2.2
//   7004 EC_MAILBOX_UNAVAILABLE g1  other X.2.x
//   7005 EC_POLICY_REJECTED     g2  X.7.x (spam, authentication, reputation)
//   7006 EC_MESSAGE_TOO_LARGE   g2  X.3.4 X.2.3
//   7007 EC_CONTENT_REJECTED    g2  X.6.x
//   7008 EC_CONNECTION_FAILED   g3  X.4.x, or no reply code (network, timeout)
//   7009 EC_REMOTE_ERROR        g3  anything else (X.0.x X.3.x X.5.x, no enhanced status)
// "permanent" is true for bounced and rejected, false for delivered, deferred and expired
// (sending the same message again later may succeed).
//
// Invariants:
// - Every string that reaches a body is valid UTF-8 (invalid sequences become U+FFFD) and, in
//   XML, contains only XML 1.0 characters (other controls become U+FFFD) with <, >, &, ", '
//   escaped: hostile remote SMTP text cannot break either body.
// - Times are "YYYY-MM-DDThh:mm:ss.mmm+0000" (UTC); times before 1970 or after 9999 and
//   unknown event names are refused with an error, never guessed.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/events.hpp"
#include "core/outcome.hpp"
#include "core/result.hpp"

namespace tern::report {

// What the caller knows about one recipient event (store::DeliveryEvent plus the message's
// options and acceptance time).
struct ReportInput {
  std::string bulk_id;
  std::string message_id;
  std::string to;
  int64_t sent_at_ms = 0;  // when the message was accepted
  int64_t done_at_ms = 0;  // when this event happened
  int message_count = 1;
  core::EventKind event = core::EventKind::delivered;  // delivered .. rejected
  int code = 0;                                        // remote reply code, 0 = none
  std::string enhanced;                                // "5.1.1"
  std::string reply;                                   // remote reply text or local reason
  core::Phase phase = core::Phase::none;
  std::string mx_host;
  int attempt = 0;
  bool tls = false;
  std::string callback_data;
  std::string sending_ip = {};   // "" = no connection was made
  int64_t first_attempt_ms = 0;  // 0 = no attempt
};

// The vendor's per-message price. A self-hosted installation charges nothing per message by
// default: the operator configures a flat price and its currency ([webhooks] price_per_message,
// currency; docs/webhooks.md).
struct Price {
  double per_message = 0;
  std::string currency = "EUR";  // ISO 4217
};

struct Status {
  int group_id = 0;
  std::string group_name;
  int id = 0;
  std::string name;
  std::string description;
};

struct ErrorInfo {
  int group_id = 0;
  std::string group_name;
  int id = 0;
  std::string name;
  std::string description;
  bool permanent = false;
};

struct ReportResult {
  std::string bulk_id;
  std::string message_id;
  std::string to;
  std::string sent_at;  // vendor time format
  std::string done_at;
  int message_count = 1;       // smsCount and messageCount
  std::optional<Price> price;  // absent only in items queued by an older version
  Status status;
  ErrorInfo error;
  std::string channel = "EMAIL";
  std::string callback_data;              // "" = absent
  std::string sending_ip = {};            // "" = absent
  int64_t time_to_first_attempt_ms = -1;  // < 0 = absent
  std::string smtp_reply;                 // "550 5.1.1 text"; empty when there was none
  std::string mx_host;
  int attempt = 0;  // attemptCount and attempt
  bool tls = false;
};

// "2026-11-22T10:00:00.000+0000"; an error outside 1970-01-01 .. 9999-12-31.
core::Result<std::string> format_time(int64_t unix_ms);

// One result for one event; an error for an event that is not a delivery outcome (accepted,
// opened, clicked, webhook) or an unformattable time.
core::Result<ReportResult> make_result(const ReportInput& in, const Price& price = {});

// The error object for an outcome (the table above); `event` decides "permanent".
ErrorInfo classify_error(core::EventKind event, int code, const std::string& enhanced,
                         core::Phase phase);

// Bodies holding every result given, in order (an empty list gives an empty "results").
std::string to_json(const std::vector<ReportResult>& results);
std::string to_xml(const std::vector<ReportResult>& results);

// One element of to_json's "results" as a JSON object (the webhook outbox stores results this
// way and renders them as JSON or XML when it sends), and its inverse. result_from_json refuses
// anything to_json could not have written: not an object, a missing or mistyped field, a time
// not in the vendor format, numbers outside int, more than 1 MiB. Fields added after the first
// release (smsCount, price, sendingIp, attemptCount, timeToFirstAttempt, callbackData when
// empty) and the extras (smtpReply, mxHost, attempt, tls) may be absent: items queued by an
// older version still render.
std::string result_to_json_item(const ReportResult& r);
core::Result<ReportResult> result_from_json(std::string_view item);

// Helpers, exposed for tests and for other writers of remote text.
std::string valid_utf8(std::string_view s);  // invalid sequences -> U+FFFD
std::string xml_escape(std::string_view s);  // valid_utf8 + XML 1.0 chars only + escapes

}  // namespace tern::report
