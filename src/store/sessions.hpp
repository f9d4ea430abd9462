// Console sessions and one-time login codes (issue 13), in the `console_sessions` and
// `console_login_codes` tables of the store's SQLite file (migration 8; open the Store first).
// Its own connection, so the API's session look-ups never queue behind other writers.
//
// Invariants:
//  - A session secret (the cookie value: 256 random bits, 52 base32 characters) and a login
//    code (128 bits) are returned once and never stored: only their SHA-256.
//  - find() answers a session only while it is valid: less than `idle_ms` since it was last
//    seen, less than `absolute_ms` since it was made; for an account, while the API key that
//    made it is active (revoking the key deletes its sessions by a trigger, deleting the
//    account cascades); for the operator, while the operator token is the one it was made with.
//  - last_seen is written at most once a minute per session (the idle limit is exact to the
//    minute), so browsing does not turn every API call into a database write.
//  - A login code works once (consumed in one transaction) and only before it expires.
//  - At most max_per_principal sessions per account / for the operator: making one more ends
//    the oldest. Expired rows are deleted when new ones are made.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/result.hpp"

namespace tern::store {

struct ConsoleSession {
  bool is_operator = false;
  int64_t account_id = 0;  // 0 for the operator
  int64_t created_ms = 0;
  int64_t last_seen_ms = 0;
  int64_t expires_ms = 0;       // absolute end
  int64_t idle_expires_ms = 0;  // ends here unless used before
};

struct SessionLimits {
  int64_t idle_ms = 30 * 60'000;
  int64_t absolute_ms = 12 * 3'600'000;
  int64_t touch_every_ms = 60'000;
  size_t max_per_principal = 20;
};

class Sessions {
 public:
  static core::Result<std::unique_ptr<Sessions>> open(const std::string& db_path,
                                                      SessionLimits limits = {});
  ~Sessions();
  Sessions(const Sessions&) = delete;
  Sessions& operator=(const Sessions&) = delete;

  const SessionLimits& limits() const;

  struct Created {
    std::string secret;  // the cookie value, shown once
    ConsoleSession session;
  };
  // An operator session; operator_hash = SHA-256 (hex) of the operator token in force.
  core::Result<Created> create_operator(const std::string& operator_hash, int64_t now_ms);
  // A session of the account owning the active API key `api_key`; nullopt when the key is
  // unknown or revoked.
  core::Result<std::optional<Created>> create_for_api_key(const std::string& api_key,
                                                          int64_t now_ms);
  // The valid session with this secret (see invariants); nullopt otherwise. operator_hash is
  // the SHA-256 of the operator token in force now.
  core::Result<std::optional<ConsoleSession>> find(const std::string& secret,
                                                   const std::string& operator_hash,
                                                   int64_t now_ms);
  // Ends the session (no error when there is none).
  core::Result<void> remove(const std::string& secret);

  // A new one-time operator login code, valid ttl_ms.
  core::Result<std::string> create_login_code(int64_t now_ms, int64_t ttl_ms);
  // true once for a valid, unexpired code (it is deleted); false otherwise.
  core::Result<bool> consume_login_code(const std::string& code, int64_t now_ms);

 private:
  struct Impl;
  explicit Sessions(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::store
