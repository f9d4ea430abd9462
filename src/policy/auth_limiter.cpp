#include "policy/auth_limiter.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace tern::policy {

namespace {
constexpr size_t kMaxUserKey = 256;
}

AuthLimiter::AuthLimiter(const core::Clock& clock, Limits limits)
    : clock_(clock), limits_(limits) {}

std::string AuthLimiter::ip_key(std::string_view ip) {
  std::string s(ip.substr(0, 64));
  // Drop an IPv6 zone ("fe80::1%eth0") before parsing.
  if (auto pct = s.find('%'); pct != std::string::npos) s.resize(pct);
  unsigned char a[16];
  if (s.find(':') != std::string::npos && inet_pton(AF_INET6, s.c_str(), a) == 1) {
    static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char buf[INET6_ADDRSTRLEN];
    if (std::memcmp(a, kMapped, sizeof kMapped) == 0) {
      inet_ntop(AF_INET, a + 12, buf, sizeof buf);
      return buf;
    }
    std::memset(a + 8, 0, 8);
    inet_ntop(AF_INET6, a, buf, sizeof buf);
    return std::string(buf) + "/64";
  }
  return s;
}

bool AuthLimiter::user_tracked(std::string_view username) {
  return !username.empty() && username != "App";
}

std::string AuthLimiter::user_key(std::string_view username) {
  return std::string(username.substr(0, kMaxUserKey));
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
  std::lock_guard lock(mu_);
  if (ips_.blocked(ip_key(ip), now)) return false;
  if (user_tracked(username) && users_.blocked(user_key(username), now)) return false;
  return true;
}

void AuthLimiter::record_failure(std::string_view ip, std::string_view username) {
  const int64_t now = clock_.now_ms();
  std::lock_guard lock(mu_);
  const int64_t stale_after = std::max(limits_.window_ms, limits_.block_ms);
  ips_.prune(now, stale_after);
  users_.prune(now, stale_after);
  ips_.fail(ip_key(ip), now, limits_.max_failures_per_ip, limits_);
  if (user_tracked(username))
    users_.fail(user_key(username), now, limits_.max_failures_per_user, limits_);
}

void AuthLimiter::record_success(std::string_view /*ip*/, std::string_view username) {
  std::lock_guard lock(mu_);
  if (user_tracked(username)) users_.erase(user_key(username));
}

size_t AuthLimiter::tracked() const {
  std::lock_guard lock(mu_);
  return ips_.size() + users_.size();
}

}  // namespace tern::policy
