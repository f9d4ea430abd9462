#include "policy/auth_limiter.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace tern::policy {
namespace {

using Limits = AuthLimiter::Limits;

TEST(AuthLimiter, BlocksIpAfterMaxFailures) {
  core::FakeClock clock;
  AuthLimiter l(clock);  // defaults: 10 per IP, 5 per user, 5 min window and block
  for (int i = 0; i < 9; ++i) {
    ASSERT_TRUE(l.allowed("192.0.2.1", "")) << i;
    l.record_failure("192.0.2.1", "user" + std::to_string(i));  // spread over usernames
  }
  EXPECT_TRUE(l.allowed("192.0.2.1", "fresh"));
  l.record_failure("192.0.2.1", "user9");
  EXPECT_FALSE(l.allowed("192.0.2.1", "fresh"));
  EXPECT_FALSE(l.allowed("192.0.2.1", ""));
  EXPECT_TRUE(l.allowed("192.0.2.2", "fresh"));  // other IPs unaffected
  EXPECT_TRUE(l.allowed("192.0.2.2", "user0"));  // one failure per user: below 5
}

TEST(AuthLimiter, UserBlockedOnlyFromTheAddressThatFailed) {
  // Issue 10, item 9: five wrong passwords from anywhere must not lock the real user out.
  core::FakeClock clock;
  AuthLimiter l(clock);
  for (int i = 0; i < 4; ++i) l.record_failure("198.51.100.1", "acme");
  EXPECT_TRUE(l.allowed("198.51.100.1", "acme"));
  l.record_failure("198.51.100.1", "acme");
  EXPECT_FALSE(l.allowed("198.51.100.1", "acme"));  // that address, that user
  EXPECT_TRUE(l.allowed("198.51.100.1", "beta"));   // other users from that address fine
  EXPECT_TRUE(l.allowed("203.0.113.9", "acme"));    // the owner elsewhere is never denied
  // Renewing the attack from one more address each time still never reaches the owner.
  for (int i = 2; i < 60; ++i)
    for (int k = 0; k < 5; ++k) l.record_failure("198.51.100." + std::to_string(i), "acme");
  EXPECT_TRUE(l.allowed("203.0.113.9", "acme"));
}

TEST(AuthLimiter, UnblocksAfterBlockAndWindowResets) {
  core::FakeClock clock;
  Limits lim;
  lim.max_failures_per_user = 3;
  lim.window_ms = 60'000;
  lim.block_ms = 120'000;
  AuthLimiter l(clock, lim);
  for (int i = 0; i < 3; ++i) l.record_failure("192.0.2.1", "acme");
  EXPECT_FALSE(l.allowed("192.0.2.1", "acme"));
  EXPECT_TRUE(l.allowed("192.0.2.7", "acme"));
  clock.advance_ms(119'999);
  EXPECT_FALSE(l.allowed("192.0.2.1", "acme"));
  // Failures while blocked do not extend the block.
  l.record_failure("192.0.2.1", "acme");
  clock.advance_ms(1);
  EXPECT_TRUE(l.allowed("192.0.2.1", "acme"));
  // After the block the count starts from zero.
  l.record_failure("192.0.2.1", "acme");
  l.record_failure("192.0.2.1", "acme");
  EXPECT_TRUE(l.allowed("192.0.2.1", "acme"));
  // Failures spread wider than the window never add up to a block.
  clock.advance_ms(60'000);
  l.record_failure("192.0.2.1", "acme");
  l.record_failure("192.0.2.1", "acme");
  EXPECT_TRUE(l.allowed("192.0.2.1", "acme"));
  l.record_failure("192.0.2.1", "acme");
  EXPECT_FALSE(l.allowed("192.0.2.1", "acme"));
}

TEST(AuthLimiter, SuccessClearsUserCountNotIp) {
  core::FakeClock clock;
  Limits lim;
  lim.max_failures_per_ip = 6;
  lim.max_failures_per_user = 3;
  AuthLimiter l(clock, lim);
  l.record_failure("192.0.2.1", "acme");
  l.record_failure("192.0.2.1", "acme");
  l.record_success("192.0.2.1", "acme");
  l.record_failure("192.0.2.1", "acme");
  l.record_failure("192.0.2.1", "acme");
  EXPECT_TRUE(l.allowed("192.0.2.1", "acme"));  // user count restarted at the success
  l.record_failure("192.0.2.1", "acme");
  EXPECT_FALSE(l.allowed("192.0.2.1", "acme"));
  EXPECT_TRUE(l.allowed("192.0.2.2", "acme"));
  l.record_success("192.0.2.2", "other");
  // The IP kept all 5 failures; one more blocks it.
  EXPECT_TRUE(l.allowed("192.0.2.1", "zed"));
  l.record_failure("192.0.2.1", "zed");
  EXPECT_FALSE(l.allowed("192.0.2.1", "zed"));
}

TEST(AuthLimiter, ApiKeyUsernameNotBlockedAcrossAddresses) {
  core::FakeClock clock;
  AuthLimiter l(clock);
  for (int i = 0; i < 50; ++i) l.record_failure("10.0.0." + std::to_string(i), "App");
  EXPECT_TRUE(l.allowed("10.0.1.1", "App"));
  for (int i = 0; i < 10; ++i) l.record_failure("10.0.1.2", "App");
  EXPECT_FALSE(l.allowed("10.0.1.2", "App"));  // still limited per IP
}

TEST(AuthLimiter, PairKeyedBySlash64) {
  core::FakeClock clock;
  AuthLimiter l(clock);
  for (int i = 0; i < 5; ++i) l.record_failure("2001:db8:1:2::" + std::to_string(i + 1), "acme");
  EXPECT_FALSE(l.allowed("2001:db8:1:2:ffff::7", "acme"));  // same /64: one client
  EXPECT_TRUE(l.allowed("2001:db8:1:3::1", "acme"));
}

TEST(AuthLimiter, Ipv6CountedPerSlash64) {
  core::FakeClock clock;
  AuthLimiter l(clock);
  EXPECT_EQ(AuthLimiter::ip_key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  EXPECT_EQ(AuthLimiter::ip_key("2001:DB8:1:2::9"), "2001:db8:1:2::/64");
  EXPECT_EQ(AuthLimiter::ip_key("::ffff:192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(AuthLimiter::ip_key("fe80::1%eth0"), "fe80::/64");
  EXPECT_EQ(AuthLimiter::ip_key("192.0.2.1"), "192.0.2.1");
  for (int i = 0; i < 10; ++i)
    l.record_failure("2001:db8:1:2::" + std::to_string(i + 1), "u" + std::to_string(i));
  EXPECT_FALSE(l.allowed("2001:db8:1:2:ffff::1", "x"));
  EXPECT_TRUE(l.allowed("2001:db8:1:3::1", "x"));
}

TEST(AuthLimiter, PruningBoundsMemory) {
  core::FakeClock clock;
  Limits lim;
  lim.max_entries = 100;
  AuthLimiter l(clock, lim);
  for (int i = 0; i < 10'000; ++i)
    l.record_failure("10." + std::to_string(i / 65536) + "." + std::to_string((i / 256) % 256) +
                         "." + std::to_string(i % 256),
                     "user" + std::to_string(i));
  EXPECT_LE(l.tracked(), 200u);
  // Eviction drops the least recently failing keys; the newest are still counted.
  for (int i = 0; i < 4; ++i) l.record_failure("10.0.39.15", "user9999");
  EXPECT_FALSE(l.allowed("10.0.39.15", "user9999"));
  // Once nothing happened for window and block, the next failure prunes everything stale.
  clock.advance_ms(300'000);
  l.record_failure("192.0.2.1", "acme");
  EXPECT_EQ(l.tracked(), 2u);
  EXPECT_TRUE(l.allowed("10.0.39.15", "user9999"));
  // Very long usernames are keyed by a bounded prefix.
  std::string huge(1 << 20, 'a');
  for (int i = 0; i < 5; ++i) l.record_failure("192.0.2.3", huge);
  EXPECT_FALSE(l.allowed("192.0.2.3", huge));
}

TEST(AuthLimiter, ThreadSafe) {
  core::FakeClock clock;
  Limits lim;
  lim.max_failures_per_ip = 1'000'000;
  lim.max_failures_per_user = 1'000'000;
  lim.max_entries = 64;
  AuthLimiter l(clock, lim);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&l, t] {
      for (int i = 0; i < 5000; ++i) {
        std::string ip = "10.0." + std::to_string(t) + "." + std::to_string(i % 200);
        l.record_failure(ip, "u" + std::to_string(i % 300));
        (void)l.allowed(ip, "u1");
        if (i % 7 == 0) l.record_success(ip, "u" + std::to_string(i % 300));
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_LE(l.tracked(), 128u);
}

}  // namespace
}  // namespace tern::policy
