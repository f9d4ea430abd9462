// Account suspension (issue 13): the operator stops an account from sending and from using the
// API with its own keys, with a reason shown to it. Backend-neutral rules over SuspensionRepo
// (a row = suspended; deleting the account removes it).
// Invariants: a reason is 1..200 bytes of printable UTF-8 without control characters (it is
// quoted in SMTP replies and HTTP errors); suspending a missing account is not_found; a new
// reason for a suspended account keeps the time the suspension began.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "store/model.hpp"
#include "store/repositories.hpp"

namespace tern::store {

// invalid when the reason is empty, over 200 bytes, holds a control character or is not UTF-8.
core::Result<void> check_suspension_reason(std::string_view reason);

class SuspensionService {
 public:
  explicit SuspensionService(Database& db) : db_(db) {}
  // Suspends (or changes the reason of) the account; the suspension as stored.
  core::Result<Suspension> suspend(int64_t account_id, const std::string& reason, int64_t now_ms);
  // false when it was not suspended.
  core::Result<bool> unsuspend(int64_t account_id);
  core::Result<std::optional<Suspension>> get(int64_t account_id);
  // Every suspension, by account id.
  core::Result<std::vector<Suspension>> all();

 private:
  Database& db_;
};

}  // namespace tern::store
