// Rate limiting of SMTP AUTH failures (SPEC §2), per client IP and per username.
// Policy:
// - Failures are counted per key in a fixed window that opens at the key's first failure and
//   lasts window_ms. Reaching the limit (max_failures_per_ip for an IP, max_failures_per_user
//   for a username) blocks that key for block_ms from the failure that reached it. Failures
//   while blocked neither extend nor deepen the block (the server does not even try them).
//   When the window or block has passed, the key starts from zero.
// - allowed(ip, user) is false while the IP or the username is blocked. The caller asks it
//   before verifying credentials (and answers 535 / closes without spending an Argon2id).
// - A success clears the username's count (the owner got it right), not the IP's: an IP
//   that tries many accounts stays counted even if one of them works.
// - The username "App" (API keys, shared by every account) is not limited per username:
//   blocking it would let anyone lock every API-key client out, and a 128-bit key cannot be
//   guessed anyway. It is still limited per IP. An empty username is not tracked.
// - IPv6 clients are keyed by their /64 (one host usually owns a whole /64, so per-address
//   counting would be trivially sidestepped); IPv4 (also v4-mapped IPv6) by the address.
// - Memory is bounded: stale keys (nothing within window_ms and block_ms) are pruned on every
//   failure, and each table holds at most max_entries keys, evicting the least recently failed.
//   Usernames are truncated to 256 bytes for keying.
// Thread-safe. Time comes from core::Clock so tests drive it.
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
    int max_failures_per_user = 5;
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

  // The key an IP is counted under (exposed for tests): IPv6 → "<first 64 bits>::/64".
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

  static bool user_tracked(std::string_view username);
  static std::string user_key(std::string_view username);

  const core::Clock& clock_;
  const Limits limits_;
  mutable std::mutex mu_;
  Table ips_;
  Table users_;
};

}  // namespace tern::policy
