// Account suspension (issue 13): the operator stops an account from sending and from using the
// API with its own keys, with a reason shown to it. A row of `account_suspensions` (migration 8;
// open the Store first) = suspended; deleting the account removes it (cascade).
// Invariants: a reason is 1..200 bytes of printable text without control characters (it is
// quoted in SMTP replies and HTTP errors); suspending a missing account is a permanent error.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace tern::store {

struct Suspension {
  int64_t account_id = 0;
  std::string reason;
  int64_t since_ms = 0;
};

// Error when the reason is empty, over 200 bytes, holds a control character or is not UTF-8.
core::Result<void> check_suspension_reason(std::string_view reason);

class Suspensions {
 public:
  static core::Result<std::unique_ptr<Suspensions>> open(const std::string& db_path);
  ~Suspensions();
  Suspensions(const Suspensions&) = delete;
  Suspensions& operator=(const Suspensions&) = delete;

  // Suspends (or changes the reason of) the account.
  core::Result<Suspension> suspend(int64_t account_id, const std::string& reason, int64_t now_ms);
  // false when it was not suspended.
  core::Result<bool> unsuspend(int64_t account_id);
  core::Result<std::optional<Suspension>> get(int64_t account_id);
  core::Result<std::vector<Suspension>> all();

 private:
  struct Impl;
  explicit Suspensions(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::store
