// Short-lived memory of successful password verifications, so a client that opens a new
// connection (and AUTHs) per message does not cost one Argon2id each time.
// Invariants:
// - Holds no password: entries are keyed by username and hold a BLAKE2b tag of the password
//   under a random key made when the cache is created (per process), compared in constant time.
//   A memory dump therefore gives nothing to test guesses against offline.
// - An entry lives at most ttl_ms after the successful verification that made it, and is never
//   refreshed by a hit: a password that is changed (or an account that is removed) elsewhere, e.g.
//   by the CLI in another process, stays accepted here for at most ttl_ms (default 300 s).
// - Only successes are cached; a failure never touches an entry. At most max_entries entries;
//   when full, expired entries are dropped and, if still full, everything is (a cache miss only
//   costs one Argon2id).
#pragma once
#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.hpp"

namespace tern::store {

class VerifyCache {
 public:
  static constexpr int64_t kDefaultTtlMs = 300'000;
  VerifyCache(const core::Clock& clock, int64_t ttl_ms = kDefaultTtlMs,
              size_t max_entries = 10'000);

  std::optional<int64_t> lookup(std::string_view username, std::string_view password);
  void insert(std::string_view username, std::string_view password, int64_t account_id);
  void forget(std::string_view username);
  size_t size() const;

 private:
  using Tag = std::array<unsigned char, 32>;
  struct Entry {
    Tag tag;
    int64_t account_id;
    int64_t expires_ms;
  };
  Tag tag_of(std::string_view password) const;

  const core::Clock& clock_;
  const int64_t ttl_ms_;
  const size_t max_entries_;
  std::array<unsigned char, 32> key_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace tern::store
