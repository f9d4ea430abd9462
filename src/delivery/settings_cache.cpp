#include "delivery/settings_cache.hpp"

#include <utility>

namespace tern::delivery {

const store::AccountSettings* SettingsCache::get(int64_t account_id, int64_t now_ms,
                                                 bool& need_load) {
  need_load = false;
  if (account_id == 0) return &defaults_;
  Cached& c = map_[account_id];
  if (!c.loading && now_ms >= c.fresh_until) {
    c.loading = true;
    need_load = true;
  }
  return c.have ? &c.s : nullptr;
}

bool SettingsCache::loaded(int64_t account_id, core::Result<store::AccountSettings> r,
                           int64_t now_ms) {
  Cached& c = map_[account_id];
  c.loading = false;
  const bool stale = std::exchange(c.stale_load, false);
  if (r) {
    c.s = std::move(r).value();
    c.have = true;
    c.fresh_until = stale ? now_ms : now_ms + ttl_ms_;
    return true;
  }
  c.fresh_until = now_ms + retry_ms_;
  return c.have;
}

void SettingsCache::forget(int64_t account_id) {
  auto it = map_.find(account_id);
  if (it == map_.end()) return;  // never loaded: the first get() loads it
  it->second.fresh_until = 0;
  if (it->second.loading)
    it->second.stale_load = true;  // its result is used (it is at most as old as the change)
  else
    it->second.have = false;  // the next message waits for the new settings, as a first one does
}

}  // namespace tern::delivery
