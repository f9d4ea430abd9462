// Scheduler: account fairness within a destination, per-destination and global connection
// limits with destinations taking turns, tick/next_due, expedite, remove of scheduled and
// ready jobs, take_ready, stats, unmatched connection_closed, and a 100k-job sanity run.
#include "delivery/scheduler.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

using namespace tern::delivery;

namespace {

Job job(std::string queue_id, int64_t account, std::string dest, uint32_t rcpt = 0) {
  return Job{std::move(queue_id), account, std::move(dest), {rcpt}};
}

// Opens the connections the scheduler asks for; returns how many per destination.
std::map<std::string, size_t> open_all(Scheduler& s) {
  std::map<std::string, size_t> n;
  for (auto& d : s.connections_to_open()) ++n[d];
  return n;
}

}  // namespace

TEST(Scheduler, JobsWaitForTheirDueTime) {
  Scheduler s;
  EXPECT_EQ(s.next_due_ms(), std::nullopt);
  s.add(job("q1", 1, "a.example"), 2000);
  s.add(job("q2", 1, "a.example"), 1000);
  EXPECT_EQ(s.next_due_ms(), 1000);
  s.tick(999);
  EXPECT_EQ(s.stats().ready, 0u);
  EXPECT_EQ(s.next_job("a.example"), std::nullopt);
  s.tick(1000);  // due exactly now counts
  EXPECT_EQ(s.stats().ready, 1u);
  EXPECT_EQ(s.stats().scheduled, 1u);
  EXPECT_EQ(s.next_due_ms(), 2000);
  auto j = s.next_job("a.example");
  ASSERT_TRUE(j);
  EXPECT_EQ(j->queue_id, "q2");
  EXPECT_EQ(s.next_job("a.example"), std::nullopt);
  s.tick(5000);
  EXPECT_EQ(s.next_due_ms(), std::nullopt);
  j = s.next_job("a.example");
  ASSERT_TRUE(j);
  EXPECT_EQ(j->queue_id, "q1");
}

TEST(Scheduler, JobFieldsSurviveTheRoundTrip) {
  Scheduler s;
  s.add(Job{"q9", 42, "mx.example", {3, 5, 8}}, 0);
  s.tick(0);
  auto j = s.next_job("mx.example");
  ASSERT_TRUE(j);
  EXPECT_EQ(j->queue_id, "q9");
  EXPECT_EQ(j->account_id, 42);
  EXPECT_EQ(j->dest, "mx.example");
  EXPECT_EQ(j->rcpts, (std::vector<uint32_t>{3, 5, 8}));
}

TEST(Scheduler, OneAccountsBurstDoesNotStarveAnother) {
  Scheduler s;
  for (int i = 0; i < 1000; ++i) s.add(job("a" + std::to_string(i), 1, "d"), 0);
  s.add(job("b0", 2, "d"), 0);
  s.tick(0);
  auto first = s.next_job("d");
  auto second = s.next_job("d");
  ASSERT_TRUE(first && second);
  EXPECT_TRUE(first->account_id == 2 || second->account_id == 2);
  EXPECT_NE(first->account_id, second->account_id);
}

TEST(Scheduler, AccountsAlternateAndKeepTheirOwnOrder) {
  Scheduler s;
  for (int i = 0; i < 3; ++i) s.add(job("a" + std::to_string(i), 1, "d"), 0);
  for (int i = 0; i < 3; ++i) s.add(job("b" + std::to_string(i), 2, "d"), 0);
  s.add(job("c0", 3, "d"), 0);
  s.tick(0);
  std::vector<std::string> order;
  while (auto j = s.next_job("d")) order.push_back(j->queue_id);
  EXPECT_EQ(order, (std::vector<std::string>{"a0", "b0", "c0", "a1", "b1", "a2", "b2"}));
}

TEST(Scheduler, LateArrivingAccountGetsATurnWithinOneRound) {
  Scheduler s;
  for (int i = 0; i < 10; ++i) s.add(job("a" + std::to_string(i), 5, "d"), 0);
  s.tick(0);
  ASSERT_TRUE(s.next_job("d"));
  s.add(job("late", 1, "d"), 0);  // lower account id than the cursor: wraps around
  s.tick(0);
  std::vector<int64_t> next;
  for (int i = 0; i < 2; ++i) next.push_back(s.next_job("d")->account_id);
  EXPECT_TRUE(next[0] == 1 || next[1] == 1);
}

TEST(Scheduler, PerDestinationLimitAndNoMoreConnectionsThanReadyJobs) {
  Scheduler s(Limits{100, 3});
  for (int i = 0; i < 2; ++i) s.add(job("q" + std::to_string(i), 1, "small"), 0);
  for (int i = 0; i < 50; ++i) s.add(job("r" + std::to_string(i), 1, "big"), 0);
  s.tick(0);
  auto n = open_all(s);
  EXPECT_EQ(n["small"], 2u);  // two jobs, two connections
  EXPECT_EQ(n["big"], 3u);    // per-destination cap
  EXPECT_EQ(s.connections("small"), 2u);
  EXPECT_EQ(s.connections("big"), 3u);
  EXPECT_EQ(s.stats().connections, 5u);
  EXPECT_TRUE(s.connections_to_open().empty());  // nothing changed: nothing more to open
  s.connection_closed("big");
  EXPECT_EQ(s.connections("big"), 2u);
  EXPECT_EQ(s.connections_to_open(), std::vector<std::string>{"big"});
}

TEST(Scheduler, GlobalLimitSharedByTurns) {
  Scheduler s(Limits{4, 10});
  for (int i = 0; i < 100; ++i) s.add(job("b" + std::to_string(i), 1, "busy"), 0);
  s.add(job("x", 1, "x.example"), 0);
  s.add(job("y", 1, "y.example"), 0);
  s.tick(0);
  auto n = open_all(s);
  EXPECT_EQ(s.stats().connections, 4u);
  EXPECT_EQ(n["x.example"], 1u);
  EXPECT_EQ(n["y.example"], 1u);
  EXPECT_EQ(n["busy"], 2u);
  EXPECT_TRUE(s.connections_to_open().empty());  // global cap reached
}

TEST(Scheduler, FreedGlobalSlotGoesToTheDestinationThatWaited) {
  Scheduler s(Limits{2, 10});
  for (const char* d : {"a", "b", "c"})
    for (int i = 0; i < 5; ++i) s.add(job(std::string(d) + std::to_string(i), 1, d), 0);
  s.tick(0);
  auto n = open_all(s);
  EXPECT_EQ(n, (std::map<std::string, size_t>{{"a", 1}, {"b", 1}}));
  s.connection_closed("a");
  EXPECT_EQ(s.connections_to_open(), std::vector<std::string>{"c"});
  s.connection_closed("b");
  EXPECT_EQ(s.connections_to_open(), std::vector<std::string>{"a"});
}

TEST(Scheduler, UnmatchedConnectionClosedIsIgnored) {
  Scheduler s(Limits{2, 2});
  s.connection_closed("nowhere");
  s.add(job("q", 1, "d"), 0);
  s.tick(0);
  EXPECT_EQ(s.connections_to_open().size(), 1u);
  s.connection_closed("d");
  s.connection_closed("d");  // one too many
  EXPECT_EQ(s.connections("d"), 0u);
  EXPECT_EQ(s.stats().connections, 0u);
  // The counts did not wrap: the limits still hold.
  for (int i = 0; i < 5; ++i) s.add(job("r" + std::to_string(i), 1, "d"), 0);
  s.tick(0);
  EXPECT_EQ(s.connections_to_open().size(), 2u);
  EXPECT_EQ(s.stats().connections, 2u);
}

TEST(Scheduler, RemoveScheduledAndReadyJobs) {
  Scheduler s;
  s.add(job("m1", 1, "a"), 0);       // ready after tick
  s.add(job("m1", 1, "b"), 10'000);  // still scheduled
  s.add(job("m2", 1, "a"), 0);
  s.add(job("m2", 2, "a"), 10'000);
  s.tick(0);
  EXPECT_EQ(s.stats().ready, 2u);
  EXPECT_EQ(s.stats().scheduled, 2u);
  EXPECT_EQ(s.remove("m1"), 2u);
  EXPECT_EQ(s.remove("m1"), 0u);
  EXPECT_EQ(s.remove("nope"), 0u);
  EXPECT_EQ(s.stats().ready, 1u);
  EXPECT_EQ(s.stats().scheduled, 1u);
  EXPECT_EQ(s.next_due_ms(), 10'000);
  auto j = s.next_job("a");
  ASSERT_TRUE(j);
  EXPECT_EQ(j->queue_id, "m2");
  EXPECT_EQ(s.next_job("a"), std::nullopt);
  s.tick(10'000);
  EXPECT_EQ(s.next_job("b"), std::nullopt);  // m1's job there is gone
  EXPECT_EQ(s.remove("m2"), 1u);             // the handed-out one is the caller's
  EXPECT_EQ(s.stats().ready, 0u);
  EXPECT_EQ(s.stats().destinations, 0u);
}

TEST(Scheduler, RemovedReadyJobsNoLongerAskForConnections) {
  Scheduler s(Limits{10, 10});
  for (int i = 0; i < 3; ++i) s.add(job("q" + std::to_string(i), 1, "d"), 0);
  s.tick(0);
  s.remove("q0");
  s.remove("q1");
  EXPECT_EQ(s.connections_to_open(), std::vector<std::string>{"d"});
}

TEST(Scheduler, HandedOutJobIsNotRemovableAndCanBeAddedBack) {
  Scheduler s;
  s.add(job("m", 1, "d"), 0);
  s.tick(0);
  auto j = s.next_job("d");
  ASSERT_TRUE(j);
  EXPECT_EQ(s.remove("m"), 0u);
  s.add(std::move(*j), 500);  // deferred: the caller gives it back
  EXPECT_EQ(s.stats().scheduled, 1u);
  EXPECT_EQ(s.remove("m"), 1u);
}

TEST(Scheduler, ExpediteOneMessageOrAll) {
  Scheduler s;
  s.add(job("m1", 1, "a"), 50'000);
  s.add(job("m1", 1, "b"), 90'000);
  s.add(job("m2", 1, "a"), 70'000);
  s.add(job("m3", 1, "a"), 0);
  s.tick(0);                             // m3 ready
  EXPECT_EQ(s.expedite("m3", 100), 0u);  // already ready: nothing to bring forward
  EXPECT_EQ(s.expedite("m1", 100), 2u);
  EXPECT_EQ(s.expedite("zz", 100), 0u);
  EXPECT_EQ(s.next_due_ms(), 100);
  s.tick(100);
  EXPECT_EQ(s.stats().ready, 3u);
  EXPECT_EQ(s.stats().scheduled, 1u);
  EXPECT_EQ(s.expedite("", 200), 1u);
  EXPECT_EQ(s.next_due_ms(), 200);
  s.tick(200);
  EXPECT_EQ(s.stats().ready, 4u);
  EXPECT_EQ(s.stats().scheduled, 0u);
  // Expedite never delays a job that was due earlier.
  s.add(job("m4", 1, "a"), 10);
  EXPECT_EQ(s.expedite("", 300), 1u);
  EXPECT_EQ(s.next_due_ms(), 10);
  EXPECT_EQ(s.remove("m4"), 1u);  // the index still finds it after the rebuild
}

TEST(Scheduler, TakeReadyHandsOutEveryReadyJobOfTheDestination) {
  Scheduler s;
  for (int i = 0; i < 5; ++i) s.add(job("a" + std::to_string(i), i % 2, "dead.example"), 0);
  s.add(job("later", 1, "dead.example"), 1000);
  s.add(job("other", 1, "ok.example"), 0);
  s.tick(0);
  auto jobs = s.take_ready("dead.example");
  EXPECT_EQ(jobs.size(), 5u);
  std::set<std::string> ids;
  for (auto& j : jobs) ids.insert(j.queue_id);
  EXPECT_EQ(ids.size(), 5u);
  EXPECT_EQ(s.next_job("dead.example"), std::nullopt);
  EXPECT_EQ(s.stats().ready, 1u);
  EXPECT_EQ(s.stats().scheduled, 1u);
  EXPECT_TRUE(s.take_ready("dead.example").empty());
  EXPECT_TRUE(s.take_ready("unknown").empty());
  EXPECT_EQ(s.remove("a0"), 0u);  // handed out
  EXPECT_EQ(s.remove("later"), 1u);
}

TEST(Scheduler, StatsCountDestinationsWithReadyJobsOrConnections) {
  Scheduler s(Limits{10, 10});
  s.add(job("q1", 1, "a"), 0);
  s.add(job("q2", 1, "b"), 0);
  s.add(job("q3", 1, "c"), 1000);
  EXPECT_EQ(s.stats().destinations, 0u);  // scheduled jobs do not count
  s.tick(0);
  EXPECT_EQ(s.stats().destinations, 2u);
  EXPECT_EQ(s.connections_to_open().size(), 2u);
  ASSERT_TRUE(s.next_job("a"));
  ASSERT_TRUE(s.next_job("b"));
  auto st = s.stats();
  EXPECT_EQ(st.ready, 0u);
  EXPECT_EQ(st.connections, 2u);
  EXPECT_EQ(st.destinations, 2u);  // still connected
  s.connection_closed("a");
  EXPECT_EQ(s.stats().destinations, 1u);
  s.connection_closed("b");
  EXPECT_EQ(s.stats().destinations, 0u);
  EXPECT_EQ(s.stats().scheduled, 1u);
}

TEST(Scheduler, HundredThousandJobs) {
  // A sanity run at queue scale: every operation must stay logarithmic, or this takes minutes.
  Scheduler s(Limits{100, 10});
  constexpr int kJobs = 100'000;
  for (int i = 0; i < kJobs; ++i)
    s.add(job("q" + std::to_string(i), i % 37, "d" + std::to_string(i % 500)), i % 1000);
  EXPECT_EQ(s.stats().scheduled, static_cast<size_t>(kJobs));
  for (int i = 0; i < kJobs; i += 10) s.remove("q" + std::to_string(i));
  EXPECT_EQ(s.expedite("q1", 0), 1u);
  s.tick(1000);
  EXPECT_EQ(s.stats().ready, static_cast<size_t>(kJobs - kJobs / 10));
  size_t handed = 0;
  while (s.stats().ready > 0) {
    auto dests = s.connections_to_open();
    ASSERT_FALSE(dests.empty());
    EXPECT_LE(s.stats().connections, 100u);
    for (auto& d : dests) {
      EXPECT_LE(s.connections(d), 10u);
      // Each connection carries a few messages, then closes.
      for (int k = 0; k < 20; ++k) {
        auto j = s.next_job(d);
        if (!j) break;
        ++handed;
      }
      s.connection_closed(d);
    }
  }
  EXPECT_EQ(handed, static_cast<size_t>(kJobs - kJobs / 10));
  EXPECT_EQ(s.stats().connections, 0u);
  EXPECT_EQ(s.stats().destinations, 0u);
}
