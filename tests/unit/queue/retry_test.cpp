// Retry schedule: every step of the default table, expiry at the exact boundary, jitter
// bounds and determinism, 2xx/5xx verdicts, final recipients untouched, schedule parsing.
#include "queue/retry.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>

using namespace tern;
using namespace tern::queue;
using core::DeliveryOutcome;

namespace {

constexpr int64_t kT0 = 1700000000000;
constexpr int64_t M = RetryPolicy::kMinute, H = RetryPolicy::kHour, D = RetryPolicy::kDay;

DeliveryOutcome temp451() {
  return DeliveryOutcome::from_reply(451, "4.3.0", "try later", core::Phase::rcpt,
                                     "mx1.example.com");
}

Recipient rcpt(std::string address, RcptState state = RcptState::pending, int attempts = 0,
               int64_t next_attempt_ms = 0, std::string last_reply = {}) {
  Recipient r;
  r.address = std::move(address);
  r.state = state;
  r.attempts = attempts;
  r.next_attempt_ms = next_attempt_ms;
  r.last_reply = std::move(last_reply);
  return r;
}

RetryPolicy no_jitter() {
  RetryPolicy p;
  p.jitter = 0;
  return p;
}

}  // namespace

TEST(Outcome, FromReplyVerdicts) {
  EXPECT_EQ(DeliveryOutcome::from_reply(250, "2.0.0", "ok", core::Phase::data_end).kind,
            DeliveryOutcome::delivered);
  EXPECT_EQ(DeliveryOutcome::from_reply(251, "", "ok", core::Phase::rcpt).kind,
            DeliveryOutcome::delivered);
  EXPECT_EQ(DeliveryOutcome::from_reply(421, "4.7.0", "busy", core::Phase::greeting).kind,
            DeliveryOutcome::temp);
  EXPECT_EQ(DeliveryOutcome::from_reply(550, "5.1.1", "no", core::Phase::rcpt).kind,
            DeliveryOutcome::perm);
  EXPECT_EQ(DeliveryOutcome::from_reply(599, "", "no", core::Phase::rcpt).kind,
            DeliveryOutcome::perm);
  // Protocol violations are retried, never delivered or bounced.
  for (int c : {0, 199, 220 + 1000, 354, 300, 600, 999, -250})
    EXPECT_EQ(DeliveryOutcome::from_reply(c, "", "odd", core::Phase::rcpt).kind,
              DeliveryOutcome::temp)
        << c;
  auto n = DeliveryOutcome::network("connection refused", core::Phase::connect, "mx1.example.com");
  EXPECT_TRUE(n.is_temp());
  EXPECT_EQ(n.code, 0);
  EXPECT_EQ(n.summary(), "4.4.1 connection refused (mx1.example.com)");
}

TEST(Outcome, SummaryIsOneLine) {
  auto o = DeliveryOutcome::from_reply(550, "5.1.1", std::string("bad\r\nX-Evil: 1\0z", 17),
                                       core::Phase::rcpt);
  std::string s = o.summary();
  EXPECT_EQ(s.find('\r'), std::string::npos);
  EXPECT_EQ(s.find('\n'), std::string::npos);
  EXPECT_EQ(s.find('\0'), std::string::npos);
  EXPECT_EQ(s.substr(0, 10), "550 5.1.1 ");
}

TEST(Retry, DefaultPolicyIsValid) {
  RetryPolicy p;
  EXPECT_TRUE(p.check().ok());
  EXPECT_EQ(p.max_age_ms, 2 * D);
  EXPECT_DOUBLE_EQ(p.jitter, 0.1);
}

TEST(Retry, EveryStepOfTheDefaultTable) {
  RetryPolicy p = no_jitter();
  const int64_t expected[] = {1 * M, 5 * M, 15 * M, 30 * M, 1 * H, 2 * H, 4 * H, 4 * H, 4 * H};
  Recipient r = rcpt("a@example.net");
  int64_t now = kT0;
  for (size_t i = 0; i < std::size(expected); ++i) {
    auto d = p.next(r, kT0, now, temp451());
    ASSERT_EQ(d.recipient.state, RcptState::deferred) << i;
    EXPECT_EQ(d.recipient.attempts, int(i + 1));
    EXPECT_EQ(d.delay_ms, expected[i]) << i;
    EXPECT_EQ(d.recipient.next_attempt_ms, now + expected[i]) << i;
    EXPECT_EQ(d.recipient.last_reply, "451 4.3.0 try later (mx1.example.com)");
    r = d.recipient;
    now = r.next_attempt_ms;
  }
}

TEST(Retry, FullRunExpiresWithinMaxAgeAndNeverSchedulesPastIt) {
  RetryPolicy p;  // with jitter
  Recipient r = rcpt("a@example.net");
  int64_t now = kT0;
  int attempts = 0;
  while (true) {
    auto d = p.next(r, kT0, now, temp451(), "QUEUEID");
    ++attempts;
    r = d.recipient;
    if (r.state == RcptState::expired) break;
    ASSERT_EQ(r.state, RcptState::deferred);
    ASSERT_LE(r.next_attempt_ms, kT0 + 2 * D);
    now = r.next_attempt_ms;
    ASSERT_LT(attempts, 100);
  }
  EXPECT_EQ(r.attempts, attempts);
  EXPECT_EQ(r.next_attempt_ms, 0);
  // 1m+5m+15m+30m+1h+2h+4h = 7h51m, then 4h steps: about 12 more before 48h.
  EXPECT_GE(attempts, 15);
  EXPECT_LE(attempts, 22);
}

TEST(Retry, ExpiryExactlyAtTheBoundary) {
  RetryPolicy p = no_jitter();
  p.delays_ms = {10 * M};
  p.max_age_ms = 1 * H;
  Recipient r = rcpt("a@example.net");
  // Next attempt lands exactly on received + max_age: still made.
  auto d = p.next(r, kT0, kT0 + 50 * M, temp451());
  EXPECT_EQ(d.recipient.state, RcptState::deferred);
  EXPECT_EQ(d.recipient.next_attempt_ms, kT0 + 1 * H);
  // One millisecond later it would pass the deadline: expired now.
  d = p.next(r, kT0, kT0 + 50 * M + 1, temp451());
  EXPECT_EQ(d.recipient.state, RcptState::expired);
  EXPECT_EQ(d.recipient.attempts, 1);
  EXPECT_EQ(d.recipient.next_attempt_ms, 0);
  EXPECT_EQ(d.delay_ms, 0);
  EXPECT_EQ(d.recipient.last_reply, "451 4.3.0 try later (mx1.example.com)");
  // Already past the deadline.
  d = p.next(r, kT0, kT0 + 3 * H, temp451());
  EXPECT_EQ(d.recipient.state, RcptState::expired);
}

TEST(Retry, PermanentBouncesAtOnceAndSuccessDelivers) {
  RetryPolicy p;
  Recipient r = rcpt("a@example.net", RcptState::deferred, 3, kT0 + 5 * M, "old");
  auto b =
      p.next(r, kT0, kT0 + 5 * M,
             DeliveryOutcome::from_reply(550, "5.1.1", "no such user", core::Phase::rcpt, "mx"));
  EXPECT_EQ(b.recipient.state, RcptState::bounced);
  EXPECT_EQ(b.recipient.attempts, 4);
  EXPECT_EQ(b.recipient.next_attempt_ms, 0);
  EXPECT_EQ(b.recipient.last_reply, "550 5.1.1 no such user (mx)");
  EXPECT_EQ(b.recipient.address, "a@example.net");

  auto ok =
      p.next(r, kT0, kT0 + 5 * M,
             DeliveryOutcome::from_reply(250, "2.0.0", "queued as X", core::Phase::data_end, "mx"));
  EXPECT_EQ(ok.recipient.state, RcptState::delivered);
  EXPECT_EQ(ok.recipient.attempts, 4);
  EXPECT_EQ(ok.recipient.next_attempt_ms, 0);

  // Verdicts do not depend on age: a 2xx after max age still counts as delivered.
  auto late = p.next(r, kT0, kT0 + 10 * D,
                     DeliveryOutcome::from_reply(250, "2.0.0", "ok", core::Phase::data_end));
  EXPECT_EQ(late.recipient.state, RcptState::delivered);
  // Local permanent verdicts (null MX) bounce too.
  auto nmx =
      p.next(r, kT0, kT0, DeliveryOutcome::local(DeliveryOutcome::perm, "5.1.10", "null MX"));
  EXPECT_EQ(nmx.recipient.state, RcptState::bounced);
  EXPECT_EQ(nmx.recipient.last_reply, "5.1.10 null MX");
}

TEST(Retry, FinalRecipientsAreLeftAlone) {
  RetryPolicy p;
  for (RcptState s :
       {RcptState::delivered, RcptState::bounced, RcptState::expired, RcptState::rejected}) {
    Recipient r = rcpt("a@example.net", s, 2, 0, "kept");
    auto d = p.next(r, kT0, kT0, temp451());
    EXPECT_EQ(d.recipient.state, s);
    EXPECT_EQ(d.recipient.attempts, 2);
    EXPECT_EQ(d.recipient.last_reply, "kept");
  }
}

TEST(Retry, JitterStaysWithinBoundsAndIsDeterministic) {
  RetryPolicy p;  // jitter 0.1
  std::set<int64_t> seen;
  for (int attempt = 1; attempt <= 12; ++attempt) {
    int64_t base = p.base_delay_ms(attempt);
    for (int k = 0; k < 200; ++k) {
      std::string seed = "Q" + std::to_string(k);
      int64_t d = p.delay_ms(attempt, seed, "user@example.net");
      EXPECT_GE(d, int64_t(std::floor(base * 0.9))) << attempt << " " << seed;
      EXPECT_LE(d, int64_t(std::ceil(base * 1.1))) << attempt << " " << seed;
      EXPECT_EQ(d, p.delay_ms(attempt, seed, "user@example.net"));  // stable
      if (attempt == 1) seen.insert(d);
    }
  }
  // The point of jitter: a burst of 200 messages does not retry at one instant.
  EXPECT_GT(seen.size(), 150u);
  // Both halves of the range are used.
  int64_t lo = *seen.begin(), hi = *seen.rbegin();
  EXPECT_LT(lo, M - 4000);
  EXPECT_GT(hi, M + 4000);
  // The seed, the address and the attempt number all change the value.
  EXPECT_NE(p.delay_ms(7, "A", "x@y"), p.delay_ms(7, "B", "x@y"));
  EXPECT_NE(p.delay_ms(7, "A", "x@y"), p.delay_ms(7, "A", "z@y"));
  EXPECT_NE(p.delay_ms(7, "A", "x@y") - p.base_delay_ms(7),
            p.delay_ms(8, "A", "x@y") - p.base_delay_ms(8));
  // Through next(): the same inputs give the same time.
  Recipient r = rcpt("user@example.net");
  auto a = p.next(r, kT0, kT0, temp451(), "QID");
  auto b = p.next(r, kT0, kT0, temp451(), "QID");
  EXPECT_EQ(a.recipient.next_attempt_ms, b.recipient.next_attempt_ms);
  EXPECT_EQ(a.delay_ms, a.recipient.next_attempt_ms - kT0);
}

TEST(Retry, ZeroJitterIsExact) {
  RetryPolicy p = no_jitter();
  for (int k = 0; k < 50; ++k) EXPECT_EQ(p.delay_ms(1, "Q" + std::to_string(k), "a@b"), M);
}

TEST(Retry, CheckRejectsBadPolicies) {
  RetryPolicy p;
  p.delays_ms = {};
  EXPECT_FALSE(p.check().ok());
  p = RetryPolicy{};
  p.delays_ms = {M, 0};
  EXPECT_FALSE(p.check().ok());
  p = RetryPolicy{};
  p.max_age_ms = 0;
  EXPECT_FALSE(p.check().ok());
  for (double j : {-0.1, 1.0, 2.0, std::nan("")}) {
    p = RetryPolicy{};
    p.jitter = j;
    EXPECT_FALSE(p.check().ok()) << j;
  }
}

TEST(Retry, HostileValuesDoNotOverflowOrLoop) {
  RetryPolicy p = no_jitter();
  // An unchecked empty schedule waits a whole max age instead of retrying at once: at most
  // one more try, at the deadline, then expired.
  RetryPolicy empty = p;
  empty.delays_ms.clear();
  auto d = empty.next(rcpt("a@b"), kT0, kT0, temp451());
  EXPECT_EQ(d.recipient.state, RcptState::deferred);
  EXPECT_EQ(d.recipient.next_attempt_ms, kT0 + 2 * D);
  d = empty.next(d.recipient, kT0, kT0 + 1, temp451());
  EXPECT_EQ(d.recipient.state, RcptState::expired);
  // Huge times saturate instead of wrapping into the past.
  auto big = p.next(rcpt("a@b"), std::numeric_limits<int64_t>::max(),
                    std::numeric_limits<int64_t>::max() - 10, temp451());
  EXPECT_EQ(big.recipient.state, RcptState::deferred);
  EXPECT_EQ(big.recipient.next_attempt_ms, std::numeric_limits<int64_t>::max());
  // A received time in the future (clock step back) still defers normally.
  auto fut = p.next(rcpt("a@b"), kT0 + H, kT0, temp451());
  EXPECT_EQ(fut.recipient.state, RcptState::deferred);
  // Corrupt attempt counters.
  Recipient neg = rcpt("a@b", RcptState::deferred, -5);
  EXPECT_EQ(p.next(neg, kT0, kT0, temp451()).recipient.attempts, 1);
  EXPECT_EQ(p.next(neg, kT0, kT0, temp451()).delay_ms, M);
  Recipient maxed = rcpt("a@b", RcptState::deferred, std::numeric_limits<int>::max());
  auto m = p.next(maxed, kT0, kT0, temp451());
  EXPECT_EQ(m.recipient.attempts, std::numeric_limits<int>::max());
  EXPECT_EQ(m.delay_ms, 4 * H);
  // A huge remote reply is stored bounded, cut at a UTF-8 boundary.
  std::string text(5000, 'x');
  text.replace(995, 2, "\xc3\xa9");  // "451 " + text: é at bytes 999-1000, across the cut
  auto huge =
      p.next(rcpt("a@b"), kT0, kT0, DeliveryOutcome::from_reply(451, "", text, core::Phase::rcpt));
  EXPECT_LE(huge.recipient.last_reply.size(), 1000u);
  EXPECT_GE(huge.recipient.last_reply.size(), 990u);
  unsigned char last = static_cast<unsigned char>(huge.recipient.last_reply.back());
  EXPECT_NE(last, 0xc3);
}

TEST(RetryParse, Durations) {
  EXPECT_EQ(parse_duration_ms("90s").value(), 90000);
  EXPECT_EQ(parse_duration_ms("5m").value(), 5 * M);
  EXPECT_EQ(parse_duration_ms("2h").value(), 2 * H);
  EXPECT_EQ(parse_duration_ms("2d").value(), 2 * D);
  EXPECT_EQ(parse_duration_ms("365d").value(), 365 * D);
  for (const char* bad :
       {"", "s", "5", "0s", "00m", "-5m", "+5m", "5 m", " 5m", "1.5h", "5M", "5ms", "5w", "366d",
        "8761h", "99999999999999999999999s", "m5", "5mm", "0x10s"})
    EXPECT_FALSE(parse_duration_ms(bad).ok()) << bad;
}

TEST(RetryParse, Schedules) {
  auto s = parse_retry_schedule("1m,5m,15m,30m,1h,2h,4h");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s.value(), RetryPolicy{}.delays_ms);
  auto spaced = parse_retry_schedule(" 1s , 2s,\t3s ");
  ASSERT_TRUE(spaced.ok());
  EXPECT_EQ(spaced.value(), (std::vector<int64_t>{1000, 2000, 3000}));
  EXPECT_EQ(parse_retry_schedule("1d").value(), std::vector<int64_t>{D});
  for (const char* bad : {"", " ", ",", "1m,", ",1m", "1m,,5m", "1m;5m", "1m 5m", "1m,0s", "1m,x"})
    EXPECT_FALSE(parse_retry_schedule(bad).ok()) << bad;
  std::string many;
  for (int i = 0; i < 100; ++i) many += (i ? ",1s" : "1s");
  EXPECT_TRUE(parse_retry_schedule(many).ok());
  EXPECT_FALSE(parse_retry_schedule(many + ",1s").ok());
  // The error names the culprit.
  auto e = parse_retry_schedule("1m,7x");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("7x"), std::string::npos);
  EXPECT_FALSE(e.error().temporary);
}

// Issue 14 (timeToFirstAttempt): the first outcome stamps the attempt time; later ones keep it.
TEST(Retry, FirstAttemptTimeIsKeptAcrossRetries) {
  RetryPolicy p = no_jitter();
  auto d1 = p.next(rcpt("a@x.org"), kT0, kT0 + 1500, temp451());
  EXPECT_EQ(d1.recipient.first_attempt_ms, kT0 + 1500);
  auto d2 = p.next(d1.recipient, kT0, kT0 + 10 * M, temp451());
  EXPECT_EQ(d2.recipient.first_attempt_ms, kT0 + 1500);
  auto ok = p.next(d2.recipient, kT0, kT0 + 20 * M,
                   DeliveryOutcome::from_reply(250, "2.0.0", "ok", core::Phase::data_end));
  EXPECT_EQ(ok.recipient.state, RcptState::delivered);
  EXPECT_EQ(ok.recipient.first_attempt_ms, kT0 + 1500);
}
