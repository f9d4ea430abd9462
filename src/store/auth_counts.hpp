// AUTH failure counts shared by the nodes of a region (issue 12, CLUSTER.md decision 9): the
// rows of the `auth_failures` table (UNLOGGED on PostgreSQL: lost on a server crash, never
// wrong), keyed by the limiter's keys. The store knows no policy: the limiter
// (policy/auth_limiter.hpp) computes the next count from the current one and writes it with a
// compare-and-set, so concurrent failures on several nodes are each counted once.
// Invariants:
//  - swap(key, expected, next) writes next only when the stored row still equals expected
//    (nullopt: no row), in one atomic step; false otherwise (the caller reads again).
//  - live() returns rows that matter at now_ms: blocked (blocked_until_ms > now_ms) or with a
//    window opened at or after since_ms; trim() deletes the others.
// Backends: memory (MemoryAuthCountStore, shareable by several limiters in one process: tests)
// and PostgreSQL (pg_parts.hpp).
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"

namespace tern::store {

struct AuthCountRow {
  int64_t failures = 0;
  int64_t window_start_ms = 0;
  int64_t blocked_until_ms = 0;
  bool operator==(const AuthCountRow&) const = default;
};

class AuthCountStore {
 public:
  virtual ~AuthCountStore() = default;
  virtual core::Result<std::optional<AuthCountRow>> get(std::string_view key) = 0;
  virtual core::Result<bool> swap(std::string_view key, const std::optional<AuthCountRow>& expected,
                                  const AuthCountRow& next) = 0;
  virtual core::Result<void> erase(std::string_view key) = 0;
  // Rows whose key starts with prefix that are blocked at now_ms or whose window opened at or
  // after since_ms, at most limit (the most recent windows first).
  virtual core::Result<std::vector<std::pair<std::string, AuthCountRow>>> live(
      std::string_view prefix, int64_t now_ms, int64_t since_ms, size_t limit) = 0;
  // Deletes every row that live() would not return; how many.
  virtual core::Result<size_t> trim(int64_t now_ms, int64_t since_ms) = 0;
};

class MemoryAuthCountStore final : public AuthCountStore {
 public:
  core::Result<std::optional<AuthCountRow>> get(std::string_view key) override;
  core::Result<bool> swap(std::string_view key, const std::optional<AuthCountRow>& expected,
                          const AuthCountRow& next) override;
  core::Result<void> erase(std::string_view key) override;
  core::Result<std::vector<std::pair<std::string, AuthCountRow>>> live(std::string_view prefix,
                                                                       int64_t now_ms,
                                                                       int64_t since_ms,
                                                                       size_t limit) override;
  core::Result<size_t> trim(int64_t now_ms, int64_t since_ms) override;

  // Test seams: the number of calls that would be database round trips on PostgreSQL, and a
  // switch that makes every call fail as an unreachable database does.
  size_t calls() const;
  void set_failing(bool f);

 private:
  mutable std::mutex mu_;
  std::map<std::string, AuthCountRow, std::less<>> rows_;
  size_t calls_ = 0;
  bool failing_ = false;
};

}  // namespace tern::store
