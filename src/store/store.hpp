// Accounts, credentials, API keys, sending domains and registered senders (SPEC §2–3).
// One interface; SQLite (embedded default, WAL so the CLI and a running server share it) now,
// PostgreSQL later. Secrets are stored only as hashes: passwords with Argon2id, API keys
// (high-entropy) with SHA-256. Nothing of one account is reachable through another.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "policy/account_context.hpp"

namespace tern::store {

struct Account {
  int64_t id = 0;
  std::string name;     // unique, [a-z0-9][a-z0-9._-]{0,63}
  std::string code;     // short stable code used in DNS names (delegated DKIM)
  int64_t created_ms = 0;
};

struct CreatedAccount {
  Account account;
  std::string username;  // SMTP username (the account name)
  std::string password;  // shown once
};

struct ApiKey {
  int64_t account_id = 0;
  std::string prefix;       // first 12 characters of the key: "tern_" + 7; enough to name it
  int64_t created_ms = 0;
  int64_t revoked_ms = 0;   // 0 while active
};

struct Domain {
  int64_t account_id = 0;
  std::string domain;
  bool verified = false;
};

struct Sender {
  int64_t account_id = 0;
  std::string address;
  bool verified = false;
};

class Store {
 public:
  static core::Result<std::unique_ptr<Store>> open_sqlite(const std::string& path);
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

  virtual core::Result<void> add_domain(int64_t account_id, const std::string& domain,
                                        bool verified) = 0;
  virtual core::Result<std::vector<Domain>> list_domains(int64_t account_id) = 0;
  virtual core::Result<void> add_sender(int64_t account_id, const std::string& address,
                                        bool verified) = 0;
  virtual core::Result<std::vector<Sender>> list_senders(int64_t account_id) = 0;

  // DKIM keys to sign a message from `domain` (the From domain) of this account with: empty when
  // the domain is not the account's, not verified, or its active selector has not checked ok yet;
  // one key, or two (Ed25519 + RSA) when the domain asks for a second signature. private_pem is
  // decrypted (master key) and ready for dkim::PrivateKey::from_pem; callers cache parsed keys by
  // (domain, selector, version).
  struct SigningKey {
    std::string domain;    // d=
    std::string selector;  // s=
    std::string algorithm; // "rsa" or "ed25519"
    std::string private_pem;
    int64_t version = 0;   // changes whenever the key or selector changes (cache key)
  };
  virtual core::Result<std::vector<SigningKey>> signing_keys(int64_t account_id,
                                                             const std::string& domain) = 0;

  // Snapshot for the submission service (verified domains and senders; defaults).
  virtual core::Result<policy::AccountContext> account_context(int64_t account_id) = 0;
};

}  // namespace tern::store
