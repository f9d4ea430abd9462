// The report batcher, decision by decision with a FakeClock: a batch gathers delay_ms after
// its first item, leaves in arrival order, is cut at max_units (an oversized item alone), a
// flush request makes everything before it due at once, close() drains and then says done;
// clock jumps back and forward; a huge burst is written in bounded slices; the store-write
// retry schedule.
#include "events/report_batcher.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/clock.hpp"

namespace tern::events {
namespace {

using Batcher = ReportBatcher<std::string>;

std::optional<int64_t> wait_until(Batcher::Action a) {
  EXPECT_TRUE(std::holds_alternative<BatchWait>(a));
  if (!std::holds_alternative<BatchWait>(a)) return -1;
  return std::get<BatchWait>(a).until_ms;
}

std::vector<std::string> written(Batcher::Action a) {
  EXPECT_TRUE(std::holds_alternative<BatchWrite<std::string>>(a));
  if (!std::holds_alternative<BatchWrite<std::string>>(a)) return {};
  return std::get<BatchWrite<std::string>>(a).items;
}

using V = std::vector<std::string>;

TEST(ReportBatcher, EmptyWaitsForAnItem) {
  core::FakeClock clock;
  Batcher b({100, 5000});
  EXPECT_EQ(wait_until(b.poll(clock.now_ms())), std::nullopt);
}

// The driver sleeps on poll's answer; push() wakes it only when that answer changed: the
// first item of an empty queue, a batch made due by size or by a flush. Items that join a
// gathering batch leave the sleeping driver alone (one wake-up per batch, not per message).
TEST(ReportBatcher, PushWakesTheDriverOnlyWhenItsTimeChanged) {
  core::FakeClock clock;
  Batcher b({100, 5});
  EXPECT_EQ(b.push("a", 1, clock.now_ms()), Pushed::wake) << "the driver waits for an item";
  clock.advance_ms(10);
  EXPECT_EQ(b.push("b", 1, clock.now_ms()), Pushed::queued);
  EXPECT_EQ(b.push("c", 2, clock.now_ms()), Pushed::queued);
  EXPECT_EQ(wait_until(b.poll(clock.now_ms())), clock.now_ms() + 90) << "a's time stands";
  EXPECT_EQ(b.push("d", 1, clock.now_ms()), Pushed::wake) << "5 units: due at once";
  EXPECT_EQ(b.push("e", 1, clock.now_ms()), Pushed::queued) << "already due; the driver knows";
  EXPECT_EQ(written(b.poll(clock.now_ms())), (V{"a", "b", "c", "d"}));
  EXPECT_EQ(b.push("f", 1, clock.now_ms()), Pushed::queued) << "e's batch is gathering";
  EXPECT_EQ(b.push("flush", 0, clock.now_ms(), true), Pushed::wake) << "a flush is due at once";
  EXPECT_EQ(written(b.poll(clock.now_ms())), (V{"e", "f", "flush"}));
  EXPECT_EQ(wait_until(b.poll(clock.now_ms())), std::nullopt);
  b.close();
  EXPECT_EQ(b.push("late", 1, clock.now_ms()), Pushed::refused);
}

TEST(ReportBatcher, ABatchGathersForDelayAfterItsFirstItem) {
  core::FakeClock clock;
  Batcher b({100, 5000});
  const int64_t t0 = clock.now_ms();
  b.push("accepted A", 2, clock.now_ms());
  EXPECT_EQ(wait_until(b.poll(clock.now_ms())), t0 + 100);
  clock.advance_ms(60);
  b.push("events A", 1, clock.now_ms());
  EXPECT_EQ(wait_until(b.poll(clock.now_ms())), t0 + 100) << "the oldest item sets the time";
  clock.advance_ms(39);
  EXPECT_EQ(wait_until(b.poll(clock.now_ms())), t0 + 100);
  clock.advance_ms(1);
  EXPECT_EQ(written(b.poll(clock.now_ms())), (V{"accepted A", "events A"}));
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.units(), 0u);
  EXPECT_EQ(wait_until(b.poll(clock.now_ms())), std::nullopt);
  // The next item starts a new gathering from its own arrival.
  clock.advance_ms(1000);
  b.push("accepted B", 1, clock.now_ms());
  EXPECT_EQ(wait_until(b.poll(clock.now_ms())), clock.now_ms() + 100);
}

TEST(ReportBatcher, FullBatchIsDueAtOnceAndCutAtMaxUnitsInOrder) {
  core::FakeClock clock;
  Batcher b({100, 10});
  b.push("a4", 4, clock.now_ms());
  b.push("b4", 4, clock.now_ms());
  EXPECT_TRUE(std::holds_alternative<BatchWait>(b.poll(clock.now_ms())));
  b.push("c4", 4, clock.now_ms());  // 12 units >= 10: due now
  EXPECT_EQ(written(b.poll(clock.now_ms())), (V{"a4", "b4"})) << "c4 would pass 10 units";
  EXPECT_EQ(b.units(), 4u);
  EXPECT_EQ(wait_until(b.poll(clock.now_ms())), clock.now_ms() + 100)
      << "the rest gathers again from now";
  clock.advance_ms(100);
  EXPECT_EQ(written(b.poll(clock.now_ms())), (V{"c4"}));
}

TEST(ReportBatcher, AnItemLargerThanMaxUnitsGoesAloneAndIsNeverSplit) {
  core::FakeClock clock;
  Batcher b({100, 10});
  b.push("small", 1, clock.now_ms());
  b.push("huge", 1'000'000, clock.now_ms());
  b.push("after", 1, clock.now_ms());
  EXPECT_EQ(written(b.poll(clock.now_ms())), (V{"small"}));
  EXPECT_EQ(written(b.poll(clock.now_ms())), (V{"huge"})) << "alone, whole, at once";
  EXPECT_EQ(wait_until(b.poll(clock.now_ms())), clock.now_ms() + 100);
}

TEST(ReportBatcher, AHugeBurstLeavesInBoundedSlicesInArrivalOrder) {
  core::FakeClock clock;
  Batcher b({100, 5000});
  for (int i = 0; i < 100'000; ++i) b.push(std::to_string(i), 3, clock.now_ms());
  std::vector<std::string> all;
  size_t writes = 0;
  for (;;) {
    auto a = b.poll(clock.now_ms());
    if (std::holds_alternative<BatchWait>(a)) {
      if (b.size() == 0) break;
      clock.advance_ms(100);
      continue;
    }
    auto items = written(a);
    ASSERT_LE(items.size() * 3, 5000u);
    all.insert(all.end(), items.begin(), items.end());
    ++writes;
  }
  ASSERT_EQ(all.size(), 100'000u);
  for (int i = 0; i < 100'000; ++i) ASSERT_EQ(all[i], std::to_string(i));
  EXPECT_EQ(writes, (100'000 * 3 + 4'998) / 4'998);  // 1666 items (4998 units) per slice
}

TEST(ReportBatcher, AFlushRequestIsDueAtOnceWithEverythingBeforeIt) {
  core::FakeClock clock;
  Batcher b({100, 10});
  b.push("a", 1, clock.now_ms());
  b.push("flush", 0, clock.now_ms(), /*urgent=*/true);
  EXPECT_EQ(written(b.poll(clock.now_ms())), (V{"a", "flush"}));
  // Before a flush: more than max_units; the slices leave at once, the marker last.
  b.push("x8", 8, clock.now_ms());
  b.push("y8", 8, clock.now_ms());
  b.push("flush2", 0, clock.now_ms(), true);
  b.push("later", 5, clock.now_ms());
  EXPECT_EQ(written(b.poll(clock.now_ms())), (V{"x8"}));
  EXPECT_EQ(written(b.poll(clock.now_ms())), (V{"y8", "flush2"}));
  EXPECT_EQ(wait_until(b.poll(clock.now_ms())), clock.now_ms() + 100)
      << "what came after the flush gathers normally";
}

TEST(ReportBatcher, CloseDrainsEverythingThenSaysDoneAndRefusesLateItems) {
  core::FakeClock clock;
  Batcher b({100, 2});
  b.push("a", 1, clock.now_ms());
  b.push("b", 1, clock.now_ms());
  b.push("c", 1, clock.now_ms());
  b.close();
  EXPECT_EQ(b.push("late", 1, clock.now_ms()), Pushed::refused);
  EXPECT_EQ(written(b.poll(clock.now_ms())), (V{"a", "b"}));
  EXPECT_EQ(written(b.poll(clock.now_ms())), (V{"c"}));
  EXPECT_TRUE(std::holds_alternative<BatchDone>(b.poll(clock.now_ms())));
  Batcher empty({100, 2});
  empty.close();
  EXPECT_TRUE(std::holds_alternative<BatchDone>(empty.poll(clock.now_ms())));
}

TEST(ReportBatcher, AClockThatWentBackHoldsABatchNoLongerThanDelayFromNow) {
  core::FakeClock clock;
  Batcher b({100, 5000});
  b.push("a", 1, clock.now_ms());
  clock.advance_ms(-3'600'000);
  EXPECT_EQ(wait_until(b.poll(clock.now_ms())), clock.now_ms() + 100) << "not an hour and 100 ms";
  clock.advance_ms(100);
  EXPECT_EQ(written(b.poll(clock.now_ms())), (V{"a"}));
}

TEST(ReportBatcher, AClockThatJumpedForwardMakesTheBatchDue) {
  core::FakeClock clock;
  Batcher b({100, 5000});
  b.push("a", 1, clock.now_ms());
  clock.advance_ms(86'400'000);
  EXPECT_EQ(written(b.poll(clock.now_ms())), (V{"a"}));
}

TEST(ReportBatcher, ZeroMaxUnitsCountsAsOne) {
  core::FakeClock clock;
  Batcher b({100, 0});
  b.push("a", 1, clock.now_ms());
  b.push("b", 1, clock.now_ms());
  EXPECT_EQ(written(b.poll(clock.now_ms())), (V{"a"}));
  EXPECT_EQ(written(b.poll(clock.now_ms())), (V{"b"}));
}

TEST(ReportWriteRetry, TemporaryErrorsAreTriedFiveTimesPermanentOnce) {
  EXPECT_EQ(retry_delay_ms(1, true), 100);
  EXPECT_EQ(retry_delay_ms(2, true), 200);
  EXPECT_EQ(retry_delay_ms(3, true), 300);
  EXPECT_EQ(retry_delay_ms(4, true), 400);
  EXPECT_EQ(retry_delay_ms(5, true), std::nullopt) << "five tries made";
  EXPECT_EQ(retry_delay_ms(1, false), std::nullopt);
  EXPECT_EQ(retry_delay_ms(0, true), 100);
}

}  // namespace
}  // namespace tern::events
