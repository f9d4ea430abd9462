// Captured sandbox mail on SQLite (see captured.hpp). Its own connection, serialized by a
// mutex; synchronous FULL like the message log (a captured message is the "delivery").
#include "store/captured.hpp"

#include <fmt/format.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "store/cursor.hpp"
#include "store/secrets.hpp"
#include "store/sqlite_db.hpp"

namespace tern::store {

namespace {

using sqlite::Db;
using sqlite::Stmt;
using sqlite::Txn;

constexpr std::string_view kCursorTag = "c1:";
constexpr const char* kColumns =
    "id, account_id, queue_id, recipients, sender, header_from, subject, message_id, size, "
    "captured_ms";

std::string recipients_json(const std::vector<std::string>& r) {
  return nlohmann::json(r).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

CapturedMessage read_row(const Stmt& s) {
  CapturedMessage m;
  m.id = s.text(0);
  m.account_id = s.int64(1);
  m.queue_id = s.text(2);
  auto j = nlohmann::json::parse(s.text(3), nullptr, false);
  if (j.is_array())
    for (const auto& e : j)
      if (e.is_string()) m.recipients.push_back(e.get<std::string>());
  m.sender = s.text(4);
  m.header_from = s.text(5);
  m.subject = s.text(6);
  m.message_id = s.text(7);
  m.size = s.int64(8);
  m.captured_ms = s.int64(9);
  return m;
}

}  // namespace

struct Captured::Impl {
  Db db;
  std::mutex mu;
  CaptureRetention retention;
};

Captured::Captured(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Captured::~Captured() = default;

core::Result<std::unique_ptr<Captured>> Captured::open(const std::string& db_path,
                                                       CaptureRetention retention) {
  auto db = Db::open_companion(db_path, "captured", "captured mail", Db::Sync::full);
  if (!db) return db.error();
  auto impl = std::make_unique<Impl>();
  impl->db = std::move(db).value();
  impl->retention = retention;
  if (impl->retention.max_per_account == 0) impl->retention.max_per_account = 1;
  return std::unique_ptr<Captured>(new Captured(std::move(impl)));
}

core::Result<std::string> Captured::add(CapturedMessage m, int64_t now_ms) {
  if (m.account_id <= 0) return core::Error::perm("captured mail: no account");
  if (m.captured_ms == 0) m.captured_ms = now_ms;
  m.size = static_cast<int64_t>(m.raw.size());
  const std::string rcpts = recipients_json(m.recipients);
  std::lock_guard lock(impl_->mu);
  Txn txn(impl_->db);
  if (auto r = txn.begin_immediate(); !r) return r.error();
  {
    Stmt f(impl_->db, "SELECT id FROM captured WHERE queue_id = ? AND recipients = ?");
    f.bind(1, m.queue_id).bind(2, rcpts);
    const int rc = f.step();
    if (rc == SQLITE_ROW) return f.text(0);  // replayed delivery: the copy we have
    if (rc != SQLITE_DONE) return f.error(rc, "find captured message");
  }
  m.id = secrets::random_token();
  Stmt ins(impl_->db,
           fmt::format("INSERT INTO captured({}, raw) VALUES(?,?,?,?,?,?,?,?,?,?,?)", kColumns));
  ins.bind(1, m.id)
      .bind(2, m.account_id)
      .bind(3, m.queue_id)
      .bind(4, rcpts)
      .bind(5, m.sender)
      .bind(6, m.header_from)
      .bind(7, m.subject)
      .bind(8, m.message_id)
      .bind(9, m.size)
      .bind(10, m.captured_ms)
      .bind(11, m.raw);
  if (auto r = ins.run("store captured message"); !r) return r.error();
  // Retention: the account's newest max_per_account stay; nothing older than max_age.
  Stmt cap(impl_->db,
           "DELETE FROM captured WHERE id IN (SELECT id FROM captured WHERE account_id = ? "
           "ORDER BY captured_ms DESC, id DESC LIMIT -1 OFFSET ?)");
  cap.bind(1, m.account_id).bind(2, static_cast<int64_t>(impl_->retention.max_per_account));
  if (auto r = cap.run("cap captured mail"); !r) return r.error();
  Stmt age(impl_->db, "DELETE FROM captured WHERE captured_ms < ?");
  age.bind(1, now_ms - impl_->retention.max_age_ms);
  if (auto r = age.run("expire captured mail"); !r) return r.error();
  if (auto r = txn.commit(); !r) return r.error();
  return m.id;
}

core::Result<CapturedPage> Captured::list(int64_t account_id, size_t limit,
                                          const std::string& cursor) {
  if (limit < 1 || limit > 1000) return core::Error::perm("limit must be 1..1000");
  std::optional<std::pair<int64_t, std::string>> after;
  if (!cursor.empty()) {
    after = decode_cursor(kCursorTag, cursor);
    if (!after) return core::Error::perm("invalid cursor");
  }
  CapturedPage page;
  std::lock_guard lock(impl_->mu);
  Stmt s(impl_->db, fmt::format("SELECT {} FROM captured WHERE account_id = ?1 {} "
                                "ORDER BY captured_ms DESC, id DESC LIMIT ?2",
                                kColumns, after ? "AND (captured_ms, id) < (?3, ?4)" : ""));
  s.bind(1, account_id).bind(2, static_cast<int64_t>(limit + 1));
  if (after) s.bind(3, after->first).bind(4, after->second);
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) page.items.push_back(read_row(s));
  if (rc != SQLITE_DONE) return s.error(rc, "list captured mail");
  if (page.items.size() > limit) {
    page.items.resize(limit);
    const auto& last = page.items.back();
    page.next_cursor = encode_cursor(kCursorTag, last.captured_ms, last.id);
  }
  return page;
}

core::Result<std::optional<CapturedMessage>> Captured::get(int64_t account_id,
                                                           const std::string& id, bool with_raw) {
  using R = std::optional<CapturedMessage>;
  if (id.empty() || id.size() > 64) return R();
  std::lock_guard lock(impl_->mu);
  Stmt s(impl_->db, fmt::format("SELECT {}{} FROM captured WHERE account_id = ? AND id = ?",
                                kColumns, with_raw ? ", raw" : ""));
  s.bind(1, account_id).bind(2, id);
  const int rc = s.step();
  if (rc == SQLITE_DONE) return R();
  if (rc != SQLITE_ROW) return s.error(rc, "read captured message");
  CapturedMessage m = read_row(s);
  if (with_raw) m.raw = s.text(10);
  return R(std::move(m));
}

core::Result<size_t> Captured::prune(int64_t now_ms) {
  std::lock_guard lock(impl_->mu);
  Stmt s(impl_->db, "DELETE FROM captured WHERE captured_ms < ?");
  s.bind(1, now_ms - impl_->retention.max_age_ms);
  if (auto r = s.run("expire captured mail"); !r) return r.error();
  return static_cast<size_t>(impl_->db.changes());
}

}  // namespace tern::store
