// The retry schedule (SPEC §4): a pure function from (recipient, attempt outcome, clock) to the
// recipient's next state. 2xx delivered, 5xx bounced at once, 4xx / network deferred with
// backoff until the message is max_age old, then expired. No I/O, no clock of its own: the
// engine passes now_ms, so the whole table is testable without waiting.
//
// Invariants:
// - Every call counts the attempt (attempts + 1) and stores the outcome's summary in
//   last_reply, whatever the verdict. A recipient already in a final state (is_final) is
//   returned unchanged: a late duplicate outcome never revives or recounts it.
// - The delay after the n-th failed attempt (n = 1, 2, ...) is delays_ms[n-1]; past the end of
//   the list the last entry repeats (default 1m, 5m, 15m, 30m, 1h, 2h, 4h, 4h, 4h, ...).
// - Jitter spreads retries of a burst (one remote outage defers thousands of recipients at the
//   same second) over delay × [1 − jitter, 1 + jitter). It is deterministic: a hash of
//   (jitter_seed, recipient address, attempt number), so tests and replays see the same times;
//   the engine passes the message id as the seed.
// - Expiry: deadline = received_ms + max_age_ms. A temporary outcome whose next attempt would
//   come after the deadline (next_attempt_ms > deadline) expires now instead; an attempt that
//   lands exactly on the deadline is still made. Hence no attempt is ever scheduled past the
//   deadline and a message never waits for a retry it will not get.
// - Arithmetic saturates: hostile or corrupt times (INT64 extremes) never overflow.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/outcome.hpp"
#include "core/result.hpp"
#include "queue/envelope.hpp"

namespace tern::queue {

struct RetryDecision {
  Recipient recipient;   // the updated recipient (state, attempts, next_attempt_ms, last_reply)
  int64_t delay_ms = 0;  // deferred: the jittered delay chosen; otherwise 0
};

struct RetryPolicy {
  static constexpr int64_t kSecond = 1000, kMinute = 60 * kSecond, kHour = 60 * kMinute,
                           kDay = 24 * kHour;

  std::vector<int64_t> delays_ms = {1 * kMinute, 5 * kMinute, 15 * kMinute, 30 * kMinute,
                                    1 * kHour,   2 * kHour,   4 * kHour};
  int64_t max_age_ms = 2 * kDay;
  double jitter = 0.1;  // fraction, 0 <= jitter < 1

  // Usable values: at least one delay, every delay > 0, max_age > 0, 0 <= jitter < 1.
  core::Result<void> check() const;

  // The un-jittered delay after `failed_attempts` failures (>= 1; smaller counts as 1).
  int64_t base_delay_ms(int failed_attempts) const;
  // base_delay_ms with the deterministic jitter applied (always >= 1 ms).
  int64_t delay_ms(int failed_attempts, std::string_view jitter_seed,
                   std::string_view address) const;

  // The recipient after an attempt that ended with `outcome` at now_ms, for a message
  // received at received_ms. See the invariants above.
  RetryDecision next(const Recipient& r, int64_t received_ms, int64_t now_ms,
                     const core::DeliveryOutcome& outcome, std::string_view jitter_seed = {}) const;
};

// "90s", "5m", "2h", "2d": a positive integer and one lower-case unit (s, m, h, d). No unit,
// zero, a sign, spaces inside, fractions or more than 365 days are errors (permanent).
core::Result<int64_t> parse_duration_ms(std::string_view text);

// "1m,5m,15m,30m,1h,2h,4h": durations separated by commas, spaces around entries allowed.
// Empty entries (",," or a trailing comma), an empty list or more than 100 entries are errors.
core::Result<std::vector<int64_t>> parse_retry_schedule(std::string_view text);

}  // namespace tern::queue
