#include "api/slow_calls.hpp"

#include <gtest/gtest.h>

namespace tern::api {
namespace {

net::HttpRequest req(std::string method, std::string target) {
  net::HttpRequest r;
  r.method = std::move(method);
  r.target = std::move(target);
  return r;
}

TEST(SlowCalls, PicksTestEmailDomainChecksAndKeyGeneration) {
  EXPECT_TRUE(is_slow(req("POST", "/api/v1/settings/test-email")));
  EXPECT_TRUE(is_slow(req("POST", "/api/v1/accounts/7/settings/test-email")));
  EXPECT_TRUE(is_slow(req("POST", "/api/v1/domains")));
  EXPECT_TRUE(is_slow(req("POST", "/api/v1/domains/acme.test/check")));
  EXPECT_TRUE(is_slow(req("POST", "/api/v1/accounts/acme/domains/acme.test/rotate?x=1")));
  EXPECT_FALSE(is_slow(req("GET", "/api/v1/domains")));
  EXPECT_FALSE(is_slow(req("GET", "/api/v1/domains/acme.test")));
  EXPECT_FALSE(is_slow(req("PATCH", "/api/v1/settings")));
  EXPECT_FALSE(is_slow(req("POST", "/api/v1/messages")));
  EXPECT_FALSE(is_slow(req("POST", "/api/v1/settings")));
  EXPECT_FALSE(is_slow(req("POST", "/healthz")));
  EXPECT_FALSE(is_slow(req("POST", "/api/v1/accounts")));
  EXPECT_FALSE(is_slow(req("POST", "/api/v1/%zz/domains")));
}

TEST(SlowGate, BoundsEachAccountApart) {
  SlowGate g(2);
  auto a1 = g.enter(1);
  auto a2 = g.enter(1);
  ASSERT_TRUE(a1 && a2);
  EXPECT_FALSE(g.enter(1));  // a third of account 1 is refused at once
  auto b1 = g.enter(2);      // another account is not affected
  EXPECT_TRUE(b1);
  a1.reset();  // a slot comes back when its call ends
  EXPECT_EQ(g.in_flight(1), 1);
  EXPECT_TRUE(g.enter(1));
  a2.reset();
  b1.reset();
  EXPECT_EQ(g.in_flight(1), 0);
  EXPECT_EQ(g.in_flight(2), 0);
}

}  // namespace
}  // namespace tern::api
