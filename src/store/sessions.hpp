// Console sessions and one-time login codes (issue 13): the backend-neutral rules over
// SessionRepo (and ApiKeyRepo, for the key a session is made with). Store::sessions.
//
// Invariants:
//  - A session secret (the cookie value: 256 random bits, 52 base32 characters) and a login
//    code (128 bits, 26 characters) are returned once and never stored: only their SHA-256.
//    Anything else offered as a secret or a code is refused before any look-up.
//  - find() answers a session only while it is valid: less than `idle_ms` since it was last
//    seen, less than `absolute_ms` since it was made; for an account, while the API key that
//    made it is active (revoking the key or removing the account removes its sessions); for
//    the operator, while the operator token is the one it was made with.
//  - last_seen is written at most once per `touch_every_ms` per session (the idle limit is
//    exact to that), so browsing does not turn every API call into a database write: find()
//    is one read transaction, plus a write one at most once a minute.
//  - A login code works once (looked up and deleted in one write transaction) and only before
//    it expires.
//  - At most max_per_principal sessions per account / for the operator: making one more ends
//    the oldest. Expired sessions and codes are deleted when new ones are made.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "core/result.hpp"
#include "store/model.hpp"
#include "store/repositories.hpp"

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
  size_t max_per_principal = 20;  // at least 1
};

class SessionService {
 public:
  explicit SessionService(Database& db) : db_(db) {}

  // Set by the composition root before the service is used.
  void set_limits(const SessionLimits& l);
  const SessionLimits& limits() const { return limits_; }

  struct Created {
    std::string secret;  // the cookie value, shown once
    ConsoleSession session;
  };
  // An operator session; operator_hash = SHA-256 (hex) of the operator token in force
  // (invalid when "").
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
  core::Result<Created> insert(Tx& tx, int64_t account_id, const std::string& api_key_hash,
                               const std::string& operator_hash, int64_t now_ms);
  Database& db_;
  SessionLimits limits_;
};

}  // namespace tern::store
