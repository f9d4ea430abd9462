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
// - The counts live behind a seam (auth_counts.hpp): this process's memory by default; in a
//   region the database every node shares, so failures spread over the nodes add up and a
//   block holds on all of them. The rule above is next_count(), here only.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "policy/auth_counts.hpp"

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
  // Counts in this process (MemoryAuthCounts, max_entries keys per table).
  AuthLimiter(const core::Clock& clock, Limits limits);
  // Counts in the given store (one for both tables is fine: their keys never collide), e.g.
  // the region's (app/shared_auth_counts.hpp). max_entries is then the store's business.
  AuthLimiter(const core::Clock& clock, Limits limits, std::shared_ptr<AuthCounts> counts);

  bool allowed(std::string_view ip, std::string_view username) const;
  void record_failure(std::string_view ip, std::string_view username);
  void record_success(std::string_view ip, std::string_view username);

  // Keys currently tracked in both tables (for tests and metrics).
  size_t tracked() const;

  // The rule (pure): the count after one more failure at now, given the current one, for a
  // key blocked at max failures. Every count store applies exactly this.
  static AuthCount next_count(const std::optional<AuthCount>& current, int64_t now, int max,
                              const Limits& limits);

  // The key an IP is counted under (core::client_key): IPv6 → "<first 64 bits>::/64".
  static std::string ip_key(std::string_view ip);

 private:
  static std::string pair_key(const std::string& ip_key, std::string_view username);

  const core::Clock& clock_;
  const Limits limits_;
  std::shared_ptr<AuthCounts> ips_;
  std::shared_ptr<AuthCounts> pairs_;  // (address key, username); may be the same store as ips_
};

}  // namespace tern::policy
