// MessageLog on PostgreSQL (message_log.hpp; rules in message_log_rules.hpp). A batch is one
// round trip and one implicit transaction: record is one INSERT over column arrays; status
// updates lock their rows in message-id order, then change them in one UPDATE over column
// arrays (a batch naming a message twice: one UPDATE each, in message-id order, stable, so
// several updates of one message keep their order). Two nodes updating overlapping batches lock
// rows in the same order and never deadlock. Both batch writes are idempotent (record: ON
// CONFLICT DO NOTHING; status: the move rule), so a batch whose commit outcome is unknown after a
// lost connection is simply sent again. A search is one index range (the same indexes as
// SQLite's migration 7).
#include <fmt/format.h>

#include <algorithm>
#include <variant>

#include "store/message_log_rules.hpp"
#include "store/pg_parts.hpp"

namespace tern::store::pg {

namespace {

using message_log_rules::Cursor;

constexpr const char* kColumns =
    "message_id, queue_id, rcpt_index, account_id, bulk_id, sender, recipient, header_from, "
    "subject, status, callback_data, options_json, created_ms, updated_ms, node_id";

core::Result<MessageRecord> record_from_row(const Rows& s, int i) {
  MessageRecord r;
  r.message_id = s.text(i, 0);
  r.queue_id = s.text(i, 1);
  r.rcpt_index = static_cast<int>(s.int64(i, 2));
  r.account_id = s.int64(i, 3);
  r.bulk_id = s.text(i, 4);
  r.sender = s.text(i, 5);
  r.recipient = s.text(i, 6);
  r.header_from = s.text(i, 7);
  r.subject = s.text(i, 8);
  const auto status = core::parse_message_status(s.view(i, 9));
  if (!status) return core::Error::corrupt("message log: unknown status " + s.text(i, 9));
  r.status = *status;
  r.callback_data = s.text(i, 10);
  r.options_json = s.text(i, 11);
  r.created_ms = s.int64(i, 12);
  r.updated_ms = s.int64(i, 13);
  r.node_id = s.text(i, 14);
  return r;
}

core::Result<std::vector<MessageRecord>> records(const Rows& rows) {
  std::vector<MessageRecord> out;
  out.reserve(static_cast<size_t>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) {
    auto r = record_from_row(rows, i);
    if (!r) return r.error();
    out.push_back(std::move(r).value());
  }
  return out;
}

struct SearchSql {
  std::string sql;
  Params args;
};

// The WHERE clause from fixed fragments only; every value is a parameter. Each filter is an
// equality on a column of one of the messages_account_*_time indexes, and the cursor a
// row-value comparison on the columns those indexes end with: one index range, read backwards.
SearchSql build_search(const MessageQuery& q, const std::optional<Cursor>& cursor) {
  std::string where = "TRUE";
  Params args;
  auto arg = [&](auto v) {
    args.add(v);
    return fmt::format("${}", args.size());
  };
  if (q.account_id != 0) where += " AND account_id = " + arg(q.account_id);
  if (!q.recipient.empty())
    where += " AND recipient = " + arg(message_log_rules::canonical_recipient(q.recipient));
  if (!q.bulk_id.empty()) where += " AND bulk_id = " + arg(q.bulk_id);
  if (q.status) where += " AND status = " + arg(core::to_string(*q.status));
  if (!q.queue_id.empty()) where += " AND queue_id = " + arg(q.queue_id);
  if (q.from_ms != 0) where += " AND created_ms >= " + arg(q.from_ms);
  const bool cursor_tighter = cursor && (q.to_ms == 0 || cursor->created_ms < q.to_ms);
  if (q.to_ms != 0 && !cursor_tighter) where += " AND created_ms < " + arg(q.to_ms);
  if (cursor_tighter) {
    const std::string t = arg(cursor->created_ms);
    const std::string m = arg(cursor->message_id);
    where += fmt::format(" AND (created_ms, message_id) < ({}::bigint, {}::text)", t, m);
  }
  const std::string limit = arg(static_cast<int64_t>(q.limit + 1));
  return {fmt::format("SELECT {} FROM messages WHERE {} "
                      "ORDER BY created_ms DESC, message_id DESC LIMIT {}",
                      kColumns, where, limit),
          std::move(args)};
}

class PgMessageLog final : public MessageLog {
 public:
  explicit PgMessageLog(std::shared_ptr<Pool> pool) : pool_(std::move(pool)) {}

  core::Result<void> record_accepted(const std::vector<MessageRecord>& recs) override {
    if (recs.empty()) return core::ok();
    // One statement for the batch (a column array each; unnest keeps their order).
    std::vector<std::string> message_id, queue_id, bulk_id, sender, recipient, header_from, subject,
        status, callback_data, options_json, node_id;
    std::vector<int64_t> rcpt_index, account_id, created_ms, updated_ms;
    for (const auto& in : recs) {
      auto row = message_log_rules::stored_form(in);
      if (!row) return row.error();
      MessageRecord& r = *row;
      message_id.push_back(std::move(r.message_id));
      queue_id.push_back(std::move(r.queue_id));
      rcpt_index.push_back(r.rcpt_index);
      account_id.push_back(r.account_id);
      bulk_id.push_back(std::move(r.bulk_id));
      sender.push_back(std::move(r.sender));
      recipient.push_back(std::move(r.recipient));
      header_from.push_back(std::move(r.header_from));
      subject.push_back(std::move(r.subject));
      status.emplace_back(core::to_string(r.status));
      callback_data.push_back(std::move(r.callback_data));
      options_json.push_back(std::move(r.options_json));
      created_ms.push_back(r.created_ms);
      updated_ms.push_back(r.updated_ms);
      node_id.push_back(std::move(r.node_id));
    }
    const auto params =
        Params::of(text_array(message_id), text_array(queue_id), int_array(rcpt_index),
                   int_array(account_id), text_array(bulk_id), text_array(sender),
                   text_array(recipient), text_array(header_from), text_array(subject),
                   text_array(status), text_array(callback_data), text_array(options_json),
                   int_array(created_ms), int_array(updated_ms), text_array(node_id));
    const std::string sql = fmt::format(
        "INSERT INTO messages({}) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], "
        "$4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], "
        "$11::text[], $12::text[], $13::bigint[], $14::bigint[], $15::text[]) "
        "ON CONFLICT(message_id) DO NOTHING",
        kColumns);
    return pool_->with([&](Conn& c) -> core::Result<void> {
      auto r = c.exec(sql, params, "record messages");
      if (!r) return r.error();
      return core::ok();
    });
  }

  core::Result<void> update_status(const std::vector<StatusUpdate>& updates) override {
    if (updates.empty()) return core::ok();
    std::vector<const StatusUpdate*> sorted;
    sorted.reserve(updates.size());
    for (const auto& u : updates) sorted.push_back(&u);
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const auto* a, const auto* b) { return a->message_id < b->message_id; });
    // message_log_rules::status_may_move as SQL: a final state is never replaced, and
    // "accepted" never replaces "deferred".
    const bool distinct =
        std::adjacent_find(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) {
          return a->message_id == b->message_id;
        }) == sorted.end();
    if (distinct) {
      // One message each: lock the rows in message-id order, then one UPDATE over column
      // arrays (its join would lock them in any order).
      std::vector<std::string> ids, statuses;
      std::vector<int64_t> times;
      for (const auto* u : sorted) {
        ids.push_back(u->message_id);
        statuses.emplace_back(core::to_string(u->status));
        times.push_back(u->time_ms);
      }
      const std::string id_array = text_array(ids);
      const std::vector<Stmt> two = {
          {"SELECT 1 FROM messages WHERE message_id = ANY($1::text[]) ORDER BY message_id "
           "FOR UPDATE",
           Params::of(id_array)},
          {"UPDATE messages m SET status = u.status, updated_ms = GREATEST(m.updated_ms, "
           "u.time_ms) FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(message_id, "
           "status, time_ms) WHERE m.message_id = u.message_id AND m.status NOT IN "
           "('delivered','bounced','expired','rejected') AND (u.status <> 'accepted' OR "
           "m.status = 'accepted')",
           Params::of(id_array, text_array(statuses), int_array(times))}};
      return pool_->with([&](Conn& c) -> core::Result<void> {
        auto r = c.pipeline(two, "update message status");
        if (!r) return r.error();
        return core::ok();
      });
    }
    // Several updates of one message: one UPDATE each, in order.
    std::vector<Stmt> batch;
    batch.reserve(sorted.size());
    for (const auto* u : sorted)
      batch.push_back(
          {"UPDATE messages SET status = $1::text, updated_ms = GREATEST(updated_ms, "
           "$2::bigint) WHERE message_id = $3 AND status NOT IN "
           "('delivered','bounced','expired','rejected') AND ($1::text <> "
           "'accepted' OR status = 'accepted')",
           Params::of(core::to_string(u->status), u->time_ms, u->message_id)});
    return pool_->with([&](Conn& c) -> core::Result<void> {
      auto r = c.pipeline(batch, "update message status");
      if (!r) return r.error();
      return core::ok();
    });
  }

  core::Result<std::optional<MessageRecord>> find(const std::string& message_id) override {
    return pool_->with([&](Conn& c) -> core::Result<std::optional<MessageRecord>> {
      auto r = c.exec(fmt::format("SELECT {} FROM messages WHERE message_id = $1", kColumns),
                      Params::of(message_id), "find message");
      if (!r) return r.error();
      if (r->empty()) return std::optional<MessageRecord>();
      auto rec = record_from_row(*r, 0);
      if (!rec) return rec.error();
      return std::optional<MessageRecord>(std::move(rec).value());
    });
  }

  core::Result<std::vector<MessageRecord>> for_queue(const std::string& queue_id) override {
    return pool_->with([&](Conn& c) -> core::Result<std::vector<MessageRecord>> {
      auto r = c.exec(
          fmt::format("SELECT {} FROM messages WHERE queue_id = $1 ORDER BY rcpt_index, message_id",
                      kColumns),
          Params::of(queue_id), "messages of queue id");
      if (!r) return r.error();
      return records(*r);
    });
  }

  core::Result<std::unordered_map<std::string, std::vector<MessageRecord>>> for_queues(
      const std::vector<std::string>& queue_ids) override {
    using Map = std::unordered_map<std::string, std::vector<MessageRecord>>;
    Map out;
    if (queue_ids.empty()) return out;
    for (const auto& q : queue_ids) out.try_emplace(q);
    return pool_->with([&](Conn& c) -> core::Result<Map> {
      auto r = c.exec(fmt::format("SELECT {} FROM messages WHERE queue_id = ANY($1::text[]) "
                                  "ORDER BY queue_id, rcpt_index, message_id",
                                  kColumns),
                      Params::of(text_array(queue_ids)), "messages of queue ids");
      if (!r) return r.error();
      auto recs = records(*r);
      if (!recs) return recs.error();
      Map got = out;
      for (auto& rec : *recs) got[rec.queue_id].push_back(std::move(rec));
      return got;
    });
  }

  core::Result<MessagePage> search(const MessageQuery& q) override {
    auto cursor = message_log_rules::checked_cursor(q);
    if (!cursor) return cursor.error();
    const SearchSql built = build_search(q, *cursor);
    return pool_->with([&](Conn& c) -> core::Result<MessagePage> {
      auto r = c.exec(built.sql, built.args, "search messages");
      if (!r) return r.error();
      auto items = records(*r);
      if (!items) return items.error();
      MessagePage page;
      page.items = std::move(items).value();
      if (page.items.size() > q.limit) {
        page.items.resize(q.limit);
        page.next_cursor = message_log_rules::encode_cursor(page.items.back());
      }
      return page;
    });
  }

 private:
  std::shared_ptr<Pool> pool_;
};

}  // namespace

std::unique_ptr<MessageLog> make_message_log(std::shared_ptr<Pool> pool) {
  return std::make_unique<PgMessageLog>(std::move(pool));
}

}  // namespace tern::store::pg
