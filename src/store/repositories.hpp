// The store contract: the few primitives a backend provides, one narrow repository per
// aggregate, used only inside a unit of work (Tx). Business rules (names, normalisation,
// secrets, claim rules, key selection, the settings merge) are not here: they live in the
// backend-neutral services above (store.hpp), which are the only users of this file.
// Backends: SQLite (sqlite_backend.hpp), memory (memory_backend.hpp); PostgreSQL next. Every
// behaviour below is pinned by the typed conformance suite (tests/unit/store/conformance_*).
//
// Invariants every backend keeps:
// - A Tx is one transaction: what it wrote becomes visible to others only at commit(), all at
//   once; a Tx destroyed without commit() (an early `return error`) leaves nothing behind.
//   Write-mode transactions of one database run one at a time (SQLite: BEGIN IMMEDIATE);
//   read-mode ones see one consistent snapshot. Writing through a read Tx is an error.
// - Lists have a total order with explicit tie-breakers (stated per method), so pages and
//   tests never depend on storage order.
// - Errors carry codes: a unique key taken → conflict; addressing a row that is not there
//   where a method says so → not_found; busy/locked/I-O → unavailable; no space → disk_full;
//   damaged rows → corrupt.
// - Strings are stored as given (the services normalise before): comparisons are exact, byte
//   for byte, and orders are byte orders.
// - Removing an account removes everything it owns (credentials, API keys, domain claims with
//   their record states, DKIM keys, senders and their links, settings, suppressions); the
//   delivery events stay (a log, not owned data).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "store/model.hpp"

namespace tern::store {

class AccountRepo {
 public:
  virtual ~AccountRepo() = default;
  // Stores a (id ignored) and returns its new id (ids grow); conflict when the name or the
  // code is taken.
  virtual core::Result<int64_t> insert(const Account& a) = 0;
  virtual core::Result<std::optional<Account>> by_id(int64_t id) = 0;
  virtual core::Result<std::optional<Account>> by_name(std::string_view name) = 0;
  virtual core::Result<std::optional<Account>> by_code(std::string_view code) = 0;
  // Every account, by id.
  virtual core::Result<std::vector<Account>> list() = 0;
  // With everything it owns (see above); not_found when there is no such account.
  virtual core::Result<void> remove(int64_t id) = 0;
};

// An SMTP login as stored: the Argon2id hash, never the password.
struct CredentialRow {
  int64_t account_id = 0;
  std::string username;
  std::string password_hash;
  int64_t created_ms = 0;
};

class CredentialRepo {
 public:
  virtual ~CredentialRepo() = default;
  // conflict when the username is taken (usernames are unique across accounts).
  virtual core::Result<void> insert(const CredentialRow& c) = 0;
  virtual core::Result<std::optional<CredentialRow>> by_username(std::string_view username) = 0;
  // The account's logins in the order they were made.
  virtual core::Result<std::vector<CredentialRow>> of_account(int64_t account_id) = 0;
  // False when the account has no such login.
  virtual core::Result<bool> remove(int64_t account_id, std::string_view username) = 0;
};

// An API key as stored: its prefix (to name it) and SHA-256, never the key.
struct ApiKeyRow {
  ApiKey key;
  std::string hash;
};

class ApiKeyRepo {
 public:
  virtual ~ApiKeyRepo() = default;
  // conflict when the hash is stored already.
  virtual core::Result<void> insert(const ApiKeyRow& k) = 0;
  // The account of the active (not revoked) key with this hash.
  virtual core::Result<std::optional<int64_t>> active_account(std::string_view hash) = 0;
  // The account's keys, active and revoked, in the order they were made.
  virtual core::Result<std::vector<ApiKey>> of_account(int64_t account_id) = 0;
  // Revokes the account's active keys with this prefix at now_ms; how many were revoked.
  virtual core::Result<int> revoke(int64_t account_id, std::string_view prefix, int64_t now_ms) = 0;
};

// A DKIM key as stored: private_pem holds the stored form (PEM, or sealed by key_box).
using StoredKey = DkimKey;

// Sending-domain claims (several accounts may claim one domain; at most one claim per domain
// is verified), their record states, and DKIM key sets.
class DomainRepo {
 public:
  virtual ~DomainRepo() = default;
  // Every claim on domain: the verified one first, then by created_ms, then in the order
  // they were made. records filled (by id).
  virtual core::Result<std::vector<DomainDetail>> claims(std::string_view domain) = 0;
  virtual core::Result<std::optional<DomainDetail>> claim(std::string_view domain,
                                                          int64_t account_id) = 0;
  // The account's claims by domain name, records filled.
  virtual core::Result<std::vector<DomainDetail>> of_account(int64_t account_id) = 0;
  // The names of the account's verified domains, sorted (the AUTH path's account context:
  // one look-up).
  virtual core::Result<std::vector<std::string>> verified_names(int64_t account_id) = 0;
  // Every claim: by domain name, then as claims() orders them; records filled.
  virtual core::Result<std::vector<DomainDetail>> all() = 0;
  // A new claim (records ignored); conflict when the account claims it already, or when d is
  // verified and another claim on the domain is.
  virtual core::Result<void> insert(const DomainDetail& d) = 0;
  // Writes verified, dkim_mode, ed25519, active_slot, next_slot and checked_ms of the
  // (domain, account) claim (records ignored); conflict as for insert when it becomes
  // verified beside another verified claim; not_found when there is no such claim.
  virtual core::Result<void> update(const DomainDetail& d) = 0;
  // The claim with its record states; false when there was none.
  virtual core::Result<bool> remove(std::string_view domain, int64_t account_id) = 0;
  // Inserts or replaces the state of record r.id of the claim; a status of error (no
  // verdict) is invalid.
  virtual core::Result<void> put_record(int64_t account_id, std::string_view domain,
                                        const RecordState& r) = 0;

  // The key set of (account, owner): by slot, RSA before Ed25519.
  virtual core::Result<std::vector<StoredKey>> keys(int64_t account_id, std::string_view owner) = 0;
  // Stores k (version and created_ms assigned here: the version is greater than any version
  // ever given before), replacing the key of the same (account, owner, slot, algorithm).
  // Returns the version.
  virtual core::Result<int64_t> put_key(const StoredKey& k, int64_t now_ms) = 0;
  // Every key of (account, owner).
  virtual core::Result<void> remove_keys(int64_t account_id, std::string_view owner) = 0;
};

// A registered-sender verification link as stored (only the token's SHA-256).
struct SenderLink {
  std::string token_hash;
  int64_t account_id = 0;
  std::string address;
  int64_t expires_ms = 0;
  int64_t created_ms = 0;
};

class SenderRepo {
 public:
  virtual ~SenderRepo() = default;
  // Adds the address, or sets verified on the one there (created_ms kept).
  virtual core::Result<void> upsert(const Sender& s, int64_t now_ms) = 0;
  // By address.
  virtual core::Result<std::vector<Sender>> of_account(int64_t account_id) = 0;
  // False when the account has no such sender.
  virtual core::Result<bool> set_verified(int64_t account_id, std::string_view address) = 0;
  // The sender and its links; false when there was none.
  virtual core::Result<bool> remove(int64_t account_id, std::string_view address) = 0;
  // conflict when the hash is stored already.
  virtual core::Result<void> insert_link(const SenderLink& l) = 0;
  virtual core::Result<std::optional<SenderLink>> link(std::string_view token_hash) = 0;
  virtual core::Result<void> remove_links(int64_t account_id, std::string_view address) = 0;
  // Every link (of any account) that expired before t.
  virtual core::Result<void> remove_links_expired_before(int64_t t) = 0;
};

// An account's stored settings as key → value rows (absent = default); the meaning of keys
// and values is the settings service's.
class SettingRepo {
 public:
  virtual ~SettingRepo() = default;
  // By key.
  virtual core::Result<std::vector<std::pair<std::string, std::string>>> rows(
      int64_t account_id) = 0;
  virtual core::Result<void> put(int64_t account_id, std::string_view key,
                                 std::string_view value) = 0;
  virtual core::Result<void> remove(int64_t account_id, std::string_view key) = 0;
};

class SuppressionRepo {
 public:
  virtual ~SuppressionRepo() = default;
  // Adds the entry, or replaces reason, queue_id and created_ms of the one there.
  virtual core::Result<void> upsert(const Suppression& s) = 0;
  // Newest first (created_ms descending), then by address.
  virtual core::Result<std::vector<Suppression>> of_account(int64_t account_id) = 0;
  // False when the address was not listed.
  virtual core::Result<bool> remove(int64_t account_id, std::string_view address) = 0;
  // Which of addresses are listed for the account (one look-up for a whole message), in the
  // order given, each once.
  virtual core::Result<std::vector<std::string>> listed(
      int64_t account_id, const std::vector<std::string>& addresses) = 0;
  // The console's search (issue 13): the account's entries with an address after `after`
  // ("" = from the start), ordered by address (bytes), at most limit; q and reason are
  // substrings of the address and of the reason, ASCII case-insensitive, taken literally
  // ("" = any).
  virtual core::Result<std::vector<Suppression>> search(int64_t account_id, std::string_view after,
                                                        std::string_view q, std::string_view reason,
                                                        size_t limit) = 0;
};

// Account suspensions (issue 13). A row goes with its account.
class SuspensionRepo {
 public:
  virtual ~SuspensionRepo() = default;
  // Sets the account's suspension (replacing reason and since_ms of the one there).
  virtual core::Result<void> put(const Suspension& s) = 0;
  // False when the account was not suspended.
  virtual core::Result<bool> remove(int64_t account_id) = 0;
  virtual core::Result<std::optional<Suspension>> of_account(int64_t account_id) = 0;
  // Every suspension, by account id.
  virtual core::Result<std::vector<Suspension>> all() = 0;
};

class EventRepo {
 public:
  virtual ~EventRepo() = default;
  // In order; an event without a queue id is invalid, and (like any failure) the Tx is then
  // to be dropped: nothing of it stays. The delivery hot path: one statement, prepared once.
  virtual core::Result<void> append(const std::vector<DeliveryEvent>& events) = 0;
  // A message's events by time_ms, then in the order they were appended.
  virtual core::Result<std::vector<DeliveryEvent>> of_queue(std::string_view queue_id) = 0;
};

// One transaction (unit of work) over the repositories.
class Tx {
 public:
  virtual ~Tx() = default;  // rolls back unless committed
  virtual AccountRepo& accounts() = 0;
  virtual CredentialRepo& credentials() = 0;
  virtual ApiKeyRepo& api_keys() = 0;
  virtual DomainRepo& domains() = 0;
  virtual SenderRepo& senders() = 0;
  virtual SettingRepo& settings() = 0;
  virtual SuppressionRepo& suppressions() = 0;
  virtual SuspensionRepo& suspensions() = 0;
  virtual EventRepo& events() = 0;
  // Makes the writes durable and visible (a read Tx just ends) and lets the next Tx begin.
  // The Tx and its repositories must not be used after it.
  virtual core::Result<void> commit() = 0;
};

class Database {
 public:
  enum class Mode { read, write };
  virtual ~Database() = default;
  // Thread-safe. A write Tx waits for the one before it (bounded: unavailable after the
  // backend's busy timeout).
  virtual core::Result<std::unique_ptr<Tx>> begin(Mode mode) = 0;
};

}  // namespace tern::store

namespace tern::store {

// Runs f(tx) in one transaction and commits when it succeeded; an error from f (or from the
// commit) is returned and the transaction is dropped (nothing of it stays). f returns a
// core::Result<T>.
template <class F>
auto in_tx(Database& db, Database::Mode mode, F&& f) -> decltype(f(std::declval<Tx&>())) {
  auto tx = db.begin(mode);
  if (!tx) return tx.error();
  auto r = f(*tx.value());
  if (!r) return r;
  if (auto c = tx.value()->commit(); !c) return c.error();
  return r;
}

}  // namespace tern::store
