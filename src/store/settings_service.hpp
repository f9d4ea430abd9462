// An account's delivery settings as stored (store/settings.hpp says what keys mean). Rows are
// key → value (absent = default); this service merges them over the defaults, applies changes
// all or nothing (read, merge, validate and write in one write transaction, so a concurrent
// `set` from another process is never lost), and seals the secret keys (relay.password,
// webhook_secret) with the master key (Sealer). Rows of keys it does not know (other subjects
// may keep rows in the table) are left alone and ignored.
// Webhook secret rotation (issue 14): when webhook_secret changes, the replaced value is kept
// (sealed like it) in the row "webhook_secret.previous" and the time of the change in
// "webhook_secret.changed_ms", so reports can be signed with both during the grace window;
// setting the same secret again changes nothing; removing the secret drops the previous one.
// These rows are no keys a user sets.
// Errors: unknown account → not_found; a bad key or value → invalid, naming the key; a stored
// value that no longer parses → corrupt.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "store/repositories.hpp"
#include "store/sealer.hpp"
#include "store/settings.hpp"

namespace tern::store {

class SettingsService {
 public:
  SettingsService(Database& db, const core::Clock& clock, const Sealer& sealer)
      : db_(db), clock_(clock), sealer_(sealer) {}
  // with_secrets: relay_password and webhook_secret decrypted (an error when sealed and no
  // master key is set); else they stay empty and only their *_set flags say whether they are.
  core::Result<AccountSettings> get(int64_t account_id, bool with_secrets);
  // Applies key=value pairs atomically; the merged result must pass validate().
  core::Result<void> set(int64_t account_id,
                         const std::vector<std::pair<std::string, std::string>>& kv);

  // The stored rows applied over the defaults (the merge, for readers inside a Tx).
  static core::Result<AccountSettings> merge(
      const std::vector<std::pair<std::string, std::string>>& rows, const Sealer* open_secrets);

 private:
  Database& db_;
  const core::Clock& clock_;
  const Sealer& sealer_;
};

}  // namespace tern::store
