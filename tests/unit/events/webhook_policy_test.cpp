// The webhook scheduling policy, decision by decision, with a FakeClock and an in-test outbox
// model (claims are what Outbox::due() would hand out): the per-host rule, waiting lines and
// parking, held items, the claim budget and rounds, settle() per response, the backoff
// schedule and give-up by age, the wake-up time; store rounds (an ended POST's items held until
// marked, marks coalesced, next_due_ms only when the outbox ran dry); and the hostile case: a
// tenant whose endpoint never answers next to one that does.
#include "events/webhook_policy.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"

namespace tern::events {
namespace {

int64_t g_next_id = 1;

WebhookBatch batch(int64_t account, const std::string& url, size_t n, int64_t created_ms,
                   int attempts = 0) {
  WebhookBatch b;
  for (size_t i = 0; i < n; ++i) {
    store::OutboxItem it;
    it.id = g_next_id++;
    it.account_id = account;
    it.url = url;
    it.created_ms = created_ms;
    it.attempts = attempts;
    b.push_back(std::move(it));
  }
  return b;
}

std::vector<int64_t> ids(const WebhookBatch& b) {
  std::vector<int64_t> out;
  for (const auto& i : b) out.push_back(i.id);
  return out;
}

TEST(WebhookBackoff, ScheduleByFailedAttempts) {
  const int64_t want[] = {30'000,  60'000,    120'000,   300'000,
                          600'000, 1'200'000, 1'800'000, 3'600'000};
  for (int n = 1; n <= 8; ++n) EXPECT_EQ(webhook_backoff_ms(n), want[n - 1]) << n;
  EXPECT_EQ(webhook_backoff_ms(1000), 3'600'000);
  EXPECT_EQ(webhook_backoff_ms(0), 30'000);
  EXPECT_EQ(webhook_backoff_ms(-5), 30'000);
}

TEST(WebhookHost, IsTheLowerCaseHostOrTheUrlItself) {
  EXPECT_EQ(webhook_host("https://Hooks.Example.com:8443/a?b=c"), "hooks.example.com");
  EXPECT_EQ(webhook_host("http://[2001:db8::1]/x"), "2001:db8::1");
  EXPECT_EQ(webhook_host("not a url"), "not a url");
}

TEST(WebhookSettle, TwoHundredsAreSent) {
  core::FakeClock clock;
  for (int status : {200, 201, 204, 299}) {
    auto b = batch(1, "https://a.test/", 2, clock.now_ms());
    auto s = settle(b, PostOutcome{status, false}, clock.now_ms(), 3'600'000);
    EXPECT_EQ(s.sent, ids(b)) << status;
    EXPECT_TRUE(s.retry_at.empty());
    EXPECT_TRUE(s.given_up.empty());
  }
}

TEST(WebhookSettle, EverythingElseIsRetriedByEachItemsOwnAttemptCount) {
  core::FakeClock clock;
  const int64_t t = clock.now_ms();
  // 0 = timeout / connection refused; 3xx that was not followed, 4xx, 5xx: all retried.
  for (int status : {0, 199, 301, 400, 404, 410, 429, 500, 503}) {
    auto fresh = batch(1, "https://a.test/", 1, t);
    auto third = batch(1, "https://a.test/", 1, t, /*attempts=*/2);
    WebhookBatch b = fresh;
    b.push_back(third.front());
    auto s = settle(b, PostOutcome{status, false}, t, 3'600'000);
    EXPECT_TRUE(s.sent.empty()) << status;
    EXPECT_TRUE(s.given_up.empty()) << status;
    ASSERT_EQ(s.retry_at.size(), 2u) << status;
    EXPECT_EQ(s.retry_at.at(t + 30'000), ids(fresh));
    EXPECT_EQ(s.retry_at.at(t + 120'000), ids(third));
  }
}

TEST(WebhookSettle, PermanentFailureIsGivenUpAtOnce) {
  core::FakeClock clock;
  auto b = batch(1, "http://127.0.0.1/", 3, clock.now_ms());
  auto s = settle(b, PostOutcome{0, true}, clock.now_ms(), 3'600'000);
  EXPECT_EQ(s.given_up, ids(b));
  EXPECT_TRUE(s.retry_at.empty());
}

TEST(WebhookSettle, AnItemOlderThanMaxAgeIsGivenUpTheYoungerOneRetried) {
  core::FakeClock clock;
  const int64_t max_age = 172'800'000;
  auto old = batch(1, "https://a.test/", 1, clock.now_ms());
  clock.advance_ms(max_age - 1);
  auto young = batch(1, "https://a.test/", 1, clock.now_ms());
  WebhookBatch b = old;
  b.push_back(young.front());
  auto s = settle(b, PostOutcome{503, false}, clock.now_ms(), max_age);
  EXPECT_TRUE(s.given_up.empty()) << "exactly max_age - 1 old: still retried";
  clock.advance_ms(1);
  s = settle(b, PostOutcome{503, false}, clock.now_ms(), max_age);
  EXPECT_EQ(s.given_up, ids(old));
  ASSERT_EQ(s.retry_at.size(), 1u);
  EXPECT_EQ(s.retry_at.begin()->second, ids(young));
  // A 2xx sends even an item past its age: it did arrive.
  s = settle(b, PostOutcome{200, false}, clock.now_ms(), max_age);
  EXPECT_EQ(s.sent.size(), 2u);
}

TEST(WebhookSettle, AClockThatJumpedBackNeitherGivesUpNorSchedulesInThePastOfNow) {
  core::FakeClock clock;
  auto b = batch(1, "https://a.test/", 1, clock.now_ms());
  clock.advance_ms(-3'600'000);  // created "in the future": age is negative, not given up
  auto s = settle(b, PostOutcome{500, false}, clock.now_ms(), 1'000);
  EXPECT_TRUE(s.given_up.empty());
  ASSERT_EQ(s.retry_at.size(), 1u);
  EXPECT_EQ(s.retry_at.begin()->first, clock.now_ms() + 30'000);
}

TEST(WebhookScheduler, StartsOnePerHostAndLinesUpTheRest) {
  WebhookScheduler s({/*max_concurrent=*/4, /*batch=*/50, /*max_waiting_per_host=*/2});
  s.begin_pump();
  EXPECT_EQ(s.claim_budget(), 4u);
  auto a1 = batch(1, "https://a.test/1", 2, 0), a2 = batch(1, "https://a.test/2", 1, 0),
       b1 = batch(2, "https://b.test/", 1, 0);
  auto start = s.offer({a1, a2, b1});
  ASSERT_EQ(start.size(), 2u);
  EXPECT_EQ(start[0].host, "a.test");
  EXPECT_EQ(ids(start[0].batch), ids(a1));
  EXPECT_EQ(start[1].host, "b.test");
  EXPECT_EQ(s.running(), 2u);
  EXPECT_EQ(s.waiting(), 1u);
  EXPECT_EQ(s.claim_budget(), 2u) << "a waiting batch takes no POST slot";
  for (auto id : ids(a2)) EXPECT_TRUE(s.held(id));

  // a.test's POST ends: its waiting batch starts on the same slot.
  auto next = s.finished(start[0]);
  ASSERT_TRUE(next);
  EXPECT_EQ(ids(next->batch), ids(a2));
  EXPECT_EQ(s.running(), 2u);
  EXPECT_EQ(s.waiting(), 0u);
  for (auto id : ids(a1)) EXPECT_FALSE(s.held(id));
  EXPECT_FALSE(s.finished(*next));
  EXPECT_FALSE(s.finished(start[1]));
  EXPECT_EQ(s.running(), 0u);
}

TEST(WebhookScheduler, ABatchHandedOutAgainWhileHeldLosesTheHeldItems) {
  WebhookScheduler s({4, 50, 2});
  s.begin_pump();
  auto a = batch(1, "https://a.test/", 3, 0);
  auto start = s.offer({a});
  ASSERT_EQ(start.size(), 1u);
  // The lease ran out in flight: the outbox hands out the same items plus a new one.
  WebhookBatch again = a;
  auto extra = batch(1, "https://a.test/", 1, 0);
  again.push_back(extra.front());
  auto more = s.offer({again});
  EXPECT_TRUE(more.empty()) << "the host is busy";
  EXPECT_EQ(s.waiting(), 1u);
  auto next = s.finished(start[0]);
  ASSERT_TRUE(next);
  EXPECT_EQ(ids(next->batch), ids(extra)) << "only the item not already in flight";
  // Entirely held: dropped, nothing waits.
  auto dup = s.offer({extra});
  EXPECT_TRUE(dup.empty());
  EXPECT_EQ(s.waiting(), 0u);
  EXPECT_EQ(s.parked(), 0u);
}

TEST(WebhookScheduler, ALineLongerThanItsLimitIsParkedNotHeld) {
  WebhookScheduler s({4, 50, 1});
  s.begin_pump();
  auto a1 = batch(1, "https://a.test/1", 1, 0), a2 = batch(1, "https://a.test/2", 1, 0),
       a3 = batch(1, "https://a.test/3", 1, 0);
  auto start = s.offer({a1, a2, a3});
  EXPECT_EQ(start.size(), 1u);
  EXPECT_EQ(s.waiting(), 1u);
  EXPECT_EQ(s.parked(), 1u);
  EXPECT_FALSE(s.held(a3.front().id)) << "parked: the lease brings it back";
  // It comes back after the lease, and the line has room again then.
  auto next = s.finished(start[0]);
  ASSERT_TRUE(next);
  auto back = s.offer({a3});
  EXPECT_TRUE(back.empty());
  EXPECT_EQ(s.waiting(), 1u);
  EXPECT_TRUE(s.held(a3.front().id));
}

TEST(WebhookScheduler, NeverMoreThanMaxConcurrentPostsAndClaimRoundsAreBounded) {
  WebhookScheduler s({2, 10, 2});
  s.begin_pump();
  auto start = s.offer({batch(1, "https://h1.test/", 1, 0), batch(2, "https://h2.test/", 1, 0),
                        batch(3, "https://h3.test/", 1, 0)});
  EXPECT_EQ(start.size(), 2u);
  EXPECT_EQ(s.running(), 2u);
  EXPECT_EQ(s.claim_budget(), 0u) << "every slot runs";
  EXPECT_EQ(s.parked(), 1u) << "h3 is not busy but there is no slot: parked";
  EXPECT_FALSE(s.finished(start[0]));
  EXPECT_EQ(s.claim_budget(), 1u);
  // Rounds: a pump claims at most kClaimRounds times.
  WebhookScheduler r({8, 10, 2});
  r.begin_pump();
  for (int i = 0; i < kClaimRounds; ++i) {
    EXPECT_GT(r.claim_budget(), 0u);
    r.offer({});
  }
  EXPECT_EQ(r.claim_budget(), 0u);
  r.begin_pump();
  EXPECT_EQ(r.claim_budget(), 8u);
}

TEST(WebhookScheduler, ConfigZeroMeansOne) {
  WebhookScheduler s({0, 0, 0});
  EXPECT_EQ(s.config().max_concurrent, 1u);
  EXPECT_EQ(s.config().batch, 1u);
}

TEST(WebhookScheduler, WakeUp) {
  core::FakeClock clock;
  const int64_t t = clock.now_ms();
  WebhookScheduler s({1, 10, 2});
  EXPECT_EQ(s.wake_at(t, 0, false), std::nullopt) << "nothing pending: poke wakes";
  EXPECT_EQ(s.wake_at(t, t + 30'000, false), t + 30'000);
  EXPECT_EQ(s.wake_at(t, t - 5'000, false), t + kMinSleepMs) << "overdue: soon, never a spin";
  EXPECT_EQ(s.wake_at(t, t + 3'600'000, false), t + kMaxSleepMs)
      << "an hour ahead (the clock went back?): look again within a minute";
  EXPECT_EQ(s.wake_at(t, std::nullopt, false), t + kRetryOnStoreErrorMs);
  EXPECT_EQ(s.wake_at(t, t + 30'000, true), t + kRetryOnStoreErrorMs);
  s.begin_pump();
  auto start = s.offer({batch(1, "https://a.test/", 1, 0)});
  EXPECT_EQ(s.wake_at(t, t + 30'000, false), std::nullopt) << "all slots run: their end pumps";
  EXPECT_EQ(s.wake_at(t, t + 30'000, true), t + kRetryOnStoreErrorMs);
}

TEST(WebhookScheduler, InARegionItLooksAtTheOutboxEverySecondAlsoWhenIdle) {
  // Several nodes share the outbox: another node's items and a dead node's expired leases
  // wake no one here, so an idle sender must look again by itself.
  core::FakeClock clock;
  const int64_t t = clock.now_ms();
  WebhookScheduler s({1, 10, 2, 1'000});
  EXPECT_EQ(s.wake_at(t, 0, false), t + 1'000) << "nothing pending here: look again anyway";
  EXPECT_EQ(s.wake_at(t, t + 30'000, false), t + 1'000) << "a lease of a dead node may end first";
  EXPECT_EQ(s.wake_at(t, t + 500, false), t + 500);
  EXPECT_EQ(s.wake_at(t, t - 5'000, false), t + kMinSleepMs);
  EXPECT_EQ(s.wake_at(t, std::nullopt, false), t + kRetryOnStoreErrorMs);
  WebhookScheduler tiny({1, 10, 2, 1});
  EXPECT_EQ(tiny.wake_at(t, 0, false), t + kMinSleepMs) << "never a spin";
  s.begin_pump();
  auto start = s.offer({batch(1, "https://a.test/", 1, 0)});
  EXPECT_EQ(s.wake_at(t, 0, false), std::nullopt) << "all slots run: their end pumps";
}

// The hostile case, as a transcript over simulated time: tenant 1's endpoint never answers
// (every POST runs into the 10 s timeout) and it has 40 due URLs on that host, all older than
// tenant 2's one report on a host that answers at once. A minimal outbox model claims like
// due(): oldest group first, leased for kOutboxLeaseMs. The driver pumps when a POST ends and
// on its timer (wake_at). Tenant 2's report must be sent within a second; the dead host never
// holds more than one POST slot.
TEST(WebhookScheduler, ADeadTenantEndpointDoesNotStarveAnotherTenant) {
  core::FakeClock clock;
  struct Row {
    WebhookBatch b;
    int64_t next = 0;
    bool done = false;
  };
  std::vector<Row> outbox;
  const int64_t t0 = clock.now_ms();  // enqueued now: due now (next_attempt_ms = now)
  for (int i = 0; i < 40; ++i)
    outbox.push_back({batch(1, "https://dead.test/u" + std::to_string(i), 5, 0), t0, false});
  outbox.push_back({batch(2, "https://alive.test/", 1, 0), t0, false});  // youngest group
  auto due = [&](size_t max_batches) {
    std::vector<WebhookBatch> out;
    for (auto& r : outbox)
      if (!r.done && r.next <= clock.now_ms() && out.size() < max_batches) {
        r.next = clock.now_ms() + store::kOutboxLeaseMs;
        out.push_back(r.b);
      }
    return out;
  };
  auto next_due = [&] {
    int64_t n = 0;
    for (auto& r : outbox)
      if (!r.done && (n == 0 || r.next < n)) n = r.next;
    return n;
  };
  WebhookScheduler s({/*max_concurrent=*/8, 50, /*max_waiting_per_host=*/2});
  struct Running {
    StartPost p;
    int64_t ends_ms;
  };
  std::vector<Running> running;
  int64_t alive_sent_ms = -1;
  std::optional<int64_t> wake = t0;
  auto pump = [&] {
    s.begin_pump();
    for (size_t n; (n = s.claim_budget()) > 0;) {
      auto got = due(n);
      if (got.empty()) break;
      for (auto& p : s.offer(std::move(got))) {
        const bool alive = p.host == "alive.test";
        running.push_back({std::move(p), clock.now_ms() + (alive ? 0 : 10'000)});
      }
    }
    wake = s.wake_at(clock.now_ms(), next_due(), false);
  };
  // Ends the POSTs whose time has come; each end pumps, like release() in the driver.
  auto end_posts = [&] {
    for (size_t i = 0; i < running.size();) {
      if (running[i].ends_ms > clock.now_ms()) {
        ++i;
        continue;
      }
      StartPost p = std::move(running[i].p);
      running.erase(running.begin() + static_cast<long>(i));
      const bool alive = p.host == "alive.test";
      auto st = settle(p.batch, PostOutcome{alive ? 200 : 0, false}, clock.now_ms(), 172'800'000);
      for (auto& r : outbox)
        if (r.b.front().id == p.batch.front().id) {
          r.done = alive;
          if (!alive) r.next = st.retry_at.begin()->first;
        }
      if (alive) alive_sent_ms = clock.now_ms();
      if (auto next = s.finished(p)) running.push_back({std::move(*next), clock.now_ms() + 10'000});
      pump();
      i = 0;
    }
  };
  // 5 simulated minutes in 100 ms steps.
  for (int step = 0; step < 3'000; ++step) {
    end_posts();
    if (wake && *wake <= clock.now_ms()) pump();
    size_t dead_running = 0;
    for (const auto& r : running) dead_running += r.p.host == "dead.test";
    ASSERT_LE(dead_running, 1u) << "the dead host holds one slot at most";
    ASSERT_LE(s.running(), 8u);
    clock.advance_ms(100);
  }
  ASSERT_GE(alive_sent_ms, 0) << "tenant 2's report never went out";
  EXPECT_LE(alive_sent_ms - t0, 1'000);
  EXPECT_GT(s.parked(), 0u);
}

TEST(WebhookScheduler, FullUrlsAreThoseOfHostsThatCannotTakeAnotherBatch) {
  WebhookScheduler s({8, 50, 2});
  s.begin_pump();
  auto a1 = batch(1, "https://a.test/1", 1, 0), a2 = batch(1, "https://a.test/2", 1, 0),
       a3 = batch(1, "https://a.test/1", 1, 0), b1 = batch(2, "https://b.test/", 1, 0);
  auto start = s.offer({a1, b1});
  ASSERT_EQ(start.size(), 2u);
  EXPECT_TRUE(s.full_urls().empty()) << "busy, but their lines have room";
  EXPECT_TRUE(s.offer({a2}).empty());
  EXPECT_TRUE(s.full_urls().empty());
  EXPECT_TRUE(s.offer({a3}).empty());
  EXPECT_EQ(s.full_urls(), (std::vector<std::string>{"https://a.test/1", "https://a.test/2"}))
      << "a.test runs one POST and its line is full: its URLs, each once, sorted";
  auto next = s.finished(start[0]);  // a1 ends, a2 starts, the line has room again
  ASSERT_TRUE(next);
  EXPECT_TRUE(s.full_urls().empty());
  WebhookScheduler none({8, 50, 0});
  none.begin_pump();
  ASSERT_EQ(none.offer({batch(1, "https://c.test/x", 1, 0)}).size(), 1u);
  EXPECT_EQ(none.full_urls(), (std::vector<std::string>{"https://c.test/x"}))
      << "no lines at all: a busy host is full";
}

// A backlog over 8 hosts that answer in 5 to 26 ms (host k: 5 + 3k), items of the hosts
// interleaved (as
// reports of many tenants arrive). The outbox model claims like due(): oldest group first,
// leased for kOutboxLeaseMs, skipping the URLs the driver passes (full_urls()). Everything must
// go out in well under a second and nothing may be parked: before full_urls(), the oldest group
// was often a busy host's with a full line, claimed and parked for a whole lease.
TEST(WebhookScheduler, ABacklogOverSeveralHostsIsNeverParked) {
  core::FakeClock clock;
  struct Item {
    int64_t id;
    std::string url;
    int64_t next;
    bool done = false;
  };
  std::vector<Item> outbox;
  const int64_t t0 = clock.now_ms();
  for (int i = 0; i < 8 * 200; ++i)
    outbox.push_back({g_next_id++, "https://h" + std::to_string(i % 8) + ".test/hook", t0});
  auto due = [&](size_t max_batches, const std::vector<std::string>& skip) {
    std::vector<WebhookBatch> out;
    std::vector<std::string> urls;  // groups, oldest first (items are in id order)
    for (const auto& r : outbox)
      if (!r.done && r.next <= clock.now_ms() &&
          std::find(skip.begin(), skip.end(), r.url) == skip.end() &&
          std::find(urls.begin(), urls.end(), r.url) == urls.end() && urls.size() < max_batches)
        urls.push_back(r.url);
    for (const auto& u : urls) {
      WebhookBatch b;
      for (auto& r : outbox)
        if (!r.done && r.next <= clock.now_ms() && r.url == u && b.size() < 50) {
          r.next = clock.now_ms() + store::kOutboxLeaseMs;
          store::OutboxItem it;
          it.id = r.id;
          it.url = r.url;
          b.push_back(std::move(it));
        }
      out.push_back(std::move(b));
    }
    return out;
  };
  WebhookScheduler s({8, 50, 2});
  std::vector<std::pair<StartPost, int64_t>> running;  // POST, its end
  size_t sent = 0;
  auto ends = [&](const StartPost& p) { return clock.now_ms() + 5 + 3 * (p.host[1] - '0'); };
  auto pump = [&] {
    s.begin_pump();
    for (size_t n; (n = s.claim_budget()) > 0;) {
      auto got = due(n, s.full_urls());
      if (got.empty()) break;
      for (auto& p : s.offer(std::move(got))) {
        const int64_t end = ends(p);
        running.push_back({std::move(p), end});
      }
    }
  };
  pump();
  int64_t last_sent_ms = t0;
  for (int step = 0; step < 10'000 && sent < outbox.size(); ++step) {  // 1 ms steps, 10 s
    clock.advance_ms(1);
    for (size_t i = 0; i < running.size();) {
      if (running[i].second > clock.now_ms()) {
        ++i;
        continue;
      }
      StartPost p = std::move(running[i].first);
      running.erase(running.begin() + static_cast<long>(i));
      for (const auto& it : p.batch)
        for (auto& r : outbox)
          if (r.id == it.id && !r.done) {
            r.done = true;
            ++sent;
          }
      last_sent_ms = clock.now_ms();
      if (auto next = s.finished(p)) {
        const int64_t end = ends(*next);
        running.push_back({std::move(*next), end});
      }
      pump();
      i = 0;
    }
    if (step % 200 == 0) pump();  // the driver's timer (kMinSleepMs)
  }
  EXPECT_EQ(sent, outbox.size());
  EXPECT_EQ(s.parked(), 0u);
  EXPECT_LE(last_sent_ms - t0, 1'000) << "32 POSTs of at most 26 ms on 8 hosts at once";
}

// The same without the fix would have been: waiting batches count against max_concurrent,
// so 8 claims of the dead host fill every slot. This pins the new budget rule.
TEST(WebhookScheduler, WaitingBatchesDoNotReduceTheClaimBudget) {
  WebhookScheduler s({8, 50, 2});
  s.begin_pump();
  std::vector<WebhookBatch> dead;
  for (int i = 0; i < 8; ++i)
    dead.push_back(batch(1, "https://dead.test/" + std::to_string(i), 1, 0));
  auto start = s.offer(dead);
  EXPECT_EQ(start.size(), 1u);
  EXPECT_EQ(s.waiting(), 2u);
  EXPECT_EQ(s.parked(), 5u);
  EXPECT_EQ(s.claim_budget(), 7u);
}

TEST(WebhookScheduler, AnEndedPostFreesItsHostAtOnceButItsItemsStayHeldUntilMarked) {
  WebhookScheduler s({2, 50, 2});
  s.begin_pump();
  auto a1 = batch(1, "https://a.test/", 2, 0), a2 = batch(1, "https://a.test/", 1, 0);
  auto start = s.offer({a1, a2});
  ASSERT_EQ(start.size(), 1u);
  auto next = s.ended(start[0]);
  ASSERT_TRUE(next) << "the host takes its next waiting batch without waiting for the marks";
  EXPECT_EQ(ids(next->batch), ids(a2));
  EXPECT_EQ(s.running(), 1u);
  for (auto id : ids(a1)) EXPECT_TRUE(s.held(id)) << "its marks are not stored yet";
  // A claim that ran while the marks were on their way hands a1 out again: not sent twice.
  EXPECT_TRUE(s.offer({a1}).empty());
  EXPECT_EQ(s.waiting(), 0u);
  EXPECT_FALSE(s.ended(*next));
  EXPECT_EQ(s.running(), 0u);
  EXPECT_EQ(s.claim_budget(), 2u - 0u) << "both slots free";
  s.marked(ids(a1));
  for (auto id : ids(a1)) EXPECT_FALSE(s.held(id));
  for (auto id : ids(a2)) EXPECT_TRUE(s.held(id)) << "a2 is marked in a later round";
  s.marked(ids(a2));
  // Once marked, the items may be handed out again (a retry when they come due).
  s.begin_pump();
  auto again = s.offer({a1});
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(ids(again[0].batch), ids(a1));
}

TEST(WebhookMarkCoalescer, SentItemsOfOneStatusAreOneMarkAtTheLatestEnd) {
  MarkCoalescer m;
  EXPECT_TRUE(m.empty());
  Settlement s1, s2, s3;
  s1.sent = {1, 2};
  s2.sent = {3};
  s3.sent = {4};
  m.add(s1, 1'000, "POST http://a.test/: 200 OK", 200);
  m.add(s2, 1'005, "POST http://b.test/: 200 OK", 200);
  m.add(s3, 1'002, "POST http://c.test/: 204", 204);
  EXPECT_EQ(m.items(), 4u);
  auto g = m.take();
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(m.items(), 0u);
  ASSERT_EQ(g.size(), 2u) << "one per HTTP status, whatever the URL or reply";
  const auto& ok = g[0].code == 200 ? g[0] : g[1];
  const auto& nc = g[0].code == 200 ? g[1] : g[0];
  EXPECT_TRUE(ok.sent);
  EXPECT_FALSE(ok.give_up);
  EXPECT_EQ(ok.ids, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(ok.at_ms, 1'005);
  EXPECT_EQ(ok.error, "");
  EXPECT_EQ(nc.ids, (std::vector<int64_t>{4}));
  EXPECT_EQ(nc.at_ms, 1'002);
  EXPECT_TRUE(m.take().empty());
}

TEST(WebhookMarkCoalescer, GroupsPutBackComeOutAgainMergedWithWhatWasAddedMeanwhile) {
  MarkCoalescer m;
  Settlement a;
  a.sent = {1};
  a.retry_at[31'000] = {2};
  a.given_up = {3};
  m.add(a, 1'000, "POST http://a.test/: 500", 500);
  auto failed = m.take();  // their store failed
  ASSERT_EQ(failed.size(), 3u);
  Settlement b;
  b.sent = {4};
  b.retry_at[31'000] = {5};
  m.add(b, 2'000, "POST http://a.test/: 500", 500);
  m.put_back(failed);
  EXPECT_EQ(m.items(), 5u);
  auto groups = m.take();
  ASSERT_EQ(groups.size(), 3u) << "each put back group merges with its own kind";
  for (const auto& g : groups) {
    EXPECT_EQ(g.code, 500);
    if (g.sent) {
      EXPECT_EQ(g.ids, (std::vector<int64_t>{4, 1}));
      EXPECT_EQ(g.at_ms, 2'000);
      EXPECT_EQ(g.error, "");
    } else if (g.give_up) {
      EXPECT_EQ(g.ids, (std::vector<int64_t>{3}));
      EXPECT_EQ(g.at_ms, 1'000);
      EXPECT_EQ(g.error, "POST http://a.test/: 500");
    } else {
      EXPECT_EQ(g.ids, (std::vector<int64_t>{5, 2}));
      EXPECT_EQ(g.at_ms, 31'000);
      EXPECT_EQ(g.error, "POST http://a.test/: 500");
    }
  }
}

TEST(WebhookMarkCoalescer, FailuresKeepTheirOwnNextAttemptReplyAndStatus) {
  MarkCoalescer m;
  Settlement a, b, c, d;
  a.retry_at[31'000] = {1, 2};
  a.given_up = {3};
  b.retry_at[31'000] = {4};  // same time, same reply and status: one mark with a
  c.retry_at[31'000] = {5};  // same time, another reply: apart
  d.retry_at[61'000] = {6};  // another next attempt: apart
  m.add(a, 1'000, "POST http://a.test/: 500", 500);
  m.add(b, 1'000, "POST http://a.test/: 500", 500);
  m.add(c, 1'000, "POST http://b.test/: 503", 503);
  m.add(d, 1'000, "POST http://a.test/: 500", 500);
  EXPECT_EQ(m.items(), 6u);
  auto groups = m.take();
  ASSERT_EQ(groups.size(), 4u);
  std::vector<int64_t> all;
  for (const auto& g : groups) {
    EXPECT_FALSE(g.sent);
    all.insert(all.end(), g.ids.begin(), g.ids.end());
    if (g.give_up) {
      EXPECT_EQ(g.ids, (std::vector<int64_t>{3}));
      EXPECT_EQ(g.at_ms, 1'000);
      EXPECT_EQ(g.error, "POST http://a.test/: 500");
    } else if (g.error == "POST http://b.test/: 503") {
      EXPECT_EQ(g.ids, (std::vector<int64_t>{5}));
      EXPECT_EQ(g.code, 503);
      EXPECT_EQ(g.at_ms, 31'000);
    } else if (g.at_ms == 61'000) {
      EXPECT_EQ(g.ids, (std::vector<int64_t>{6}));
    } else {
      EXPECT_EQ(g.ids, (std::vector<int64_t>{1, 2, 4}));
      EXPECT_EQ(g.at_ms, 31'000);
      EXPECT_EQ(g.code, 500);
    }
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<int64_t>{1, 2, 3, 4, 5, 6})) << "every id in exactly one mark";
}

TEST(WebhookRounds, NextDueIsReadOnlyWhenTheOutboxRanDry) {
  EXPECT_FALSE(look_for_next_due(3, 3)) << "a full claim: more is due now";
  EXPECT_TRUE(look_for_next_due(3, 2));
  EXPECT_TRUE(look_for_next_due(3, 0));
  EXPECT_FALSE(look_for_next_due(0, 0))
      << "no claim (every slot runs, or the pump claimed enough): a finishing POST or the "
         "shortest sleep looks again";
}

}  // namespace
}  // namespace tern::events
