// Account settings as the delivery engine sees them: loaded ahead (by the driver, on a pool)
// and refreshed in the background, so scheduling never waits for the store while it has a
// copy. Pure; the engine asks (LoadSettings) when get() says so.
//
// Rules: account 0 (no account) has the defaults and is never loaded. A copy older than ttl
// is still used while a fresh one is loaded (one load per account at a time). A failed load
// keeps the old copy and is tried again after retry_ms; without a copy the caller waits.
// forget() (the account's settings changed: the API, or another node through the change feed)
// drops the copy: the next message waits for a load, as the account's first one does. A load
// under way when it came may have read the old values: its result is used, and loaded again
// at the next get().
#pragma once
#include <cstdint>
#include <unordered_map>

#include "core/result.hpp"
#include "store/settings.hpp"

namespace tern::delivery {

class SettingsCache {
 public:
  SettingsCache(int64_t ttl_ms, int64_t retry_ms) : ttl_ms_(ttl_ms), retry_ms_(retry_ms) {}

  // The settings to use now, or nullptr when there is no copy yet. need_load: start a load
  // now (none is under way and the copy is missing or old).
  const store::AccountSettings* get(int64_t account_id, int64_t now_ms, bool& need_load);
  // A load ended. Returns false when it failed and there is no copy to fall back on.
  bool loaded(int64_t account_id, core::Result<store::AccountSettings> r, int64_t now_ms);
  bool loading(int64_t account_id) const {
    auto it = map_.find(account_id);
    return it != map_.end() && it->second.loading;
  }
  // The account's settings changed: the next get() starts a load and has no copy until then.
  void forget(int64_t account_id);
  // Forget every copy older than now (tests; an operator "retry" reloads nothing).
  void clear() { map_.clear(); }

 private:
  struct Cached {
    store::AccountSettings s;
    bool have = false;
    bool loading = false;
    bool stale_load = false;  // forget() came while loading: that load may be old already
    int64_t fresh_until = 0;  // no reload before
  };
  const int64_t ttl_ms_, retry_ms_;
  std::unordered_map<int64_t, Cached> map_;
  store::AccountSettings defaults_;
};

}  // namespace tern::delivery
