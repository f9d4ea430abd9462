// The per-account suppression list (SPEC §4): addresses an account does not send to again.
// Backend-neutral rule over SuppressionRepo: addresses are kept and compared in canonical
// form (core::parse_mailbox: the domain lower-case, the local part exactly as given: local
// parts are case-sensitive by RFC 5321, and Tern produces lower-case domains everywhere), so
// "A@Example.COM" and "A@example.com" are one entry and "a@example.com" another. Something
// that is not an address is never listed (add refuses it, contains answers false).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "store/model.hpp"
#include "store/repositories.hpp"

namespace tern::store {

class SuppressionService {
 public:
  SuppressionService(Database& db, const core::Clock& clock) : db_(db), clock_(clock) {}
  // Adds or refreshes (reason, queue_id, created_ms; 0 = now) the entry; invalid address →
  // invalid, unknown account → not_found.
  core::Result<void> add(const Suppression& s);
  // Newest first, then by address.
  core::Result<std::vector<Suppression>> list(int64_t account_id);
  // not_found when the address is not on the account's list.
  core::Result<void> remove(int64_t account_id, const std::string& address);
  core::Result<bool> contains(int64_t account_id, const std::string& address);
  // Which of addresses (as given) are on the list: one look-up for a whole message.
  core::Result<std::vector<std::string>> listed(int64_t account_id,
                                                const std::vector<std::string>& addresses);

 private:
  Database& db_;
  const core::Clock& clock_;
};

}  // namespace tern::store
