// Retry schedule: see retry.hpp for the rules. The jitter hash is FNV-1a over the seed,
// address and attempt number, finished with splitmix64's mixer so neighbouring inputs (attempt
// 3 vs 4) land far apart in [0, 1).
#include "queue/retry.hpp"

#include <cmath>
#include <limits>

namespace tern::queue {

namespace {

constexpr int64_t kMaxDuration = 365 * RetryPolicy::kDay;
constexpr size_t kMaxEntries = 100;
// last_reply is remote text; the SMTP client bounds reply lines, this bounds what we store.
constexpr size_t kMaxLastReply = 1000;

int64_t sat_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r))
    return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  return r;
}

uint64_t fnv1a(uint64_t h, std::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Cut at a UTF-8 character boundary so a stored reply is never a broken sequence.
std::string bounded(std::string s) {
  if (s.size() <= kMaxLastReply) return s;
  size_t n = kMaxLastReply;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
  return s;
}

}  // namespace

core::Result<void> RetryPolicy::check() const {
  if (delays_ms.empty()) return core::Error::perm("retry schedule is empty");
  for (int64_t d : delays_ms)
    if (d <= 0) return core::Error::perm("retry delays must be positive");
  if (max_age_ms <= 0) return core::Error::perm("maximum queue age must be positive");
  if (!(jitter >= 0.0 && jitter < 1.0))  // also rejects NaN
    return core::Error::perm("retry jitter must be at least 0 and below 1");
  return core::ok();
}

int64_t RetryPolicy::base_delay_ms(int failed_attempts) const {
  // An unchecked, empty schedule would have no delay at all; wait a whole max age instead
  // (at most one more try, then expiry, rather than retrying in a tight loop).
  if (delays_ms.empty()) return max_age_ms > 0 ? max_age_ms : kDay;
  size_t i = failed_attempts <= 1 ? 0 : size_t(failed_attempts - 1);
  if (i >= delays_ms.size()) i = delays_ms.size() - 1;
  return delays_ms[i] > 0 ? delays_ms[i] : 1;
}

int64_t RetryPolicy::delay_ms(int failed_attempts, std::string_view jitter_seed,
                              std::string_view address) const {
  int64_t base = base_delay_ms(failed_attempts);
  if (!(jitter > 0.0)) return base;
  double j = jitter < 1.0 ? jitter : 0.999;
  uint64_t h = 0xcbf29ce484222325ULL;
  h = fnv1a(h, jitter_seed);
  h = fnv1a(h, std::string_view("\0", 1));  // ("ab","c") and ("a","bc") differ
  h = fnv1a(h, address);
  h = mix(h ^ uint64_t(uint32_t(failed_attempts)));
  double u = double(h >> 11) * 0x1.0p-53;  // [0, 1)
  double d = double(base) * (1.0 + j * (2.0 * u - 1.0));
  if (d < 1.0) return 1;
  if (d >= double(std::numeric_limits<int64_t>::max() / 2))
    return std::numeric_limits<int64_t>::max() / 2;
  return int64_t(std::llround(d));
}

RetryDecision RetryPolicy::next(const Recipient& r, int64_t received_ms, int64_t now_ms,
                                const core::DeliveryOutcome& outcome,
                                std::string_view jitter_seed) const {
  RetryDecision d{r, 0};
  if (is_final(r.state)) return d;
  Recipient& out = d.recipient;
  out.attempts = r.attempts < 0 ? 1
                                : (r.attempts == std::numeric_limits<int>::max() ? r.attempts
                                                                                 : r.attempts + 1);
  out.last_reply = bounded(outcome.summary());
  out.next_attempt_ms = 0;
  if (out.first_attempt_ms == 0) out.first_attempt_ms = now_ms;
  switch (outcome.kind) {
    case core::DeliveryOutcome::delivered:
      out.state = RcptState::delivered;
      return d;
    case core::DeliveryOutcome::perm:
      out.state = RcptState::bounced;
      return d;
    case core::DeliveryOutcome::temp:
      break;
  }
  int64_t delay = delay_ms(out.attempts, jitter_seed, r.address);
  int64_t when = sat_add(now_ms, delay);
  int64_t deadline = sat_add(received_ms, max_age_ms);
  if (when > deadline) {
    out.state = RcptState::expired;
    return d;
  }
  out.state = RcptState::deferred;
  out.next_attempt_ms = when;
  d.delay_ms = delay;
  return d;
}

core::Result<int64_t> parse_duration_ms(std::string_view text) {
  auto bad = [&](const char* why) {
    return core::Error::perm("bad duration \"" + std::string(text) + "\": " + why);
  };
  if (text.size() < 2) return bad("want a number and a unit (s, m, h, d)");
  int64_t unit = 0;
  switch (text.back()) {
    case 's':
      unit = RetryPolicy::kSecond;
      break;
    case 'm':
      unit = RetryPolicy::kMinute;
      break;
    case 'h':
      unit = RetryPolicy::kHour;
      break;
    case 'd':
      unit = RetryPolicy::kDay;
      break;
    default:
      return bad("unit must be s, m, h or d");
  }
  std::string_view num = text.substr(0, text.size() - 1);
  int64_t n = 0;
  for (char c : num) {
    if (c < '0' || c > '9') return bad("not a whole number");
    n = n * 10 + (c - '0');
    if (n > kMaxDuration) return bad("more than 365 days");
  }
  if (n == 0) return bad("must be above zero");
  if (n > kMaxDuration / unit) return bad("more than 365 days");
  return n * unit;
}

core::Result<std::vector<int64_t>> parse_retry_schedule(std::string_view text) {
  std::vector<int64_t> out;
  size_t pos = 0;
  while (true) {
    size_t comma = text.find(',', pos);
    std::string_view item =
        text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item.empty())
      return core::Error::perm("bad retry schedule \"" + std::string(text) + "\": empty entry");
    auto d = parse_duration_ms(item);
    if (!d) return core::Error::perm("bad retry schedule: " + d.error().message);
    if (out.size() == kMaxEntries)
      return core::Error::perm("bad retry schedule: more than 100 entries");
    out.push_back(*d);
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return out;
}

}  // namespace tern::queue
