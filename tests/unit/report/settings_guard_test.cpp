// Which settings a tenant may store (issue 10 items 3, 4, 14): check_host for relays and URL
// hosts (literals by range, numeric IPv4 forms, localhost, operator allow-list), and
// check_settings for mail_from (the account's identities only), relay.host (SSRF rules, Tern's
// own name) and notify_url / tracking_url (the webhook rules).
#include "report/settings_guard.hpp"

#include <gtest/gtest.h>

#include "report/target_policy.hpp"

using namespace tern::report;

namespace {
SettingsContext guard() {
  SettingsContext g;
  g.identity.domains = {"acme.test"};
  g.identity.senders = {"boss@gmail.test"};
  g.identity.platform_domains = {"platform.test"};
  g.own_names = {"mx.tern.test"};
  return g;
}
std::string refused(const std::string& key, const std::string& value,
                    const SettingsContext& g = guard()) {
  auto r = check_settings({{key, value}}, g);
  return r ? std::string() : r.error().message;
}
}  // namespace

TEST(CheckHost, RefusesInternalTargets) {
  TargetPolicy p;
  for (const char* h : {"10.0.0.1", "169.254.169.254", "127.0.0.1", "::1", "[::1]", "0.0.0.0",
                        "::ffff:127.0.0.1", "fd00::1", "192.168.1.1"})
    EXPECT_FALSE(check_host(h, p).ok()) << h;
  for (const char* h : {"0x7f000001", "2130706433", "127.1", "0177.0.0.1", "1.2.3.4.5"})
    EXPECT_FALSE(check_host(h, p).ok()) << h;
  for (const char* h : {"localhost", "LOCALHOST.", "db.localhost"}) {
    auto r = check_host(h, p);
    ASSERT_FALSE(r.ok()) << h;
    EXPECT_NE(r.error().message.find("localhost"), std::string::npos) << r.error().message;
  }
  auto pub = check_host("93.184.216.34", p);
  ASSERT_TRUE(pub.ok());
  ASSERT_TRUE(pub->has_value());
  auto name = check_host("smtp.example.com", p);
  ASSERT_TRUE(name.ok());
  EXPECT_FALSE(name->has_value());
}

TEST(CheckHost, OperatorAllowList) {
  auto p = make_policy(false, {"127.0.0.0/8", "10.1.0.0/16"}, "[delivery] relay_allow");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(check_host("127.0.0.1", *p).ok());
  EXPECT_TRUE(check_host("localhost", *p).ok());
  EXPECT_TRUE(check_host("10.1.2.3", *p).ok());
  EXPECT_FALSE(check_host("10.2.0.1", *p).ok());
  auto bad = make_policy(false, {"10.0.0.0/33"}, "[delivery] relay_allow");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("[delivery] relay_allow"), std::string::npos);
}

TEST(SettingsGuard, MailFromOnlyOwnIdentities) {
  EXPECT_EQ(refused("mail_from", "bounces@acme.test"), "");
  EXPECT_EQ(refused("mail_from", "bounces@ACME.test"), "");
  EXPECT_EQ(refused("mail_from", "x@platform.test"), "");
  EXPECT_EQ(refused("mail_from", "boss@gmail.test"), "");
  EXPECT_EQ(refused("mail_from", ""), "");  // reset
  auto why = refused("mail_from", "ceo@other.test");
  EXPECT_EQ(why.rfind("mail_from: <ceo@other.test>", 0), 0u) << why;
  EXPECT_NE(refused("mail_from", "other@gmail.test"), "");
  EXPECT_NE(refused("mail_from", "x@sub.acme.test"), "");
  // Syntax errors are apply_setting's to report.
  EXPECT_EQ(refused("mail_from", "not an address"), "");
  // cc / bcc are recipients: any valid address.
  EXPECT_EQ(refused("cc", "ceo@other.test"), "");
  EXPECT_EQ(refused("bcc", "ceo@other.test"), "");
}

TEST(SettingsGuard, RelayHost) {
  for (const char* h : {"10.0.0.1", "169.254.169.254", "localhost", "::1", "0x7f000001",
                        "mx.tern.test", "MX.Tern.Test.", "127.0.0.1"}) {
    auto why = refused("relay.host", h);
    EXPECT_EQ(why.rfind("relay.host: ", 0), 0u) << h << ": " << why;
  }
  EXPECT_NE(refused("relay.host", "mx.tern.test").find("Tern itself"), std::string::npos);
  EXPECT_EQ(refused("relay.host", "smtp.example.com"), "");
  EXPECT_EQ(refused("relay.host", "93.184.216.34"), "");
  auto g = guard();
  g.relays = make_policy(false, {"127.0.0.0/8"}, "x").value();
  EXPECT_EQ(refused("relay.host", "127.0.0.1", g), "");
  EXPECT_NE(refused("relay.host", "mx.tern.test", g), "");  // still Tern itself
}

TEST(SettingsGuard, ReportUrls) {
  for (const char* key : {"notify_url", "tracking_url"}) {
    EXPECT_EQ(refused(key, "https://hooks.example.com/x"), "") << key;
    for (const char* u : {"http://127.0.0.1:8080/x", "http://[::1]/", "http://10.0.0.1/",
                          "http://169.254.169.254/latest", "ftp://example.com/",
                          "http://0x7f000001/", "http://localhost:9000/", "http://a@b.example/"}) {
      auto why = refused(key, u);
      EXPECT_EQ(why.rfind(std::string(key) + ": ", 0), 0u) << u << ": " << why;
    }
  }
  auto g = guard();
  g.webhooks.allow_loopback = true;  // tests' [webhooks] allow_loopback
  EXPECT_EQ(refused("notify_url", "http://127.0.0.1:8080/x", g), "");
  EXPECT_EQ(refused("notify_url", "http://localhost:8080/x", g), "");
  EXPECT_NE(refused("notify_url", "http://10.0.0.1/", g), "");
}
