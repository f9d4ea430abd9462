// The node registry's rule (store/node_registry.hpp), pure: plan_check_in for every branch at
// the lease's edges, and what a refused node says.
#include "store/node_registry.hpp"

#include <gtest/gtest.h>

namespace tern::store {
namespace {

constexpr int64_t kLease = 30'000;

NodeRecord me() {
  return NodeRecord{.node_id = "mx-1",
                    .instance = "i-mine2345",
                    .hostname = "new-host",
                    .address = "10.0.0.2:8080",
                    .version = "v2"};
}

NodeRecord row(std::string instance, int64_t seen, int64_t stopped = 0) {
  return NodeRecord{.node_id = "mx-1",
                    .instance = std::move(instance),
                    .hostname = "old-host",
                    .address = "10.0.0.1:8080",
                    .version = "v1",
                    .started_ms = 500,
                    .seen_ms = seen,
                    .stopped_ms = stopped};
}

TEST(PlanCheckIn, NoRowJoins) {
  const auto p = plan_check_in(std::nullopt, me(), 10'000, kLease);
  EXPECT_EQ(p.verdict, CheckInVerdict::joined);
  EXPECT_EQ(p.row.instance, "i-mine2345");
  EXPECT_EQ(p.row.hostname, "new-host");
  EXPECT_EQ(p.row.started_ms, 10'000);
  EXPECT_EQ(p.row.seen_ms, 10'000);
  EXPECT_EQ(p.row.stopped_ms, 0);
}

TEST(PlanCheckIn, OurOwnRowIsRenewedHoweverFreshAndKeepsItsRun) {
  // A heartbeat, or a restart of the same data dir after kill -9 (its row is fresh).
  const auto p = plan_check_in(row("i-mine2345", 9'999), me(), 10'000, kLease);
  EXPECT_EQ(p.verdict, CheckInVerdict::renewed);
  EXPECT_EQ(p.row.started_ms, 500);
  EXPECT_EQ(p.row.seen_ms, 10'000);
  EXPECT_EQ(p.row.hostname, "new-host");  // what this run says of itself
  // seen_ms never goes back (a clock step backwards).
  EXPECT_EQ(plan_check_in(row("i-mine2345", 12'000), me(), 10'000, kLease).row.seen_ms, 12'000);
  // After our own clean stop: a new run.
  const auto r = plan_check_in(row("i-mine2345", 9'000, 9'000), me(), 10'000, kLease);
  EXPECT_EQ(r.verdict, CheckInVerdict::renewed);
  EXPECT_EQ(r.row.started_ms, 10'000);
  EXPECT_EQ(r.row.stopped_ms, 0);
}

TEST(PlanCheckIn, AnotherInstanceSeenWithinTheLeaseIsRefused) {
  const int64_t now = 100'000;
  for (const int64_t seen : {now, now - 1, now - kLease + 1, now + 5'000 /* its clock ahead */}) {
    const auto p = plan_check_in(row("i-other234", seen), me(), now, kLease);
    EXPECT_EQ(p.verdict, CheckInVerdict::refused) << seen;
    EXPECT_EQ(p.row.instance, "i-other234");  // the other one, unchanged
    EXPECT_EQ(p.row.hostname, "old-host");
  }
}

TEST(PlanCheckIn, AnotherInstanceSilentForTheLeaseOrStoppedIsTakenOver) {
  const int64_t now = 100'000;
  const auto stale = plan_check_in(row("i-other234", now - kLease), me(), now, kLease);
  EXPECT_EQ(stale.verdict, CheckInVerdict::took_over);
  EXPECT_EQ(stale.row.instance, "i-mine2345");
  EXPECT_EQ(stale.row.started_ms, now);
  const auto stopped = plan_check_in(row("i-other234", now - 10, now - 10), me(), now, kLease);
  EXPECT_EQ(stopped.verdict, CheckInVerdict::took_over);
  EXPECT_EQ(stopped.row.stopped_ms, 0);
  // Written by a binary that made an instance per process: cannot be told apart, let in.
  EXPECT_EQ(plan_check_in(row("0123456789abcdef", now), me(), now, kLease).verdict,
            CheckInVerdict::took_over);
}

TEST(PlanCheckIn, PersistentInstances) {
  EXPECT_TRUE(persistent_instance("i-abcdefghijklmnopqrst"));
  EXPECT_TRUE(persistent_instance("i-234567"));
  for (const char* legacy : {"", "i-", "0123456789abcdef", "i-ABC", "i-ab1", "x-abc", "i-a b"})
    EXPECT_FALSE(persistent_instance(legacy)) << legacy;
}

TEST(RefusalMessage, NamesTheIdTheOtherInstanceItsHostAndWhatToDo) {
  const std::string m = refusal_message(row("i-other234", 97'000), 100'000, kLease);
  for (const char* part : {"\"mx-1\"", "i-other234", "old-host", "10.0.0.1:8080", "3 s ago",
                           "node_id", "lease_s (30 s)"})
    EXPECT_NE(m.find(part), std::string::npos) << part << " in: " << m;
  // Stored text is shown, never interpreted: control characters become '?'.
  NodeRecord odd = row("i-other234", 97'000);
  odd.hostname = "evil\n\x1b[2Jhost";
  const std::string o = refusal_message(odd, 100'000, kLease);
  EXPECT_EQ(o.find('\n'), std::string::npos);
  EXPECT_EQ(o.find('\x1b'), std::string::npos);
  EXPECT_NE(o.find("evil??[2Jhost"), std::string::npos) << o;
  NodeRecord bare = row("i-other234", 97'000);
  bare.hostname.clear();
  bare.address.clear();
  EXPECT_NE(refusal_message(bare, 100'000, kLease).find("an unknown host"), std::string::npos);
}

}  // namespace
}  // namespace tern::store
