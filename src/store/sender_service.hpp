// Registered senders (seed 000) and their verification links. Backend-neutral rules over
// SenderRepo: addresses are normalised (core::parse_mailbox: domain lower-case, local part as
// given); a link token is 128 random bits (26 base32 characters) shown once, only its SHA-256
// is stored; links long expired are dropped as new ones are made; opening a valid link
// verifies the sender and spends every link of it; an expired link changes nothing and keeps
// answering "expired".
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "store/model.hpp"
#include "store/repositories.hpp"

namespace tern::store {

class SenderService {
 public:
  SenderService(Database& db, const core::Clock& clock) : db_(db), clock_(clock) {}
  // Registers the address (or sets its verified flag); invalid address → invalid, unknown
  // account → not_found.
  core::Result<void> add(int64_t account_id, const std::string& address, bool verified);
  // By address.
  core::Result<std::vector<Sender>> list(int64_t account_id);
  // The sender and its pending links; not_found when the account has no such sender.
  core::Result<void> remove(int64_t account_id, const std::string& address);
  // A link token for a sender already registered on the account (not_found otherwise).
  core::Result<std::string> create_verification(int64_t account_id, const std::string& address,
                                                int64_t expires_ms);
  // Unknown (never issued, already used, sender removed) and expired tokens change nothing.
  core::Result<SenderVerification> consume_verification(const std::string& token, int64_t now_ms);

 private:
  Database& db_;
  const core::Clock& clock_;
};

}  // namespace tern::store
