#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "app/config.hpp"

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
)");
  auto c = tern::app::load_config(p);
  EXPECT_EQ(c.hostname, "mx.test");
  EXPECT_EQ(c.listen_smtp, "127.0.0.1:10025");
  EXPECT_EQ(c.smtp.session.max_recipients, 5u);
  EXPECT_TRUE(c.smtp.session.allow_plaintext_auth);
  ASSERT_EQ(c.smtp.trusted_networks.size(), 1u);
  EXPECT_TRUE(c.smtp.trusted_networks[0].contains("127.0.0.1"));
  EXPECT_EQ(c.smtp.platform_domains, std::vector<std::string>{"platform.test"});
  std::remove(p.c_str());
}

TEST(Config, RejectsUnknownKeysAndBadValues) {
  for (const char* text : {"hostnme = \"x\"\n", "[smtp]\nmax_recipients = \"many\"\n",
                           "[smtp]\nmax_recipients = -1\n", "[smtp]\ntrusted_networks = [\"10.0.0.0/40\"]\n",
                           "[smtp\n", "[listen]\nsmtpp = \"x\"\n"}) {
    auto p = write_tmp(text);
    EXPECT_THROW(tern::app::load_config(p), std::runtime_error) << text;
    std::remove(p.c_str());
  }
}
