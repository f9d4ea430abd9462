// Rate limiting of SMTP AUTH failures (SPEC §2), per client address and per (address, user).
// Policy:
// - Failures are counted per key in a fixed window that opens at the key's first failure and
//   lasts window_ms. Reaching the limit (max_failures_per_ip for an address, max_failures_per_user
//   for one username from one address) blocks that key for block_ms from the failure that
//   reached it. Failures while blocked neither extend nor deepen the block (the server does not
//   even try them). When the window or block has passed, the key starts from zero.
// - allowed(ip, user) is false while the address or the (address, username) pair is blocked.
//   The caller asks it before verifying credentials (and answers 535 / closes without spending
//   an Argon2id).
// - Failures from one address never deny another address (issue 10, item 9): there is no
//   username-wide block, so nobody can lock a user out by guessing wrong from elsewhere. A
//   guesser spread over many addresses is bounded by the per-address limit of each and by the
//   cost of Argon2id.
// - A success clears the (address, username) count, not the address's: an address that tries
//   many accounts stays counted even if one of them works.
// - Addresses are keyed by core::client_key (IPv6 by its /64). An empty username counts per
//   address only. Usernames are truncated to 256 bytes for keying.
// - Memory is bounded: stale keys (nothing within window_ms and block_ms) are pruned on every
//   failure, and each table holds at most max_entries keys, evicting the least recently failed.
#pragma once
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.hpp"

namespace tern::policy {

class AuthLimiter {
 public:
  struct Limits {
    int max_failures_per_ip = 10;
    int max_failures_per_user = 5;  // one username from one address
    int64_t window_ms = 300'000;
    int64_t block_ms = 300'000;
    size_t max_entries = 100'000;  // per table (IPs, usernames)
  };

  explicit AuthLimiter(const core::Clock& clock) : AuthLimiter(clock, Limits{}) {}
  AuthLimiter(const core::Clock& clock, Limits limits);

  bool allowed(std::string_view ip, std::string_view username) const;
  void record_failure(std::string_view ip, std::string_view username);
  void record_success(std::string_view ip, std::string_view username);

  // Keys currently tracked in both tables (for tests and metrics).
  size_t tracked() const;

  // The key an IP is counted under (core::client_key): IPv6 → "<first 64 bits>::/64".
  static std::string ip_key(std::string_view ip);

 private:
  struct Entry {
    int failures = 0;
    int64_t window_start = 0;
    int64_t blocked_until = 0;
    int64_t last_ms = 0;
    std::list<std::string>::iterator pos;
  };
  class Table {
   public:
    bool blocked(const std::string& key, int64_t now) const;
    void fail(const std::string& key, int64_t now, int max, const Limits& l);
    void erase(const std::string& key);
    void prune(int64_t now, int64_t stale_after);
    size_t size() const { return map_.size(); }

   private:
    std::unordered_map<std::string, Entry> map_;
    std::list<std::string> order_;  // least recently failed first
  };

  static std::string pair_key(const std::string& ip_key, std::string_view username);

  const core::Clock& clock_;
  const Limits limits_;
  mutable std::mutex mu_;
  Table ips_;
  Table pairs_;  // (address key, username)
};

}  // namespace tern::policy
