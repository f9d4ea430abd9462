#include "report/emitter.hpp"

#include <nlohmann/json.hpp>

#include "core/address.hpp"
#include "report/report.hpp"

namespace tern::report {

namespace {

std::string canonical(const std::string& addr) {
  auto mb = core::parse_mailbox(addr);
  return mb ? mb->str() : addr;
}

bool is_final_event(core::EventKind e) {
  const auto s = core::status_of(e);
  return s && core::is_final(*s);
}

// The report-related X-IB options of a message (policy::to_json's keys); malformed JSON or
// mistyped values count as absent.
struct Options {
  std::string bulk_id, notify_url, notify_content_type, callback_data;
  std::optional<bool> intermediate;
};

Options parse_options(const std::string& options_json) {
  Options o;
  auto j = nlohmann::json::parse(options_json, nullptr, false);
  if (!j.is_object()) return o;
  auto str = [&](const char* k, std::string& out) {
    if (auto it = j.find(k); it != j.end() && it->is_string()) out = it->get<std::string>();
  };
  str("bulkId", o.bulk_id);
  str("notifyUrl", o.notify_url);
  str("notifyContentType", o.notify_content_type);
  str("callbackData", o.callback_data);
  if (auto it = j.find("intermediateReport"); it != j.end() && it->is_boolean())
    o.intermediate = it->get<bool>();
  return o;
}

}  // namespace

std::vector<store::MessageRecord> records_for(const queue::QueuedMessage& m) {
  const Options o = parse_options(m.options_json);
  std::vector<store::MessageRecord> out;
  out.reserve(m.recipients.size());
  for (size_t i = 0; i < m.recipients.size(); ++i) {
    store::MessageRecord r;
    r.queue_id = m.id;
    r.rcpt_index = static_cast<int>(i);
    r.message_id = store::make_message_id(m.id, r.rcpt_index);
    r.account_id = m.account_id;
    r.bulk_id = o.bulk_id.empty() ? m.id : o.bulk_id;
    r.sender = m.sender;
    r.recipient = m.recipients[i].address;
    r.header_from = m.header_from;
    r.subject = m.subject;
    r.status = core::MessageStatus::accepted;
    r.callback_data = o.callback_data;
    r.options_json = m.options_json.empty() ? "{}" : m.options_json;
    r.created_ms = m.received_ms;
    r.updated_ms = m.received_ms;
    out.push_back(std::move(r));
  }
  return out;
}

const store::MessageRecord* record_for_event(const std::vector<store::MessageRecord>& records,
                                             const store::DeliveryEvent& e) {
  const std::string want = canonical(e.recipient);
  for (const auto& r : records)
    if (r.queue_id == e.queue_id && canonical(r.recipient) == want) return &r;
  return nullptr;
}

core::Result<std::optional<store::OutboxItem>> report_for(const store::DeliveryEvent& e,
                                                          const store::MessageRecord& rec,
                                                          const AccountReportDefaults& account,
                                                          const Price& price) {
  const bool final_event = is_final_event(e.event);
  if (!final_event && e.event != core::EventKind::deferred)
    return std::optional<store::OutboxItem>();
  const Options o = parse_options(rec.options_json);
  if (e.event == core::EventKind::deferred && !o.intermediate.value_or(account.intermediate_report))
    return std::optional<store::OutboxItem>();
  const std::string url = o.notify_url.empty() ? account.notify_url : o.notify_url;
  if (url.empty()) return std::optional<store::OutboxItem>();
  std::string content_type = o.notify_content_type;
  if (content_type != "application/json" && content_type != "application/xml")
    content_type =
        account.report_format == store::ReportFormat::xml ? "application/xml" : "application/json";

  ReportInput in;
  in.bulk_id = rec.bulk_id;
  in.message_id = rec.message_id;
  in.to = rec.recipient;
  in.sent_at_ms = rec.created_ms;
  in.done_at_ms = e.time_ms;
  in.event = e.event;
  in.code = e.code;
  in.enhanced = e.enhanced;
  in.reply = e.reply;
  in.mx_host = e.mx_host;
  in.attempt = e.attempt;
  in.tls = e.tls;
  in.phase = e.phase;
  in.callback_data = rec.callback_data;
  in.sending_ip = e.sending_ip;
  in.first_attempt_ms = e.first_attempt_ms;
  auto result = make_result(in, price);
  if (!result) return result.error();

  store::OutboxItem item;
  item.account_id = rec.account_id;
  item.kind = store::OutboxKind::report;
  item.url = url;
  item.content_type = content_type;
  item.message_id = rec.message_id;
  item.queue_id = rec.queue_id;
  item.recipient = rec.recipient;
  item.item = result_to_json_item(result.value());
  return std::optional<store::OutboxItem>(std::move(item));
}

}  // namespace tern::report
