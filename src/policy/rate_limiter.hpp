// A token bucket per key (e.g. an account id): `burst` actions at once, then one more every
// 60000 / per_minute ms. Used for the test email (issue 10 item 2), which connects to a remote
// on the tenant's request and must not become a cheap mail cannon or port scanner.
//
// Invariants: a key's tokens never exceed `burst`; take() spends one token or returns the
// milliseconds until one is available (never 0 on refusal). Memory is bounded: at most
// max_keys keys are kept; when full, keys whose bucket is full again (idle) are dropped first,
// then the table is cleared (a full table of busy keys can only come from key churn, and
// forgetting them errs on the side of allowing). Thread-safe; time from core::Clock.
#pragma once
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "core/clock.hpp"

namespace tern::policy {

class RateLimiter {
 public:
  struct Limits {
    int per_minute = 5;  // sustained rate; 0 = unlimited
    int burst = 5;       // tokens available at once
    size_t max_keys = 100'000;
  };
  RateLimiter(const core::Clock& clock, Limits limits);

  // 0 when allowed (a token was spent); else the milliseconds until the next token.
  int64_t take(int64_t key);

 private:
  struct Bucket {
    double tokens = 0;
    int64_t at_ms = 0;
  };
  double refill(Bucket& b, int64_t now) const;

  const core::Clock& clock_;
  const Limits limits_;
  std::mutex mu_;
  std::unordered_map<int64_t, Bucket> buckets_;
};

}  // namespace tern::policy
