// Console sessions on SQLite (see sessions.hpp). One connection of its own (synchronous FULL,
// like every connection to the file), serialized by a mutex.
#include "store/sessions.hpp"

#include <fmt/format.h>

#include <mutex>

#include "store/secrets.hpp"
#include "store/sqlite_db.hpp"

namespace tern::store {

namespace {

using sqlite::Db;
using sqlite::Stmt;
using sqlite::Txn;

constexpr size_t kSecretChars = 52;  // two base32 tokens of 128 bits
constexpr size_t kCodeChars = 26;

bool plausible(std::string_view s, size_t len) {
  if (s.size() != len) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'))) return false;
  return true;
}

}  // namespace

struct Sessions::Impl {
  Db db;
  std::mutex mu;
  SessionLimits limits;

  // Deletes expired sessions and codes, and the principal's oldest sessions beyond the cap
  // (keep - 1 of them stay, so one more fits). Callers hold mu inside a transaction.
  core::Result<void> prune(int64_t now, std::optional<int64_t> account_id) {
    Stmt s(db, "DELETE FROM console_sessions WHERE expires_ms <= ?1 OR last_seen_ms + ?2 <= ?1");
    s.bind(1, now).bind(2, limits.idle_ms);
    if (auto r = s.run("prune sessions"); !r) return r;
    Stmt c(db, "DELETE FROM console_login_codes WHERE expires_ms <= ?");
    c.bind(1, now);
    if (auto r = c.run("prune login codes"); !r) return r;
    if (!account_id) return core::ok();
    const int64_t keep = static_cast<int64_t>(limits.max_per_principal) - 1;
    Stmt o(db, *account_id == 0
                   ? "DELETE FROM console_sessions WHERE id_hash IN (SELECT id_hash FROM "
                     "console_sessions WHERE account_id IS NULL ORDER BY created_ms DESC "
                     "LIMIT -1 OFFSET ?1)"
                   : "DELETE FROM console_sessions WHERE id_hash IN (SELECT id_hash FROM "
                     "console_sessions WHERE account_id = ?2 ORDER BY created_ms DESC "
                     "LIMIT -1 OFFSET ?1)");
    o.bind(1, std::max<int64_t>(0, keep));
    if (*account_id != 0) o.bind(2, *account_id);
    return o.run("cap sessions");
  }

  core::Result<Created> insert(std::optional<int64_t> account_id, std::optional<int64_t> key_id,
                               const std::string& operator_hash, int64_t now) {
    if (auto r = prune(now, account_id.value_or(0)); !r) return r.error();
    Created out;
    out.secret = secrets::random_token() + secrets::random_token();
    Stmt s(db,
           "INSERT INTO console_sessions(id_hash, account_id, api_key_id, operator_hash, "
           "created_ms, last_seen_ms, expires_ms) VALUES(?, ?, ?, ?, ?, ?, ?)");
    s.bind(1, secrets::sha256_hex(out.secret));
    if (account_id)
      s.bind(2, *account_id);
    else
      s.bind_null(2);
    if (key_id)
      s.bind(3, *key_id);
    else
      s.bind_null(3);
    s.bind(4, operator_hash).bind(5, now).bind(6, now).bind(7, now + limits.absolute_ms);
    if (auto r = s.run("insert session"); !r) return r.error();
    out.session.is_operator = !account_id;
    out.session.account_id = account_id.value_or(0);
    out.session.created_ms = now;
    out.session.last_seen_ms = now;
    out.session.expires_ms = now + limits.absolute_ms;
    out.session.idle_expires_ms = std::min(out.session.expires_ms, now + limits.idle_ms);
    return out;
  }
};

Sessions::Sessions(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Sessions::~Sessions() = default;

core::Result<std::unique_ptr<Sessions>> Sessions::open(const std::string& db_path,
                                                       SessionLimits limits) {
  auto db = Db::open_companion(db_path, "console_sessions", "sessions", Db::Sync::full);
  if (!db) return db.error();
  auto impl = std::make_unique<Impl>();
  impl->db = std::move(db).value();
  impl->limits = limits;
  return std::unique_ptr<Sessions>(new Sessions(std::move(impl)));
}

const SessionLimits& Sessions::limits() const { return impl_->limits; }

core::Result<Sessions::Created> Sessions::create_operator(const std::string& operator_hash,
                                                          int64_t now_ms) {
  if (operator_hash.empty()) return core::Error::perm("sessions: no operator token");
  std::lock_guard lock(impl_->mu);
  Txn txn(impl_->db);
  if (auto r = txn.begin_immediate(); !r) return r.error();
  auto out = impl_->insert(std::nullopt, std::nullopt, operator_hash, now_ms);
  if (!out) return out;
  if (auto r = txn.commit(); !r) return r.error();
  return out;
}

core::Result<std::optional<Sessions::Created>> Sessions::create_for_api_key(
    const std::string& api_key, int64_t now_ms) {
  using R = std::optional<Created>;
  if (api_key.size() != secrets::kApiKeyChars || !api_key.starts_with(secrets::kApiKeyPrefix))
    return R();
  std::lock_guard lock(impl_->mu);
  Txn txn(impl_->db);
  if (auto r = txn.begin_immediate(); !r) return r.error();
  Stmt k(impl_->db, "SELECT id, account_id FROM api_keys WHERE hash = ? AND revoked_ms IS NULL");
  k.bind(1, secrets::sha256_hex(api_key));
  const int rc = k.step();
  if (rc == SQLITE_DONE) return R();
  if (rc != SQLITE_ROW) return k.error(rc, "find API key");
  const int64_t key_id = k.int64(0), account_id = k.int64(1);
  auto out = impl_->insert(account_id, key_id, "", now_ms);
  if (!out) return out.error();
  if (auto r = txn.commit(); !r) return r.error();
  return R(std::move(out).value());
}

core::Result<std::optional<ConsoleSession>> Sessions::find(const std::string& secret,
                                                           const std::string& operator_hash,
                                                           int64_t now_ms) {
  using R = std::optional<ConsoleSession>;
  if (!plausible(secret, kSecretChars)) return R();
  const std::string hash = secrets::sha256_hex(secret);
  std::lock_guard lock(impl_->mu);
  // An account's session is valid only while its key is active (the trigger deletes the rows
  // of a revoked key; the join is the second line of defence).
  Stmt s(impl_->db,
         "SELECT s.account_id, s.operator_hash, s.created_ms, s.last_seen_ms, s.expires_ms "
         "FROM console_sessions s LEFT JOIN api_keys k ON k.id = s.api_key_id "
         "WHERE s.id_hash = ? AND (s.account_id IS NULL OR "
         "(k.revoked_ms IS NULL AND k.id IS NOT NULL AND k.account_id = s.account_id))");
  s.bind(1, hash);
  const int rc = s.step();
  if (rc == SQLITE_DONE) return R();
  if (rc != SQLITE_ROW) return s.error(rc, "find session");
  ConsoleSession out;
  out.is_operator = s.is_null(0);
  out.account_id = out.is_operator ? 0 : s.int64(0);
  const std::string op_hash = s.text(1);
  out.created_ms = s.int64(2);
  out.last_seen_ms = s.int64(3);
  out.expires_ms = s.int64(4);
  if (out.is_operator && (operator_hash.empty() || op_hash != operator_hash)) return R();
  if (now_ms >= out.expires_ms || now_ms >= out.last_seen_ms + impl_->limits.idle_ms) return R();
  if (now_ms - out.last_seen_ms >= impl_->limits.touch_every_ms) {
    Stmt u(impl_->db, "UPDATE console_sessions SET last_seen_ms = ? WHERE id_hash = ?");
    u.bind(1, now_ms).bind(2, hash);
    if (auto r = u.run("touch session"); !r) return r.error();
    out.last_seen_ms = now_ms;
  }
  out.idle_expires_ms = std::min(out.expires_ms, out.last_seen_ms + impl_->limits.idle_ms);
  return R(out);
}

core::Result<void> Sessions::remove(const std::string& secret) {
  if (!plausible(secret, kSecretChars)) return core::ok();
  std::lock_guard lock(impl_->mu);
  Stmt s(impl_->db, "DELETE FROM console_sessions WHERE id_hash = ?");
  s.bind(1, secrets::sha256_hex(secret));
  return s.run("delete session");
}

core::Result<std::string> Sessions::create_login_code(int64_t now_ms, int64_t ttl_ms) {
  std::string code = secrets::random_token();
  std::lock_guard lock(impl_->mu);
  Txn txn(impl_->db);
  if (auto r = txn.begin_immediate(); !r) return r.error();
  if (auto r = impl_->prune(now_ms, std::nullopt); !r) return r.error();
  Stmt s(impl_->db,
         "INSERT INTO console_login_codes(code_hash, created_ms, expires_ms) VALUES(?, ?, ?)");
  s.bind(1, secrets::sha256_hex(code)).bind(2, now_ms).bind(3, now_ms + ttl_ms);
  if (auto r = s.run("insert login code"); !r) return r.error();
  if (auto r = txn.commit(); !r) return r.error();
  return code;
}

core::Result<bool> Sessions::consume_login_code(const std::string& code, int64_t now_ms) {
  if (!plausible(code, kCodeChars)) return false;
  std::lock_guard lock(impl_->mu);
  Txn txn(impl_->db);
  if (auto r = txn.begin_immediate(); !r) return r.error();
  Stmt s(impl_->db, "DELETE FROM console_login_codes WHERE code_hash = ? AND expires_ms > ?");
  s.bind(1, secrets::sha256_hex(code)).bind(2, now_ms);
  if (auto r = s.run("consume login code"); !r) return r.error();
  const bool used = impl_->db.changes() == 1;
  if (auto r = txn.commit(); !r) return r.error();
  return used;
}

}  // namespace tern::store
