// Where the AUTH limiter (auth_limiter.hpp) keeps its failure counts: a seam, so the policy
// stays in one place and the counts live in this process (MemoryAuthCounts: one node, SQLite)
// or in the region's database, shared by every node (app/shared_auth_counts.hpp).
// Contract:
//  - blocked(key, now) answers from memory (it is asked before every AUTH): never a database
//    round trip.
//  - update(key, now, step) replaces the key's count by step(current) in one atomic step
//    (nullopt: not counted yet). step is the limiter's rule; a store may call it more than once
//    (a compare-and-set that lost a race reads again), so it must be a pure function.
//  - clear(key) forgets a count; cheap when the key is not counted (a successful AUTH).
// Thread-safe.
#pragma once
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace tern::policy {

struct AuthCount {
  int64_t failures = 0;
  int64_t window_start = 0;
  int64_t blocked_until = 0;
};

using AuthStep = std::function<AuthCount(const std::optional<AuthCount>&)>;

class AuthCounts {
 public:
  virtual ~AuthCounts() = default;
  virtual bool blocked(const std::string& key, int64_t now) const = 0;
  virtual void update(const std::string& key, int64_t now, const AuthStep& step) = 0;
  virtual void clear(const std::string& key) = 0;
  virtual size_t size() const = 0;  // keys tracked here (tests, metrics)
};

// In this process. Memory is bounded: keys with nothing for stale_after_ms are pruned on every
// update, and at most max_entries keys are kept, evicting the least recently updated.
class MemoryAuthCounts final : public AuthCounts {
 public:
  MemoryAuthCounts(size_t max_entries, int64_t stale_after_ms)
      : max_entries_(max_entries), stale_after_ms_(stale_after_ms) {}
  bool blocked(const std::string& key, int64_t now) const override;
  void update(const std::string& key, int64_t now, const AuthStep& step) override;
  void clear(const std::string& key) override;
  size_t size() const override;

 private:
  struct Entry {
    AuthCount count;
    int64_t last_ms = 0;
    std::list<std::string>::iterator pos;
  };
  void erase_locked(const std::string& key);
  void prune_locked(int64_t now);

  const size_t max_entries_;
  const int64_t stale_after_ms_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> map_;
  std::list<std::string> order_;  // least recently updated first
};

}  // namespace tern::policy
