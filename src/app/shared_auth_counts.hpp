// AUTH failure counts shared by the nodes of a region (issue 12; policy/auth_counts.hpp is the
// seam, policy/auth_limiter.hpp the rule): the counts live in the database's auth_failures
// table, and each node keeps a mirror of the rows that matter (blocked, or counting in the
// current window) so the question asked before every AUTH never leaves memory.
// Invariants:
//  - blocked() reads the mirror only. The mirror is refreshed from the database every second
//    (refresh(), on the cluster upkeep thread), and a failure counted on this node updates it
//    at once: a block reached on any node holds on every node within about a second.
//  - update() applies the limiter's step with a compare-and-set on the row (read, compute,
//    write if unchanged, else again), so failures on several nodes at once are each counted.
//    It runs on a blocking pool (a failed AUTH is rare and already paid an Argon2id).
//  - clear() (a successful AUTH) touches the database only when the mirror knows a count for
//    the key: the common success costs no round trip. A count another node made in the last
//    second may survive a success here: it only ends with its window.
//  - While the database is away, failures are counted in the mirror (this node still blocks
//    by itself) and refresh() keeps the mirror as it is.
//  - A refresh never drops what this node wrote after the refresh began.
//  - Keys carry a prefix ("smtp:", "login:"), so the SMTP and console limiters share one table
//    without sharing counts. The mirror holds at most max_entries keys.
// Thread-safe.
#pragma once
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/result.hpp"
#include "policy/auth_counts.hpp"
#include "store/auth_counts.hpp"

namespace tern::app {

class SharedAuthCounts final : public policy::AuthCounts {
 public:
  struct Options {
    std::string prefix;         // "smtp:", "login:"
    int64_t keep_ms = 300'000;  // max(window, block): rows older than this no longer matter
    size_t max_entries = 100'000;
    int max_tries = 16;  // compare-and-set rounds before counting locally only
  };
  SharedAuthCounts(store::AuthCountStore& store, Options opt);

  bool blocked(const std::string& key, int64_t now) const override;
  void update(const std::string& key, int64_t now, const policy::AuthStep& step) override;
  void clear(const std::string& key) override;
  size_t size() const override;

  // Replaces the mirror by the database's rows that matter at now; how many.
  core::Result<size_t> refresh(int64_t now);

 private:
  struct Entry {
    policy::AuthCount count;
    uint64_t seq = 0;  // the local write that made it (0: read from the database)
  };
  void remember(const std::string& key, const policy::AuthCount& c);

  store::AuthCountStore& store_;
  const Options opt_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> mirror_;  // keys without the prefix
  uint64_t seq_ = 0;
};

}  // namespace tern::app
