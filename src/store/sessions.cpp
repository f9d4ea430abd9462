// Console session rules (see sessions.hpp), over any backend.
#include "store/sessions.hpp"

#include <algorithm>

#include "store/secrets.hpp"

namespace tern::store {

namespace {

using Mode = Database::Mode;

constexpr size_t kSecretChars = 52;  // two base32 tokens of 128 bits
constexpr size_t kCodeChars = 26;

bool plausible(std::string_view s, size_t len) {
  if (s.size() != len) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'))) return false;
  return true;
}

}  // namespace

void SessionService::set_limits(const SessionLimits& l) {
  limits_ = l;
  limits_.max_per_principal = std::max<size_t>(1, l.max_per_principal);
}

// Deletes expired sessions and codes and the principal's oldest sessions beyond the cap (so
// one more fits), then stores a new session. Inside the caller's write Tx.
core::Result<SessionService::Created> SessionService::insert(Tx& tx, int64_t account_id,
                                                             const std::string& api_key_hash,
                                                             const std::string& operator_hash,
                                                             int64_t now) {
  auto& repo = tx.sessions();
  if (auto r = repo.remove_stale(now, now - limits_.idle_ms); !r) return r.error();
  if (auto r = repo.remove_codes_expired(now); !r) return r.error();
  auto mine = repo.of_principal(account_id);
  if (!mine) return mine.error();
  for (size_t i = limits_.max_per_principal - 1; i < mine->size(); ++i)
    if (auto r = repo.remove((*mine)[i].id_hash); !r) return r.error();
  Created out;
  out.secret = secrets::random_token() + secrets::random_token();
  SessionRow row{secrets::sha256_hex(out.secret), account_id, api_key_hash, operator_hash, now, now,
                 now + limits_.absolute_ms};
  if (auto r = repo.insert(row); !r) return r.error();
  out.session.is_operator = account_id == 0;
  out.session.account_id = account_id;
  out.session.created_ms = now;
  out.session.last_seen_ms = now;
  out.session.expires_ms = row.expires_ms;
  out.session.idle_expires_ms = std::min(row.expires_ms, now + limits_.idle_ms);
  return out;
}

core::Result<SessionService::Created> SessionService::create_operator(
    const std::string& operator_hash, int64_t now_ms) {
  if (operator_hash.empty()) return core::Error::invalid("sessions: no operator token");
  return in_tx(db_, Mode::write, [&](Tx& tx) { return insert(tx, 0, "", operator_hash, now_ms); });
}

core::Result<std::optional<SessionService::Created>> SessionService::create_for_api_key(
    const std::string& api_key, int64_t now_ms) {
  using R = std::optional<Created>;
  if (api_key.size() != secrets::kApiKeyChars || !api_key.starts_with(secrets::kApiKeyPrefix))
    return R();
  const std::string key_hash = secrets::sha256_hex(api_key);
  return in_tx(db_, Mode::write, [&](Tx& tx) -> core::Result<R> {
    auto account = tx.api_keys().active_account(key_hash);
    if (!account) return account.error();
    if (!*account) return R();
    auto made = insert(tx, **account, key_hash, "", now_ms);
    if (!made) return made.error();
    return R(std::move(made).value());
  });
}

core::Result<std::optional<ConsoleSession>> SessionService::find(const std::string& secret,
                                                                 const std::string& operator_hash,
                                                                 int64_t now_ms) {
  using R = std::optional<ConsoleSession>;
  if (!plausible(secret, kSecretChars)) return R();
  const std::string hash = secrets::sha256_hex(secret);
  auto row = in_tx(db_, Mode::read, [&](Tx& tx) { return tx.sessions().find(hash); });
  if (!row) return row.error();
  if (!*row) return R();
  const SessionRow& s = **row;
  ConsoleSession out;
  out.is_operator = s.account_id == 0;
  out.account_id = s.account_id;
  out.created_ms = s.created_ms;
  out.last_seen_ms = s.last_seen_ms;
  out.expires_ms = s.expires_ms;
  if (out.is_operator && (operator_hash.empty() || s.operator_hash != operator_hash)) return R();
  if (now_ms >= out.expires_ms || now_ms >= out.last_seen_ms + limits_.idle_ms) return R();
  if (now_ms - out.last_seen_ms >= limits_.touch_every_ms) {
    auto t = in_tx(db_, Mode::write, [&](Tx& tx) { return tx.sessions().touch(hash, now_ms); });
    if (!t) return t.error();
    out.last_seen_ms = now_ms;
  }
  out.idle_expires_ms = std::min(out.expires_ms, out.last_seen_ms + limits_.idle_ms);
  return R(out);
}

core::Result<void> SessionService::remove(const std::string& secret) {
  if (!plausible(secret, kSecretChars)) return core::ok();
  const std::string hash = secrets::sha256_hex(secret);
  return in_tx(db_, Mode::write, [&](Tx& tx) { return tx.sessions().remove(hash); });
}

core::Result<std::string> SessionService::create_login_code(int64_t now_ms, int64_t ttl_ms) {
  if (ttl_ms <= 0) return core::Error::invalid("sessions: a login code needs a positive lifetime");
  std::string code = secrets::random_token();
  LoginCodeRow row{secrets::sha256_hex(code), now_ms, now_ms + ttl_ms};
  auto r = in_tx(db_, Mode::write, [&](Tx& tx) -> core::Result<void> {
    if (auto p = tx.sessions().remove_codes_expired(now_ms); !p) return p;
    return tx.sessions().insert_code(row);
  });
  if (!r) return r.error();
  return code;
}

core::Result<bool> SessionService::consume_login_code(const std::string& code, int64_t now_ms) {
  if (!plausible(code, kCodeChars)) return false;
  const std::string hash = secrets::sha256_hex(code);
  return in_tx(db_, Mode::write, [&](Tx& tx) -> core::Result<bool> {
    auto row = tx.sessions().code(hash);
    if (!row) return row.error();
    if (!*row || (*row)->expires_ms <= now_ms) return false;
    return tx.sessions().remove_code(hash);
  });
}

}  // namespace tern::store
