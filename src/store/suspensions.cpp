// Account suspensions on SQLite (see suspensions.hpp). Its own connection, serialized by a mutex.
#include "store/suspensions.hpp"

#include <mutex>

#include "core/utf8.hpp"
#include "store/sqlite_db.hpp"

namespace tern::store {

using sqlite::Db;
using sqlite::Stmt;
using sqlite::Txn;

core::Result<void> check_suspension_reason(std::string_view reason) {
  if (reason.empty()) return core::Error::perm("reason is required");
  if (reason.size() > 200) return core::Error::perm("reason is longer than 200 bytes");
  for (unsigned char c : reason)
    if (c < 0x20 || c == 0x7f) return core::Error::perm("reason holds a control character");
  if (!core::valid_utf8(reason)) return core::Error::perm("reason is not UTF-8");
  return core::ok();
}

struct Suspensions::Impl {
  Db db;
  std::mutex mu;
};

Suspensions::Suspensions(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Suspensions::~Suspensions() = default;

core::Result<std::unique_ptr<Suspensions>> Suspensions::open(const std::string& db_path) {
  auto db = Db::open_companion(db_path, "account_suspensions", "suspensions", Db::Sync::full);
  if (!db) return db.error();
  auto impl = std::make_unique<Impl>();
  impl->db = std::move(db).value();
  return std::unique_ptr<Suspensions>(new Suspensions(std::move(impl)));
}

core::Result<Suspension> Suspensions::suspend(int64_t account_id, const std::string& reason,
                                              int64_t now_ms) {
  if (auto r = check_suspension_reason(reason); !r) return r.error();
  std::lock_guard lock(impl_->mu);
  Txn txn(impl_->db);
  if (auto r = txn.begin_immediate(); !r) return r.error();
  Stmt a(impl_->db, "SELECT 1 FROM accounts WHERE id = ?");
  a.bind(1, account_id);
  int rc = a.step();
  if (rc == SQLITE_DONE) return core::Error::not_found("no such account");
  if (rc != SQLITE_ROW) return a.error(rc, "find account");
  // A new reason keeps the time the suspension began.
  Stmt s(impl_->db,
         "INSERT INTO account_suspensions(account_id, reason, since_ms) VALUES(?, ?, ?) "
         "ON CONFLICT(account_id) DO UPDATE SET reason = excluded.reason "
         "RETURNING since_ms");
  s.bind(1, account_id).bind(2, reason).bind(3, now_ms);
  rc = s.step();
  if (rc != SQLITE_ROW) return s.error(rc, "suspend account");
  Suspension out{account_id, reason, s.int64(0)};
  while ((rc = s.step()) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) return s.error(rc, "suspend account");
  if (auto r = txn.commit(); !r) return r.error();
  return out;
}

core::Result<bool> Suspensions::unsuspend(int64_t account_id) {
  std::lock_guard lock(impl_->mu);
  Stmt s(impl_->db, "DELETE FROM account_suspensions WHERE account_id = ?");
  s.bind(1, account_id);
  if (auto r = s.run("unsuspend account"); !r) return r.error();
  return impl_->db.changes() == 1;
}

core::Result<std::optional<Suspension>> Suspensions::get(int64_t account_id) {
  using R = std::optional<Suspension>;
  std::lock_guard lock(impl_->mu);
  Stmt s(impl_->db, "SELECT reason, since_ms FROM account_suspensions WHERE account_id = ?");
  s.bind(1, account_id);
  const int rc = s.step();
  if (rc == SQLITE_DONE) return R();
  if (rc != SQLITE_ROW) return s.error(rc, "read suspension");
  return R(Suspension{account_id, s.text(0), s.int64(1)});
}

core::Result<std::vector<Suspension>> Suspensions::all() {
  std::lock_guard lock(impl_->mu);
  std::vector<Suspension> out;
  Stmt s(impl_->db,
         "SELECT account_id, reason, since_ms FROM account_suspensions ORDER BY account_id");
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back({s.int64(0), s.text(1), s.int64(2)});
  if (rc != SQLITE_DONE) return s.error(rc, "read suspensions");
  return out;
}

}  // namespace tern::store
