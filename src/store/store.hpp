// Accounts, credentials, API keys, sending domains (with their DNS check states and DKIM key
// sets) and registered senders (SPEC §2–3).
// One interface; SQLite (embedded default, WAL so the CLI and a running server share it) now,
// PostgreSQL later. Secrets are stored only as hashes: passwords with Argon2id, API keys
// (high-entropy) with SHA-256. DKIM private keys are kept (the file is 0600), sealed with a
// master key when one is set. Nothing of one account is reachable through another.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "policy/account_context.hpp"
#include "store/settings.hpp"

namespace tern::store {

struct Account {
  int64_t id = 0;
  std::string name;  // unique, [a-z0-9][a-z0-9._-]{0,63}
  std::string code;  // short stable code used in DNS names (delegated DKIM)
  int64_t created_ms = 0;
};

struct CreatedAccount {
  Account account;
  std::string username;  // SMTP username (the account name)
  std::string password;  // shown once
};

struct ApiKey {
  int64_t account_id = 0;
  std::string prefix;  // first 12 characters of the key: "tern_" + 7; enough to name it
  int64_t created_ms = 0;
  int64_t revoked_ms = 0;  // 0 while active
};

struct Domain {
  int64_t account_id = 0;
  std::string domain;
  bool verified = false;
};

// --- Sending domains and DKIM keys (SPEC §3) ---
// A key set is two selector slots (1 and 2) of RSA keys, plus Ed25519 keys on the same slots
// when the domain asks for a second signature. Direct domains own their key set (owner = the
// domain); delegated domains share their account's set (owner = ""), published by the platform.
struct DkimKey {
  int64_t account_id = 0;
  std::string owner;        // domain (direct) or "" (the account's delegated set)
  int slot = 1;             // 1 or 2
  std::string selector;     // "tern1", "tern2"; Ed25519: "tern1e", "tern2e"
  std::string algorithm;    // "rsa" or "ed25519"
  std::string public_b64;   // p= value
  std::string private_pem;  // filled only when asked for (decrypted), else empty
  int64_t version = 0;      // unique per key ever stored; a new key gets a new version
  int64_t created_ms = 0;
};

// The last definitive DNS check of one record ("ownership", "spf", "dkim:tern1", "dmarc").
struct RecordState {
  std::string id;
  std::string status;  // "pending", "ok", "missing", "wrong"
  std::string found;   // what DNS held when not ok
  int64_t checked_ms = 0;
};

struct DomainDetail {
  int64_t account_id = 0;
  std::string domain;
  bool verified = false;
  std::string dkim_mode = "direct";  // "direct" or "delegated"
  bool ed25519 = false;              // also sign with Ed25519 (second signature)
  std::string token;                 // ownership token: TXT "tern-verification=<token>"
  int active_slot = 1;               // selector slot signing uses
  int next_slot = 0;                 // slot a rotation waits on (0: none)
  int64_t checked_ms = 0;            // last check, 0 = never
  std::vector<RecordState> records;  // by id, sorted
  const RecordState* record(std::string_view id) const {
    for (const auto& r : records)
      if (r.id == id) return &r;
    return nullptr;
  }
};

// What a check writes back. verified only ever goes false -> true here (ownership, once shown,
// stays proven; the operator override is add_domain(..., verified)).
struct DomainCheckUpdate {
  std::string domain;
  int64_t account_id = 0;  // whose claim (0: the verified one, else the oldest)
  bool verified = false;
  int active_slot = 1;
  int next_slot = 0;
  int64_t checked_ms = 0;
  std::vector<RecordState> records;  // definitive results only; others keep their state
  // What the check saw, so a rotation or key change committed meanwhile (the CLI next to the
  // server) is not overwritten: slots change only if next_slot is still seen_next_slot (-1:
  // unconditionally), and a "dkim:<selector>" state is saved only if that selector's key is
  // still the version the check compared DNS against.
  int seen_next_slot = -1;
  std::vector<std::pair<std::string, int64_t>> key_versions;  // selector -> version
};

struct Sender {
  int64_t account_id = 0;
  std::string address;
  bool verified = false;
};

// An SMTP login of an account (the account name is the first; more can be made for the API).
struct Credential {
  int64_t account_id = 0;
  std::string username;
  int64_t created_ms = 0;
};

struct CreatedCredential {
  std::string username;
  std::string password;  // shown once
};

// What opening a registered-sender verification link did.
struct SenderVerification {
  enum class Status { verified, unknown, expired } status = Status::unknown;
  Sender sender;  // set when verified or expired
};

class Store {
 public:
  struct OpenOptions {
    // Open although store/db_guard says the WAL of an unclean stop is missing (the operator
    // accepts the loss: `tern serve --force`).
    bool force = false;
  };
  // Refuses (permanent error) a database that looks truncated (store/db_guard.hpp).
  static core::Result<std::unique_ptr<Store>> open_sqlite(const std::string& path, OpenOptions opt);
  static core::Result<std::unique_ptr<Store>> open_sqlite(const std::string& path) {
    return open_sqlite(path, OpenOptions{});
  }
  virtual ~Store() = default;

  virtual core::Result<CreatedAccount> create_account(const std::string& name) = 0;
  virtual core::Result<std::vector<Account>> list_accounts() = 0;
  // By name, or by numeric id given as a string.
  virtual core::Result<std::optional<Account>> find_account(const std::string& name_or_id) = 0;

  // Returns the key, shown once: "tern_" + 26 lower-case base32 characters (16 random bytes,
  // 128 bits). Only its prefix (first 12 characters) and SHA-256 are stored.
  virtual core::Result<std::string> create_api_key(int64_t account_id) = 0;
  // Revokes the account's active key(s) with this prefix; error when none matches.
  virtual core::Result<void> revoke_api_key(int64_t account_id, const std::string& key_prefix) = 0;
  // Active and revoked keys of the account, oldest first (prefixes only; secrets are not kept).
  virtual core::Result<std::vector<ApiKey>> list_api_keys(int64_t account_id) = 0;

  // Verifies SMTP credentials. Username "App" means password is an API key.
  // Returns the account id when valid, nullopt when not (never says which part was wrong).
  virtual core::Result<std::optional<int64_t>> verify_credentials(const std::string& username,
                                                                  const std::string& password) = 0;

  // Domain claims (issue 10 item 11): several accounts may hold an unverified claim on one
  // domain (each with its own ownership token and record states); only a verified claim
  // excludes others ("belongs to another account"). Adding with verified = true (the
  // operator's override) removes every other account's unverified claim; the first claim a
  // check verifies does the same (save_domain_check). max_unverified > 0: a new unverified
  // claim is refused ("quota: ...") when the account already holds that many.
  virtual core::Result<void> add_domain(int64_t account_id, const std::string& domain,
                                        bool verified, int max_unverified = 0) = 0;
  virtual core::Result<std::vector<Domain>> list_domains(int64_t account_id) = 0;
  virtual core::Result<void> add_sender(int64_t account_id, const std::string& address,
                                        bool verified) = 0;
  virtual core::Result<std::vector<Sender>> list_senders(int64_t account_id) = 0;

  // --- REST API (issue 5) ---
  // Bearer API key → its account; nullopt for unknown, revoked or malformed keys (lookup by
  // SHA-256, so no secret is compared byte by byte).
  virtual core::Result<std::optional<int64_t>> verify_api_key(const std::string& key) = 0;
  // Removes the account and everything it owns (credentials, keys, domains, DKIM keys, senders,
  // settings, suppressions). Permanent error when there is no such account.
  virtual core::Result<void> delete_account(int64_t account_id) = 0;
  // The account's SMTP logins, oldest first (usernames only).
  virtual core::Result<std::vector<Credential>> list_credentials(int64_t account_id) = 0;
  // A new login with a generated password (Argon2id-hashed; shown once). username "" =
  // "<account name>.<6 random base32 characters>"; a given one must be a valid account name
  // syntax and becomes "<username>@<account name>": namespaced per account, so "taken" only
  // ever means taken by this account's own logins (nothing about other tenants leaks).
  virtual core::Result<CreatedCredential> create_credential(int64_t account_id,
                                                            const std::string& username) = 0;
  // Permanent error when the account has no such login.
  virtual core::Result<void> delete_credential(int64_t account_id, const std::string& username) = 0;
  // Removes a sending domain of the account with its record states and (direct) DKIM keys.
  virtual core::Result<void> delete_domain(int64_t account_id, const std::string& domain) = 0;
  // Removes a registered sender (and its pending verification links).
  virtual core::Result<void> delete_sender(int64_t account_id, const std::string& address) = 0;
  // A verification link token for a sender already registered (unverified) on the account:
  // 128 random bits as 26 base32 characters, returned once; only its SHA-256 is stored.
  virtual core::Result<std::string> create_sender_verification(int64_t account_id,
                                                               const std::string& address,
                                                               int64_t expires_ms) = 0;
  // Valid and unexpired: the sender becomes verified and its links are deleted. Unknown
  // (never issued, already used, sender removed) and expired tokens change nothing.
  virtual core::Result<SenderVerification> consume_sender_verification(const std::string& token,
                                                                       int64_t now_ms) = 0;

  // Sending domains beyond add/list. set_domain_dkim sets the DKIM form and Ed25519 option.
  // account_id given: that account's claim; 0: the verified claim, else the oldest one.
  virtual core::Result<std::optional<DomainDetail>> find_domain(const std::string& domain,
                                                                int64_t account_id = 0) = 0;
  // Every claim, by domain (the verified one first).
  virtual core::Result<std::vector<DomainDetail>> all_domains() = 0;
  virtual core::Result<void> set_domain_dkim(const std::string& domain, const std::string& mode,
                                             bool ed25519, int64_t account_id = 0) = 0;
  virtual core::Result<void> save_domain_check(const DomainCheckUpdate& u) = 0;
  // Stores keys (replacing those on the same owner/slot/algorithm), encrypted when a master
  // key is set. Every domain using the key set gets the replaced selectors' state reset to
  // "pending" (the published record no longer matches until checked), and, when rotation is
  // true, next_slot = the keys' slot. Returns the stored keys with their versions.
  virtual core::Result<std::vector<DkimKey>> put_dkim_keys(int64_t account_id,
                                                           const std::string& owner,
                                                           std::vector<DkimKey> keys,
                                                           bool rotation) = 0;
  // The key set of (account, owner), slot then algorithm order; private_pem decrypted only
  // with with_private (an encrypted key without the master key is an error then).
  virtual core::Result<std::vector<DkimKey>> dkim_keys(int64_t account_id, const std::string& owner,
                                                       bool with_private) = 0;
  // 32 bytes: private keys stored from now on are sealed with it (crypto_secretbox), and
  // sealed keys can be read. Without it, keys are stored as PEM (the file is 0600).
  virtual void set_master_key(const std::string& key32) = 0;

  // DKIM keys to sign a message from `domain` (the From domain) of this account with: empty when
  // the domain is not the account's, not verified, or its active selector has not checked ok yet;
  // one key, or two (Ed25519 + RSA) when the domain asks for a second signature. private_pem is
  // decrypted (master key) and ready for dkim::PrivateKey::from_pem; callers cache parsed keys by
  // (domain, selector, version).
  struct SigningKey {
    std::string domain;     // d=
    std::string selector;   // s=
    std::string algorithm;  // "rsa" or "ed25519"
    std::string private_pem;
    int64_t version = 0;  // changes whenever the key or selector changes (cache key)
  };
  virtual core::Result<std::vector<SigningKey>> signing_keys(int64_t account_id,
                                                             const std::string& domain) = 0;

  // Snapshot for the submission service (verified domains and senders; defaults).
  virtual core::Result<policy::AccountContext> account_context(int64_t account_id) = 0;

  // --- Delivery settings, suppression list, delivery events (SPEC §4) ---
  // Applies key=value pairs (store/settings.hpp) atomically: all or none; the merged result
  // must pass validate(). relay.password is sealed with the master key when one is set.
  virtual core::Result<void> set_account_settings(
      int64_t account_id, const std::vector<std::pair<std::string, std::string>>& kv) = 0;
  // with_secrets: relay_password decrypted (an error when sealed and no master key is set).
  virtual core::Result<AccountSettings> account_settings(int64_t account_id, bool with_secrets) = 0;

  struct Suppression {
    int64_t account_id = 0;
    std::string address;   // as the recipient was given (domain lower-case)
    std::string reason;    // the bounce's summary ("550 5.1.1 ... (mx.example.com)")
    std::string queue_id;  // the message that bounced
    int64_t created_ms = 0;
  };
  // Adds or refreshes (reason, queue_id, created_ms) the entry. Addresses compare ignoring the
  // case of the domain only (local parts are case-sensitive by RFC 5321; the domain is already
  // lower-case wherever Tern produced it). An invalid address is a permanent error;
  // created_ms 0 means now.
  virtual core::Result<void> add_suppression(const Suppression& s) = 0;
  // Newest first (then by address).
  virtual core::Result<std::vector<Suppression>> list_suppressions(int64_t account_id) = 0;
  // Permanent error when the address is not on the account's list.
  virtual core::Result<void> remove_suppression(int64_t account_id, const std::string& address) = 0;
  virtual core::Result<bool> is_suppressed(int64_t account_id, const std::string& address) = 0;

  // One recipient's outcome of one delivery attempt (or a local decision), kept for reports.
  struct DeliveryEvent {
    int64_t time_ms = 0;
    std::string queue_id;
    int64_t account_id = 0;
    std::string recipient;
    std::string event;     // "delivered", "deferred", "bounced", "expired", "rejected"
    int attempt = 0;       // the recipient's attempt count after this outcome
    int code = 0;          // remote reply code, 0 = none
    std::string enhanced;  // "5.1.1"
    std::string reply;     // remote reply text or local reason
    std::string mx_host;
    bool tls = false;
    std::string phase;  // where it happened: "dns", "connect", "rcpt", "data-end", ...
    // For reports only (carried in memory from the engine to the report pipeline; not stored
    // in delivery_events): our address on the delivery connection ("" without one) and when
    // the recipient's first attempt ended (0 = none).
    std::string sending_ip = {};
    int64_t first_attempt_ms = 0;
  };
  // All in one transaction, one prepared statement (the delivery hot path); an unknown event
  // name fails the whole batch.
  virtual core::Result<void> record_events(const std::vector<DeliveryEvent>& events) = 0;
  // A message's events, oldest first (by time_ms, then in recording order).
  virtual core::Result<std::vector<DeliveryEvent>> events_for(const std::string& queue_id) = 0;
};

}  // namespace tern::store
