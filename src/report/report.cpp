#include "report/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

namespace tern::report {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Decodes one strict UTF-8 sequence at s[i] (RFC 3629: no overlongs, no surrogates, at most
// U+10FFFF). Returns the length, or 0 when the bytes there are not valid UTF-8.
size_t decode(std::string_view s, size_t i, uint32_t& cp) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char c = b(0);
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  size_t n;
  uint32_t min;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
    min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
    min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
    min = 0x10000;
  } else
    return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

bool xml_char(uint32_t cp) {
  return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
         (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

struct Row {
  core::EventKind event;
  Status status;
  bool permanent;
};

const Row kRows[] = {
    {core::EventKind::delivered,
     {3, "DELIVERED", 5, "DELIVERED_TO_HANDSET",
      "Message delivered to the recipient's mail server"},
     false},
    {core::EventKind::deferred,
     {1, "PENDING", 3, "PENDING_WAITING_DELIVERY",
      "Delivery deferred by a temporary failure; it will be retried"},
     false},
    {core::EventKind::bounced,
     {2, "UNDELIVERABLE", 9, "UNDELIVERABLE_NOT_DELIVERED", "Message could not be delivered"},
     true},
    {core::EventKind::expired,
     {4, "EXPIRED", 15, "EXPIRED_EXPIRED", "Message expired before it could be delivered"},
     false},
    {core::EventKind::rejected,
     {5, "REJECTED", 14, "REJECTED_DESTINATION", "Message rejected before a delivery attempt"},
     true},
};

// "X.Y.Z" -> subject Y and detail Z; false when not of that shape.
bool split_enhanced(const std::string& e, int& subject, int& detail) {
  int cls = 0;
  char tail = 0;
  if (std::sscanf(e.c_str(), "%d.%d.%d%c", &cls, &subject, &detail, &tail) != 3) return false;
  return (cls == 2 || cls == 4 || cls == 5) && subject >= 0 && detail >= 0;
}

ErrorInfo err(int group, int id, const char* name, const char* desc) {
  static const char* const groups[] = {"OK", "HANDSET_ERRORS", "USER_ERRORS", "OPERATOR_ERRORS"};
  return {group, groups[group], id, name, desc, false};
}

}  // namespace

std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    size_t n = decode(s, i, cp);
    if (n == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

std::string xml_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 16);
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    size_t n = decode(s, i, cp);
    if (n == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    if (!xml_char(cp))
      out += kReplacement;
    else if (cp == '<')
      out += "&lt;";
    else if (cp == '>')
      out += "&gt;";
    else if (cp == '&')
      out += "&amp;";
    else if (cp == '"')
      out += "&quot;";
    else if (cp == '\'')
      out += "&apos;";
    else if (cp == '\r')
      out += "&#xD;";  // a parser would turn a raw CR into LF
    else
      out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

core::Result<std::string> format_time(int64_t unix_ms) {
  constexpr int64_t kMax = 253402300799999;  // 9999-12-31T23:59:59.999Z
  if (unix_ms < 0 || unix_ms > kMax)
    return core::Error::perm("report time out of range: " + std::to_string(unix_ms));
  int64_t secs = unix_ms / 1000, ms = unix_ms % 1000;
  int64_t days = secs / 86400, rem = secs % 86400;
  // Civil date from days since 1970-01-01 (H. Hinnant's algorithm; days >= 0 here).
  int64_t z = days + 719468;
  int64_t era = z / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03d+0000", int(y), int(m), int(d),
                int(rem / 3600), int(rem % 3600 / 60), int(rem % 60), int(ms));
  return std::string(buf);
}

ErrorInfo classify_error(core::EventKind event, int code, const std::string& enhanced,
                         core::Phase phase) {
  if (event == core::EventKind::delivered) return err(0, 0, "NO_ERROR", "No error");
  ErrorInfo e;
  int subject = -1, detail = -1;
  bool has = split_enhanced(enhanced, subject, detail);
  if (has && subject == 1 && detail == 2)
    e = err(1, 7002, "EC_DOMAIN_UNKNOWN",
            "The recipient's domain does not exist or accepts no mail");
  else if (has && subject == 1 && (detail == 0 || detail == 1 || detail == 3 || detail == 6))
    e = err(1, 7001, "EC_MAILBOX_UNKNOWN", "The recipient's mailbox does not exist");
  else if (has && subject == 2 && detail == 2)
    e = err(1, 7003, "EC_MAILBOX_FULL", "The recipient's mailbox is full");
  else if (has && ((subject == 3 && detail == 4) || (subject == 2 && detail == 3)))
    e = err(2, 7006, "EC_MESSAGE_TOO_LARGE", "The message is larger than the recipient accepts");
  else if (has && subject == 2)
    e = err(1, 7004, "EC_MAILBOX_UNAVAILABLE", "The recipient's mailbox is unavailable");
  else if (has && subject == 7)
    e = err(2, 7005, "EC_POLICY_REJECTED",
            "Refused by the recipient's policy (spam, authentication, reputation)");
  else if (has && subject == 6)
    e = err(2, 7007, "EC_CONTENT_REJECTED", "The message content was refused");
  else if (phase == core::Phase::dns)
    e = err(1, 7002, "EC_DOMAIN_UNKNOWN",
            "The recipient's domain does not exist or accepts no mail");
  else if ((has && subject == 4) || code == 0)
    e = err(3, 7008, "EC_CONNECTION_FAILED", "The recipient's mail server could not be reached");
  else
    e = err(3, 7009, "EC_REMOTE_ERROR", "The recipient's mail server reported an error");
  for (const Row& r : kRows)
    if (event == r.event) e.permanent = r.permanent;
  return e;
}

core::Result<ReportResult> make_result(const ReportInput& in, const Price& price) {
  const Row* row = nullptr;
  for (const Row& r : kRows)
    if (in.event == r.event) row = &r;
  if (!row)
    return core::Error::invalid("not a delivery outcome: " + std::string(to_string(in.event)));
  auto sent = format_time(in.sent_at_ms);
  if (!sent) return sent.error();
  auto done = format_time(in.done_at_ms);
  if (!done) return done.error();

  ReportResult r;
  r.bulk_id = in.bulk_id;
  r.message_id = in.message_id;
  r.to = in.to;
  r.sent_at = std::move(sent.value());
  r.done_at = std::move(done.value());
  r.message_count = in.message_count;
  r.price = price;
  r.status = row->status;
  r.error = classify_error(in.event, in.code, in.enhanced, in.phase);
  r.callback_data = in.callback_data;
  if (in.code != 0) r.smtp_reply = std::to_string(in.code) + ' ';
  if (!in.enhanced.empty()) r.smtp_reply += in.enhanced + ' ';
  r.smtp_reply += in.reply;
  while (!r.smtp_reply.empty() && r.smtp_reply.back() == ' ') r.smtp_reply.pop_back();
  r.mx_host = in.mx_host;
  r.attempt = in.attempt;
  r.tls = in.tls;
  r.sending_ip = in.sending_ip;
  if (in.first_attempt_ms > 0)
    r.time_to_first_attempt_ms = std::max<int64_t>(0, in.first_attempt_ms - in.sent_at_ms);
  return r;
}

namespace {

nlohmann::json result_object(const ReportResult& r) {
  using nlohmann::json;
  auto s = [](const std::string& v) { return valid_utf8(v); };
  json o;
  o["bulkId"] = s(r.bulk_id);
  o["messageId"] = s(r.message_id);
  o["to"] = s(r.to);
  o["sentAt"] = r.sent_at;
  o["doneAt"] = r.done_at;
  o["smsCount"] = r.message_count;
  o["messageCount"] = r.message_count;
  if (r.price)
    o["price"] = {{"pricePerMessage", r.price->per_message}, {"currency", s(r.price->currency)}};
  o["status"] = {{"groupId", r.status.group_id},
                 {"groupName", r.status.group_name},
                 {"id", r.status.id},
                 {"name", r.status.name},
                 {"description", r.status.description}};
  o["error"] = {{"groupId", r.error.group_id},
                {"groupName", r.error.group_name},
                {"id", r.error.id},
                {"name", r.error.name},
                {"description", r.error.description},
                {"permanent", r.error.permanent}};
  o["channel"] = r.channel;
  if (!r.callback_data.empty()) o["callbackData"] = s(r.callback_data);
  if (!r.sending_ip.empty()) o["sendingIp"] = s(r.sending_ip);
  o["attemptCount"] = r.attempt;
  if (r.time_to_first_attempt_ms >= 0) o["timeToFirstAttempt"] = r.time_to_first_attempt_ms;
  o["smtpReply"] = s(r.smtp_reply);
  o["mxHost"] = s(r.mx_host);
  o["attempt"] = r.attempt;
  o["tls"] = r.tls;
  return o;
}

std::string dump(const nlohmann::json& j) {
  // Strings are valid UTF-8 already; `replace` is the belt to those braces.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Field readers for result_from_json: each returns false (and names the field) on a missing
// or mistyped value, so the error says what was wrong.
struct Reader {
  const nlohmann::json& o;
  std::string where;
  std::string error;

  bool str(const char* key, std::string& out, bool required = true) {
    auto it = o.find(key);
    if (it == o.end()) {
      if (!required) return true;
      return fail(key, "missing");
    }
    if (!it->is_string()) return fail(key, "not a string");
    out = it->get<std::string>();
    return true;
  }
  bool num(const char* key, int& out, bool required = true) {
    auto it = o.find(key);
    if (it == o.end()) {
      if (!required) return true;
      return fail(key, "missing");
    }
    if (!it->is_number_integer()) return fail(key, "not an integer");
    if (it->is_number_unsigned()) {
      auto v = it->get<uint64_t>();
      if (v > static_cast<uint64_t>(INT32_MAX)) return fail(key, "out of range");
      out = static_cast<int>(v);
      return true;
    }
    auto v = it->get<int64_t>();
    if (v < INT32_MIN || v > INT32_MAX) return fail(key, "out of range");
    out = static_cast<int>(v);
    return true;
  }
  bool num64(const char* key, int64_t& out) {  // optional
    auto it = o.find(key);
    if (it == o.end()) return true;
    if (!it->is_number_integer()) return fail(key, "not an integer");
    if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      return fail(key, "out of range");
    out = it->get<int64_t>();
    return true;
  }
  bool number(const char* key, double& out) {
    auto it = o.find(key);
    if (it == o.end()) return fail(key, "missing");
    if (!it->is_number()) return fail(key, "not a number");
    out = it->get<double>();
    // JSON has no infinity (1e400 parses to one and would be written back as null).
    return std::isfinite(out) ? true : fail(key, "out of range");
  }
  bool boolean(const char* key, bool& out, bool required = true) {
    auto it = o.find(key);
    if (it == o.end()) {
      if (!required) return true;
      return fail(key, "missing");
    }
    if (!it->is_boolean()) return fail(key, "not a boolean");
    out = it->get<bool>();
    return true;
  }
  bool time(const char* key, std::string& out) {
    if (!str(key, out)) return false;
    // "YYYY-MM-DDThh:mm:ss.mmm+0000"
    static constexpr std::string_view shape = "dddd-dd-ddTdd:dd:dd.ddd+0000";
    bool good = out.size() == shape.size();
    for (size_t i = 0; good && i < shape.size(); ++i)
      good = shape[i] == 'd' ? (out[i] >= '0' && out[i] <= '9') : out[i] == shape[i];
    return good ? true : fail(key, "not a report time");
  }
  bool fail(const char* key, const char* what) {
    error = "report result: " + where + key + " " + what;
    return false;
  }
};

}  // namespace

std::string result_to_json_item(const ReportResult& r) { return dump(result_object(r)); }

core::Result<ReportResult> result_from_json(std::string_view item) {
  using nlohmann::json;
  constexpr size_t kMaxItem = 1 << 20;
  if (item.size() > kMaxItem) return core::Error::perm("report result: larger than 1 MiB");
  json o = json::parse(item, nullptr, /*allow_exceptions=*/false);
  if (o.is_discarded()) return core::Error::perm("report result: not valid JSON");
  if (!o.is_object()) return core::Error::perm("report result: not a JSON object");
  ReportResult r;
  Reader top{o, "", ""};
  bool good = top.str("bulkId", r.bulk_id) && top.str("messageId", r.message_id) &&
              top.str("to", r.to) && top.time("sentAt", r.sent_at) &&
              top.time("doneAt", r.done_at) && top.num("messageCount", r.message_count) &&
              top.str("channel", r.channel) && top.str("callbackData", r.callback_data, false) &&
              top.str("sendingIp", r.sending_ip, false) &&
              top.num64("timeToFirstAttempt", r.time_to_first_attempt_ms) &&
              top.str("smtpReply", r.smtp_reply, false) && top.str("mxHost", r.mx_host, false) &&
              top.num("attempt", r.attempt, false) && top.boolean("tls", r.tls, false);
  if (!good) return core::Error::perm(top.error);
  if (auto it = o.find("price"); it != o.end()) {
    if (!it->is_object()) return core::Error::perm("report result: price not an object");
    Reader pr{*it, "price.", ""};
    Price p;
    if (!(pr.number("pricePerMessage", p.per_message) && pr.str("currency", p.currency)))
      return core::Error::perm(pr.error);
    r.price = std::move(p);
  }
  for (const char* key : {"status", "error"}) {
    auto it = o.find(key);
    if (it == o.end() || !it->is_object())
      return core::Error::perm(std::string("report result: ") + key +
                               (it == o.end() ? " missing" : " not an object"));
  }
  Reader st{o["status"], "status.", ""};
  if (!(st.num("groupId", r.status.group_id) && st.str("groupName", r.status.group_name) &&
        st.num("id", r.status.id) && st.str("name", r.status.name) &&
        st.str("description", r.status.description)))
    return core::Error::perm(st.error);
  Reader er{o["error"], "error.", ""};
  if (!(er.num("groupId", r.error.group_id) && er.str("groupName", r.error.group_name) &&
        er.num("id", r.error.id) && er.str("name", r.error.name) &&
        er.str("description", r.error.description) && er.boolean("permanent", r.error.permanent)))
    return core::Error::perm(er.error);
  return r;
}

std::string to_json(const std::vector<ReportResult>& results) {
  nlohmann::json arr = nlohmann::json::array();
  for (const ReportResult& r : results) arr.push_back(result_object(r));
  return dump(nlohmann::json{{"results", std::move(arr)}});
}

namespace {
// A price as XML text: the shortest form that reads back as the same double ("0", "0.0012").
std::string format_price(double v) {
  if (!std::isfinite(v)) return "0";
  char buf[32];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}
}  // namespace

std::string to_xml(const std::vector<ReportResult>& results) {
  std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><reportResponse><results>";
  auto el = [&x](const char* name, std::string_view value) {
    x += '<';
    x += name;
    x += '>';
    x += xml_escape(value);
    x += "</";
    x += name;
    x += '>';
  };
  auto num = [&el](const char* name, int64_t v) { el(name, std::to_string(v)); };
  for (const ReportResult& r : results) {
    x += "<result>";
    el("bulkId", r.bulk_id);
    el("messageId", r.message_id);
    el("to", r.to);
    el("sentAt", r.sent_at);
    el("doneAt", r.done_at);
    num("smsCount", r.message_count);
    num("messageCount", r.message_count);
    if (r.price) {
      x += "<price>";
      el("pricePerMessage", format_price(r.price->per_message));
      el("currency", r.price->currency);
      x += "</price>";
    }
    x += "<status>";
    num("groupId", r.status.group_id);
    el("groupName", r.status.group_name);
    num("id", r.status.id);
    el("name", r.status.name);
    el("description", r.status.description);
    x += "</status><error>";
    num("groupId", r.error.group_id);
    el("groupName", r.error.group_name);
    num("id", r.error.id);
    el("name", r.error.name);
    el("description", r.error.description);
    el("permanent", r.error.permanent ? "true" : "false");
    x += "</error>";
    el("channel", r.channel);
    if (!r.callback_data.empty()) el("callbackData", r.callback_data);
    if (!r.sending_ip.empty()) el("sendingIp", r.sending_ip);
    num("attemptCount", r.attempt);
    if (r.time_to_first_attempt_ms >= 0) num("timeToFirstAttempt", r.time_to_first_attempt_ms);
    el("smtpReply", r.smtp_reply);
    el("mxHost", r.mx_host);
    num("attempt", r.attempt);
    el("tls", r.tls ? "true" : "false");
    x += "</result>";
  }
  x += "</results></reportResponse>";
  return x;
}

}  // namespace tern::report
