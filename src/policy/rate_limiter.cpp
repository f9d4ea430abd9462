#include "policy/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>

namespace tern::policy {

RateLimiter::RateLimiter(const core::Clock& clock, Limits limits)
    : clock_(clock), limits_(limits) {}

double RateLimiter::refill(Bucket& b, int64_t now) const {
  const double per_ms = limits_.per_minute / 60000.0;
  if (now > b.at_ms)
    b.tokens = std::min<double>(limits_.burst, b.tokens + (now - b.at_ms) * per_ms);
  b.at_ms = std::max(b.at_ms, now);
  return b.tokens;
}

int64_t RateLimiter::take(int64_t key) {
  if (limits_.per_minute <= 0) return 0;
  const int64_t now = clock_.now_ms();
  std::lock_guard lk(mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= limits_.max_keys) {
      for (auto i = buckets_.begin(); i != buckets_.end();)
        i = refill(i->second, now) >= limits_.burst ? buckets_.erase(i) : std::next(i);
      if (buckets_.size() >= limits_.max_keys) buckets_.clear();
    }
    it = buckets_.emplace(key, Bucket{static_cast<double>(std::max(1, limits_.burst)), now}).first;
  }
  Bucket& b = it->second;
  refill(b, now);
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return 0;
  }
  const double per_ms = limits_.per_minute / 60000.0;
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1.0 - b.tokens) / per_ms)));
}

}  // namespace tern::policy
