// The single-node cluster seam (store/cluster.hpp): leases with expiry and fencing tokens,
// and the in-process change feed.
#include "store/cluster.hpp"

#include <gtest/gtest.h>

namespace tern::store {
namespace {

TEST(SingleNode, LeasesRenewKeepTheirTokenAndANewHoldingGetsANewOne) {
  SingleNode n("node-a");
  auto l = n.acquire("retention", 1000, 500);
  ASSERT_TRUE(l.ok() && l->has_value());
  EXPECT_EQ((*l)->holder, "node-a");
  EXPECT_EQ((*l)->expires_ms, 1500);
  const int64_t token = (*l)->token;
  auto renewed = n.acquire("retention", 1200, 500);  // ours, still running: a renewal
  ASSERT_TRUE(renewed.ok() && renewed->has_value());
  EXPECT_EQ((*renewed)->token, token);
  EXPECT_EQ((*renewed)->expires_ms, 1700);
  auto later = n.acquire("retention", 5000, 500);  // expired meanwhile: a new holding
  ASSERT_TRUE(later.ok() && later->has_value());
  EXPECT_GT((*later)->token, token);
  // Another lease has its own tokens; release by a stale token does nothing.
  auto other = n.acquire("trim", 5000, 500);
  EXPECT_NE((*other)->token, (*later)->token);
  ASSERT_TRUE(n.release("retention", token).ok());
  EXPECT_EQ(n.acquire("retention", 5100, 500).value()->token, (*later)->token);
  ASSERT_TRUE(n.release("retention", (*later)->token).ok());
  EXPECT_GT(n.acquire("retention", 5200, 500).value()->token, (*later)->token);
  EXPECT_FALSE(n.acquire("", 1, 1).ok());
  EXPECT_FALSE(n.acquire("x", 1, 0).ok());
}

TEST(SingleNode, ChangeFeedReadsFromACursorInOrder) {
  SingleNode n;
  auto s1 = n.publish("account:7", 10);
  auto s2 = n.publish("domain:example.com", 11);
  auto s3 = n.publish("account:8", 12);
  ASSERT_TRUE(s1.ok() && s2.ok() && s3.ok());
  EXPECT_LT(*s1, *s2);
  EXPECT_LT(*s2, *s3);
  auto all = n.changes_since(0, 100).value();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[1].subject, "domain:example.com");
  auto after = n.changes_since(*s1, 1).value();
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].seq, *s2);
  EXPECT_TRUE(n.changes_since(*s3, 100).value().empty());
}

}  // namespace
}  // namespace tern::store
