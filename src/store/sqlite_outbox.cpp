// Outbox on SQLite (see outbox.hpp): one connection of its own to the store's file (WAL,
// busy_timeout like the Store), so the sender's writes never queue behind the API's or the
// SMTP path's; serialized by a mutex. Every step is one BEGIN IMMEDIATE transaction: two
// instances (threads of two processes, or two connections of one) claim due items one after
// the other, and the lease written inside the claim's transaction keeps the second from
// taking what the first took. Marks are fenced: `WHERE lease_owner = ? AND lease_token = ?`.
// mark_and_claim runs a round's marks and its claim in one such transaction.
#include <fmt/format.h>

#include <algorithm>
#include <mutex>

#include "store/cursor.hpp"
#include "store/sqlite_backend.hpp"
#include "store/sqlite_db.hpp"

namespace tern::store {

namespace {

using namespace sqlite::names;

constexpr const char* kColumns =
    "id, account_id, kind, url, content_type, message_id, queue_id, recipient, item, created_ms, "
    "next_attempt_ms, attempts, last_error, state, last_code, lease_owner, lease_token";

core::Result<OutboxItem> read_item(const Stmt& s) {
  OutboxItem it;
  it.id = s.int64(0);
  it.account_id = s.int64(1);
  const auto kind = parse_outbox_kind(s.text(2));
  if (!kind) return core::Error::corrupt("outbox: item of unknown kind " + s.text(2));
  it.kind = *kind;
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
  const auto state = parse_outbox_state(s.text(13));
  if (!state) return core::Error::corrupt("outbox: item in unknown state " + s.text(13));
  it.state = *state;
  it.last_code = static_cast<int>(s.int64(14));
  it.lease_owner = s.text(15);
  it.lease_token = s.int64(16);
  return it;
}

// Steps rows of s into out; an error for a failed step or a damaged row.
core::Result<void> read_items(Stmt& s, std::vector<OutboxItem>& out, std::string_view what) {
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    auto it = read_item(s);
    if (!it) return it.error();
    out.push_back(std::move(it).value());
  }
  if (rc != SQLITE_DONE) return s.error(rc, what);
  return core::ok();
}

class SqliteOutbox final : public Outbox {
 public:
  SqliteOutbox(Db db, OutboxOptions opt) : db_(std::move(db)), opt_(std::move(opt)) {}

  core::Result<void> enqueue(const std::vector<OutboxItem>& items, int64_t now_ms) override {
    if (items.empty()) return core::ok();
    if (auto ok = check_items(items); !ok) return ok;
    std::lock_guard lock(mu_);
    Txn txn(db_);
    if (auto r = txn.begin_immediate(); !r) return r;
    Stmt s(db_,
           "INSERT INTO webhook_outbox(account_id, kind, url, content_type, message_id, queue_id, "
           "recipient, item, created_ms, next_attempt_ms, attempts, last_error, state, item_key) "
           "VALUES(?,?,?,?,?,?,?,?,?,?,0,'','pending',?) ON CONFLICT DO NOTHING");
    for (const auto& it : items) {
      s.reset();
      s.bind(1, it.account_id)
          .bind(2, to_string(it.kind))
          .bind(3, it.url)
          .bind(4, it.content_type)
          .bind(5, it.message_id)
          .bind(6, it.queue_id)
          .bind(7, it.recipient)
          .bind(8, it.item)
          .bind(9, it.created_ms != 0 ? it.created_ms : now_ms)
          .bind(10, it.next_attempt_ms != 0 ? it.next_attempt_ms : now_ms)
          .bind(11, it.item_key);
      if (auto r = s.run("enqueue webhook item"); !r) return r;
    }
    return txn.commit();
  }

  using Outbox::due;
  core::Result<std::vector<std::vector<OutboxItem>>> due(
      int64_t now_ms, size_t max_batches, size_t max_per_batch,
      const std::vector<std::string>& skip_urls) override {
    std::vector<std::vector<OutboxItem>> out;
    if (max_batches == 0 || max_per_batch == 0) return out;
    std::lock_guard lock(mu_);
    Txn txn(db_);
    if (auto r = txn.begin_immediate(); !r) return r.error();
    if (auto r = claim(now_ms, max_batches, max_per_batch, skip_urls, out); !r) return r.error();
    if (auto r = txn.commit(); !r) return r.error();
    return out;
  }

  core::Result<size_t> mark_sent(const std::vector<OutboxClaim>& claims, int64_t now_ms,
                                 int code) override {
    if (claims.empty()) return size_t{0};
    std::lock_guard lock(mu_);
    Txn txn(db_);
    if (auto r = txn.begin_immediate(); !r) return r.error();
    auto n = mark({true, false, now_ms, code, {}, claims});
    if (!n) return n.error();
    if (auto r = txn.commit(); !r) return r.error();
    return n;
  }

  core::Result<size_t> mark_failed(const std::vector<OutboxClaim>& claims, int64_t next_attempt_ms,
                                   const std::string& error, bool give_up, int code) override {
    if (claims.empty()) return size_t{0};
    std::lock_guard lock(mu_);
    Txn txn(db_);
    if (auto r = txn.begin_immediate(); !r) return r.error();
    auto n = mark({false, give_up, next_attempt_ms, code, error, claims});
    if (!n) return n.error();
    if (auto r = txn.commit(); !r) return r.error();
    return n;
  }

  // One BEGIN IMMEDIATE transaction: the marks, then the claim.
  core::Result<OutboxRound> mark_and_claim(const std::vector<OutboxMark>& marks, int64_t now_ms,
                                           size_t max_batches, size_t max_per_batch,
                                           const std::vector<std::string>& skip_urls) override {
    OutboxRound out;
    const bool claiming = max_batches > 0 && max_per_batch > 0;
    const bool any = std::any_of(marks.begin(), marks.end(),
                                 [](const OutboxMark& m) { return !m.claims.empty(); });
    if (!any && !claiming) {
      out.marked.assign(marks.size(), 0);
      return out;
    }
    std::lock_guard lock(mu_);
    Txn txn(db_);
    if (auto r = txn.begin_immediate(); !r) return r.error();
    for (const auto& m : marks) {
      auto n = mark(m);
      if (!n) return n.error();
      out.marked.push_back(*n);
    }
    if (claiming)
      if (auto r = claim(now_ms, max_batches, max_per_batch, skip_urls, out.claimed); !r)
        return r.error();
    if (auto r = txn.commit(); !r) return r.error();
    return out;
  }

  core::Result<uint64_t> backlog() override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT COUNT(*) FROM webhook_outbox WHERE state = 'pending'");
    int rc = s.step();
    if (rc != SQLITE_ROW) return s.error(rc, "count webhook backlog");
    return static_cast<uint64_t>(s.int64(0));
  }

  core::Result<int64_t> next_due_ms() override {
    std::lock_guard lock(mu_);
    Stmt s(db_, "SELECT MIN(next_attempt_ms) FROM webhook_outbox WHERE state = 'pending'");
    int rc = s.step();
    if (rc != SQLITE_ROW) return s.error(rc, "read next webhook time");
    return s.is_null(0) ? int64_t{0} : s.int64(0);
  }

  core::Result<std::vector<OutboxItem>> for_message(const std::string& message_id) override {
    std::lock_guard lock(mu_);
    std::vector<OutboxItem> out;
    Stmt s(db_,
           fmt::format("SELECT {} FROM webhook_outbox WHERE message_id = ? ORDER BY id", kColumns));
    s.bind(1, message_id);
    if (auto r = read_items(s, out, "read webhook items of a message"); !r) return r.error();
    return out;
  }

  core::Result<OutboxPage> list(int64_t account_id, size_t limit,
                                const std::string& cursor) override {
    if (limit < 1 || limit > 1000) return core::Error::invalid("limit must be 1..1000");
    std::optional<int64_t> before;
    if (!cursor.empty()) {
      auto c = decode_cursor("w1:", cursor);
      if (!c || c->second != "i") return core::Error::invalid("invalid cursor");
      before = c->first;
    }
    OutboxPage page;
    std::lock_guard lock(mu_);
    Stmt s(db_, fmt::format("SELECT {} FROM webhook_outbox WHERE account_id = ?1 {} "
                            "ORDER BY id DESC LIMIT ?2",
                            kColumns, before ? "AND id < ?3" : ""));
    s.bind(1, account_id).bind(2, static_cast<int64_t>(limit + 1));
    if (before) s.bind(3, *before);
    if (auto r = read_items(s, page.items, "list webhook items"); !r) return r.error();
    if (page.items.size() > limit) {
      page.items.resize(limit);
      page.next_cursor = encode_cursor("w1:", page.items.back().id, "i");
    }
    return page;
  }

  core::Result<std::optional<OutboxItem>> find(int64_t account_id, int64_t id) override {
    using R = std::optional<OutboxItem>;
    std::lock_guard lock(mu_);
    std::vector<OutboxItem> out;
    Stmt s(db_,
           fmt::format("SELECT {} FROM webhook_outbox WHERE account_id = ? AND id = ?", kColumns));
    s.bind(1, account_id).bind(2, id);
    if (auto r = read_items(s, out, "read webhook item"); !r) return r.error();
    if (out.empty()) return R();
    return R(std::move(out.front()));
  }

  core::Result<bool> retry_now(int64_t account_id, int64_t id, int64_t now_ms) override {
    std::lock_guard lock(mu_);
    Stmt s(db_,
           "UPDATE webhook_outbox SET state = 'pending', next_attempt_ms = ? "
           "WHERE account_id = ? AND id = ? AND state IN ('pending', 'failed')");
    s.bind(1, now_ms).bind(2, account_id).bind(3, id);
    if (auto r = s.run("retry webhook item"); !r) return r.error();
    return db_.changes() == 1;
  }

 private:
  // Claims due items inside the caller's transaction (mu_ held; see due()).
  core::Result<void> claim(int64_t now_ms, size_t max_batches, size_t max_per_batch,
                           const std::vector<std::string>& skip_urls,
                           std::vector<std::vector<OutboxItem>>& out) {
    struct Group {
      int64_t account_id;
      std::string kind, url, content_type;
    };
    std::vector<Group> groups;
    {
      // Oldest group first: the group whose oldest due item is oldest.
      // skip_urls: one placeholder each (values are bound, never spliced into the SQL).
      std::string skip;
      for (size_t i = 0; i < skip_urls.size(); ++i) skip += i == 0 ? "?" : ", ?";
      // Among the kDueWindow items due earliest (one bounded range of webhook_outbox_due).
      Stmt s(db_, fmt::format("SELECT account_id, kind, url, content_type, MIN(id) AS first FROM "
                              "(SELECT id, account_id, kind, url, content_type FROM "
                              "webhook_outbox WHERE state = 'pending' AND next_attempt_ms <= ? {} "
                              "ORDER BY next_attempt_ms LIMIT ?) "
                              "GROUP BY account_id, kind, url, content_type ORDER BY first LIMIT ?",
                              skip.empty() ? "" : "AND url NOT IN (" + skip + ")"));
      int at = 1;
      s.bind(at++, now_ms);
      for (const auto& u : skip_urls) s.bind(at++, u);
      s.bind(at++, static_cast<int64_t>(std::max(kDueWindow, max_batches * max_per_batch)));
      s.bind(at, static_cast<int64_t>(max_batches));
      int rc;
      while ((rc = s.step()) == SQLITE_ROW)
        groups.push_back({s.int64(0), s.text(1), s.text(2), s.text(3)});
      if (rc != SQLITE_DONE) return s.error(rc, "find due webhook items");
    }
    const int64_t token = new_lease_token();
    const int64_t until = now_ms + opt_.lease_ms;
    Stmt lease(db_,
               "UPDATE webhook_outbox SET next_attempt_ms = ?, lease_owner = ?, lease_token = ? "
               "WHERE id = ?");
    for (const auto& g : groups) {
      std::vector<OutboxItem> batch;
      Stmt s(db_, fmt::format("SELECT {} FROM webhook_outbox WHERE state = 'pending' AND "
                              "next_attempt_ms <= ? AND account_id = ? AND kind = ? AND "
                              "url = ? AND content_type = ? ORDER BY next_attempt_ms, id LIMIT ?",
                              kColumns));
      s.bind(1, now_ms)
          .bind(2, g.account_id)
          .bind(3, g.kind)
          .bind(4, g.url)
          .bind(5, g.content_type)
          .bind(6, static_cast<int64_t>(max_per_batch));
      if (auto r = read_items(s, batch, "read due webhook items"); !r) return r;
      for (auto& it : batch) {
        lease.reset();
        lease.bind(1, until).bind(2, opt_.owner).bind(3, token).bind(4, it.id);
        if (auto r = lease.run("lease webhook item"); !r) return r;
        it.next_attempt_ms = until;
        it.lease_owner = opt_.owner;
        it.lease_token = token;
      }
      sort_by_id(batch);
      if (!batch.empty()) out.push_back(std::move(batch));
    }
    return core::ok();
  }

  // One mark inside the caller's transaction (mu_ held), fenced: `WHERE lease_owner = ? AND
  // lease_token = ?`. next_attempt_ms keeps the time a sent item went out (the message log).
  core::Result<size_t> mark(const OutboxMark& m) {
    if (m.claims.empty()) return size_t{0};
    Stmt s(db_,
           "UPDATE webhook_outbox SET attempts = attempts + 1, last_error = ?1, "
           "next_attempt_ms = ?2, state = ?3, last_code = ?4, lease_owner = '' "
           "WHERE id = ?5 AND state = 'pending' AND lease_owner = ?6 AND lease_token = ?7");
    const OutboxState to = m.sent      ? OutboxState::sent
                           : m.give_up ? OutboxState::failed
                                       : OutboxState::pending;
    const std::string error = m.sent ? std::string() : m.error;
    size_t changed = 0;
    for (const auto& c : m.claims) {
      s.reset();
      s.bind(1, error)
          .bind(2, m.at_ms)
          .bind(3, to_string(to))
          .bind(4, int64_t{m.code})
          .bind(5, c.id)
          .bind(6, opt_.owner)
          .bind(7, c.token);
      if (auto r = s.run(m.sent ? "mark webhook item sent" : "mark webhook item failed"); !r)
        return r.error();
      changed += static_cast<size_t>(db_.changes());
    }
    return changed;
  }

  Db db_;
  const OutboxOptions opt_;
  std::mutex mu_;
};

}  // namespace

core::Result<std::unique_ptr<Outbox>> open_sqlite_outbox(const std::string& db_path,
                                                         OutboxOptions opt) {
  auto db = Db::open_companion(db_path, "webhook_outbox", "outbox", Db::Sync::full);
  if (!db) return db.error();
  return std::unique_ptr<Outbox>(
      std::make_unique<SqliteOutbox>(std::move(db).value(), std::move(opt)));
}

}  // namespace tern::store
