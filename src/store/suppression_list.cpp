// Suppression search and bulk changes on SQLite (see suppression_list.hpp).
#include "store/suppression_list.hpp"

#include <fmt/format.h>

#include <mutex>

#include "core/address.hpp"
#include "store/sqlite_db.hpp"

namespace tern::store {

namespace {

using sqlite::Db;
using sqlite::Stmt;
using sqlite::Txn;

std::string hex(std::string_view s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

std::optional<std::string> unhex(std::string_view s) {
  if (s.empty() || s.size() % 2 || s.size() > 1024) return std::nullopt;
  auto v = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); i += 2) {
    int hi = v(s[i]), lo = v(s[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

// A LIKE pattern matching s anywhere, with LIKE's wildcards in s escaped.
std::string contains_pattern(std::string_view s) {
  std::string out = "%";
  for (char c : s) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += c;
  }
  return out + "%";
}

}  // namespace

struct SuppressionList::Impl {
  Db db;
  std::mutex mu;
};

SuppressionList::SuppressionList(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SuppressionList::~SuppressionList() = default;

core::Result<std::unique_ptr<SuppressionList>> SuppressionList::open(const std::string& db_path) {
  auto db = Db::open_companion(db_path, "suppressions", "suppression list", Db::Sync::full);
  if (!db) return db.error();
  auto impl = std::make_unique<Impl>();
  impl->db = std::move(db).value();
  return std::unique_ptr<SuppressionList>(new SuppressionList(std::move(impl)));
}

core::Result<SuppressionPage> SuppressionList::search(const SuppressionQuery& q) {
  if (q.limit < 1 || q.limit > 1000) return core::Error::perm("limit must be 1..1000");
  if (q.q.size() > 320 || q.reason.size() > 200) return core::Error::perm("search text too long");
  std::optional<std::string> after;
  if (!q.cursor.empty()) {
    after = unhex(q.cursor);
    if (!after) return core::Error::perm("invalid cursor");
  }
  std::string sql =
      "SELECT account_id, address, reason, queue_id, created_ms FROM suppressions "
      "WHERE account_id = ?1";
  if (after) sql += " AND address > ?2";
  if (!q.q.empty()) sql += " AND address LIKE ?3 ESCAPE '\\'";
  if (!q.reason.empty()) sql += " AND reason LIKE ?4 ESCAPE '\\'";
  sql += " ORDER BY address LIMIT ?5";
  SuppressionPage page;
  std::lock_guard lock(impl_->mu);
  Stmt s(impl_->db, sql);
  s.bind(1, q.account_id);
  if (after) s.bind(2, *after);
  if (!q.q.empty()) s.bind(3, contains_pattern(q.q));
  if (!q.reason.empty()) s.bind(4, contains_pattern(q.reason));
  s.bind(5, static_cast<int64_t>(q.limit + 1));
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    page.items.push_back({s.int64(0), s.text(1), s.text(2), s.text(3), s.int64(4)});
  if (rc != SQLITE_DONE) return s.error(rc, "search suppressions");
  if (page.items.size() > q.limit) {
    page.items.resize(q.limit);
    page.next_cursor = hex(page.items.back().address);
  }
  return page;
}

core::Result<BulkResult> SuppressionList::bulk(int64_t account_id,
                                               const std::vector<std::string>& add,
                                               const std::vector<std::string>& remove,
                                               const std::string& reason, int64_t now_ms) {
  if (add.size() + remove.size() > kMaxBulk)
    return core::Error::perm(fmt::format("at most {} addresses at once", kMaxBulk));
  BulkResult out;
  std::vector<std::string> to_add, to_remove;
  auto canon = [&out](const std::vector<std::string>& in, std::vector<std::string>& dst) {
    for (const auto& a : in) {
      auto mb = core::parse_mailbox(a);
      if (mb)
        dst.push_back(mb->str());
      else
        out.invalid.push_back(a.size() > 320 ? a.substr(0, 320) : a);
    }
  };
  canon(add, to_add);
  canon(remove, to_remove);
  std::lock_guard lock(impl_->mu);
  Txn txn(impl_->db);
  if (auto r = txn.begin_immediate(); !r) return r.error();
  {
    Stmt a(impl_->db, "SELECT 1 FROM accounts WHERE id = ?");
    a.bind(1, account_id);
    const int rc = a.step();
    if (rc == SQLITE_DONE) return core::Error::not_found("no such account");
    if (rc != SQLITE_ROW) return a.error(rc, "find account");
  }
  Stmt ins(impl_->db,
           "INSERT INTO suppressions(account_id, address, reason, queue_id, created_ms) "
           "VALUES(?, ?, ?, '', ?) ON CONFLICT(account_id, address) DO UPDATE SET "
           "reason = excluded.reason, queue_id = '', created_ms = excluded.created_ms");
  for (const auto& a : to_add) {
    ins.reset();
    ins.bind(1, account_id).bind(2, a).bind(3, reason).bind(4, now_ms);
    if (auto r = ins.run("add suppression"); !r) return r.error();
    ++out.added;
  }
  Stmt del(impl_->db, "DELETE FROM suppressions WHERE account_id = ? AND address = ?");
  for (const auto& a : to_remove) {
    del.reset();
    del.bind(1, account_id).bind(2, a);
    if (auto r = del.run("remove suppression"); !r) return r.error();
    out.removed += static_cast<size_t>(impl_->db.changes());
  }
  if (auto r = txn.commit(); !r) return r.error();
  return out;
}

}  // namespace tern::store
