// Durable webhook outbox on SQLite (see outbox.hpp). One connection of its own to the store's
// file (WAL, busy_timeout like the Store), serialized by a mutex.
// due() leases what it returns: next_attempt_ms moves kLeaseMs ahead in the same transaction,
// so an item being POSTed is not handed out again while the sender still works on it, and an
// item taken by a process that died comes back after the lease (webhooks are at least once).
// mark_sent/mark_failed overwrite the lease.
#include "store/outbox.hpp"

#include <fmt/format.h>

#include <mutex>

#include "core/clock.hpp"
#include "store/cursor.hpp"
#include "store/sqlite_db.hpp"

namespace tern::store {

namespace {

using sqlite::Db;
using sqlite::Stmt;
using sqlite::Txn;

// Longer than one POST may take ([webhooks] timeout_s covers redirects too); if a POST ever
// outlives it, the item may be sent twice, never lost.
constexpr int64_t kLeaseMs = 120'000;

constexpr const char* kColumns =
    "id, account_id, kind, url, content_type, message_id, queue_id, recipient, item, created_ms, "
    "next_attempt_ms, attempts, last_error, state, last_code";

OutboxItem read_item(const Stmt& s) {
  OutboxItem it;
  it.id = s.int64(0);
  it.account_id = s.int64(1);
  it.kind = s.text(2);
  it.url = s.text(3);
  it.content_type = s.text(4);
  it.message_id = s.text(5);
  it.queue_id = s.text(6);
  it.recipient = s.text(7);
  it.item = s.text(8);
  it.created_ms = s.int64(9);
  it.next_attempt_ms = s.int64(10);
  it.attempts = static_cast<int>(s.int64(11));
  it.last_error = s.text(12);
  it.state = s.text(13);
  it.last_code = static_cast<int>(s.int64(14));
  return it;
}

}  // namespace

struct Outbox::Impl {
  Db db;
  std::mutex mu;
};

Outbox::Outbox(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Outbox::~Outbox() = default;

core::Result<std::unique_ptr<Outbox>> Outbox::open(const std::string& db_path) {
  auto db = Db::open_companion(db_path, "webhook_outbox", "outbox", Db::Sync::full);
  if (!db) return db.error();
  auto impl = std::make_unique<Impl>();
  impl->db = std::move(db).value();
  return std::unique_ptr<Outbox>(new Outbox(std::move(impl)));
}

core::Result<void> Outbox::enqueue(const std::vector<OutboxItem>& items) {
  if (items.empty()) return core::ok();
  for (const auto& it : items) {
    if (it.kind != "report" && it.kind != "tracking")
      return core::Error::perm(fmt::format("outbox: unknown kind '{}'", it.kind));
    if (it.url.empty()) return core::Error::perm("outbox: item without a URL");
  }
  const int64_t now = core::SystemClock().now_ms();
  std::lock_guard lock(impl_->mu);
  Txn txn(impl_->db);
  if (auto r = txn.begin_immediate(); !r) return r;
  for (const auto& it : items) {
    Stmt s(impl_->db,
           "INSERT INTO webhook_outbox(account_id, kind, url, content_type, message_id, queue_id, "
           "recipient, item, created_ms, next_attempt_ms, attempts, last_error, state) "
           "VALUES(?,?,?,?,?,?,?,?,?,?,0,'','pending')");
    s.bind(1, it.account_id)
        .bind(2, it.kind)
        .bind(3, it.url)
        .bind(4, it.content_type)
        .bind(5, it.message_id)
        .bind(6, it.queue_id)
        .bind(7, it.recipient)
        .bind(8, it.item)
        .bind(9, it.created_ms != 0 ? it.created_ms : now)
        .bind(10, it.next_attempt_ms != 0 ? it.next_attempt_ms : now);
    if (auto r = s.run("enqueue webhook item"); !r) return r;
  }
  return txn.commit();
}

core::Result<std::vector<std::vector<OutboxItem>>> Outbox::due(int64_t now_ms, size_t max_batches,
                                                               size_t max_per_batch) {
  std::vector<std::vector<OutboxItem>> out;
  if (max_batches == 0 || max_per_batch == 0) return out;
  std::lock_guard lock(impl_->mu);
  Txn txn(impl_->db);
  if (auto r = txn.begin_immediate(); !r) return r.error();
  struct Group {
    int64_t account_id;
    std::string kind, url, content_type;
  };
  std::vector<Group> groups;
  {
    // Oldest group first: the group whose oldest due item is oldest.
    Stmt s(impl_->db,
           "SELECT account_id, kind, url, content_type, MIN(id) AS first FROM webhook_outbox "
           "WHERE state = 'pending' AND next_attempt_ms <= ? "
           "GROUP BY account_id, kind, url, content_type ORDER BY first LIMIT ?");
    s.bind(1, now_ms).bind(2, static_cast<int64_t>(max_batches));
    int rc;
    while ((rc = s.step()) == SQLITE_ROW)
      groups.push_back({s.int64(0), s.text(1), s.text(2), s.text(3)});
    if (rc != SQLITE_DONE) return s.error(rc, "find due webhook items");
  }
  for (const auto& g : groups) {
    std::vector<OutboxItem> batch;
    Stmt s(impl_->db, fmt::format("SELECT {} FROM webhook_outbox WHERE state = 'pending' AND "
                                  "next_attempt_ms <= ? AND account_id = ? AND kind = ? AND "
                                  "url = ? AND content_type = ? ORDER BY id LIMIT ?",
                                  kColumns));
    s.bind(1, now_ms)
        .bind(2, g.account_id)
        .bind(3, g.kind)
        .bind(4, g.url)
        .bind(5, g.content_type)
        .bind(6, static_cast<int64_t>(max_per_batch));
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) batch.push_back(read_item(s));
    if (rc != SQLITE_DONE) return s.error(rc, "read due webhook items");
    for (const auto& it : batch) {
      Stmt u(impl_->db, "UPDATE webhook_outbox SET next_attempt_ms = ? WHERE id = ?");
      u.bind(1, now_ms + kLeaseMs).bind(2, it.id);
      if (auto r = u.run("lease webhook item"); !r) return r.error();
    }
    if (!batch.empty()) out.push_back(std::move(batch));
  }
  if (auto r = txn.commit(); !r) return r.error();
  return out;
}

core::Result<void> Outbox::mark_sent(const std::vector<int64_t>& ids, int64_t now_ms, int code) {
  if (ids.empty()) return core::ok();
  std::lock_guard lock(impl_->mu);
  Txn txn(impl_->db);
  if (auto r = txn.begin_immediate(); !r) return r;
  for (int64_t id : ids) {
    // next_attempt_ms keeps the time it went out (the message log shows it).
    Stmt s(impl_->db,
           "UPDATE webhook_outbox SET state = 'sent', attempts = attempts + 1, last_error = '', "
           "next_attempt_ms = ?, last_code = ? WHERE id = ? AND state = 'pending'");
    s.bind(1, now_ms).bind(2, int64_t{code}).bind(3, id);
    if (auto r = s.run("mark webhook item sent"); !r) return r;
  }
  return txn.commit();
}

core::Result<void> Outbox::mark_failed(const std::vector<int64_t>& ids, int64_t next_attempt_ms,
                                       const std::string& error, bool give_up, int code) {
  if (ids.empty()) return core::ok();
  std::lock_guard lock(impl_->mu);
  Txn txn(impl_->db);
  if (auto r = txn.begin_immediate(); !r) return r;
  for (int64_t id : ids) {
    Stmt s(impl_->db,
           "UPDATE webhook_outbox SET attempts = attempts + 1, last_error = ?, "
           "next_attempt_ms = ?, state = ?, last_code = ? WHERE id = ? AND state = 'pending'");
    s.bind(1, error)
        .bind(2, next_attempt_ms)
        .bind(3, give_up ? std::string_view("failed") : std::string_view("pending"))
        .bind(4, int64_t{code})
        .bind(5, id);
    if (auto r = s.run("mark webhook item failed"); !r) return r;
  }
  return txn.commit();
}

core::Result<uint64_t> Outbox::backlog() {
  std::lock_guard lock(impl_->mu);
  Stmt s(impl_->db, "SELECT COUNT(*) FROM webhook_outbox WHERE state = 'pending'");
  int rc = s.step();
  if (rc != SQLITE_ROW) return s.error(rc, "count webhook backlog");
  return static_cast<uint64_t>(s.int64(0));
}

core::Result<int64_t> Outbox::next_due_ms() {
  std::lock_guard lock(impl_->mu);
  Stmt s(impl_->db, "SELECT MIN(next_attempt_ms) FROM webhook_outbox WHERE state = 'pending'");
  int rc = s.step();
  if (rc != SQLITE_ROW) return s.error(rc, "read next webhook time");
  return s.is_null(0) ? int64_t{0} : s.int64(0);
}

core::Result<std::vector<OutboxItem>> Outbox::for_message(const std::string& message_id) {
  std::lock_guard lock(impl_->mu);
  std::vector<OutboxItem> out;
  Stmt s(impl_->db,
         fmt::format("SELECT {} FROM webhook_outbox WHERE message_id = ? ORDER BY id", kColumns));
  s.bind(1, message_id);
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(read_item(s));
  if (rc != SQLITE_DONE) return s.error(rc, "read webhook items of a message");
  return out;
}

core::Result<OutboxPage> Outbox::list(int64_t account_id, size_t limit, const std::string& cursor) {
  if (limit < 1 || limit > 1000) return core::Error::perm("limit must be 1..1000");
  std::optional<int64_t> before;
  if (!cursor.empty()) {
    auto c = decode_cursor("w1:", cursor);
    if (!c || c->second != "i") return core::Error::perm("invalid cursor");
    before = c->first;
  }
  OutboxPage page;
  std::lock_guard lock(impl_->mu);
  Stmt s(impl_->db, fmt::format("SELECT {} FROM webhook_outbox WHERE account_id = ?1 {} "
                                "ORDER BY id DESC LIMIT ?2",
                                kColumns, before ? "AND id < ?3" : ""));
  s.bind(1, account_id).bind(2, static_cast<int64_t>(limit + 1));
  if (before) s.bind(3, *before);
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) page.items.push_back(read_item(s));
  if (rc != SQLITE_DONE) return s.error(rc, "list webhook items");
  if (page.items.size() > limit) {
    page.items.resize(limit);
    page.next_cursor = encode_cursor("w1:", page.items.back().id, "i");
  }
  return page;
}

core::Result<std::optional<OutboxItem>> Outbox::find(int64_t account_id, int64_t id) {
  using R = std::optional<OutboxItem>;
  std::lock_guard lock(impl_->mu);
  Stmt s(impl_->db,
         fmt::format("SELECT {} FROM webhook_outbox WHERE account_id = ? AND id = ?", kColumns));
  s.bind(1, account_id).bind(2, id);
  const int rc = s.step();
  if (rc == SQLITE_DONE) return R();
  if (rc != SQLITE_ROW) return s.error(rc, "read webhook item");
  return R(read_item(s));
}

core::Result<bool> Outbox::retry_now(int64_t account_id, int64_t id, int64_t now_ms) {
  std::lock_guard lock(impl_->mu);
  Stmt s(impl_->db,
         "UPDATE webhook_outbox SET state = 'pending', next_attempt_ms = ? "
         "WHERE account_id = ? AND id = ? AND state IN ('pending', 'failed')");
  s.bind(1, now_ms).bind(2, account_id).bind(3, id);
  if (auto r = s.run("retry webhook item"); !r) return r.error();
  return impl_->db.changes() == 1;
}

}  // namespace tern::store
