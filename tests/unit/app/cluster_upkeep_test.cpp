// ClusterUpkeep (app/cluster_upkeep.hpp): wake() reads the change feed at once, not at the next
// poll. The poll interval here is an hour: only the wake-up can hand the change out within the
// test's bound.
#include "app/cluster_upkeep.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "unit/store/feed_of.hpp"

namespace tern::app {
namespace {

using namespace std::chrono_literals;

TEST(ClusterUpkeep, AWakeUpReadsTheFeedAtOnceNotAtTheNextPoll) {
  core::SystemClock clock;
  store::FeedOf feed;
  ClusterUpkeep up(feed, clock,
                   {.lease_ttl_ms = 3'600'000, .follow_feed = true, .poll_ms = 3'600'000});
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> got;
  up.on_change([&](const store::Change& c) {
    std::lock_guard lk(mu);
    got.push_back(c.subject);
    cv.notify_all();
  });
  up.start();
  feed.commit(1, "settings:7");
  up.wake();
  {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, 60s, [&] { return !got.empty(); }));
    EXPECT_EQ(got, std::vector<std::string>{"settings:7"});
  }
  // And again: every wake-up is a poll (at most one per kMinPollGapMs).
  feed.commit(2, "credential:bob@acme");
  up.wake();
  {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, 60s, [&] { return got.size() == 2; }));
    EXPECT_EQ(got.back(), "credential:bob@acme");
  }
  up.stop();
}

}  // namespace
}  // namespace tern::app
