// MessageLog on SQLite: its own connection to the store's file (WAL; the schema and the 0600
// file come from opening the Store first), serialized by a mutex so callers on any thread may
// use it. The rules (stored form, status moves, cursor) are message_log_rules.hpp; here the
// status rule is one conditional UPDATE, and a search is one index range (migration 7). The
// point look-ups (find, for_queue: per delivered message in the reports, per recovered message
// at start) reuse prepared statements (a StmtCache per connection).
#include <fmt/format.h>

#include <mutex>
#include <variant>

#include "store/message_log_rules.hpp"
#include "store/sqlite_backend.hpp"
#include "store/sqlite_db.hpp"

namespace tern::store {

namespace {

using sqlite::Db;
using sqlite::Stmt;
using sqlite::StmtCache;
using sqlite::Txn;

using message_log_rules::Cursor;

constexpr const char* kColumns =
    "message_id, queue_id, rcpt_index, account_id, bulk_id, sender, recipient, header_from, "
    "subject, status, callback_data, options_json, created_ms, updated_ms, node_id";

core::Result<MessageRecord> record_from_row(const Stmt& s) {
  MessageRecord r;
  r.message_id = s.text(0);
  r.queue_id = s.text(1);
  r.rcpt_index = static_cast<int>(s.int64(2));
  r.account_id = s.int64(3);
  r.bulk_id = s.text(4);
  r.sender = s.text(5);
  r.recipient = s.text(6);
  r.header_from = s.text(7);
  r.subject = s.text(8);
  const auto status = core::parse_message_status(s.text(9));
  if (!status) return core::Error::corrupt("message log: unknown status " + s.text(9));
  r.status = *status;
  r.callback_data = s.text(10);
  r.options_json = s.text(11);
  r.created_ms = s.int64(12);
  r.updated_ms = s.int64(13);
  r.node_id = s.text(14);
  return r;
}

class SqliteMessageLog final : public MessageLog {
 public:
  explicit SqliteMessageLog(Db db) : db_(std::move(db)), cache_(db_) {}
  core::Result<void> record_accepted(const std::vector<MessageRecord>& records) override;
  core::Result<void> update_status(const std::vector<StatusUpdate>& updates) override;
  core::Result<std::optional<MessageRecord>> find(const std::string& message_id) override;
  core::Result<std::vector<MessageRecord>> for_queue(const std::string& queue_id) override;
  core::Result<MessagePage> search(const MessageQuery& q) override;

 private:
  std::mutex mu_;
  Db db_;
  StmtCache cache_;  // after db_: its statements are finalized before the connection closes
};

}  // namespace

core::Result<void> SqliteMessageLog::record_accepted(const std::vector<MessageRecord>& records) {
  if (records.empty()) return core::ok();
  std::vector<MessageRecord> rows;
  rows.reserve(records.size());
  for (const auto& r : records) {
    auto row = message_log_rules::stored_form(r);
    if (!row) return row.error();
    rows.push_back(std::move(row).value());
  }
  std::lock_guard lock(mu_);
  Txn txn(db_);
  if (auto r = txn.begin_immediate(); !r) return r;
  const std::string sql = fmt::format(
      "INSERT INTO messages({}) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
      "ON CONFLICT(message_id) DO NOTHING",
      kColumns);
  Stmt ins(db_, sql);  // prepared once per batch
  for (const auto& r : rows) {
    ins.reset();
    ins.bind(1, std::string_view(r.message_id))
        .bind(2, std::string_view(r.queue_id))
        .bind(3, int64_t{r.rcpt_index})
        .bind(4, r.account_id)
        .bind(5, std::string_view(r.bulk_id))
        .bind(6, std::string_view(r.sender))
        .bind(7, std::string_view(r.recipient))
        .bind(8, std::string_view(r.header_from))
        .bind(9, std::string_view(r.subject))
        .bind(10, core::to_string(r.status))
        .bind(11, std::string_view(r.callback_data))
        .bind(12, std::string_view(r.options_json))
        .bind(13, r.created_ms)
        .bind(14, r.updated_ms)
        .bind(15, std::string_view(r.node_id));
    if (auto res = ins.run("record message"); !res) return res;
  }
  return txn.commit();
}

core::Result<void> SqliteMessageLog::update_status(const std::vector<StatusUpdate>& updates) {
  if (updates.empty()) return core::ok();
  std::lock_guard lock(mu_);
  Txn txn(db_);
  if (auto r = txn.begin_immediate(); !r) return r;
  // message_log_rules::status_may_move as SQL: a final state is never replaced, and
  // "accepted" never replaces "deferred".
  Stmt up(db_,
          "UPDATE messages SET status = ?1, updated_ms = MAX(updated_ms, ?2) WHERE message_id = "
          "?3 AND status NOT IN ('delivered','bounced','expired','rejected') "
          "AND (?1 != 'accepted' OR status = 'accepted')");
  for (const auto& u : updates) {
    up.reset();
    up.bind(1, core::to_string(u.status))
        .bind(2, u.time_ms)
        .bind(3, std::string_view(u.message_id));
    if (auto res = up.run("update message status"); !res) return res;
  }
  return txn.commit();
}

core::Result<std::optional<MessageRecord>> SqliteMessageLog::find(const std::string& message_id) {
  std::lock_guard lock(mu_);
  static const std::string sql =
      fmt::format("SELECT {} FROM messages WHERE message_id = ?", kColumns);
  Stmt s(cache_, sql);
  s.bind(1, std::string_view(message_id));
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<MessageRecord>();
  if (rc != SQLITE_ROW) return s.error(rc, "find message");
  auto r = record_from_row(s);
  if (!r) return r.error();
  return std::optional<MessageRecord>(std::move(r).value());
}

core::Result<std::vector<MessageRecord>> SqliteMessageLog::for_queue(const std::string& queue_id) {
  std::lock_guard lock(mu_);
  static const std::string sql = fmt::format(
      "SELECT {} FROM messages WHERE queue_id = ? ORDER BY rcpt_index, message_id", kColumns);
  Stmt s(cache_, sql);
  s.bind(1, std::string_view(queue_id));
  std::vector<MessageRecord> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    auto r = record_from_row(s);
    if (!r) return r.error();
    out.push_back(std::move(r).value());
  }
  if (rc != SQLITE_DONE) return s.error(rc, "messages of queue id");
  return out;
}

namespace {

struct SearchSql {
  std::string sql;
  std::vector<std::variant<int64_t, std::string>> args;
};

// The WHERE clause from fixed fragments only; every value is bound. Each filter is an equality
// on a column of one of the messages_account_*_time indexes (migration 7; with two filters, the
// narrower one's), and the cursor is a row-value comparison on the columns those indexes end
// with, so SQLite walks one index range backwards: no scan of the account's rows, no sort.
SearchSql build_search(const MessageQuery& q, const std::optional<Cursor>& cursor) {
  std::string where = "1";
  std::vector<std::variant<int64_t, std::string>> args;
  if (q.account_id != 0) {
    where += " AND account_id = ?";
    args.emplace_back(q.account_id);
  }
  if (!q.recipient.empty()) {
    where += " AND recipient = ?";
    args.emplace_back(message_log_rules::canonical_recipient(q.recipient));
  }
  if (!q.bulk_id.empty()) {
    where += " AND bulk_id = ?";
    args.emplace_back(q.bulk_id);
  }
  if (q.status) {
    // A status matches a large share of an account's rows, a recipient or a batch few. With
    // one of those, the unary + keeps SQLite off the status index (it would walk every
    // delivered message of the account to find one recipient's) and makes status a filter.
    const bool narrower = !q.recipient.empty() || !q.bulk_id.empty() || !q.queue_id.empty();
    where += narrower ? " AND +status = ?" : " AND status = ?";
    args.emplace_back(std::string(core::to_string(*q.status)));
  }
  if (!q.queue_id.empty()) {
    where += " AND queue_id = ?";
    args.emplace_back(q.queue_id);
  }
  if (q.from_ms != 0) {
    where += " AND created_ms >= ?";
    args.emplace_back(q.from_ms);
  }
  // Of an upper time bound and a cursor only the tighter one is kept: SQLite bounds the index
  // range by one of them, and the other is then redundant (a cursor below to_ms implies it;
  // rows below to_ms are all below a cursor at or past it).
  const bool cursor_tighter = cursor && (q.to_ms == 0 || cursor->created_ms < q.to_ms);
  if (q.to_ms != 0 && !cursor_tighter) {
    where += " AND created_ms < ?";
    args.emplace_back(q.to_ms);
  }
  if (cursor_tighter) {
    where += " AND (created_ms, message_id) < (?, ?)";
    args.emplace_back(cursor->created_ms);
    args.emplace_back(cursor->message_id);
  }
  args.emplace_back(static_cast<int64_t>(q.limit + 1));
  return {fmt::format("SELECT {} FROM messages WHERE {} "
                      "ORDER BY created_ms DESC, message_id DESC LIMIT ?",
                      kColumns, where),
          std::move(args)};
}

}  // namespace

std::string message_search_sql(const MessageQuery& q) {
  std::optional<Cursor> cursor;
  if (!q.cursor.empty()) cursor = message_log_rules::decode_cursor(q.cursor);
  return build_search(q, cursor).sql;
}

core::Result<MessagePage> SqliteMessageLog::search(const MessageQuery& q) {
  auto cursor = message_log_rules::checked_cursor(q);
  if (!cursor) return cursor.error();
  const SearchSql built = build_search(q, *cursor);
  const auto& args = built.args;

  std::lock_guard lock(mu_);
  Stmt s(db_, built.sql);
  for (size_t i = 0; i < args.size(); ++i) {
    const int idx = static_cast<int>(i + 1);
    if (const auto* n = std::get_if<int64_t>(&args[i]))
      s.bind(idx, *n);
    else
      s.bind(idx, std::string_view(std::get<std::string>(args[i])));
  }
  MessagePage page;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    auto r = record_from_row(s);
    if (!r) return r.error();
    page.items.push_back(std::move(r).value());
  }
  if (rc != SQLITE_DONE) return s.error(rc, "search messages");
  if (page.items.size() > q.limit) {
    page.items.resize(q.limit);
    page.next_cursor = message_log_rules::encode_cursor(page.items.back());
  }
  return page;
}

core::Result<std::unique_ptr<MessageLog>> open_sqlite_message_log(const std::string& db_path) {
  auto db = Db::open_companion(db_path, "messages", "message log", Db::Sync::full);
  if (!db) return db.error();
  return std::unique_ptr<MessageLog>(std::make_unique<SqliteMessageLog>(std::move(db).value()));
}

}  // namespace tern::store
