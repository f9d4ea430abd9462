// Accounts and their ways in (SPEC §2): accounts, SMTP logins (credentials), API keys, and the
// verification of both at AUTH and at the API. Backend-neutral rules over the repositories:
// - names: valid_account_name (store/account_name.hpp); a name wins over an id in find();
// - secrets made here and shown once: passwords (Argon2id-hashed, store/secrets.hpp), API keys
//   (SHA-256), account codes (random, unique, retried on the rare collision);
// - Argon2id work (hashing at creation, verification at AUTH) runs outside any transaction,
//   so one slow AUTH never holds the database;
// - successful password verifications are remembered for a while (VerifyCache); removing a
//   login or an account forgets its entries at once in this process.
// Errors: invalid names (invalid), a taken name or username (conflict), an unknown account,
// login or key prefix (not_found), as their texts say for the CLI and the API.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "store/model.hpp"
#include "store/repositories.hpp"
#include "store/verify_cache.hpp"

namespace tern::store {

class AccountService {
 public:
  AccountService(Database& db, const core::Clock& clock, VerifyCache& cache)
      : db_(db), clock_(clock), cache_(cache) {}
  // With its first login (username = the name) and a generated password.
  core::Result<CreatedAccount> create(const std::string& name);
  core::Result<std::vector<Account>> list();
  // By name, or by numeric id given as a string (a name wins: names may be all digits).
  core::Result<std::optional<Account>> find(const std::string& name_or_id);
  core::Result<std::optional<Account>> by_id(int64_t id);
  // The account and everything it owns; not_found when there is none.
  core::Result<void> remove(int64_t account_id);

 private:
  Database& db_;
  const core::Clock& clock_;
  VerifyCache& cache_;
};

class CredentialService {
 public:
  CredentialService(Database& db, const core::Clock& clock, VerifyCache& cache)
      : db_(db), clock_(clock), cache_(cache) {}
  // A new login with a generated password (shown once). username "" =
  // "<account name>.<6 random base32 characters>"; a given one must have the account name
  // syntax and becomes "<username>@<account name>": namespaced per account, so "taken" only
  // ever means taken by this account's own logins (nothing about other tenants leaks).
  core::Result<CreatedCredential> create(int64_t account_id, const std::string& username);
  // Oldest first (usernames only); not_found when there is no such account.
  core::Result<std::vector<Credential>> list(int64_t account_id);
  // not_found when the account has no such login.
  core::Result<void> remove(int64_t account_id, const std::string& username);
  // SMTP AUTH. Username "App" means the password is an API key. The account id when valid,
  // nullopt when not (never says which part was wrong; an unknown user costs as much time as
  // a wrong password).
  core::Result<std::optional<int64_t>> verify(const std::string& username,
                                              const std::string& password);

 private:
  Database& db_;
  const core::Clock& clock_;
  VerifyCache& cache_;
};

class ApiKeyService {
 public:
  ApiKeyService(Database& db, const core::Clock& clock) : db_(db), clock_(clock) {}
  // The key, shown once: "tern_" + 26 lower-case base32 characters (128 bits). Only its prefix
  // (first 12 characters) and SHA-256 are stored. not_found when there is no such account.
  core::Result<std::string> create(int64_t account_id);
  // Revokes the account's active key(s) with this prefix; not_found when none matches.
  core::Result<void> revoke(int64_t account_id, const std::string& key_prefix);
  // Active and revoked keys, oldest first (prefixes only).
  core::Result<std::vector<ApiKey>> list(int64_t account_id);
  // A bearer key → its account; nullopt for unknown, revoked or malformed keys (looked up by
  // SHA-256, so no secret is compared byte by byte).
  core::Result<std::optional<int64_t>> verify(const std::string& key);

 private:
  Database& db_;
  const core::Clock& clock_;
};

}  // namespace tern::store
