#include "policy/auth_counts.hpp"

#include <algorithm>

namespace tern::policy {

bool MemoryAuthCounts::blocked(const std::string& key, int64_t now) const {
  std::lock_guard lk(mu_);
  auto it = map_.find(key);
  return it != map_.end() && it->second.count.blocked_until > now;
}

void MemoryAuthCounts::update(const std::string& key, int64_t now, const AuthStep& step) {
  std::lock_guard lk(mu_);
  prune_locked(now);
  auto it = map_.find(key);
  if (it == map_.end()) {
    if (map_.size() >= std::max<size_t>(max_entries_, 1)) {
      const std::string oldest = order_.front();
      erase_locked(oldest);
    }
    order_.push_back(key);
    Entry e;
    e.count = step(std::nullopt);
    e.last_ms = now;
    e.pos = std::prev(order_.end());
    map_.emplace(key, e);
    return;
  }
  order_.splice(order_.end(), order_, it->second.pos);  // now the most recent
  it->second.count = step(it->second.count);
  it->second.last_ms = now;
}

void MemoryAuthCounts::clear(const std::string& key) {
  std::lock_guard lk(mu_);
  erase_locked(key);
}

size_t MemoryAuthCounts::size() const {
  std::lock_guard lk(mu_);
  return map_.size();
}

void MemoryAuthCounts::erase_locked(const std::string& key) {
  auto it = map_.find(key);
  if (it == map_.end()) return;
  order_.erase(it->second.pos);
  map_.erase(it);
}

void MemoryAuthCounts::prune_locked(int64_t now) {
  // order_ is sorted by last_ms, so stale keys are all at the front.
  while (!order_.empty()) {
    auto it = map_.find(order_.front());
    if (now - it->second.last_ms < stale_after_ms_) break;
    order_.pop_front();
    map_.erase(it);
  }
}

}  // namespace tern::policy
