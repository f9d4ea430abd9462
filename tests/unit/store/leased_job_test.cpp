// LeasedJob (store/leased_job.hpp): singleton jobs behind a lease, driven by a FakeClock over a
// shared LeaseTable (the arbiter SingleNode uses), so two "nodes" compete for one lease: only
// one runs at a time, a dead holder's job moves to the other after the TTL, and a failed
// renewal stops the job at once.
#include "store/leased_job.hpp"

#include <gtest/gtest.h>

namespace tern::store {
namespace {

constexpr int64_t kTtl = 30'000;

// One arbiter shared by several nodes, with a switch to make it fail (the database away).
struct Arbiter {
  LeaseTable table;
  bool down = false;
  LeasedJob job(const std::string& node, const core::Clock& clock) {
    return LeasedJob(
        "job:test", kTtl, clock,
        [this, node](std::string_view name, int64_t now,
                     int64_t ttl) -> core::Result<std::optional<Lease>> {
          if (down) return core::Error::unavailable("database away");
          return table.acquire(name, node, now, ttl);
        },
        [this, node](std::string_view name, int64_t token) -> core::Result<void> {
          table.release(name, node, token);
          return core::ok();
        });
  }
};

TEST(LeasedJob, OfTwoNodesOnlyOneRunsAtATime) {
  core::FakeClock clock;
  Arbiter arb;
  LeasedJob a = arb.job("node-a", clock), b = arb.job("node-b", clock);
  EXPECT_EQ(a.renew_every_ms(), kTtl / 3);
  EXPECT_EQ(a.renew().outcome, LeaseOutcome::gained);
  EXPECT_EQ(b.renew().outcome, LeaseOutcome::elsewhere);
  int ran_a = 0, ran_b = 0;
  // Both renew every TTL/3 for ten minutes (b a little out of step) and run when holding.
  for (int64_t t = 0; t < 600'000; t += 1'000) {
    if (t % a.renew_every_ms() == 0) {
      EXPECT_NE(a.renew().outcome, LeaseOutcome::lost);
    }
    if ((t + 3'000) % b.renew_every_ms() == 0) {
      EXPECT_EQ(b.renew().outcome, LeaseOutcome::elsewhere);
    }
    ASSERT_FALSE(a.holding() && b.holding()) << "both hold the lease at +" << t << " ms";
    ran_a += a.holding();
    ran_b += b.holding();
    clock.advance_ms(1'000);
  }
  EXPECT_EQ(ran_a, 600);
  EXPECT_EQ(ran_b, 0);
}

TEST(LeasedJob, WhenTheHolderDiesTheOtherTakesOverAfterTheTtl) {
  core::FakeClock clock;
  Arbiter arb;
  LeasedJob a = arb.job("node-a", clock), b = arb.job("node-b", clock);
  ASSERT_EQ(a.renew().outcome, LeaseOutcome::gained);
  const int64_t died = clock.now_ms();  // a renews no more (kill -9)
  const int64_t token_a = a.token();
  int64_t took_over = 0;
  while (clock.now_ms() < died + 2 * kTtl) {
    clock.advance_ms(1'000);
    const auto r = b.renew();
    if (r.outcome == LeaseOutcome::gained) {
      took_over = clock.now_ms();
      break;
    }
    EXPECT_EQ(r.outcome, LeaseOutcome::elsewhere);
    EXPECT_FALSE(b.holding());
  }
  ASSERT_NE(took_over, 0) << "b never got the lease";
  EXPECT_EQ(took_over, died + kTtl);  // not a moment before a's lease ran out
  EXPECT_TRUE(b.holding());
  EXPECT_GT(b.token(), token_a);  // a new holding, a higher fencing token
  // a's own view had ended by then too: it never believed it held the lease alongside b.
  EXPECT_FALSE(a.holding());
  // a comes back: the lease is b's now.
  EXPECT_EQ(a.renew().outcome, LeaseOutcome::elsewhere);
  EXPECT_FALSE(a.holding());
}

TEST(LeasedJob, AFailedRenewalStopsTheJobAtOnce) {
  core::FakeClock clock;
  Arbiter arb;
  LeasedJob a = arb.job("node-a", clock);
  ASSERT_EQ(a.renew().outcome, LeaseOutcome::gained);
  clock.advance_ms(kTtl / 3);
  ASSERT_EQ(a.renew().outcome, LeaseOutcome::kept);
  arb.down = true;
  clock.advance_ms(kTtl / 3);
  const auto r = a.renew();
  EXPECT_EQ(r.outcome, LeaseOutcome::lost);
  EXPECT_EQ(r.error, "database away");
  EXPECT_FALSE(a.holding());  // although the last grant still had 20 s to run
  EXPECT_EQ(a.token(), 0);
  arb.down = false;
  EXPECT_EQ(a.renew().outcome, LeaseOutcome::gained);  // ours again (the same holding)
  EXPECT_TRUE(a.holding());
}

TEST(LeasedJob, WithoutRenewalsTheJobStopsWhenItsTtlRunsOut) {
  core::FakeClock clock;
  Arbiter arb;
  LeasedJob a = arb.job("node-a", clock);
  ASSERT_EQ(a.renew().outcome, LeaseOutcome::gained);
  clock.advance_ms(kTtl - 1);
  EXPECT_TRUE(a.holding());
  clock.advance_ms(1);  // the renewing thread is stuck (a hung database call)
  EXPECT_FALSE(a.holding());
}

TEST(LeasedJob, ReleaseHandsTheLeaseOverWithoutWaiting) {
  core::FakeClock clock;
  Arbiter arb;
  LeasedJob a = arb.job("node-a", clock), b = arb.job("node-b", clock);
  ASSERT_EQ(a.renew().outcome, LeaseOutcome::gained);
  a.release();
  EXPECT_FALSE(a.holding());
  EXPECT_EQ(b.renew().outcome, LeaseOutcome::gained);
  EXPECT_EQ(a.renew().outcome, LeaseOutcome::elsewhere);
}

TEST(LeasedJob, OverASingleNodeTheNodeAlwaysHoldsIt) {
  core::FakeClock clock;
  SingleNode node("solo");
  LeasedJob job(node, kLeaseChangeLogTrim, kTtl, clock);
  EXPECT_EQ(job.name(), kLeaseChangeLogTrim);
  EXPECT_EQ(job.renew().outcome, LeaseOutcome::gained);
  for (int i = 0; i < 10; ++i) {
    clock.advance_ms(job.renew_every_ms());
    EXPECT_EQ(job.renew().outcome, LeaseOutcome::kept);
    EXPECT_TRUE(job.holding());
  }
}

}  // namespace
}  // namespace tern::store
