// Account delivery settings: parsing, validation and the text forms of settings.hpp.
// Invariants: apply_setting changes `s` only when it returns ok (a bad value leaves the key as
// it was); every stored value is free of CR, LF and NUL; error messages name the key and never
// repeat a secret (relay.username / relay.password values are not echoed).
#include "store/settings.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "core/address.hpp"
#include "policy/options.hpp"

namespace tern::store {

namespace {

constexpr size_t kMaxList = 10;
// Longer than any real host name, user name or password, short enough that a setting can never
// bloat a command line or a header.
constexpr size_t kMaxValue = 512;

core::Error bad(std::string_view key, std::string_view reason) {
  return core::Error::perm(fmt::format("{}: {}", key, reason));
}

// For messages: keeps printable ASCII, shows everything else as \xNN, and cuts long input.
std::string printable(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size() && out.size() < 80; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\')
      out += static_cast<char>(c);
    else
      out += fmt::format("\\x{:02x}", c);
  }
  if (out.size() >= 80) out += "...";
  return out;
}

bool has_line_break_or_nul(std::string_view v) {
  return v.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

bool ip_literal(std::string_view h) {
  std::string z(h);
  unsigned char buf[16];
  return inet_pton(AF_INET, z.c_str(), buf) == 1 || inet_pton(AF_INET6, z.c_str(), buf) == 1;
}

// A DNS host name (letters, digits, hyphens; labels 1..63, name up to 253, one trailing dot
// dropped) whose last label is not all digits, or an IPv4/IPv6 literal. Returned lower-case.
core::Result<std::string> parse_host(std::string_view key, std::string_view v) {
  if (v.size() > 255) return bad(key, "host name too long");
  if (v.size() >= 2 && v.front() == '[' && v.back() == ']') v = v.substr(1, v.size() - 2);
  if (ip_literal(v)) return core::to_lower(v);
  if (!v.empty() && v.back() == '.') v.remove_suffix(1);
  if (v.empty() || v.size() > 253)
    return bad(key, fmt::format("not a host name or IP address: \"{}\"", printable(v)));
  size_t label = 0;
  bool label_digits = true;
  for (size_t i = 0; i <= v.size(); ++i) {
    const char c = i < v.size() ? v[i] : '.';
    if (c == '.') {
      if (label == 0 || label > 63 || v[i - 1] == '-')
        return bad(key, fmt::format("not a host name or IP address: \"{}\"", printable(v)));
      if (i == v.size() && label_digits)
        return bad(key, fmt::format("not a host name or IP address: \"{}\"", printable(v)));
      label = 0;
      label_digits = true;
      continue;
    }
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    if (c == ':' && v.find(':') == v.rfind(':'))
      return bad(key, "give the host without a port (set relay.port)");
    if (!alpha && !digit && !(c == '-' && label > 0))
      return bad(key, fmt::format("not a host name or IP address: \"{}\"", printable(v)));
    label_digits = label_digits && digit;
    ++label;
  }
  return core::to_lower(v);
}

core::Result<std::string> parse_address(std::string_view key, std::string_view v) {
  auto mb = core::parse_mailbox(v);
  if (!mb) return bad(key, fmt::format("invalid address \"{}\"", printable(v)));
  return mb->str();
}

// Splits at commas outside double quotes ("a,b"@x is one address), trims blanks around each.
std::vector<std::string_view> split_list(std::string_view v) {
  std::vector<std::string_view> out;
  size_t start = 0;
  bool quoted = false;
  for (size_t i = 0; i <= v.size(); ++i) {
    if (i < v.size()) {
      if (v[i] == '\\' && quoted) {
        ++i;
        continue;
      }
      if (v[i] == '"') quoted = !quoted;
      if (v[i] != ',' || quoted) continue;
    }
    std::string_view piece = v.substr(start, i - start);
    while (!piece.empty() && (piece.front() == ' ' || piece.front() == '\t'))
      piece.remove_prefix(1);
    while (!piece.empty() && (piece.back() == ' ' || piece.back() == '\t')) piece.remove_suffix(1);
    out.push_back(piece);
    start = i + 1;
  }
  return out;
}

core::Result<std::vector<std::string>> parse_list(std::string_view key, std::string_view v) {
  std::vector<std::string> out;
  for (std::string_view piece : split_list(v)) {
    if (piece.empty()) return bad(key, "empty address in the list");
    auto a = parse_address(key, piece);
    if (!a) return a.error();
    if (std::find(out.begin(), out.end(), *a) == out.end()) out.push_back(std::move(a).value());
  }
  if (out.size() > kMaxList)
    return bad(key, fmt::format("at most {} addresses ({} given)", kMaxList, out.size()));
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& a : v) {
    if (!out.empty()) out += ',';
    out += a;
  }
  return out;
}

}  // namespace

const std::vector<std::string>& setting_keys() {
  static const std::vector<std::string> keys = {"route",
                                                "relay.host",
                                                "relay.port",
                                                "relay.security",
                                                "relay.username",
                                                "relay.password",
                                                "mail_from",
                                                "cc",
                                                "bcc",
                                                "bounce_notices",
                                                "notify_url",
                                                "report_format",
                                                "intermediate_report",
                                                "tracking_url",
                                                "webhook_secret"};
  return keys;
}

bool is_secret_key(std::string_view key) {
  return key == "relay.password" || key == "webhook_secret";
}

core::Result<void> apply_setting(AccountSettings& s, std::string_view key, std::string_view value) {
  const auto& keys = setting_keys();
  if (std::find(keys.begin(), keys.end(), key) == keys.end())
    return core::Error::perm(
        fmt::format("{}: unknown setting (known: route, relay.host, "
                    "relay.port, relay.security, relay.username, "
                    "relay.password, mail_from, cc, bcc, bounce_notices, "
                    "notify_url, report_format, intermediate_report, "
                    "tracking_url, webhook_secret)",
                    printable(key)));
  if (has_line_break_or_nul(value)) return bad(key, "value must not contain CR, LF or NUL");
  if (value.size() > kMaxValue)
    return bad(key, fmt::format("value longer than {} characters", kMaxValue));
  const AccountSettings defaults;

  if (key == "route") {
    if (value.empty()) {
      s.route = defaults.route;
    } else if (auto r = parse_route(value)) {
      s.route = *r;
    } else {
      return bad(key, "must be platform, custom or sandbox");
    }
  } else if (key == "relay.host") {
    if (value.empty()) {
      s.relay_host.clear();
    } else {
      auto h = parse_host(key, value);
      if (!h) return h.error();
      s.relay_host = std::move(h).value();
    }
  } else if (key == "relay.port") {
    if (value.empty()) {
      s.relay_port = 0;
    } else {
      int port = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), port);
      if (ec != std::errc() || p != value.data() + value.size() || value.front() == '+' ||
          port < 1 || port > 65535)
        return bad(key, "must be a number from 1 to 65535");
      s.relay_port = port;
    }
  } else if (key == "relay.security") {
    if (value.empty()) {
      s.relay_security = defaults.relay_security;
    } else if (auto r = parse_relay_security(value)) {
      s.relay_security = *r;
    } else {
      return bad(key, "must be none, starttls or tls");
    }
  } else if (key == "relay.username") {
    s.relay_username = std::string(value);
  } else if (key == "relay.password") {
    s.relay_password = std::string(value);
    s.relay_password_set = !value.empty();
  } else if (key == "mail_from") {
    if (value.empty()) {
      s.mail_from.clear();
    } else {
      auto a = parse_address(key, value);
      if (!a) return a.error();
      s.mail_from = std::move(a).value();
    }
  } else if (key == "cc" || key == "bcc") {
    std::vector<std::string> list;
    if (!value.empty()) {
      auto l = parse_list(key, value);
      if (!l) return l.error();
      list = std::move(l).value();
    }
    (key == "cc" ? s.cc : s.bcc) = std::move(list);
  } else if (key == "bounce_notices" || key == "intermediate_report") {
    bool& flag = key == "bounce_notices" ? s.bounce_notices : s.intermediate_report;
    if (value.empty()) {
      flag = key == "bounce_notices" ? defaults.bounce_notices : defaults.intermediate_report;
    } else if (value == "on") {
      flag = true;
    } else if (value == "off") {
      flag = false;
    } else {
      return bad(key, "must be on or off");
    }
  } else if (key == "notify_url" || key == "tracking_url") {
    if (!value.empty() && !policy::is_http_url(value))
      return bad(key, "must be an absolute http:// or https:// URL");
    (key == "notify_url" ? s.notify_url : s.tracking_url) = std::string(value);
  } else if (key == "report_format") {
    if (value.empty() || value == "json" || value == "application/json") {
      s.report_format = ReportFormat::json;
    } else if (value == "xml" || value == "application/xml") {
      s.report_format = ReportFormat::xml;
    } else {
      return bad(key, "must be json or xml");
    }
  } else if (key == "webhook_secret") {
    if (!value.empty() && (value.size() < 16 || value.size() > 256))
      return bad(key, "must be 16 to 256 characters");
    s.webhook_secret = std::string(value);
    s.webhook_secret_set = !value.empty();
  }
  return core::ok();
}

core::Result<void> validate(const AccountSettings& s) {
  if (s.route == Route::custom && s.relay_host.empty())
    return bad("route", "custom needs relay.host");
  return core::ok();
}

std::string setting_value(const AccountSettings& s, std::string_view key) {
  const AccountSettings defaults;
  if (key == "route") return s.route == defaults.route ? "" : std::string(to_string(s.route));
  if (key == "relay.host") return s.relay_host;
  if (key == "relay.port") return s.relay_port ? std::to_string(s.relay_port) : "";
  if (key == "relay.security")
    return s.relay_security == defaults.relay_security ? ""
                                                       : std::string(to_string(s.relay_security));
  if (key == "relay.username") return s.relay_username;
  if (key == "mail_from") return s.mail_from;
  if (key == "cc") return join(s.cc);
  if (key == "bcc") return join(s.bcc);
  if (key == "bounce_notices") return s.bounce_notices ? "" : "off";
  if (key == "intermediate_report") return s.intermediate_report ? "on" : "";
  if (key == "notify_url") return s.notify_url;
  if (key == "tracking_url") return s.tracking_url;
  if (key == "report_format")
    return s.report_format == ReportFormat::json ? "" : std::string(to_string(s.report_format));
  return "";
}

std::vector<std::pair<std::string, std::string>> display_settings(const AccountSettings& s) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& key : setting_keys()) {
    std::string v;
    if (key == "route") {
      v = to_string(s.route);
    } else if (key == "relay.port") {
      v = std::to_string(s.effective_relay_port());
    } else if (key == "relay.security") {
      v = to_string(s.relay_security);
    } else if (key == "relay.password") {
      v = s.relay_password_set ? "(set)" : "(not set)";
    } else if (key == "webhook_secret") {
      v = s.webhook_secret_set ? "(set)" : "(not set)";
    } else if (key == "bounce_notices") {
      v = s.bounce_notices ? "on" : "off";
    } else if (key == "intermediate_report") {
      v = s.intermediate_report ? "on" : "off";
    } else if (key == "report_format") {
      v = to_string(s.report_format);
    } else {
      v = setting_value(s, key);
    }
    out.emplace_back(key, std::move(v));
  }
  return out;
}

}  // namespace tern::store
