// Per-account delivery settings (SPEC §4, seed 000): route, custom relay, Mail-From, CC, BCC,
// bounce notices. Pure: parsing and validating `key=value` pairs; the store persists them as
// rows of the `settings` table (one row per key, absent = default).
//
// Keys (`tern account set ACCOUNT KEY=VALUE…`, and later the REST API):
//   route=platform|custom|sandbox    platform: direct to MX or the operator's smarthost;
//                                    sandbox: kept in Tern's capture store, never sent (SPEC §9)
//   relay.host=HOST                  DNS name or IP literal, no port
//   relay.port=1..65535              default by security: none 25, starttls 587, tls 465
//   relay.security=none|starttls|tls starttls (default): STARTTLS required, certificate verified;
//                                    tls: implicit TLS (SMTPS); none: plaintext (AUTH allowed)
//   relay.username=TEXT              AUTH when non-empty
//   relay.password=TEXT              sealed with the master key when one is set; never printed
//   mail_from=ADDRESS                envelope sender (Return-Path) of every message; bounce
//                                    notices go there; empty = the MAIL FROM the client gave
//   cc=ADDR[,ADDR…]                  added to the Cc header and the envelope of every message
//   bcc=ADDR[,ADDR…]                 added to the envelope only
//   bounce_notices=on|off            RFC 3464 notice to the envelope sender (default on)
//   notify_url=URL                   default delivery-report URL (X-IB-notify-url overrides)
//   report_format=json|xml           default report body (X-IB-notify-content-type overrides)
//   intermediate_report=on|off       default for X-IB-intermediate-report (PENDING reports)
//   tracking_url=URL                 default open/click event URL (X-IB-tracking-url overrides);
//                                    set = links and a pixel are tracked in every message
//   webhook_secret=TEXT              HMAC-SHA256 key signing reports and tracking events
//                                    (16..256 characters); sealed like relay.password; never
//                                    printed. Empty = reports are sent unsigned.
// URLs: absolute http(s) URLs (policy::is_http_url); where they may point (SSRF) is checked
// when a webhook is sent, against the resolved addresses.
// An empty value resets a key to its default. Invariants: values never hold CR, LF or NUL (a
// setting can never inject a header line or an SMTP command) and are at most 512 bytes;
// addresses are validated with core::parse_mailbox and normalized (lower-case domain); cc/bcc
// split at commas outside quotes, duplicates removed, then at most 10 each; relay.host is
// stored lower-case, an IP literal without brackets; route=custom requires relay.host (checked
// by validate(), not per key, so keys can be set in any order within one call). A failed
// apply_setting leaves the settings unchanged; its message names the key and never repeats a
// relay.username or relay.password value.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"

namespace tern::store {

// The setting vocabularies, by name only at the edges (stored rows, the CLI, JSON):
// parse_x(to_string(v)) == v; anything else is nullopt.
enum class Route : uint8_t { platform, custom, sandbox };
enum class RelaySecurity : uint8_t { none, starttls, tls };
enum class ReportFormat : uint8_t { json, xml };

constexpr std::string_view to_string(Route r) {
  return r == Route::custom ? "custom" : r == Route::sandbox ? "sandbox" : "platform";
}
constexpr std::optional<Route> parse_route(std::string_view s) {
  if (s == "platform") return Route::platform;
  if (s == "custom") return Route::custom;
  if (s == "sandbox") return Route::sandbox;
  return std::nullopt;
}
constexpr std::string_view to_string(RelaySecurity r) {
  return r == RelaySecurity::none ? "none" : r == RelaySecurity::tls ? "tls" : "starttls";
}
constexpr std::optional<RelaySecurity> parse_relay_security(std::string_view s) {
  if (s == "none") return RelaySecurity::none;
  if (s == "starttls") return RelaySecurity::starttls;
  if (s == "tls") return RelaySecurity::tls;
  return std::nullopt;
}
constexpr std::string_view to_string(ReportFormat f) {
  return f == ReportFormat::xml ? "xml" : "json";
}
constexpr std::optional<ReportFormat> parse_report_format(std::string_view s) {
  if (s == "json") return ReportFormat::json;
  if (s == "xml") return ReportFormat::xml;
  return std::nullopt;
}

struct AccountSettings {
  Route route = Route::platform;
  std::string relay_host;
  int relay_port = 0;  // 0 = default for relay_security (effective_relay_port)
  RelaySecurity relay_security = RelaySecurity::starttls;
  std::string relay_username;
  std::string relay_password;  // filled only when read with secrets; else empty
  bool relay_password_set = false;
  std::string mail_from;
  std::vector<std::string> cc;
  std::vector<std::string> bcc;
  bool bounce_notices = true;
  std::string notify_url;
  ReportFormat report_format = ReportFormat::json;
  bool intermediate_report = false;
  std::string tracking_url;
  std::string webhook_secret;  // filled only when read with secrets; else empty
  bool webhook_secret_set = false;
  // The secret webhook_secret replaced, kept so receivers can rotate (issue 14): reports are
  // signed with both during [webhooks] secret_grace_s after webhook_secret_changed_ms. Filled
  // only when read with secrets; empty when there was none or the secret was removed. Set by
  // the store whenever webhook_secret changes, never by a key of its own.
  std::string webhook_secret_previous = {};
  int64_t webhook_secret_changed_ms = 0;  // 0 = never changed since this was introduced

  int effective_relay_port() const {
    if (relay_port) return relay_port;
    return relay_security == RelaySecurity::tls    ? 465
           : relay_security == RelaySecurity::none ? 25
                                                   : 587;
  }
};

// The keys above, in display order.
const std::vector<std::string>& setting_keys();
// Keys whose values are secrets: sealed at rest, never displayed (relay.password, webhook_secret).
bool is_secret_key(std::string_view key);

// Applies one key=value to s (a secret key sets its value and its *_set flag).
// Unknown key or bad value → permanent error "KEY: reason".
core::Result<void> apply_setting(AccountSettings& s, std::string_view key, std::string_view value);

// Whole-object checks after a batch of apply_setting (route=custom needs relay.host).
core::Result<void> validate(const AccountSettings& s);

// The stored text form of one key of s ("" for a default); secret keys are not handled here.
std::string setting_value(const AccountSettings& s, std::string_view key);

// "key=value" lines for display, every key in setting_keys() order with defaults filled in
// (relay.port: the effective port), secrets shown as "(set)" or "(not set)".
std::vector<std::pair<std::string, std::string>> display_settings(const AccountSettings& s);

}  // namespace tern::store
