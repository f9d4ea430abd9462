#include "store/leased_job.hpp"

namespace tern::store {

LeasedJob::LeasedJob(std::string name, int64_t ttl_ms, const core::Clock& clock, Acquire acquire,
                     Release release)
    : name_(std::move(name)),
      ttl_ms_(ttl_ms),
      clock_(clock),
      acquire_(std::move(acquire)),
      release_(std::move(release)) {}

LeasedJob::LeasedJob(Cluster& cluster, std::string_view name, int64_t ttl_ms,
                     const core::Clock& clock)
    : LeasedJob(
          std::string(name), ttl_ms, clock,
          [&cluster](std::string_view n, int64_t now, int64_t ttl) {
            return cluster.acquire(n, now, ttl);
          },
          [&cluster](std::string_view n, int64_t token) { return cluster.release(n, token); }) {}

Renewal LeasedJob::renew() {
  const int64_t asked = clock_.now_ms();
  auto r = acquire_(name_, asked, ttl_ms_);
  std::lock_guard lock(mu_);
  const bool had = token_ != 0 && asked < valid_until_ms_;
  if (!r || !r->has_value()) {
    valid_until_ms_ = 0;
    token_ = 0;
    return {had ? LeaseOutcome::lost : LeaseOutcome::elsewhere, r ? "" : r.error().message};
  }
  const int64_t token = (*r)->token;
  const bool same = had && token == token_;
  token_ = token;
  valid_until_ms_ = asked + ttl_ms_;
  return {same ? LeaseOutcome::kept : LeaseOutcome::gained, ""};
}

bool LeasedJob::holding() const {
  std::lock_guard lock(mu_);
  return token_ != 0 && clock_.now_ms() < valid_until_ms_;
}

int64_t LeasedJob::token() const {
  std::lock_guard lock(mu_);
  return token_;
}

void LeasedJob::release() {
  int64_t token;
  {
    std::lock_guard lock(mu_);
    token = token_;
    token_ = 0;
    valid_until_ms_ = 0;
  }
  if (token != 0) (void)release_(name_, token);  // else it simply expires
}

}  // namespace tern::store
