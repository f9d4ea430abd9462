#include "store/verify_cache.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

namespace tern::store {
namespace {

TEST(VerifyCache, HitOnlyForSameUserAndPasswordWithinTtl) {
  ASSERT_GE(sodium_init(), 0);
  core::FakeClock clock;
  VerifyCache c(clock, 300'000);
  EXPECT_EQ(c.lookup("acme", "pw"), std::nullopt);
  c.insert("acme", "pw", 7);
  EXPECT_EQ(c.lookup("acme", "pw"), 7);
  EXPECT_EQ(c.lookup("acme", "pW"), std::nullopt);
  EXPECT_EQ(c.lookup("acme", ""), std::nullopt);
  EXPECT_EQ(c.lookup("beta", "pw"), std::nullopt);
  EXPECT_EQ(c.lookup(std::string("acme\0", 5), "pw"), std::nullopt);
  // Hits do not extend the life of an entry: a changed password is accepted at most TTL.
  clock.advance_ms(299'999);
  EXPECT_EQ(c.lookup("acme", "pw"), 7);
  clock.advance_ms(1);
  EXPECT_EQ(c.lookup("acme", "pw"), std::nullopt);
  EXPECT_EQ(c.size(), 0u);
}

TEST(VerifyCache, NewSuccessReplacesOldPasswordAndForget) {
  ASSERT_GE(sodium_init(), 0);
  core::FakeClock clock;
  VerifyCache c(clock);
  c.insert("acme", "old", 7);
  c.insert("acme", "new", 7);
  EXPECT_EQ(c.lookup("acme", "old"), std::nullopt);
  EXPECT_EQ(c.lookup("acme", "new"), 7);
  c.forget("acme");
  EXPECT_EQ(c.lookup("acme", "new"), std::nullopt);
}

TEST(VerifyCache, Bounded) {
  ASSERT_GE(sodium_init(), 0);
  core::FakeClock clock;
  VerifyCache c(clock, 1000, 50);
  for (int i = 0; i < 1000; ++i) c.insert("u" + std::to_string(i), "pw", i);
  EXPECT_LE(c.size(), 50u);
  EXPECT_EQ(c.lookup("u999", "pw"), 999);
}

}  // namespace
}  // namespace tern::store
