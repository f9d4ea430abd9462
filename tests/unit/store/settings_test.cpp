// Account delivery settings, pure part (store/settings.hpp): every key with good and bad values,
// injection of CR/LF/NUL, address normalization, list limits and de-duplication, resets to the
// default, validate(), and the stored and displayed text forms.
#include "store/settings.hpp"

#include <gtest/gtest.h>

#include <string>

namespace tern::store {
namespace {

using namespace std::string_literals;

// Applies one pair to a copy of `s`; returns the error message ("" when ok).
std::string apply(AccountSettings& s, std::string_view key, std::string_view value) {
  auto r = apply_setting(s, key, value);
  return r ? "" : r.error().message;
}

// A bad value must fail, name the key, and leave the settings exactly as they were.
void expect_bad(std::string_view key, std::string_view value) {
  AccountSettings s;
  ASSERT_EQ(apply(s, "route", "custom"), "");
  ASSERT_EQ(apply(s, "relay.host", "relay.example.net"), "");
  ASSERT_EQ(apply(s, "relay.port", "2525"), "");
  ASSERT_EQ(apply(s, "cc", "keep@example.com"), "");
  const AccountSettings before = s;
  const std::string msg = apply(s, key, value);
  EXPECT_FALSE(msg.empty()) << key << "=" << value << " was accepted";
  EXPECT_TRUE(msg.starts_with(std::string(key) + ":")) << msg;
  for (const auto& k : setting_keys())
    EXPECT_EQ(setting_value(s, k), setting_value(before, k)) << k;
  EXPECT_EQ(s.relay_password_set, before.relay_password_set);
}

TEST(Settings, KeysInDisplayOrder) {
  EXPECT_EQ(setting_keys(),
            (std::vector<std::string>{"route", "relay.host", "relay.port", "relay.security",
                                      "relay.username", "relay.password", "mail_from", "cc", "bcc",
                                      "bounce_notices", "notify_url", "report_format",
                                      "intermediate_report", "tracking_url", "webhook_secret"}));
}

TEST(Settings, ReportAndTrackingKeys) {
  AccountSettings s;
  EXPECT_EQ(apply(s, "notify_url", "https://hooks.example.com/tern?x=1"), "");
  EXPECT_EQ(s.notify_url, "https://hooks.example.com/tern?x=1");
  EXPECT_EQ(apply(s, "tracking_url", "http://127.0.0.1:9000/t"), "");
  EXPECT_EQ(setting_value(s, "tracking_url"), "http://127.0.0.1:9000/t");
  for (const char* bad : {"ftp://x.example", "example.com/hook", "https://", "https://a b.example/",
                          "javascript:alert(1)"}) {
    expect_bad("notify_url", bad);
    expect_bad("tracking_url", bad);
  }
  EXPECT_EQ(apply(s, "report_format", "xml"), "");
  EXPECT_EQ(setting_value(s, "report_format"), "xml");
  EXPECT_EQ(apply(s, "report_format", "application/json"), "");
  EXPECT_EQ(setting_value(s, "report_format"), "");
  expect_bad("report_format", "yaml");
  EXPECT_EQ(apply(s, "intermediate_report", "on"), "");
  EXPECT_TRUE(s.intermediate_report);
  EXPECT_EQ(setting_value(s, "intermediate_report"), "on");
  EXPECT_EQ(apply(s, "intermediate_report", ""), "");
  EXPECT_FALSE(s.intermediate_report);
  expect_bad("intermediate_report", "yes");
}

TEST(Settings, WebhookSecretIsASecret) {
  AccountSettings s;
  EXPECT_TRUE(is_secret_key("webhook_secret"));
  EXPECT_TRUE(is_secret_key("relay.password"));
  EXPECT_FALSE(is_secret_key("notify_url"));
  expect_bad("webhook_secret", "short");
  expect_bad("webhook_secret", std::string(257, 'k'));
  EXPECT_EQ(apply(s, "webhook_secret", "0123456789abcdef"), "");
  EXPECT_TRUE(s.webhook_secret_set);
  EXPECT_EQ(setting_value(s, "webhook_secret"), "");  // never in the plain text form
  bool shown = false;
  for (const auto& [k, v] : display_settings(s))
    if (k == "webhook_secret") {
      EXPECT_EQ(v, "(set)");
      shown = true;
    }
  EXPECT_TRUE(shown);
  // A bad value's error never repeats it.
  auto r = apply_setting(s, "webhook_secret", "tooshort-secret");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.find("tooshort"), std::string::npos);
}

TEST(Settings, DefaultsStoreNothing) {
  AccountSettings s;
  for (const auto& k : setting_keys()) EXPECT_EQ(setting_value(s, k), "") << k;
  EXPECT_EQ(s.effective_relay_port(), 587);
  EXPECT_TRUE(validate(s).ok());
}

TEST(Settings, Route) {
  AccountSettings s;
  EXPECT_EQ(apply(s, "route", "custom"), "");
  EXPECT_EQ(s.route, Route::custom);
  EXPECT_EQ(setting_value(s, "route"), "custom");
  EXPECT_EQ(apply(s, "route", "platform"), "");
  EXPECT_EQ(setting_value(s, "route"), "");  // the default is not stored
  EXPECT_EQ(apply(s, "route", "custom"), "");
  EXPECT_EQ(apply(s, "route", ""), "");
  EXPECT_EQ(s.route, Route::platform);
  expect_bad("route", "Custom");
  expect_bad("route", "direct");
  expect_bad("route", "custom ");
}

TEST(Settings, RelayHost) {
  AccountSettings s;
  EXPECT_EQ(apply(s, "relay.host", "Smtp.Example.NET"), "");
  EXPECT_EQ(s.relay_host, "smtp.example.net");
  EXPECT_EQ(apply(s, "relay.host", "relay.example.net."), "");
  EXPECT_EQ(s.relay_host, "relay.example.net");
  EXPECT_EQ(apply(s, "relay.host", "localhost"), "");
  EXPECT_EQ(apply(s, "relay.host", "192.0.2.25"), "");
  EXPECT_EQ(s.relay_host, "192.0.2.25");
  EXPECT_EQ(apply(s, "relay.host", "2001:DB8::25"), "");
  EXPECT_EQ(s.relay_host, "2001:db8::25");
  EXPECT_EQ(apply(s, "relay.host", "[2001:db8::26]"), "");
  EXPECT_EQ(s.relay_host, "2001:db8::26");
  EXPECT_EQ(apply(s, "relay.host", "a-b.c1.example"), "");
  EXPECT_EQ(apply(s, "relay.host", ""), "");
  EXPECT_EQ(s.relay_host, "");

  expect_bad("relay.host", "smtp.example.net:587");
  expect_bad("relay.host", "192.0.2.1:25");
  expect_bad("relay.host", "[2001:db8::1]:25");
  expect_bad("relay.host", "smtp..example.net");
  expect_bad("relay.host", "-smtp.example.net");
  expect_bad("relay.host", "smtp-.example.net");
  expect_bad("relay.host", "smtp_relay.example.net");
  expect_bad("relay.host", "smtp example.net");
  expect_bad("relay.host", "user@smtp.example.net");
  expect_bad("relay.host", "1.2.3.999");  // not an IPv4 address, and not a host name either
  expect_bad("relay.host", ".");
  expect_bad("relay.host", std::string(64, 'a') + ".example");
  expect_bad("relay.host", std::string(300, 'a'));
  expect_bad("relay.host", "smtp.example.net\r\nRCPT TO:<x@y>");
}

TEST(Settings, RelayPort) {
  AccountSettings s;
  EXPECT_EQ(apply(s, "relay.port", "1"), "");
  EXPECT_EQ(s.relay_port, 1);
  EXPECT_EQ(apply(s, "relay.port", "65535"), "");
  EXPECT_EQ(s.relay_port, 65535);
  EXPECT_EQ(s.effective_relay_port(), 65535);
  EXPECT_EQ(apply(s, "relay.port", ""), "");
  EXPECT_EQ(s.relay_port, 0);
  for (const char* bad :
       {"0", "65536", "-1", "+25", "25x", "x", " 25", "99999999999999999999", "2.5"})
    expect_bad("relay.port", bad);
}

TEST(Settings, RelaySecurityAndDefaultPort) {
  AccountSettings s;
  EXPECT_EQ(apply(s, "relay.security", "tls"), "");
  EXPECT_EQ(s.effective_relay_port(), 465);
  EXPECT_EQ(apply(s, "relay.security", "none"), "");
  EXPECT_EQ(s.effective_relay_port(), 25);
  EXPECT_EQ(setting_value(s, "relay.security"), "none");
  EXPECT_EQ(apply(s, "relay.security", "starttls"), "");
  EXPECT_EQ(s.effective_relay_port(), 587);
  EXPECT_EQ(setting_value(s, "relay.security"), "");
  EXPECT_EQ(apply(s, "relay.security", "tls"), "");
  EXPECT_EQ(apply(s, "relay.security", ""), "");
  EXPECT_EQ(s.relay_security, RelaySecurity::starttls);
  expect_bad("relay.security", "ssl");
  expect_bad("relay.security", "TLS");
}

TEST(Settings, RelayCredentials) {
  AccountSettings s;
  EXPECT_EQ(apply(s, "relay.username", "user name@relay"), "");
  EXPECT_EQ(s.relay_username, "user name@relay");
  EXPECT_EQ(apply(s, "relay.password", "p@ss=word, with spaces"), "");
  EXPECT_EQ(s.relay_password, "p@ss=word, with spaces");
  EXPECT_TRUE(s.relay_password_set);
  EXPECT_EQ(setting_value(s, "relay.password"), "");  // never through the generic text form
  EXPECT_EQ(apply(s, "relay.password", ""), "");
  EXPECT_FALSE(s.relay_password_set);
  EXPECT_EQ(s.relay_password, "");
  EXPECT_EQ(apply(s, "relay.username", ""), "");
  EXPECT_EQ(s.relay_username, "");
  expect_bad("relay.username", std::string(513, 'u'));
}

TEST(Settings, PasswordNeverInErrors) {
  AccountSettings s;
  const std::string secret = "Sup3rSecret\nAUTH";
  auto r = apply_setting(s, "relay.password", secret);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.find("Sup3rSecret"), std::string::npos) << r.error().message;
  EXPECT_FALSE(s.relay_password_set);
}

TEST(Settings, LineBreaksAndNulRejectedEverywhere) {
  for (const auto& key : setting_keys()) {
    for (const std::string& v : {"a\r"s, "a\nb"s, "x\0y"s, "\r\n"s, "ok@example.com\r\nBcc: x@y"s,
                                 std::string("custom\0", 7)}) {
      SCOPED_TRACE(key);
      expect_bad(key, v);
    }
  }
}

TEST(Settings, MailFrom) {
  AccountSettings s;
  EXPECT_EQ(apply(s, "mail_from", "Bounces@Example.COM"), "");
  EXPECT_EQ(s.mail_from, "Bounces@example.com");  // local part kept, domain lower-cased
  EXPECT_EQ(setting_value(s, "mail_from"), "Bounces@example.com");
  EXPECT_EQ(apply(s, "mail_from", ""), "");
  EXPECT_EQ(s.mail_from, "");
  for (const char* bad :
       {"no-at-sign", "@example.com", "a@", "<a@example.com>", "a@example.com,b@example.com",
        "a b@example.com", "a@exa mple.com", "Name <a@example.com>", "a@-example.com"})
    expect_bad("mail_from", bad);
}

TEST(Settings, CcAndBccLists) {
  AccountSettings s;
  EXPECT_EQ(apply(s, "cc", "a@Example.com, b@example.com,A@example.com"), "");
  EXPECT_EQ(s.cc, (std::vector<std::string>{"a@example.com", "b@example.com", "A@example.com"}));
  EXPECT_EQ(setting_value(s, "cc"), "a@example.com,b@example.com,A@example.com");
  // Duplicates (after normalizing the domain) are removed, order kept.
  EXPECT_EQ(apply(s, "bcc", "x@EXAMPLE.org,x@example.org , y@example.org,x@example.org"), "");
  EXPECT_EQ(s.bcc, (std::vector<std::string>{"x@example.org", "y@example.org"}));
  // A quoted local part may hold a comma.
  EXPECT_EQ(apply(s, "cc", "\"last, first\"@example.com,z@example.com"), "");
  EXPECT_EQ(s.cc, (std::vector<std::string>{"\"last, first\"@example.com", "z@example.com"}));
  // Setting a list replaces it; empty resets.
  EXPECT_EQ(apply(s, "cc", "only@example.com"), "");
  EXPECT_EQ(s.cc.size(), 1u);
  EXPECT_EQ(apply(s, "cc", ""), "");
  EXPECT_TRUE(s.cc.empty());

  auto many = [](int n, const char* dom) {
    std::string v;
    for (int i = 0; i < n; ++i) v += (i ? "," : "") + ("r" + std::to_string(i)) + "@" + dom;
    return v;
  };
  EXPECT_EQ(apply(s, "cc", many(10, "example.com")), "");
  EXPECT_EQ(s.cc.size(), 10u);
  EXPECT_EQ(apply(s, "bcc", many(10, "example.com")), "");
  expect_bad("cc", many(11, "example.com"));
  expect_bad("bcc", many(11, "example.com"));
  // 12 given, but two are duplicates: 10 distinct is fine.
  EXPECT_EQ(apply(s, "cc", many(10, "example.com") + ",r0@EXAMPLE.COM,r1@example.com"), "");
  EXPECT_EQ(s.cc.size(), 10u);
  // Local parts are case-sensitive: "R0" is an 11th address.
  expect_bad("cc", many(10, "example.com") + ",R0@example.com");

  for (const char* bad :
       {"a@example.com,", ",a@example.com", "a@example.com,,b@example.com", "a@example.com,bad",
        "a@example.com;b@example.com", "<a@example.com>", "\"unterminated@example.com"})
    expect_bad("cc", bad);
  expect_bad("bcc", "a@example.com, b@");
}

TEST(Settings, BounceNotices) {
  AccountSettings s;
  EXPECT_TRUE(s.bounce_notices);
  EXPECT_EQ(apply(s, "bounce_notices", "off"), "");
  EXPECT_FALSE(s.bounce_notices);
  EXPECT_EQ(setting_value(s, "bounce_notices"), "off");
  EXPECT_EQ(apply(s, "bounce_notices", "on"), "");
  EXPECT_TRUE(s.bounce_notices);
  EXPECT_EQ(setting_value(s, "bounce_notices"), "");
  EXPECT_EQ(apply(s, "bounce_notices", "off"), "");
  EXPECT_EQ(apply(s, "bounce_notices", ""), "");
  EXPECT_TRUE(s.bounce_notices);
  for (const char* bad : {"yes", "true", "1", "OFF"}) expect_bad("bounce_notices", bad);
}

TEST(Settings, UnknownKeys) {
  AccountSettings s;
  for (const char* k :
       {"routes", "Route", "relay", "relay.", "relay.pass", "cc ", "", "smtp.host"}) {
    auto r = apply_setting(s, k, "x");
    ASSERT_FALSE(r.ok()) << k;
    EXPECT_NE(r.error().message.find("unknown setting"), std::string::npos) << r.error().message;
  }
  // A hostile key is shown escaped, never as raw control characters.
  auto r = apply_setting(s, "evil\r\nkey\x1b[31m", "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.find_first_of("\r\n\x1b"), std::string::npos) << r.error().message;
  EXPECT_TRUE(r.error().message.starts_with("evil\\x0d\\x0akey\\x1b[31m:")) << r.error().message;
}

TEST(Settings, ValidateCustomRouteNeedsHost) {
  AccountSettings s;
  ASSERT_EQ(apply(s, "route", "custom"), "");  // per key this is fine…
  auto r = validate(s);
  ASSERT_FALSE(r.ok());  // …but not as a whole
  EXPECT_TRUE(r.error().message.starts_with("route:")) << r.error().message;
  EXPECT_NE(r.error().message.find("relay.host"), std::string::npos);
  ASSERT_EQ(apply(s, "relay.host", "relay.example.net"), "");
  EXPECT_TRUE(validate(s).ok());
  ASSERT_EQ(apply(s, "route", "platform"), "");
  ASSERT_EQ(apply(s, "relay.host", ""), "");
  EXPECT_TRUE(validate(s).ok());  // a platform route needs no relay
}

TEST(Settings, DisplayForm) {
  AccountSettings s;
  auto d = display_settings(s);
  ASSERT_EQ(d.size(), setting_keys().size());
  for (size_t i = 0; i < d.size(); ++i) EXPECT_EQ(d[i].first, setting_keys()[i]);
  EXPECT_EQ(d[0].second, "platform");
  EXPECT_EQ(d[2].second, "587");
  EXPECT_EQ(d[3].second, "starttls");
  EXPECT_EQ(d[5].second, "(not set)");
  EXPECT_EQ(d[9].second, "on");
  ASSERT_EQ(apply(s, "relay.password", "hunter2"), "");
  ASSERT_EQ(apply(s, "cc", "a@example.com,b@example.com"), "");
  ASSERT_EQ(apply(s, "bounce_notices", "off"), "");
  d = display_settings(s);
  EXPECT_EQ(d[5].second, "(set)");
  EXPECT_EQ(d[7].second, "a@example.com,b@example.com");
  EXPECT_EQ(d[9].second, "off");
  for (const auto& [k, v] : d) EXPECT_EQ(v.find("hunter2"), std::string::npos) << k;
}

// The stored text form reads back to the same settings (what the store relies on).
TEST(Settings, StoredFormRoundTrips) {
  AccountSettings s;
  for (auto [k, v] : std::vector<std::pair<const char*, const char*>>{
           {"route", "custom"},
           {"relay.host", "relay.example.net"},
           {"relay.port", "2525"},
           {"relay.security", "tls"},
           {"relay.username", "u"},
           {"mail_from", "b@example.com"},
           {"cc", "c1@example.com,\"q, r\"@example.com"},
           {"bcc", "d@example.com"},
           {"bounce_notices", "off"}})
    ASSERT_EQ(apply(s, k, v), "") << k;
  AccountSettings back;
  for (const auto& k : setting_keys()) {
    if (auto v = setting_value(s, k); !v.empty()) {
      ASSERT_EQ(apply(back, k, v), "") << k;
    }
  }
  for (const auto& k : setting_keys()) EXPECT_EQ(setting_value(back, k), setting_value(s, k)) << k;
  EXPECT_EQ(back.cc, s.cc);
}

}  // namespace
}  // namespace tern::store

namespace tern::store {
namespace {

TEST(SettingsVocabulary, EnumsRoundTripThroughTheirNames) {
  for (Route r : {Route::platform, Route::custom}) EXPECT_EQ(parse_route(to_string(r)), r);
  for (RelaySecurity r : {RelaySecurity::none, RelaySecurity::starttls, RelaySecurity::tls})
    EXPECT_EQ(parse_relay_security(to_string(r)), r);
  for (ReportFormat f : {ReportFormat::json, ReportFormat::xml})
    EXPECT_EQ(parse_report_format(to_string(f)), f);
  EXPECT_FALSE(parse_route("Custom"));
  EXPECT_FALSE(parse_relay_security("ssl"));
  EXPECT_FALSE(parse_report_format("yaml"));
  // The stored form is the name: what a row holds reads back as the same value.
  AccountSettings s;
  ASSERT_TRUE(apply_setting(s, "relay.security", "none").ok());
  EXPECT_EQ(setting_value(s, "relay.security"), to_string(RelaySecurity::none));
}

}  // namespace
}  // namespace tern::store
