// ChangeFeedReader (store/change_feed.hpp): a node reads the change feed from its end at start,
// hands out each change once, picks up a change whose position commits out of order within the
// overlap, and forgets positions once they settle. FeedOf is a feed whose visible rows the test
// controls (a PostgreSQL identity value becomes visible only when its transaction commits).
#include "store/change_feed.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "unit/store/feed_of.hpp"

namespace tern::store {
namespace {

std::vector<std::string> subjects(core::Result<std::vector<Change>> r) {
  std::vector<std::string> out;
  if (r)
    for (const auto& c : *r) out.push_back(c.subject);
  return out;
}

using V = std::vector<std::string>;

TEST(ChangeFeed, StartsAtTheEndAndHandsEachChangeOutOnce) {
  core::FakeClock clock;
  FeedOf feed;
  feed.commit(1, "credential:old@acme");
  feed.commit(2, "dkim:7");
  ChangeFeedReader r(feed, clock);
  ASSERT_TRUE(r.start().ok());
  EXPECT_EQ(subjects(r.poll()), V{});
  feed.commit(3, "credential:bob@acme");
  clock.advance_ms(1'000);
  EXPECT_EQ(subjects(r.poll()), V{"credential:bob@acme"});
  for (int i = 0; i < 10; ++i) {
    clock.advance_ms(1'000);
    EXPECT_EQ(subjects(r.poll()), V{}) << i;
  }
}

TEST(ChangeFeed, AChangeCommittedOutOfOrderWithinTheOverlapIsHandedOut) {
  core::FakeClock clock;
  FeedOf feed;
  ChangeFeedReader r(feed, clock);
  ASSERT_TRUE(r.start().ok());
  // Position 11 commits first; 10 (taken earlier by a slower transaction) 3 s later.
  feed.commit(11, "settings:1");
  EXPECT_EQ(subjects(r.poll()), V{"settings:1"});
  clock.advance_ms(3'000);
  feed.commit(10, "credential:late@acme");
  EXPECT_EQ(subjects(r.poll()), V{"credential:late@acme"});
  clock.advance_ms(1'000);
  EXPECT_EQ(subjects(r.poll()), V{});
}

TEST(ChangeFeed, PositionsSettleAfterTheOverlapAndAreForgotten) {
  core::FakeClock clock;
  FeedOf feed;
  ChangeFeedReader r(feed, clock, 5'000);
  ASSERT_TRUE(r.start().ok());
  feed.commit(21, "domain:a.test");
  feed.commit(22, "domain:b.test");
  EXPECT_EQ(subjects(r.poll()).size(), 2u);
  EXPECT_EQ(r.remembered(), 2u);
  clock.advance_ms(5'000);
  EXPECT_EQ(subjects(r.poll()), V{});
  EXPECT_EQ(r.remembered(), 0u);  // memory stays bounded by the overlap
  // A transaction that took position 20 and committed more than the overlap later is past
  // the reader (the documented bound; cache lifetimes still end its entries).
  feed.commit(20, "credential:very-late@acme");
  EXPECT_EQ(subjects(r.poll()), V{});
  feed.commit(23, "account:5");
  EXPECT_EQ(subjects(r.poll()), V{"account:5"});
}

TEST(ChangeFeed, ReadsLongFeedsInPages) {
  core::FakeClock clock;
  FeedOf feed;
  ChangeFeedReader r(feed, clock);
  ASSERT_TRUE(r.start().ok());
  const int n = static_cast<int>(ChangeFeedReader::kPage) * 2 + 5;
  for (int i = 1; i <= n; ++i) feed.commit(i, "settings:" + std::to_string(i));
  feed.reads = 0;
  auto got = r.poll();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->size(), static_cast<size_t>(n));
  EXPECT_EQ(feed.reads, 3);
}

TEST(ChangeFeed, OverASingleNode) {
  core::FakeClock clock;
  SingleNode node("solo");
  ASSERT_TRUE(node.publish("account:1", clock.now_ms()).ok());
  ChangeFeedReader r(node, clock);
  ASSERT_TRUE(r.start().ok());
  ASSERT_TRUE(node.publish("credential:x@acme", clock.now_ms()).ok());
  EXPECT_EQ(subjects(r.poll()), V{"credential:x@acme"});
}

TEST(ChangeFeed, SubjectsSplitAtTheFirstColon) {
  auto s = parse_subject("credential:bob.x1@acme");
  EXPECT_EQ(s.kind, "credential");
  EXPECT_EQ(s.key, "bob.x1@acme");
  s = parse_subject("domain:a:b");
  EXPECT_EQ(s.kind, "domain");
  EXPECT_EQ(s.key, "a:b");
  s = parse_subject("nocolon");
  EXPECT_EQ(s.kind, "");
  EXPECT_EQ(s.key, "nocolon");
}

}  // namespace
}  // namespace tern::store
