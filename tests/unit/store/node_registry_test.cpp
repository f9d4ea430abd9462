// The node registry's rule (store/node_registry.hpp), pure: plan_check_in for every branch at
// the lease's edges, runs of one instance (a cloned data dir), check-in times from a clock that
// jumped ahead, node_state, and what a refused or duplicate node says.
#include "store/node_registry.hpp"

#include <gtest/gtest.h>

namespace tern::store {
namespace {

constexpr int64_t kLease = 30'000;

NodeRecord me() {
  return NodeRecord{.node_id = "mx-1",
                    .instance = "i-mine2345",
                    .run = "r-mine",
                    .hostname = "new-host",
                    .address = "10.0.0.2:8080",
                    .version = "v2"};
}

NodeRecord row(std::string instance, int64_t seen, int64_t stopped = 0,
               std::string run = "r-mine") {
  return NodeRecord{.node_id = "mx-1",
                    .instance = std::move(instance),
                    .run = std::move(run),
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

constexpr CheckInRound kBeat{.heartbeat = true};

TEST(PlanCheckIn, AHeartbeatThatFindsAnotherRunOfItsInstanceIsADuplicate) {
  // A cloned VM or volume: same instance, another process (run). Whatever the row's age.
  const int64_t now = 100'000;
  for (const int64_t seen : {now, now - kLease, int64_t{0}}) {
    const auto p = plan_check_in(row("i-mine2345", seen, 0, "r-clone"), me(), now, kLease, kBeat);
    EXPECT_EQ(p.verdict, CheckInVerdict::duplicate) << seen;
    EXPECT_EQ(p.row.run, "r-clone");  // the row as it is: nothing is written
    EXPECT_FALSE(writes(p.verdict));
  }
  // Our own run: renewed.
  EXPECT_EQ(plan_check_in(row("i-mine2345", now - 1000), me(), now, kLease, kBeat).verdict,
            CheckInVerdict::renewed);
}

TEST(PlanCheckIn, AStartThatFindsAFreshRunOfItsInstanceLooksAgain) {
  const int64_t now = 100'000;
  const NodeRecord other = row("i-mine2345", now - 1000, 0, "r-other");
  const auto first = plan_check_in(other, me(), now, kLease);
  EXPECT_EQ(first.verdict, CheckInVerdict::contested);
  EXPECT_EQ(first.row.run, "r-other");
  EXPECT_FALSE(writes(first.verdict));
  // Nobody beat meanwhile (the row is as it was): it was this data dir's last run, killed.
  const CheckInRound again{.contested = first.row};
  const auto dead = plan_check_in(other, me(), now + 10'000, kLease, again);
  EXPECT_EQ(dead.verdict, CheckInVerdict::renewed);
  EXPECT_EQ(dead.row.run, "r-mine");
  EXPECT_EQ(dead.row.seen_ms, now + 10'000);
  EXPECT_EQ(dead.row.started_ms, 500);  // the run of this data dir goes on (no clean stop)
  // The other run beat meanwhile: a copy runs elsewhere.
  NodeRecord beat = other;
  beat.seen_ms = now + 5'000;
  EXPECT_EQ(plan_check_in(beat, me(), now + 10'000, kLease, again).verdict,
            CheckInVerdict::duplicate);
  // A third run took the row meanwhile: a copy as well.
  NodeRecord third = other;
  third.run = "r-third";
  EXPECT_EQ(plan_check_in(third, me(), now + 10'000, kLease, again).verdict,
            CheckInVerdict::duplicate);
}

TEST(PlanCheckIn, AStartTakesAStoppedStaleOrNoncelessRunOfItsInstanceAtOnce) {
  const int64_t now = 100'000;
  for (const NodeRecord& r : {row("i-mine2345", now - 10, now - 10, "r-other"),
                              row("i-mine2345", now - kLease, 0, "r-other"),
                              row("i-mine2345", now - 10, 0, "" /* an older binary */)}) {
    const auto p = plan_check_in(r, me(), now, kLease);
    EXPECT_EQ(p.verdict, CheckInVerdict::renewed) << r.run << " " << r.seen_ms;
    EXPECT_EQ(p.row.run, "r-mine");
  }
}

TEST(PlanCheckIn, AHeartbeatNeverTakesTheIdBackFromAnotherInstance) {
  // This node lost its id while paused; the other instance stopped or went silent since, or
  // its clock runs far ahead: the heartbeat still refuses (no two nodes trading the row).
  const int64_t now = 100'000;
  for (const NodeRecord& r :
       {row("i-other234", now - 10, now - 10, "r-x"), row("i-other234", now - kLease, 0, "r-x"),
        row("i-other234", now + 2 * kLease, 0, "r-x")}) {
    EXPECT_EQ(plan_check_in(r, me(), now, kLease, kBeat).verdict, CheckInVerdict::refused);
    EXPECT_EQ(plan_check_in(r, me(), now, kLease).verdict, CheckInVerdict::took_over);
  }
}

TEST(PlanCheckIn, ASeenMsFarInTheFutureIsNoSignOfLife) {
  // Another instance's clock jumped ahead (then it died, or its clock came back): its seen_ms
  // would keep the id taken until then. More than lease_ms ahead: stale.
  const int64_t now = 100'000;
  EXPECT_EQ(plan_check_in(row("i-other234", now + kLease + 1, 0, "r-x"), me(), now, kLease).verdict,
            CheckInVerdict::took_over);
  EXPECT_EQ(plan_check_in(row("i-other234", now + 86'400'000, 0, "r-x"), me(), now, kLease).verdict,
            CheckInVerdict::took_over);
  // Within the tolerance (a small skew): still alive, refused.
  EXPECT_EQ(plan_check_in(row("i-other234", now + kLease, 0, "r-x"), me(), now, kLease).verdict,
            CheckInVerdict::refused);
  // Our own row from the future: brought back to now (else it would stay ahead for good).
  const auto own = plan_check_in(row("i-mine2345", now + 86'400'000), me(), now, kLease, kBeat);
  EXPECT_EQ(own.verdict, CheckInVerdict::renewed);
  EXPECT_EQ(own.row.seen_ms, now);
  // Another run of our instance from the future is no fresh run: taken at once.
  EXPECT_EQ(plan_check_in(row("i-mine2345", now + kLease + 1, 0, "r-x"), me(), now, kLease).verdict,
            CheckInVerdict::renewed);
}

TEST(NodeState, AliveStoppedAheadSilent) {
  const int64_t now = 100'000;
  EXPECT_EQ(node_state(row("i-a", now - kLease + 1), now, kLease), NodeState::alive);
  EXPECT_EQ(node_state(row("i-a", now + kLease), now, kLease), NodeState::alive);
  EXPECT_EQ(node_state(row("i-a", now - kLease - 1), now, kLease), NodeState::silent);
  EXPECT_EQ(node_state(row("i-a", now, now), now, kLease), NodeState::stopped);
  const NodeRecord future = row("i-a", now + kLease + 1);
  EXPECT_EQ(node_state(future, now, kLease), NodeState::ahead);
  EXPECT_FALSE(future.alive(now, kLease));  // what routes queue commands to live nodes
  EXPECT_STREQ(to_string(NodeState::ahead), "ahead");
  EXPECT_STREQ(to_string(NodeState::silent), "silent");
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

TEST(DuplicateMessage, NamesTheIdTheInstanceBothRunsAndWhatToDo) {
  NodeRecord other = row("i-mine2345", 97'000, 0, "r-clone");
  other.hostname = "cloned\nhost";
  const std::string m = duplicate_message(other, me(), 100'000);
  for (const char* part :
       {"\"mx-1\"", "i-mine2345", "r-clone", "r-mine", "cloned?host", "10.0.0.1:8080", "3 s ago",
        "copy of this data dir", "node.instance", "[cluster] node_id"})
    EXPECT_NE(m.find(part), std::string::npos) << part << " in: " << m;
  const std::string c = contested_message(other, me(), 100'000);
  for (const char* part : {"\"mx-1\"", "i-mine2345", "r-clone", "cloned?host", "3 s ago",
                           "looking again before starting"})
    EXPECT_NE(c.find(part), std::string::npos) << part << " in: " << c;
  EXPECT_EQ(c.find('\n'), std::string::npos);
}

TEST(TakeoverMessage, NamesTheInstanceItsHostAndWhyShowingStoredTextNeverInterpreted) {
  NodeRecord was = row("i-other234", 40'000, 0, "r-old");
  was.hostname = "old\n\x1b[2Jhost";
  const std::string m = takeover_message(was, me(), 100'000);
  for (const char* part : {"\"mx-1\"", "i-mine2345", "i-other234", "old??[2Jhost",
                           "silent for [cluster] lease_s", "60 s ago"})
    EXPECT_NE(m.find(part), std::string::npos) << part << " in: " << m;
  EXPECT_EQ(m.find('\n'), std::string::npos);
  EXPECT_EQ(m.find('\x1b'), std::string::npos);
  was.stopped_ms = 50'000;
  EXPECT_NE(takeover_message(was, me(), 100'000).find("stopped cleanly"), std::string::npos);
}

}  // namespace
}  // namespace tern::store
