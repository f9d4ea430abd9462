// MessageLog on SQLite: its own connection to the store's file (WAL; the Store created the schema
// and the file with mode 0600), serialized by a mutex so callers on any thread may use it.
// Recipients are stored in their canonical form (domain lower-cased, like suppressions), so the
// recipient search is exact on the local part and case-insensitive on the domain.
// Status only moves forward: once a recipient is final (delivered, bounced, expired, rejected) a
// late or replayed "accepted"/"deferred" update leaves it as it is.
// Cursor: base64url (no padding) of "m1:<created_ms>:<message_id>" — the last row of the page;
// anything else (bad alphabet, padding, wrong tag, non-decimal time, empty or overlong id) is a
// permanent "invalid cursor" error.
#include "store/message_log.hpp"

#include <fmt/format.h>
#include <sodium.h>

#include <array>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <variant>

#include "core/address.hpp"
#include "store/sqlite_db.hpp"

namespace tern::store {

namespace {

using sqlite::Db;
using sqlite::Stmt;
using sqlite::Txn;

constexpr std::string_view kCursorTag = "m1:";
constexpr size_t kMaxCursorLen = 512;
constexpr size_t kMaxMessageIdLen = 256;
constexpr size_t kMaxLimit = 1000;

// base64url without padding, by libsodium (strict: only the URL-safe alphabet, no padding,
// no trailing garbage).
std::string b64url_encode(std::string_view in) {
  std::string out(sodium_base64_ENCODED_LEN(in.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                  '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(in.data()),
                    in.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::optional<std::string> b64url_decode(std::string_view in) {
  std::string out(in.size() * 3 / 4 + 3, '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), in.data(),
                        in.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      end != in.data() + in.size())
    return std::nullopt;
  out.resize(len);
  return out;
}

struct Cursor {
  int64_t created_ms = 0;
  std::string message_id;
};

std::string encode_cursor(const MessageRecord& last) {
  return b64url_encode(fmt::format("{}{}:{}", kCursorTag, last.created_ms, last.message_id));
}

std::optional<Cursor> decode_cursor(std::string_view c) {
  if (c.empty() || c.size() > kMaxCursorLen) return std::nullopt;
  auto raw = b64url_decode(c);
  if (!raw || !raw->starts_with(kCursorTag)) return std::nullopt;
  std::string_view rest = std::string_view(*raw).substr(kCursorTag.size());
  size_t colon = rest.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 19) return std::nullopt;
  std::string_view num = rest.substr(0, colon);
  for (char ch : num)
    if (ch < '0' || ch > '9') return std::nullopt;
  Cursor out;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), out.created_ms);
  if (ec != std::errc() || p != num.data() + num.size()) return std::nullopt;
  out.message_id = std::string(rest.substr(colon + 1));
  if (out.message_id.empty() || out.message_id.size() > kMaxMessageIdLen) return std::nullopt;
  return out;
}

// Canonical recipient (domain lower-case); anything that is not an address is kept as given so
// the row still exists and an exact search still finds it.
std::string canonical_recipient(const std::string& r) {
  auto mb = core::parse_mailbox(r);
  return mb ? mb->str() : r;
}

bool is_status(std::string_view s) {
  return s == "accepted" || s == "deferred" || s == "delivered" || s == "bounced" ||
         s == "expired" || s == "rejected";
}

constexpr const char* kColumns =
    "message_id, queue_id, rcpt_index, account_id, bulk_id, sender, recipient, header_from, "
    "subject, status, callback_data, options_json, created_ms, updated_ms";

MessageRecord record_from_row(const Stmt& s) {
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
  r.status = s.text(9);
  r.callback_data = s.text(10);
  r.options_json = s.text(11);
  r.created_ms = s.int64(12);
  r.updated_ms = s.int64(13);
  return r;
}

}  // namespace

std::string make_message_id(const std::string& queue_id, int rcpt_index) {
  return fmt::format("{}.{}", queue_id, rcpt_index);
}

struct MessageLog::Impl {
  std::mutex mu;
  Db db;
};

MessageLog::MessageLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MessageLog::~MessageLog() = default;

core::Result<std::unique_ptr<MessageLog>> MessageLog::open(const std::string& db_path) {
  auto db = Db::open_companion(db_path, "messages", "message log", Db::Sync::full);
  if (!db) return db.error();
  auto impl = std::make_unique<Impl>();
  impl->db = std::move(db).value();
  return std::unique_ptr<MessageLog>(new MessageLog(std::move(impl)));
}

core::Result<void> MessageLog::record_accepted(const std::vector<MessageRecord>& records) {
  if (records.empty()) return core::ok();
  for (const auto& r : records) {
    if (r.message_id.empty() || r.message_id.size() > kMaxMessageIdLen)
      return core::Error::perm("message log: message id empty or too long");
    if (!is_status(r.status))
      return core::Error::perm(fmt::format("message log: unknown status {:?}", r.status));
  }
  std::lock_guard lock(impl_->mu);
  Txn txn(impl_->db);
  if (auto r = txn.begin_immediate(); !r) return r;
  const std::string sql = fmt::format(
      "INSERT INTO messages({}) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
      "ON CONFLICT(message_id) DO NOTHING",
      kColumns);
  Stmt ins(impl_->db, sql);  // prepared once per batch
  for (const auto& r : records) {
    ins.reset();
    ins.bind(1, std::string_view(r.message_id))
        .bind(2, std::string_view(r.queue_id))
        .bind(3, int64_t{r.rcpt_index})
        .bind(4, r.account_id)
        .bind(5, std::string_view(r.bulk_id))
        .bind(6, std::string_view(r.sender))
        .bind(7, std::string_view(canonical_recipient(r.recipient)))
        .bind(8, std::string_view(r.header_from))
        .bind(9, std::string_view(r.subject))
        .bind(10, std::string_view(r.status))
        .bind(11, std::string_view(r.callback_data))
        .bind(12, std::string_view(r.options_json.empty() ? "{}" : r.options_json))
        .bind(13, r.created_ms)
        .bind(14, r.updated_ms != 0 ? r.updated_ms : r.created_ms);
    if (auto res = ins.run("record message"); !res) return res;
  }
  return txn.commit();
}

core::Result<void> MessageLog::update_status(const std::vector<StatusUpdate>& updates) {
  if (updates.empty()) return core::ok();
  for (const auto& u : updates)
    if (!is_status(u.status))
      return core::Error::perm(fmt::format("message log: unknown status {:?}", u.status));
  std::lock_guard lock(impl_->mu);
  Txn txn(impl_->db);
  if (auto r = txn.begin_immediate(); !r) return r;
  // A final state is never replaced (the first outcome of a recipient is its outcome), and
  // "accepted" never replaces "deferred".
  Stmt up(impl_->db,
          "UPDATE messages SET status = ?1, updated_ms = MAX(updated_ms, ?2) WHERE message_id = "
          "?3 AND status NOT IN ('delivered','bounced','expired','rejected') "
          "AND (?1 != 'accepted' OR status = 'accepted')");
  for (const auto& u : updates) {
    up.reset();
    up.bind(1, std::string_view(u.status))
        .bind(2, u.time_ms)
        .bind(3, std::string_view(u.message_id));
    if (auto res = up.run("update message status"); !res) return res;
  }
  return txn.commit();
}

core::Result<std::optional<MessageRecord>> MessageLog::find(const std::string& message_id) {
  std::lock_guard lock(impl_->mu);
  Stmt s(impl_->db, fmt::format("SELECT {} FROM messages WHERE message_id = ?", kColumns));
  s.bind(1, std::string_view(message_id));
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<MessageRecord>();
  if (rc != SQLITE_ROW) return s.error(rc, "find message");
  return std::optional<MessageRecord>(record_from_row(s));
}

core::Result<std::vector<MessageRecord>> MessageLog::for_queue(const std::string& queue_id) {
  std::lock_guard lock(impl_->mu);
  Stmt s(impl_->db,
         fmt::format("SELECT {} FROM messages WHERE queue_id = ? ORDER BY rcpt_index", kColumns));
  s.bind(1, std::string_view(queue_id));
  std::vector<MessageRecord> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(record_from_row(s));
  if (rc != SQLITE_DONE) return s.error(rc, "messages of queue id");
  return out;
}

namespace {

struct SearchSql {
  std::string sql;
  std::vector<std::variant<int64_t, std::string>> args;
};

// The WHERE clause from fixed fragments only; every value is bound. Each filter is an equality
// on a column of one of the messages_account_*_time indexes (migration 7), and the cursor is a
// row-value comparison on the columns those indexes end with, so SQLite walks one index range
// backwards: no scan of the account's rows, no sort.
SearchSql build_search(const MessageQuery& q, const std::optional<Cursor>& cursor) {
  std::string where = "1";
  std::vector<std::variant<int64_t, std::string>> args;
  if (q.account_id != 0) {
    where += " AND account_id = ?";
    args.emplace_back(q.account_id);
  }
  if (!q.recipient.empty()) {
    where += " AND recipient = ?";
    args.emplace_back(canonical_recipient(q.recipient));
  }
  if (!q.bulk_id.empty()) {
    where += " AND bulk_id = ?";
    args.emplace_back(q.bulk_id);
  }
  if (!q.status.empty()) {
    where += " AND status = ?";
    args.emplace_back(q.status);
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
  if (!q.cursor.empty()) cursor = decode_cursor(q.cursor);
  return build_search(q, cursor).sql;
}

core::Result<MessagePage> MessageLog::search(const MessageQuery& q) {
  if (q.limit < 1 || q.limit > kMaxLimit)
    return core::Error::perm(fmt::format("limit must be between 1 and {}", kMaxLimit));
  std::optional<Cursor> cursor;
  if (!q.cursor.empty()) {
    cursor = decode_cursor(q.cursor);
    if (!cursor) return core::Error::perm("invalid cursor");
  }
  if (q.status.size() && !is_status(q.status))
    return core::Error::perm(fmt::format("unknown status {:?}", q.status));
  const SearchSql built = build_search(q, cursor);
  const auto& args = built.args;

  std::lock_guard lock(impl_->mu);
  Stmt s(impl_->db, built.sql);
  for (size_t i = 0; i < args.size(); ++i) {
    const int idx = static_cast<int>(i + 1);
    if (const auto* n = std::get_if<int64_t>(&args[i]))
      s.bind(idx, *n);
    else
      s.bind(idx, std::string_view(std::get<std::string>(args[i])));
  }
  MessagePage page;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) page.items.push_back(record_from_row(s));
  if (rc != SQLITE_DONE) return s.error(rc, "search messages");
  if (page.items.size() > q.limit) {
    page.items.resize(q.limit);
    page.next_cursor = encode_cursor(page.items.back());
  }
  return page;
}

}  // namespace tern::store
