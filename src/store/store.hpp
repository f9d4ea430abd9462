// The store as callers use it (SPEC §2–5): accounts, logins, API keys, sending domains with
// their DKIM keys, registered senders, settings, suppressions, delivery events and the
// console's suspensions, sessions, statistics and captured mail, as
// backend-neutral services over one Database (repositories.hpp). The services hold every
// business rule (names, normalisation, secret generation and hashing, claim rules, signing-key
// selection, the settings merge, the policy AccountContext); a backend only stores rows.
// open_backend (backend.hpp) builds one for the composition root; tests build one over the
// memory backend or SQLite directly.
//
// Secrets are stored only as hashes: passwords with Argon2id, API keys (high-entropy) with
// SHA-256. DKIM private keys, relay passwords and webhook secrets are kept sealed with a
// master key when one is set (the SQLite file is 0600). Nothing of one account is reachable
// through another.
//
// Layout:
//   Store ─┬─ accounts      AccountService        (accounts.hpp)
//          ├─ credentials   CredentialService     (accounts.hpp)   SMTP logins, AUTH
//          ├─ api_keys      ApiKeyService         (accounts.hpp)
//          ├─ domains       DomainService         (domain_service.hpp)
//          ├─ senders       SenderService         (sender_service.hpp)
//          ├─ settings      SettingsService       (settings_service.hpp)
//          ├─ suppressions  SuppressionService    (suppression_service.hpp)
//          ├─ suspensions   SuspensionService     (suspensions.hpp)
//          ├─ sessions      SessionService        (sessions.hpp)   console cookies, login codes
//          ├─ stats         StatsService          (stats.hpp)      hourly delivery counters
//          ├─ captured      CaptureService        (captured.hpp)   sandbox-captured mail
//          └─ events        EventLog              (event_log.hpp)
//   each service ─► Database::begin() ─► Tx ─► AccountRepo, DomainRepo, ... (one backend)
#pragma once
#include <cstdint>
#include <string>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "policy/account_context.hpp"
#include "store/accounts.hpp"
#include "store/captured.hpp"
#include "store/domain_service.hpp"
#include "store/event_log.hpp"
#include "store/model.hpp"
#include "store/repositories.hpp"
#include "store/sealer.hpp"
#include "store/sender_service.hpp"
#include "store/sessions.hpp"
#include "store/settings_service.hpp"
#include "store/stats.hpp"
#include "store/suppression_service.hpp"
#include "store/suspensions.hpp"
#include "store/verify_cache.hpp"

namespace tern::store {

class Store {
 private:
  Database& db_;
  Sealer sealer_;
  VerifyCache cache_;

 public:
  // db and clock must outlive the Store.
  explicit Store(Database& db, const core::Clock& clock = system_clock());
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // 32 bytes: secrets stored from now on are sealed with it (crypto_secretbox), and sealed
  // ones can be read. "" = none: secrets are stored as given.
  void set_master_key(std::string key32) { sealer_.set_key(std::move(key32)); }

  // Snapshot for the submission path (one read transaction): the account's name, verified
  // domains and senders, and the settings that shape a message (Mail-From, CC, BCC, report
  // and tracking defaults). platform_domains come from the operator's config.
  core::Result<policy::AccountContext> account_context(int64_t account_id);

  Database& database() { return db_; }

  // Drops this process's remembered verification of a login (a change made elsewhere: another
  // node, the CLI; store/change_feed.hpp). The next AUTH asks the database.
  void forget_login(std::string_view username) { cache_.forget(username); }

  AccountService accounts;
  CredentialService credentials;
  ApiKeyService api_keys;
  DomainService domains;
  SenderService senders;
  SettingsService settings;
  SuppressionService suppressions;
  SuspensionService suspensions;
  SessionService sessions;
  StatsService stats;
  CaptureService captured;
  EventLog events;

 private:
  static const core::Clock& system_clock();
};

}  // namespace tern::store
