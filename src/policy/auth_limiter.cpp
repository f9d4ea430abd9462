#include "policy/auth_limiter.hpp"

#include <algorithm>

#include "core/client_key.hpp"

namespace tern::policy {

namespace {
constexpr size_t kMaxUserKey = 256;
}

AuthLimiter::AuthLimiter(const core::Clock& clock, Limits limits)
    : clock_(clock), limits_(limits) {}

std::string AuthLimiter::ip_key(std::string_view ip) { return core::client_key(ip); }

std::string AuthLimiter::pair_key(const std::string& ip_key, std::string_view username) {
  std::string k = ip_key;
  k += '\n';  // never inside an address key
  k += username.substr(0, kMaxUserKey);
  return k;
}

bool AuthLimiter::Table::blocked(const std::string& key, int64_t now) const {
  auto it = map_.find(key);
  return it != map_.end() && it->second.blocked_until > now;
}

void AuthLimiter::Table::fail(const std::string& key, int64_t now, int max, const Limits& l) {
  auto it = map_.find(key);
  if (it == map_.end()) {
    if (map_.size() >= std::max<size_t>(l.max_entries, 1)) {
      const std::string oldest = order_.front();
      erase(oldest);
    }
    order_.push_back(key);
    Entry e;
    e.window_start = now;
    e.pos = std::prev(order_.end());
    it = map_.emplace(key, e).first;
  } else {
    order_.splice(order_.end(), order_, it->second.pos);  // now the most recent
  }
  Entry& e = it->second;
  e.last_ms = now;
  if (e.blocked_until > now) return;  // already blocked: no extension
  const bool block_over = e.blocked_until != 0;
  if (block_over || now - e.window_start >= l.window_ms) {
    e.failures = 0;
    e.window_start = now;
    e.blocked_until = 0;
  }
  if (++e.failures >= max) e.blocked_until = now + l.block_ms;
}

void AuthLimiter::Table::erase(const std::string& key) {
  auto it = map_.find(key);
  if (it == map_.end()) return;
  order_.erase(it->second.pos);
  map_.erase(it);
}

void AuthLimiter::Table::prune(int64_t now, int64_t stale_after) {
  // order_ is sorted by last_ms, so stale keys are all at the front.
  while (!order_.empty()) {
    auto it = map_.find(order_.front());
    if (now - it->second.last_ms < stale_after) break;
    order_.pop_front();
    map_.erase(it);
  }
}

bool AuthLimiter::allowed(std::string_view ip, std::string_view username) const {
  const int64_t now = clock_.now_ms();
  const std::string ipk = ip_key(ip);
  std::lock_guard lock(mu_);
  if (ips_.blocked(ipk, now)) return false;
  if (!username.empty() && pairs_.blocked(pair_key(ipk, username), now)) return false;
  return true;
}

void AuthLimiter::record_failure(std::string_view ip, std::string_view username) {
  const int64_t now = clock_.now_ms();
  const std::string ipk = ip_key(ip);
  std::lock_guard lock(mu_);
  const int64_t stale_after = std::max(limits_.window_ms, limits_.block_ms);
  ips_.prune(now, stale_after);
  pairs_.prune(now, stale_after);
  ips_.fail(ipk, now, limits_.max_failures_per_ip, limits_);
  if (!username.empty())
    pairs_.fail(pair_key(ipk, username), now, limits_.max_failures_per_user, limits_);
}

void AuthLimiter::record_success(std::string_view ip, std::string_view username) {
  const std::string ipk = ip_key(ip);
  std::lock_guard lock(mu_);
  if (!username.empty()) pairs_.erase(pair_key(ipk, username));
}

size_t AuthLimiter::tracked() const {
  std::lock_guard lock(mu_);
  return ips_.size() + pairs_.size();
}

}  // namespace tern::policy
