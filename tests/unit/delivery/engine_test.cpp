// delivery::Engine transcripts (FakeClock, everything in memory, engine_harness.hpp): the
// actions for one message end to end, retries on the schedule, expiry at max_age, operator
// commands (hold/release/delete/retry), fair turns between accounts, suppression (rejected
// without an attempt), bounce notices (never for a notice), recovery after a restart,
// connection limits per destination, a destination down deferring its ready jobs, the bound
// on envelopes in memory, settings that cannot be read, batched events.
#include "delivery/engine.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "engine_harness.hpp"

using namespace tern;
using namespace tern::delivery;
using namespace tern::delivery::test;
using ::testing::ElementsAre;

namespace {

constexpr int64_t kMin = 60'000;

void no_jitter(World& w, std::vector<int64_t> delays = {kMin, 5 * kMin}, int64_t max_age = 0) {
  w.cfg.retry.delays_ms = std::move(delays);
  w.cfg.retry.jitter = 0;
  if (max_age) w.cfg.retry.max_age_ms = max_age;
}

size_t count_lines(const World& w, const std::string& prefix) {
  return static_cast<size_t>(std::count_if(
      w.log.begin(), w.log.end(), [&](const std::string& l) { return l.rfind(prefix, 0) == 0; }));
}

}  // namespace

TEST(Engine, OneMessageEndToEnd) {
  World w;
  const int64_t t0 = w.clock.now_ms();
  w.submit(message("q1", 1, "a@acct.test", {"b@y.test"}, t0));
  EXPECT_THAT(w.log, ElementsAre("check-suppression q1/b@y.test", "load-settings 1",
                                 "resolve mx:y.test", "connect #1 mx:y.test"));
  w.run_connections();
  EXPECT_EQ(w.log.back(), "finish q1");
  EXPECT_TRUE(w.events.empty()) << "events wait for their batch";
  w.advance(100);
  EXPECT_EQ(w.log.back(), "record-events q1/b@y.test:delivered");
  EXPECT_EQ(w.spool.count("q1"), 0u);
  EXPECT_EQ(w.e().counters().delivered, 1u);
  EXPECT_EQ(w.e().counters().queued_messages, 0u);
  EXPECT_EQ(w.e().next_wakeup_ms(), std::nullopt);
}

TEST(Engine, RetriesOnTheSchedule) {
  World w;
  no_jitter(w);
  w.remotes["mx:y.test"] = reply(451, "4.3.0");
  const int64_t t0 = w.clock.now_ms();
  w.submit(message("q1", 1, "a@acct.test", {"b@y.test"}, t0));
  w.run_connections();
  EXPECT_EQ(w.log.back(), "persist q1 b@y.test:deferred");
  EXPECT_EQ(w.spool.at("q1").recipients[0].next_attempt_ms, t0 + kMin);
  EXPECT_EQ(w.e().counters().active_messages, 0u) << "its envelope left memory";
  size_t from = w.log.size();
  w.advance(kMin - 1);  // not yet
  EXPECT_THAT(w.since(from), ElementsAre("record-events q1/b@y.test:deferred"));
  w.advance(1);  // due now: loaded again, settings refreshed, hosts looked up again
  EXPECT_THAT(w.since(from), ElementsAre("load-envelopes q1", "load-settings 1",
                                         "resolve mx:y.test", "connect #2 mx:y.test"));
  w.run_connections();
  EXPECT_EQ(w.spool.at("q1").recipients[0].attempts, 2);
  EXPECT_EQ(w.spool.at("q1").recipients[0].next_attempt_ms, t0 + kMin + 5 * kMin);
  w.advance(5 * kMin - 1);
  EXPECT_EQ(count_lines(w, "connect"), 2u);
  w.remotes.erase("mx:y.test");
  w.advance(1);
  EXPECT_EQ(count_lines(w, "connect"), 3u);
  w.run_connections();
  w.advance(100);
  EXPECT_THAT(w.events_of("q1"),
              ElementsAre("b@y.test:deferred", "b@y.test:deferred", "b@y.test:delivered"));
  EXPECT_EQ(w.finished, std::vector<std::string>{"q1"});
}

TEST(Engine, ExpiresAtMaxAgeWithANotice) {
  World w;
  no_jitter(w, {4 * kMin}, 10 * kMin);
  w.remotes["mx:y.test"] = reply(451, "4.2.2", core::Phase::data_end);
  const int64_t t0 = w.clock.now_ms();
  w.submit(message("q1", 1, "a@acct.test", {"b@y.test"}, t0));
  w.run_connections();  // t0: deferred to 4m
  w.advance(4 * kMin);
  w.run_connections();  // 4m: deferred to 8m
  w.advance(4 * kMin);
  w.run_connections();  // 8m: the next try (12m) would pass the 10m deadline: expired now
  w.advance(100);
  EXPECT_THAT(w.events_of("q1"),
              ElementsAre("b@y.test:deferred", "b@y.test:deferred", "b@y.test:expired"));
  ASSERT_EQ(w.bounces.size(), 1u);
  EXPECT_EQ(w.bounces[0].in.to, "a@acct.test");
  ASSERT_EQ(w.bounces[0].in.recipients.size(), 1u);
  EXPECT_TRUE(w.bounces[0].in.recipients[0].expired);
  EXPECT_EQ(w.bounces[0].notice.sender, "") << "a notice has a null sender";
  EXPECT_TRUE(w.suppressions.empty()) << "expiry is no hard bounce";
  // The notice comes before the original's DONE.
  auto bounce =
      std::find(w.log.begin(), w.log.end(), "spool-bounce q1 to a@acct.test b@y.test:expired");
  auto finish = std::find(w.log.begin(), w.log.end(), "finish q1");
  ASSERT_NE(bounce, w.log.end());
  EXPECT_LT(bounce, finish);
  EXPECT_EQ(w.e().counters().expired, 1u);
}

TEST(Engine, HardBounceNoticeAndSuppressionButNeverANoticeForANotice) {
  World w;
  w.remotes["mx:y.test"] = reply(550, "5.1.1");
  w.remotes["mx:acct.test"] = reply(550, "5.1.1");
  w.submit(message("q1", 7, "a@acct.test", {"b@y.test"}, w.clock.now_ms()));
  w.run_connections();
  ASSERT_EQ(w.suppressions.size(), 1u);
  EXPECT_EQ(w.suppressions[0].account_id, 7);
  EXPECT_EQ(w.suppressions[0].address, "b@y.test");
  ASSERT_EQ(w.bounces.size(), 1u);
  // The driver commits the notice and hands it back; its own recipient bounces too.
  SpoolBounce b = w.bounces[0];
  w.put_in_spool(b.notice);
  w.e().submitted(b.notice, std::make_shared<MemSource>("notice"), "", true);
  w.pump();
  w.run_connections();
  w.advance(100);
  EXPECT_THAT(w.events_of(b.notice.id), ElementsAre("a@acct.test:bounced"));
  EXPECT_EQ(w.bounces.size(), 1u) << "no notice about a notice";
  EXPECT_EQ(w.e().counters().bounce_notices, 1u);
  EXPECT_EQ(w.e().counters().queued_messages, 0u);
}

TEST(Engine, NoNoticeWhenTheAccountTurnedThemOff) {
  World w;
  w.settings[3].bounce_notices = false;
  w.remotes["mx:y.test"] = reply(550, "5.7.1");
  w.submit(message("q1", 3, "a@acct.test", {"b@y.test"}, w.clock.now_ms()));
  w.run_connections();
  EXPECT_TRUE(w.bounces.empty());
  EXPECT_TRUE(w.suppressions.empty()) << "5.7.1 is a policy refusal, not a bad mailbox";
  EXPECT_EQ(w.finished, std::vector<std::string>{"q1"});
}

TEST(Engine, SuppressedRecipientIsRejectedWithoutAnAttempt) {
  World w;
  w.suppressed.insert({1, "gone@y.test"});
  w.submit(message("q1", 1, "a@acct.test", {"gone@y.test", "ok@y.test"}, w.clock.now_ms()));
  EXPECT_EQ(w.log[1], "persist q1 gone@y.test:rejected ok@y.test:pending");
  w.run_connections();
  ASSERT_EQ(w.handouts.size(), 1u);
  EXPECT_EQ(w.handouts[0].second, std::vector<std::string>{"ok@y.test"});
  EXPECT_EQ(w.handout_ids, std::vector<std::string>{"q1"});
  w.advance(100);
  EXPECT_THAT(w.events_of("q1"), ElementsAre("gone@y.test:rejected", "ok@y.test:delivered"));
  EXPECT_EQ(w.e().counters().rejected, 1u);
}

TEST(Engine, AllSuppressedNeedsNoConnection) {
  World w;
  w.suppressed.insert({1, "gone@y.test"});
  w.submit(message("q1", 1, "a@acct.test", {"gone@y.test"}, w.clock.now_ms()));
  EXPECT_THAT(w.log, ElementsAre("check-suppression q1/gone@y.test", "finish q1"));
  EXPECT_TRUE(w.bounces.empty()) << "a rejection is not a bounce";
}

TEST(Engine, NoAccountNoSuppressionLookUpNorSettings) {
  World w;
  w.submit(message("q1", 0, "", {"b@y.test"}, w.clock.now_ms()));
  EXPECT_THAT(w.log, ElementsAre("resolve mx:y.test", "connect #1 mx:y.test"));
}

TEST(Engine, FairTurnsBetweenAccounts) {
  World w;
  w.cfg.limits.max_connections_per_dest = 1;
  for (int i = 1; i <= 5; ++i)
    w.submit(message("m" + std::to_string(i), 1, "a@one.test",
                     {"r" + std::to_string(i) + "@y.test"}, w.clock.now_ms()));
  w.submit(message("n1", 2, "a@two.test", {"late@y.test"}, w.clock.now_ms()));
  ASSERT_EQ(w.open.size(), 1u) << "one connection to the destination";
  w.run_connections();
  std::vector<std::string> order;
  for (const auto& [dest, rcpts] : w.handouts) order.push_back(rcpts[0]);
  EXPECT_THAT(order, ElementsAre("r1@y.test", "late@y.test", "r2@y.test", "r3@y.test", "r4@y.test",
                                 "r5@y.test"));
}

TEST(Engine, ConnectionLimitsPerDestination) {
  World w;
  w.cfg.limits.max_connections_per_dest = 2;
  w.cfg.limits.max_connections = 3;
  for (int i = 0; i < 10; ++i)
    w.submit(message("y" + std::to_string(i), 1, "a@acct.test", {"r@y.test"}, w.clock.now_ms()));
  for (int i = 0; i < 3; ++i)
    w.submit(message("z" + std::to_string(i), 1, "a@acct.test", {"r@z.test"}, w.clock.now_ms()));
  std::map<std::string, int> per;
  for (const auto& [c, d] : w.open) ++per[d];
  EXPECT_EQ(per["mx:y.test"], 2);
  EXPECT_EQ(per["mx:z.test"], 1) << "the global limit (3) leaves one";
  w.run_connections();
  EXPECT_EQ(w.finished.size(), 13u);
  EXPECT_EQ(w.e().scheduler_stats().connections, 0u);
}

TEST(Engine, MessagesPerConnectionAreBounded) {
  World w;
  w.cfg.limits.max_connections_per_dest = 1;
  w.cfg.max_messages_per_connection = 2;
  for (int i = 0; i < 5; ++i)
    w.submit(message("q" + std::to_string(i), 1, "a@acct.test", {"r@y.test"}, w.clock.now_ms()));
  w.run_connections();
  EXPECT_EQ(w.finished.size(), 5u);
  EXPECT_EQ(count_lines(w, "connect"), 3u);  // 2 + 2 + 1
}

TEST(Engine, DestinationDownDefersItsReadyJobsAndRests) {
  World w;
  no_jitter(w);
  w.cfg.limits.max_connections_per_dest = 1;
  w.down.insert("mx:down.test");
  for (int i = 0; i < 5; ++i)
    w.submit(message("q" + std::to_string(i), 1, "a@acct.test", {"r@down.test"}, w.clock.now_ms()));
  ASSERT_EQ(w.open.size(), 1u);
  w.run_connections();
  w.advance(100);
  EXPECT_EQ(count_lines(w, "connect"), 1u) << "one failed connection, not one per message";
  EXPECT_EQ(w.e().counters().deferred, 5u);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(w.spool.at("q" + std::to_string(i)).recipients[0].attempts, 1);
  // A new message for it during the rest waits; when the rest ends it is tried.
  w.submit(message("q5", 1, "a@acct.test", {"r@down.test"}, w.clock.now_ms()));
  EXPECT_EQ(count_lines(w, "connect"), 1u);
  w.down.clear();
  w.advance(4'899);
  EXPECT_EQ(count_lines(w, "connect"), 1u);
  w.advance(1);  // 5 s after the failure
  EXPECT_EQ(count_lines(w, "connect"), 2u);
  w.run_connections();
  EXPECT_EQ(w.finished, std::vector<std::string>{"q5"});
}

TEST(Engine, DnsFailureDefersTheDestination) {
  World w;
  no_jitter(w);
  w.dns_fail["mx:nowhere.test"] = core::DeliveryOutcome::local(
      core::DeliveryOutcome::temp, "4.4.3", "DNS lookup failed", core::Phase::dns);
  w.submit(message("q1", 1, "a@acct.test", {"r@nowhere.test"}, w.clock.now_ms()));
  EXPECT_EQ(count_lines(w, "connect"), 0u);
  w.advance(100);
  EXPECT_THAT(w.events_of("q1"), ElementsAre("r@nowhere.test:deferred"));
  EXPECT_EQ(w.events[0].phase, core::Phase::dns);
}

TEST(Engine, RecoveryAfterRestartRebuildsFromTheSpool) {
  World w;
  no_jitter(w);
  w.remotes["mx:later.test"] = reply(421, "4.7.0");
  const int64_t t0 = w.clock.now_ms();
  w.submit(message("q1", 1, "a@acct.test", {"ok@y.test", "wait@later.test"}, t0));
  w.run_connections();  // ok delivered, wait deferred for a minute
  w.submit(message("q2", 1, "a@acct.test", {"new@y.test"}, t0));
  w.open.clear();  // the process dies before q2's connection runs
  w.log.clear();
  w.restart();
  // q2 was never tried: due now, loaded, looked up on the list again. q1 waits on disk.
  ASSERT_GE(w.log.size(), 2u);
  EXPECT_EQ(w.log[0], "load-envelopes q2");
  EXPECT_EQ(w.log[1], "check-suppression q2/new@y.test");
  EXPECT_EQ(w.e().counters().queued_messages, 2u);
  w.handouts.clear();
  w.run_connections();
  EXPECT_EQ(w.spool.count("q2"), 0u);
  EXPECT_EQ(w.e().counters().active_messages, 0u) << "q1's envelope is not in memory";
  w.remotes.erase("mx:later.test");
  w.advance(100);  // q2's events
  w.log.clear();
  w.advance(kMin - 100);
  ASSERT_FALSE(w.log.empty());
  EXPECT_EQ(w.log[0], "load-envelopes q1");
  EXPECT_EQ(count_lines(w, "check-suppression"), 0u) << "tried before: no look-up";
  w.run_connections();
  ASSERT_EQ(w.handouts.size(), 2u);
  EXPECT_EQ(w.handouts[1].second, std::vector<std::string>{"wait@later.test"});
  EXPECT_EQ(w.spool.count("q1"), 0u);
}

TEST(Engine, OperatorHoldReleaseRetryDelete) {
  World w;
  no_jitter(w);
  w.remotes["mx:later.test"] = reply(451, "4.3.0");
  w.submit(message("q1", 1, "a@acct.test", {"r@later.test"}, w.clock.now_ms()));
  w.submit(message("q2", 1, "a@acct.test", {"s@later.test"}, w.clock.now_ms()));
  w.run_connections();  // both deferred, waiting a minute
  size_t from = w.log.size();
  auto rep = w.e().command({Command::Kind::hold, "q1"});
  w.pump();
  EXPECT_TRUE(rep.ok);
  EXPECT_EQ(rep.count, 1u);
  EXPECT_THAT(w.since(from), ElementsAre("persist-held q1"));
  EXPECT_TRUE(w.spool.at("q1").held);
  EXPECT_EQ(w.e().command({Command::Kind::hold, "q1"}).count, 0u) << "held already";
  EXPECT_EQ(w.e().command({Command::Kind::retry, "q1"}).count, 0u) << "held: not retried";
  w.advance(2 * kMin);
  w.run_connections();
  EXPECT_EQ(w.spool.at("q1").recipients[0].attempts, 1) << "held: not tried";
  EXPECT_EQ(w.spool.at("q2").recipients[0].attempts, 2);
  w.remotes.erase("mx:later.test");
  from = w.log.size();
  rep = w.e().command({Command::Kind::release, "q1"});
  w.pump();
  EXPECT_EQ(rep.count, 1u);
  auto lines = w.since(from);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0], "persist-released q1");
  w.run_connections();  // it was due while held: tried at once
  EXPECT_EQ(w.spool.count("q1"), 0u);
  // delete: q2 waits for its next try (5 min); it is finished without one.
  rep = w.e().command({Command::Kind::remove, "q2"});
  w.pump();
  EXPECT_EQ(rep.count, 1u);
  EXPECT_EQ(w.log.back(), "finish q2");
  rep = w.e().command({Command::Kind::hold, "q2"});
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.message, "no such message in the queue: q2");
  w.advance(10 * kMin);
  EXPECT_EQ(w.e().counters().queued_messages, 0u);
}

TEST(Engine, RetryAllTriesNowAndEndsADestinationsRest) {
  World w;
  no_jitter(w, {60 * kMin});
  w.down.insert("mx:y.test");
  w.submit(message("q1", 1, "a@acct.test", {"r@y.test"}, w.clock.now_ms()));
  w.run_connections();  // refused: deferred for an hour, the destination rests
  w.down.clear();
  auto rep = w.e().command({Command::Kind::retry, ""});
  w.pump();
  EXPECT_EQ(rep.count, 1u);
  EXPECT_EQ(count_lines(w, "connect"), 2u) << "no waiting for the hour nor the rest";
  w.run_connections();
  EXPECT_EQ(w.spool.count("q1"), 0u);
}

TEST(Engine, HoldWhileInFlightLetsTheAttemptFinish) {
  World w;
  no_jitter(w);
  w.remotes["mx:y.test"] = reply(451, "4.3.0");
  w.submit(message("q1", 1, "a@acct.test", {"r@y.test"}, w.clock.now_ms()));
  auto [conn, dest] = *w.open.begin();
  w.open.clear();
  auto h = w.e().next_message(conn);
  ASSERT_TRUE(h);
  EXPECT_EQ(w.e().command({Command::Kind::hold, "q1"}).count, 1u);
  w.pump();
  w.e().message_done(conn, h->handle, {reply(451, "4.3.0")("r@y.test")});
  w.e().connection_done(conn, std::nullopt);
  w.pump();
  EXPECT_TRUE(w.spool.at("q1").held);
  EXPECT_EQ(w.spool.at("q1").recipients[0].state, queue::RcptState::deferred);
  w.advance(10 * kMin);
  EXPECT_EQ(count_lines(w, "load-envelopes"), 0u) << "held: never loaded again";
}

TEST(Engine, DeleteWhileInFlightDropsTheOutcome) {
  World w;
  w.submit(message("q1", 1, "a@acct.test", {"r@y.test"}, w.clock.now_ms()));
  auto [conn, dest] = *w.open.begin();
  w.open.clear();
  auto h = w.e().next_message(conn);
  ASSERT_TRUE(h);
  EXPECT_EQ(w.e().command({Command::Kind::remove, "q1"}).count, 1u);
  w.pump();
  w.e().message_done(conn, h->handle, {accept_all()("r@y.test")});
  w.e().connection_done(conn, std::nullopt);
  w.pump();
  w.advance(100);
  EXPECT_TRUE(w.events.empty());
  EXPECT_EQ(w.finished, std::vector<std::string>{"q1"});
}

TEST(Engine, EnvelopesInMemoryAreBounded) {
  World w;
  w.cfg.max_active_messages = 2;
  w.cfg.load_batch = 10;
  for (int i = 1; i <= 5; ++i)
    w.put_in_spool(message("q" + std::to_string(i), 0, "", {"r@y.test"}, w.clock.now_ms()));
  w.restart();
  EXPECT_EQ(w.log[0], "load-envelopes q1 q2");
  EXPECT_EQ(count_lines(w, "load-envelopes"), 1u);
  EXPECT_EQ(w.e().counters().active_messages, 2u);
  EXPECT_EQ(w.e().counters().queued_messages, 5u);
  // A message submitted now waits in the index too.
  w.submit(message("q6", 0, "", {"r@y.test"}, w.clock.now_ms()));
  EXPECT_EQ(w.e().counters().active_messages, 2u);
  size_t most = 0;
  while (!w.open.empty()) {
    auto [conn, dest] = *w.open.begin();
    w.open.erase(w.open.begin());
    w.run_connection(conn, dest);
    most = std::max<size_t>(most, w.e().counters().active_messages);
  }
  EXPECT_LE(most, 2u);
  EXPECT_EQ(w.finished.size(), 6u);
  for (const auto& l : w.log) {
    if (l.rfind("load-envelopes", 0) == 0) {
      EXPECT_LE(std::count(l.begin(), l.end(), ' '), 2) << l;
    }
  }
}

TEST(Engine, SettingsThatCannotBeReadDeferWithoutAnAttempt) {
  World w;
  w.settings_fail.insert(1);
  w.submit(message("q1", 1, "a@acct.test", {"r@y.test"}, w.clock.now_ms()));
  EXPECT_EQ(count_lines(w, "connect"), 0u);
  EXPECT_EQ(w.spool.at("q1").recipients[0].attempts, 0) << "not an attempt";
  w.settings_fail.clear();
  w.advance(60'000);
  EXPECT_EQ(count_lines(w, "connect"), 1u);
  w.run_connections();
  EXPECT_EQ(w.spool.count("q1"), 0u);
}

TEST(Engine, SettingsAreRefreshedInTheBackground) {
  World w;
  w.auto_settings = false;
  w.submit(message("q1", 1, "a@acct.test", {"r@y.test"}, w.clock.now_ms()));
  EXPECT_EQ(count_lines(w, "resolve"), 0u) << "no copy yet: it waits";
  w.release_held();
  w.run_connections();
  // 31 s later the copy is old: the next message uses it at once and a reload runs beside it.
  w.advance(31'000);
  w.submit(message("q2", 1, "a@acct.test", {"r@y.test"}, w.clock.now_ms()));
  EXPECT_EQ(count_lines(w, "load-settings"), 2u);
  EXPECT_EQ(w.held.size(), 1u);
  EXPECT_EQ(count_lines(w, "connect"), 2u) << "did not wait for the reload";
  w.release_held();
  w.run_connections();
  EXPECT_EQ(w.finished.size(), 2u);
}

TEST(Engine, CustomRouteGoesToTheAccountsRelay) {
  World w;
  w.settings[4].route = store::Route::custom;
  w.settings[4].relay_host = "relay.customer.test";
  w.submit(message("q1", 4, "a@acct.test", {"x@one.test", "y@two.test"}, w.clock.now_ms()));
  EXPECT_EQ(count_lines(w, "resolve relay:4"), 1u);
  w.run_connections();
  ASSERT_EQ(w.handouts.size(), 1u) << "one job: both recipients share the relay";
  EXPECT_EQ(w.handouts[0].second.size(), 2u);
}

TEST(Engine, EventsAreRecordedInBatches) {
  World w;
  w.submit(message("q1", 0, "", {"a@y.test"}, w.clock.now_ms()));
  w.submit(message("q2", 0, "", {"b@y.test"}, w.clock.now_ms()));
  w.run_connections();
  w.advance(99);
  EXPECT_EQ(count_lines(w, "record-events"), 0u);
  w.advance(1);
  EXPECT_EQ(count_lines(w, "record-events"), 1u);
  EXPECT_EQ(w.events.size(), 2u);
}

TEST(Engine, StopOpensNothingNewAndFlushesEvents) {
  World w;
  w.submit(message("q1", 0, "", {"a@y.test"}, w.clock.now_ms()));
  w.run_connections();
  w.e().stop();
  w.pump();
  EXPECT_EQ(w.events.size(), 1u);
  w.submit(message("q2", 0, "", {"b@y.test"}, w.clock.now_ms()));
  EXPECT_EQ(count_lines(w, "connect"), 1u);
}

// Issue 14: each event carries the local address of the connection that produced it (the
// report's sendingIp) and the recipient's first-attempt time, which later attempts keep.
TEST(Engine, EventsCarryTheSendingIpAndTheFirstAttemptTime) {
  World w;
  no_jitter(w);
  int calls = 0;
  w.remotes["mx:y.test"] = [&calls](const std::string&) {
    auto o = ++calls == 1 ? core::DeliveryOutcome::from_reply(451, "4.3.0", "later",
                                                              core::Phase::rcpt, "mx.y.test")
                          : core::DeliveryOutcome::from_reply(250, "2.0.0", "ok",
                                                              core::Phase::data_end, "mx.y.test");
    o.local_ip = calls == 1 ? "192.0.2.7" : "2001:db8::7";
    return o;
  };
  const int64_t t0 = w.clock.now_ms();
  w.submit(message("q1", 1, "a@acct.test", {"b@y.test"}, t0));
  w.run_connections();
  w.advance(100);
  ASSERT_EQ(w.events.size(), 1u);
  EXPECT_EQ(w.events[0].event, core::EventKind::deferred);
  EXPECT_EQ(w.events[0].sending_ip, "192.0.2.7");
  const int64_t first = w.events[0].first_attempt_ms;
  EXPECT_GE(first, t0);
  w.advance(kMin);
  w.run_connections();
  w.advance(100);
  ASSERT_EQ(w.events.size(), 2u);
  EXPECT_EQ(w.events[1].event, core::EventKind::delivered);
  EXPECT_EQ(w.events[1].sending_ip, "2001:db8::7");
  EXPECT_EQ(w.events[1].first_attempt_ms, first) << "the first attempt's time is kept";
  EXPECT_GT(w.clock.now_ms(), first + kMin - 1);
}
