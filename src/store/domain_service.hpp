// Sending domains as stored (SPEC §3): claims, DKIM key sets, record check states, and which
// keys sign. Backend-neutral rules over DomainRepo (domain/service.hpp builds DNS records,
// checks and rotations on top of this):
// - names are lower-cased; address literals, trailing dots and invalid names are refused;
// - claims (issue 10 item 11): several accounts may hold an unverified claim on one domain
//   (each with its own ownership token and record states); only a verified claim excludes
//   others ("belongs to another account"). Adding with verified = true (the operator's
//   override) removes every other account's claim; so does the first claim a check verifies.
//   A quota (max_unverified > 0) bounds an account's unverified claims (forbidden, reason
//   quota_exceeded). Removing a claim removes its direct DKIM keys; a verified claim never
//   goes back to unverified through a check.
// - DKIM keys: private keys are sealed with the master key (Sealer) when one is set; storing a
//   key gives it a new version and resets the state of its selector to pending on every domain
//   the key set stands behind; a rotation also points next_slot at the new keys' slot.
// - signing: only a verified domain of the account signs, with the RSA key of its active slot
//   once that selector checked ok, plus the Ed25519 key of the slot when the domain asks for a
//   second signature and its selector checked ok too.
// account_id 0 in find/set_dkim/save_check means: the verified claim, else the oldest one.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "store/model.hpp"
#include "store/repositories.hpp"
#include "store/sealer.hpp"

namespace tern::store {

class DomainService {
 public:
  DomainService(Database& db, const core::Clock& clock, const Sealer& sealer)
      : db_(db), clock_(clock), sealer_(sealer) {}

  core::Result<void> add(int64_t account_id, const std::string& domain, bool verified,
                         int max_unverified = 0);
  // The account's domains by name.
  core::Result<std::vector<Domain>> list(int64_t account_id);
  core::Result<std::optional<DomainDetail>> find(const std::string& domain, int64_t account_id = 0);
  // Every claim, by domain (the verified one first).
  core::Result<std::vector<DomainDetail>> all();
  // The DKIM form ("direct" / "delegated") and the Ed25519 option; changing the form resets
  // the DKIM record states and any rotation in progress.
  core::Result<void> set_dkim(const std::string& domain, const std::string& mode, bool ed25519,
                              int64_t account_id = 0);
  core::Result<void> save_check(const DomainCheckUpdate& u);
  // Stores keys (replacing those on the same owner/slot/algorithm); returns them with their
  // versions (private halves cleared).
  core::Result<std::vector<DkimKey>> put_keys(int64_t account_id, const std::string& owner,
                                              std::vector<DkimKey> keys, bool rotation);
  // The key set of (account, owner), slot then RSA first; private_pem decrypted only with
  // with_private (an error for a sealed key without the master key), else empty.
  core::Result<std::vector<DkimKey>> keys(int64_t account_id, const std::string& owner,
                                          bool with_private);
  // A claim of the account with its record states and (direct) DKIM keys; not_found when none.
  core::Result<void> remove(int64_t account_id, const std::string& domain);
  // Keys to sign a message from `domain` (the From domain) of this account: empty when none
  // may (see above); one key, or two (Ed25519 + RSA).
  core::Result<std::vector<SigningKey>> signing_keys(int64_t account_id, const std::string& domain);

 private:
  Database& db_;
  const core::Clock& clock_;
  const Sealer& sealer_;
};

}  // namespace tern::store
