#include "policy/options.hpp"

#include <nlohmann/json.hpp>

#include "core/address.hpp"
#include "core/utf8.hpp"

namespace tern::policy {

namespace {

constexpr size_t kMaxUrl = 2048;
constexpr size_t kMaxText = 4096;

core::Status invalid(std::string_view canonical, std::string_view why) {
  return {550, "5.6.0", "Invalid " + std::string(canonical) + " header: " + std::string(why)};
}

bool printable(std::string_view v) {
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if (u < 32 && c != '\t') return false;
    if (u == 127) return false;
  }
  return true;
}

}  // namespace

bool is_option_header(std::string_view name) {
  return name.size() >= 5 && core::iequals(name.substr(0, 5), "X-IB-");
}

bool is_http_url(std::string_view url) {
  if (url.size() > kMaxUrl) return false;
  size_t skip;
  if (url.size() > 7 && core::iequals(url.substr(0, 7), "http://"))
    skip = 7;
  else if (url.size() > 8 && core::iequals(url.substr(0, 8), "https://"))
    skip = 8;
  else
    return false;
  for (char c : url) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 32 || u == 127) return false;
  }
  std::string_view rest = url.substr(skip);
  size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  size_t at = authority.rfind('@');
  std::string_view host = at == std::string_view::npos ? authority : authority.substr(at + 1);
  if (host.empty() || host.front() == ':') return false;
  return true;
}

OptionVerdict set_option(MessageOptions& o, std::set<std::string>& seen, std::string_view name,
                         std::string_view v) {
  static const char* const kNames[] = {
      "X-IB-bulk-id",    "X-IB-tracking-url",        "X-IB-intermediate-report",
      "X-IB-notify-url", "X-IB-notify-content-type", "X-IB-callback-data"};
  const char* canon = nullptr;
  for (const char* n : kNames)
    if (core::iequals(name, n)) canon = n;
  if (!canon) return {};  // unknown X-IB-*: removed, ignored
  if (!seen.insert(canon).second) return {canon, "must appear at most once"};
  std::string_view c = canon;
  if (!core::valid_utf8(v)) return {canon, "must be valid UTF-8"};
  if (c == "X-IB-tracking-url" || c == "X-IB-notify-url") {
    if (!is_http_url(v)) return {canon, "must be an http(s) URL"};
    (c == "X-IB-tracking-url" ? o.tracking_url : o.notify_url) = std::string(v);
  } else if (c == "X-IB-intermediate-report") {
    if (core::iequals(v, "true"))
      o.intermediate_report = true;
    else if (core::iequals(v, "false"))
      o.intermediate_report = false;
    else
      return {canon, "must be true or false"};
  } else if (c == "X-IB-notify-content-type") {
    if (core::iequals(v, "application/json"))
      o.notify_content_type = "application/json";
    else if (core::iequals(v, "application/xml"))
      o.notify_content_type = "application/xml";
    else
      return {canon, "must be application/json or application/xml"};
  } else if (c == "X-IB-bulk-id") {
    if (v.empty() || v.size() > 255 || !printable(v))
      return {canon, "must be 1-255 printable characters"};
    o.bulk_id = std::string(v);
  } else {
    if (v.size() > kMaxText || !printable(v))
      return {canon, "must be at most 4096 printable characters"};
    o.callback_data = std::string(v);
  }
  return {canon, nullptr};
}

core::Status apply_option(MessageOptions& o, std::set<std::string>& seen, std::string_view name,
                          std::string_view v) {
  const OptionVerdict r = set_option(o, seen, name, v);
  if (r.problem) return invalid(r.canonical, r.problem);
  return {250, "2.0.0", "Ok"};
}

std::string to_json(const MessageOptions& o) {
  nlohmann::json j = nlohmann::json::object();
  if (!o.bulk_id.empty()) j["bulkId"] = o.bulk_id;
  if (!o.tracking_url.empty()) j["trackingUrl"] = o.tracking_url;
  if (!o.notify_url.empty()) j["notifyUrl"] = o.notify_url;
  if (!o.notify_content_type.empty()) j["notifyContentType"] = o.notify_content_type;
  if (!o.callback_data.empty()) j["callbackData"] = o.callback_data;
  j["intermediateReport"] = o.intermediate_report;
  // Values are validated UTF-8 by apply_option; options merged from elsewhere never make
  // this throw (an invalid byte would become U+FFFD).
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

MessageOptions options_from_json(std::string_view json) {
  MessageOptions o;
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_object()) return o;
  auto str = [&](const char* k, std::string& out) {
    if (auto it = j.find(k); it != j.end() && it->is_string()) out = it->get<std::string>();
  };
  str("bulkId", o.bulk_id);
  str("trackingUrl", o.tracking_url);
  str("notifyUrl", o.notify_url);
  str("notifyContentType", o.notify_content_type);
  str("callbackData", o.callback_data);
  if (auto it = j.find("intermediateReport"); it != j.end() && it->is_boolean())
    o.intermediate_report = it->get<bool>();
  return o;
}

}  // namespace tern::policy
