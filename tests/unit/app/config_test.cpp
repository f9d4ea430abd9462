#include "app/config.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace {
std::string write_tmp(const std::string& text) {
  char path[] = "/tmp/tern-config-XXXXXX";
  int fd = mkstemp(path);
  close(fd);
  std::ofstream(path) << text;
  return path;
}
}  // namespace

TEST(Config, DefaultsWithoutFile) {
  auto c = tern::app::load_config("");
  EXPECT_EQ(c.listen_smtp, "127.0.0.1:2525");
  EXPECT_EQ(c.listen_submission, "127.0.0.1:2587");
  EXPECT_EQ(c.listen_submissions, "127.0.0.1:2465");
  EXPECT_EQ(c.listen_http, "127.0.0.1:8025");
  EXPECT_EQ(c.data_dir, "./tern-data");
  EXPECT_EQ(c.smtp.session.max_message_size, 20971520u);
  EXPECT_EQ(c.smtp.session.max_recipients, 1000u);
  EXPECT_EQ(c.spool_group_commit_wait_us, 300u);
}

TEST(Config, ReadsValues) {
  auto p = write_tmp(R"(
hostname = "mx.test"
[listen]
smtp = "127.0.0.1:10025"
[smtp]
max_recipients = 5
allow_plaintext_auth = true
trusted_networks = ["127.0.0.1/32"]
trusted_account = "bench"
[platform]
domains = ["platform.test"]
[spool]
group_commit_wait_us = 0
)");
  auto c = tern::app::load_config(p);
  EXPECT_EQ(c.hostname, "mx.test");
  EXPECT_EQ(c.listen_smtp, "127.0.0.1:10025");
  EXPECT_EQ(c.smtp.session.max_recipients, 5u);
  EXPECT_TRUE(c.smtp.session.allow_plaintext_auth);
  ASSERT_EQ(c.smtp.trusted_networks.size(), 1u);
  EXPECT_TRUE(c.smtp.trusted_networks[0].contains("127.0.0.1"));
  EXPECT_EQ(c.smtp.platform_domains, std::vector<std::string>{"platform.test"});
  EXPECT_EQ(c.spool_group_commit_wait_us, 0u);
  std::remove(p.c_str());
}

TEST(Config, RejectsUnknownKeysAndBadValues) {
  for (const char* text :
       {"hostnme = \"x\"\n", "[smtp]\nmax_recipients = \"many\"\n", "[smtp]\nmax_recipients = -1\n",
        "[smtp]\ntrusted_networks = [\"10.0.0.0/40\"]\n", "[smtp\n", "[listen]\nsmtpp = \"x\"\n",
        "[spool]\ngroup_commit_wait_us = 100001\n", "[spool]\ngroup_commit_wait_us = 4294967296\n",
        "[spool]\ngroup_commit_wait_us = -1\n"}) {
    auto p = write_tmp(text);
    EXPECT_THROW(tern::app::load_config(p), std::runtime_error) << text;
    std::remove(p.c_str());
  }
}

TEST(Config, Delivery) {
  auto d = tern::app::load_config("").delivery;
  EXPECT_TRUE(d.enabled);
  EXPECT_EQ(d.mx_port, 25);
  EXPECT_TRUE(d.smarthost.host.empty());
  EXPECT_EQ(d.retry.max_age_ms, 2 * 24 * 3600 * 1000LL);
  auto p = write_tmp(R"(
[delivery]
mx_port = 2526
smarthost = "relay.example.net:587"
smarthost_security = "tls"
smarthost_username = "u"
smarthost_password = "p"
retry_schedule = "10s, 1m"
max_age = "3h"
max_connections_per_destination = 4
)");
  d = tern::app::load_config(p).delivery;
  std::remove(p.c_str());
  EXPECT_EQ(d.mx_port, 2526);
  EXPECT_EQ(d.smarthost.host, "relay.example.net");
  EXPECT_EQ(d.smarthost.port, 587);
  EXPECT_EQ(d.smarthost.security, tern::store::RelaySecurity::tls);
  EXPECT_EQ(d.retry.delays_ms, (std::vector<int64_t>{10000, 60000}));
  EXPECT_EQ(d.retry.max_age_ms, 3 * 3600 * 1000LL);
  EXPECT_EQ(d.limits.max_connections_per_dest, 4u);
  for (const char* text :
       {"[delivery]\nmx_port = 0\n", "[delivery]\nmx_port = 70000\n",
        "[delivery]\nsmarthost = \"relay.example.net\"\n", "[delivery]\nsmarthost = \":25\"\n",
        "[delivery]\nsmarthost_security = \"maybe\"\n", "[delivery]\nretry_schedule = \"1m,,5m\"\n",
        "[delivery]\nmax_age = \"2 days\"\n", "[delivery]\nmax_connections = 0\n",
        "[delivery]\nconnect_timeout_s = 0\n", "[delivery]\nsmarthostt = \"x\"\n"}) {
    auto q = write_tmp(text);
    EXPECT_THROW(tern::app::load_config(q), std::runtime_error) << text;
    std::remove(q.c_str());
  }
}

// Issue 14: the reports' price and the webhook secret's rotation window.
TEST(Config, WebhookPriceCurrencyAndSecretGrace) {
  auto d = tern::app::load_config("");
  EXPECT_EQ(d.report_price_per_message, 0.0);
  EXPECT_EQ(d.report_currency, "EUR");
  EXPECT_EQ(d.webhook_secret_grace_s, 86400);
  auto p = write_tmp(R"(
[webhooks]
price_per_message = 0.0015
currency = "USD"
secret_grace_s = 3600
)");
  auto c = tern::app::load_config(p);
  std::remove(p.c_str());
  EXPECT_DOUBLE_EQ(c.report_price_per_message, 0.0015);
  EXPECT_EQ(c.report_currency, "USD");
  EXPECT_EQ(c.webhook_secret_grace_s, 3600);
  for (const char* bad :
       {"[webhooks]\ncurrency = \"usd\"\n", "[webhooks]\ncurrency = \"EURO\"\n",
        "[webhooks]\nprice_per_message = -1\n", "[webhooks]\nprice_per_message = \"free\"\n"}) {
    auto q = write_tmp(bad);
    EXPECT_THROW(tern::app::load_config(q), std::runtime_error) << bad;
    std::remove(q.c_str());
  }
  auto q = write_tmp("[webhooks]\nprice_per_message = 2\n");  // an integer is a number too
  EXPECT_EQ(tern::app::load_config(q).report_price_per_message, 2.0);
  std::remove(q.c_str());
}
