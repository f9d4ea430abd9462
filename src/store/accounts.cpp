#include "store/accounts.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "store/account_name.hpp"
#include "store/secrets.hpp"

namespace tern::store {

namespace {

using Mode = Database::Mode;

constexpr std::string_view kApiKeyUser = "App";
// Longer inputs are refused before any hashing: no real password or key is this long, and
// hashing megabytes per AUTH attempt would be a cheap way to burn CPU.
constexpr size_t kMaxSecretLen = 1024;

core::Error no_account(int64_t id) {
  return core::Error::not_found(fmt::format("no account with id {}", id));
}

// The account, or not_found.
core::Result<Account> require_account(Tx& tx, int64_t id) {
  auto a = tx.accounts().by_id(id);
  if (!a) return a.error();
  if (!*a) return no_account(id);
  return **a;
}

}  // namespace

// --- accounts ---

core::Result<CreatedAccount> AccountService::create(const std::string& name) {
  if (!valid_account_name(name))
    return core::Error::invalid(
        "invalid account name: use 1-64 characters of a-z 0-9 . _ - starting with a letter or "
        "digit");
  std::string password = secrets::random_password();
  auto hash = secrets::hash_password(password);  // Argon2id, outside the transaction
  if (!hash) return hash.error();
  const int64_t now = clock_.now_ms();
  auto acc = in_tx(db_, Mode::write, [&](Tx& tx) -> core::Result<Account> {
    auto existing = tx.accounts().by_name(name);
    if (!existing) return existing.error();
    if (*existing) return core::Error::conflict(fmt::format("account \"{}\" already exists", name));
    // The first login is the name itself: a generated login of another account may hold it.
    auto login = tx.credentials().by_username(name);
    if (!login) return login.error();
    if (*login) return core::Error::conflict(fmt::format("username {} is taken", name));
    Account a{0, name, {}, now};
    // Codes are random (40 bits); retry the rare collision rather than fail.
    for (int attempt = 0;; ++attempt) {
      a.code = secrets::random_account_code();
      auto taken = tx.accounts().by_code(a.code);
      if (!taken) return taken.error();
      if (!*taken) break;
      if (attempt == 10)
        return core::Error::unavailable("store: could not pick a unique account code");
    }
    auto id = tx.accounts().insert(a);
    if (!id) return id.error();
    a.id = *id;
    if (auto r = tx.credentials().insert({a.id, name, *hash, now}); !r) return r.error();
    return a;
  });
  if (!acc) return acc.error();
  return CreatedAccount{*acc, name, std::move(password)};
}

core::Result<std::vector<Account>> AccountService::list() {
  return in_tx(db_, Mode::read, [](Tx& tx) { return tx.accounts().list(); });
}

core::Result<std::optional<Account>> AccountService::find(const std::string& name_or_id) {
  return in_tx(db_, Mode::read, [&](Tx& tx) -> core::Result<std::optional<Account>> {
    // A name wins over an id: names may be all digits ("2024"), ids are the fallback.
    auto by_name = tx.accounts().by_name(name_or_id);
    if (!by_name || *by_name) return by_name;
    const bool numeric = !name_or_id.empty() && name_or_id.size() <= 18 &&
                         std::all_of(name_or_id.begin(), name_or_id.end(),
                                     [](char c) { return c >= '0' && c <= '9'; });
    if (!numeric) return std::optional<Account>();
    return tx.accounts().by_id(std::stoll(name_or_id));
  });
}

core::Result<std::optional<Account>> AccountService::by_id(int64_t id) {
  return in_tx(db_, Mode::read, [&](Tx& tx) { return tx.accounts().by_id(id); });
}

core::Result<void> AccountService::remove(int64_t account_id) {
  std::vector<std::string> usernames;
  auto r = in_tx(db_, Mode::write, [&](Tx& tx) -> core::Result<void> {
    auto logins = tx.credentials().of_account(account_id);
    if (!logins) return logins.error();
    for (const auto& c : *logins) usernames.push_back(c.username);
    return tx.accounts().remove(account_id);  // not_found when there is none
  });
  if (!r) return r;
  for (const auto& u : usernames) cache_.forget(u);
  return core::ok();
}

// --- logins ---

core::Result<CreatedCredential> CredentialService::create(int64_t account_id,
                                                          const std::string& username) {
  if (!username.empty() && !valid_account_name(username))
    return core::Error::invalid(
        "invalid username: use 1-64 characters of a-z 0-9 . _ - starting with a letter or digit");
  std::string password = secrets::random_password();
  auto hash = secrets::hash_password(password);  // Argon2id, outside the transaction
  if (!hash) return hash.error();
  const int64_t now = clock_.now_ms();
  auto name = in_tx(db_, Mode::write, [&](Tx& tx) -> core::Result<std::string> {
    auto acc = require_account(tx, account_id);
    if (!acc) return acc.error();
    auto taken = [&](const std::string& n) -> core::Result<bool> {
      auto login = tx.credentials().by_username(n);
      if (!login) return login.error();
      if (*login) return true;
      auto other = tx.accounts().by_name(n);  // an account's name is its first login
      if (!other) return other.error();
      return *other && (*other)->id != account_id;
    };
    // A chosen name lives in the account's namespace ("<name>@<account>"; '@' is in no
    // account name or generated login), so it can only collide with the account's own logins
    // and the answer never tells whether another tenant uses a name (issue 10 item 14).
    std::string n = username.empty() ? username : username + "@" + acc->name;
    for (int attempt = 0;; ++attempt) {
      if (username.empty()) {
        // "<account>." + 6 characters; the account part is cut so the whole stays <= 64.
        n = acc->name.substr(0, 57) + "." + secrets::random_token().substr(0, 6);
      }
      auto t = taken(n);
      if (!t) return t.error();
      if (!*t) break;
      if (!username.empty()) return core::Error::conflict(fmt::format("username {} is taken", n));
      if (attempt == 10) return core::Error::unavailable("store: could not pick a unique username");
    }
    if (auto r = tx.credentials().insert({account_id, n, *hash, now}); !r) return r.error();
    return n;
  });
  if (!name) return name.error();
  return CreatedCredential{std::move(name).value(), std::move(password)};
}

core::Result<std::vector<Credential>> CredentialService::list(int64_t account_id) {
  return in_tx(db_, Mode::read, [&](Tx& tx) -> core::Result<std::vector<Credential>> {
    if (auto a = require_account(tx, account_id); !a) return a.error();
    auto rows = tx.credentials().of_account(account_id);
    if (!rows) return rows.error();
    std::vector<Credential> out;
    for (const auto& r : *rows) out.push_back({r.account_id, r.username, r.created_ms});
    return out;
  });
}

core::Result<void> CredentialService::remove(int64_t account_id, const std::string& username) {
  auto r = in_tx(db_, Mode::write, [&](Tx& tx) -> core::Result<void> {
    if (auto a = require_account(tx, account_id); !a) return a.error();
    auto gone = tx.credentials().remove(account_id, username);
    if (!gone) return gone.error();
    if (!*gone) return core::Error::not_found("the account has no login with that username");
    return core::ok();
  });
  if (!r) return r;
  cache_.forget(username);  // a cached verification must not outlive the login
  return core::ok();
}

core::Result<std::optional<int64_t>> CredentialService::verify(const std::string& username,
                                                               const std::string& password) {
  using R = std::optional<int64_t>;
  if (password.empty() || password.size() > kMaxSecretLen || username.size() > kMaxSecretLen)
    return R();
  if (username == kApiKeyUser) {
    // Lookup by SHA-256 of the presented key. Timing of the index lookup depends only on the
    // hash, which an attacker cannot steer toward a stored one, so no constant-time compare is
    // needed here.
    const std::string hash = secrets::sha256_hex(password);
    return in_tx(db_, Mode::read, [&](Tx& tx) { return tx.api_keys().active_account(hash); });
  }
  if (auto hit = cache_.lookup(username, password)) return R(*hit);
  auto row = in_tx(db_, Mode::read, [&](Tx& tx) { return tx.credentials().by_username(username); });
  if (!row) return row.error();
  if (!*row) {
    secrets::verify_dummy(password);  // same cost as a real verification: no username probing
    return R();
  }
  if (!secrets::verify_password((*row)->password_hash, password)) return R();
  cache_.insert(username, password, (*row)->account_id);
  return R((*row)->account_id);
}

// --- API keys ---

core::Result<std::string> ApiKeyService::create(int64_t account_id) {
  std::string key = secrets::new_api_key();
  ApiKeyRow row;
  row.key = {account_id, key.substr(0, secrets::kApiKeyStoredPrefix), clock_.now_ms(), 0};
  row.hash = secrets::sha256_hex(key);
  auto r = in_tx(db_, Mode::write, [&](Tx& tx) -> core::Result<void> {
    if (auto a = require_account(tx, account_id); !a) return a.error();
    return tx.api_keys().insert(row);
  });
  if (!r) return r.error();
  return key;
}

core::Result<void> ApiKeyService::revoke(int64_t account_id, const std::string& key_prefix) {
  const int64_t now = clock_.now_ms();
  return in_tx(db_, Mode::write, [&](Tx& tx) -> core::Result<void> {
    if (auto a = require_account(tx, account_id); !a) return a.error();
    auto n = tx.api_keys().revoke(account_id, key_prefix, now);
    if (!n) return n.error();
    if (*n == 0) return core::Error::not_found("no active API key of this account has that prefix");
    return core::ok();
  });
}

core::Result<std::vector<ApiKey>> ApiKeyService::list(int64_t account_id) {
  return in_tx(db_, Mode::read, [&](Tx& tx) { return tx.api_keys().of_account(account_id); });
}

core::Result<std::optional<int64_t>> ApiKeyService::verify(const std::string& key) {
  using R = std::optional<int64_t>;
  if (key.size() != secrets::kApiKeyChars || !key.starts_with(secrets::kApiKeyPrefix)) return R();
  const std::string hash = secrets::sha256_hex(key);
  return in_tx(db_, Mode::read, [&](Tx& tx) { return tx.api_keys().active_account(hash); });
}

}  // namespace tern::store
