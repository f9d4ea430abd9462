// KeyCache: failures are errors and never cached; parsed keys of rotated selectors are evicted.
#include "pipeline/key_cache.hpp"

#include <gtest/gtest.h>

#include "dkim/signer.hpp"

namespace tern::pipeline {
namespace {

using namespace std::chrono_literals;

struct KeyCacheTest : ::testing::Test {
  std::chrono::steady_clock::time_point now{std::chrono::hours(1)};
  std::string pem1 = dkim::PrivateKey::generate(dkim::Algorithm::ed25519_sha256)->to_pem();
  std::string pem2 = dkim::PrivateKey::generate(dkim::Algorithm::ed25519_sha256)->to_pem();
  int loads = 0;
  bool fail = false;
  int64_t version = 1;

  KeyCache make() {
    return KeyCache(
        [this](int64_t, const std::string& d) -> core::Result<std::vector<KeySpec>> {
          ++loads;
          if (fail) return core::Error::temp("database is locked");
          const bool first = version == 1;
          return std::vector<KeySpec>{{d, first ? "tern1" : "tern2",
                                       dkim::Algorithm::ed25519_sha256, first ? pem1 : pem2,
                                       version}};
        },
        30s, [this] { return now; });
  }
};

TEST_F(KeyCacheTest, LoadErrorIsAnErrorAndIsNotCached) {
  auto cache = make();
  fail = true;
  auto r = cache.get(1, "example.com");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().temporary);
  EXPECT_FALSE(cache.cached(1, "example.com"));
  fail = false;
  auto again = cache.get(1, "example.com");
  ASSERT_TRUE(again);
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ(loads, 2);
  EXPECT_TRUE(cache.cached(1, "example.com"));
}

// Issue 12: while the database is away, an expired entry still held is used (mail keeps
// flowing, signed as before); once it is back the next get loads again.
TEST_F(KeyCacheTest, ExpiredEntryServesWhileTheLoaderIsAway) {
  auto cache = make();
  ASSERT_TRUE(cache.get(1, "example.com"));
  now += 31s;
  fail = true;
  auto r = cache.get(1, "example.com");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->front().selector, "tern1");
  EXPECT_EQ(loads, 2);
  EXPECT_FALSE(cache.get(2, "never.example"));  // nothing held: deferred as before
  fail = false;
  version = 2;
  auto back = cache.get(1, "example.com");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->front().selector, "tern2");
}

TEST_F(KeyCacheTest, UnreadableKeyIsAnError) {
  pem1 = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n";
  auto cache = make();
  auto r = cache.get(1, "example.com");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().temporary);
  EXPECT_EQ(cache.entries(), 0u);
}

// A change on another node (the cluster's change feed) clears the cache: the next message
// loads again although the entries were fresh, and a rotated key is used at once.
TEST_F(KeyCacheTest, ClearMakesTheNextGetLoadAgain) {
  auto cache = make();
  ASSERT_TRUE(cache.get(1, "example.com"));
  ASSERT_TRUE(cache.get(2, "example.org"));
  EXPECT_EQ(loads, 2);
  cache.clear();
  EXPECT_EQ(cache.entries(), 0u);
  EXPECT_FALSE(cache.cached(1, "example.com"));
  version = 2;  // rotated elsewhere
  auto r = cache.get(1, "example.com");
  ASSERT_TRUE(r);
  EXPECT_EQ(loads, 3);
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->front().selector, "tern2");
}

TEST_F(KeyCacheTest, FreshEntriesAreServedWithoutLoading) {
  auto cache = make();
  ASSERT_TRUE(cache.get(1, "example.com"));
  now += 10s;
  ASSERT_TRUE(cache.get(1, "example.com"));
  EXPECT_EQ(loads, 1);
  now += 25s;  // past the TTL
  ASSERT_TRUE(cache.get(1, "example.com"));
  EXPECT_EQ(loads, 2);
  EXPECT_EQ(cache.parsed_keys(), 1u);  // same version: the parsed key is reused
}

TEST_F(KeyCacheTest, RotatedKeysAndExpiredEntriesAreEvicted) {
  auto cache = make();
  ASSERT_TRUE(cache.get(1, "example.com"));
  ASSERT_TRUE(cache.get(2, "other.example"));
  EXPECT_EQ(cache.parsed_keys(), 2u);  // one parsed key per (domain, selector, version)
  now += 31s;
  version = 2;  // rotation: a new selector and key
  auto r = cache.get(1, "example.com");
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].selector, "tern2");
  EXPECT_EQ(cache.entries(), 1u);      // other.example expired and went
  EXPECT_EQ(cache.parsed_keys(), 1u);  // the old tern1 keys went with it
}

}  // namespace
}  // namespace tern::pipeline
