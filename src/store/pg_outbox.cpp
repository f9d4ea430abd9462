// Outbox on PostgreSQL (outbox.hpp). Any node claims due items: the groups are chosen as on
// SQLite (oldest group first), each group's items are locked FOR UPDATE SKIP LOCKED and leased
// (next_attempt_ms = now + lease_ms, lease_owner = this node, lease_token = a fresh fencing token)
// in the same transaction, so two nodes claiming at the same moment skip each other's rows
// instead of waiting or taking them twice. Marks are one UPDATE over the (id, token) pairs,
// fenced by owner and token. mark_and_claim is the base class's (the marks, then the claim, each
// its own transaction): one transaction measured slower here (docs/performance.md). enqueue is one
// pipelined round trip (one implicit transaction).
#include <fmt/format.h>

#include <algorithm>

#include "store/cursor.hpp"
#include "store/pg_parts.hpp"

namespace tern::store::pg {

namespace {

constexpr const char* kColumns =
    "id, account_id, kind, url, content_type, message_id, queue_id, recipient, item, created_ms, "
    "next_attempt_ms, attempts, last_error, state, last_code, lease_owner, lease_token";

core::Result<OutboxItem> read_item(const Rows& s, int i) {
  OutboxItem it;
  it.id = s.int64(i, 0);
  it.account_id = s.int64(i, 1);
  const auto kind = parse_outbox_kind(s.view(i, 2));
  if (!kind) return core::Error::corrupt("outbox: item of unknown kind " + s.text(i, 2));
  it.kind = *kind;
  it.url = s.text(i, 3);
  it.content_type = s.text(i, 4);
  it.message_id = s.text(i, 5);
  it.queue_id = s.text(i, 6);
  it.recipient = s.text(i, 7);
  it.item = s.text(i, 8);
  it.created_ms = s.int64(i, 9);
  it.next_attempt_ms = s.int64(i, 10);
  it.attempts = static_cast<int>(s.int64(i, 11));
  it.last_error = s.text(i, 12);
  const auto state = parse_outbox_state(s.view(i, 13));
  if (!state) return core::Error::corrupt("outbox: item in unknown state " + s.text(i, 13));
  it.state = *state;
  it.last_code = static_cast<int>(s.int64(i, 14));
  it.lease_owner = s.text(i, 15);
  it.lease_token = s.int64(i, 16);
  return it;
}

core::Result<void> read_items(const Rows& rows, std::vector<OutboxItem>& out) {
  for (int i = 0; i < rows.size(); ++i) {
    auto it = read_item(rows, i);
    if (!it) return it.error();
    out.push_back(std::move(it).value());
  }
  return core::ok();
}

class PgOutbox final : public Outbox {
 public:
  PgOutbox(std::shared_ptr<Pool> pool, OutboxOptions opt)
      : pool_(std::move(pool)), opt_(std::move(opt)) {}

  core::Result<void> enqueue(const std::vector<OutboxItem>& items, int64_t now_ms) override {
    if (items.empty()) return core::ok();
    if (auto ok = check_items(items); !ok) return ok;
    std::vector<Stmt> batch;
    batch.reserve(items.size());
    for (const auto& it : items)
      batch.push_back(
          {"INSERT INTO webhook_outbox(account_id, kind, url, content_type, message_id, "
           "queue_id, recipient, item, created_ms, next_attempt_ms, attempts, last_error, state, "
           "item_key) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,0,'','pending',$11) "
           "ON CONFLICT DO NOTHING",
           Params::of(it.account_id, to_string(it.kind), it.url, it.content_type, it.message_id,
                      it.queue_id, it.recipient, it.item,
                      it.created_ms != 0 ? it.created_ms : now_ms,
                      it.next_attempt_ms != 0 ? it.next_attempt_ms : now_ms, it.item_key)});
    // Idempotent only when every item has a key (the journal's): then an unknown commit
    // outcome is resent, and the keys keep a second copy out; else it is reported.
    const bool keyed = std::all_of(items.begin(), items.end(),
                                   [](const OutboxItem& it) { return !it.item_key.empty(); });
    return pool_->with(
        [&](Conn& c) -> core::Result<void> {
          auto r = c.pipeline(batch, "enqueue webhook items");
          if (!r) return r.error();
          return core::ok();
        },
        keyed);
  }

  using Outbox::due;
  core::Result<std::vector<std::vector<OutboxItem>>> due(
      int64_t now_ms, size_t max_batches, size_t max_per_batch,
      const std::vector<std::string>& skip_urls) override {
    using Batches = std::vector<std::vector<OutboxItem>>;
    if (max_batches == 0 || max_per_batch == 0) return Batches{};
    return pool_->transact([&](Conn& c) -> core::Result<Batches> {
      OutboxRound r;
      if (auto x = claim(c, now_ms, max_batches, max_per_batch, skip_urls, r); !x) return x.error();
      return std::move(r.claimed);
    });
  }

  // A mark is idempotent  // A mark is idempotent: it ends the lease (lease_owner = ''), so a
  // resent mark changes nothing.
  core::Result<size_t> mark_sent(const std::vector<OutboxClaim>& claims, int64_t now_ms,
                                 int code) override {
    if (claims.empty()) return size_t{0};
    const Stmt st = sent_stmt(claims, now_ms, code);
    return pool_->with([&](Conn& c) -> core::Result<size_t> {
      auto r = c.exec(st.sql, st.params, "mark webhook items sent");
      if (!r) return r.error();
      return static_cast<size_t>(r->affected());
    });
  }

  core::Result<size_t> mark_failed(const std::vector<OutboxClaim>& claims, int64_t next_attempt_ms,
                                   const std::string& error, bool give_up, int code) override {
    if (claims.empty()) return size_t{0};
    const Stmt st = failed_stmt(claims, next_attempt_ms, error, give_up, code);
    return pool_->with([&](Conn& c) -> core::Result<size_t> {
      auto r = c.exec(st.sql, st.params, "mark webhook items failed");
      if (!r) return r.error();
      return static_cast<size_t>(r->affected());
    });
  }

  core::Result<uint64_t> backlog() override {
    return pool_->with([&](Conn& c) -> core::Result<uint64_t> {
      auto r = c.exec("SELECT COUNT(*) FROM webhook_outbox WHERE state = 'pending'",
                      "count webhook backlog");
      if (!r) return r.error();
      return static_cast<uint64_t>(r->int64(0, 0));
    });
  }

  core::Result<int64_t> next_due_ms() override {
    return pool_->with([&](Conn& c) -> core::Result<int64_t> {
      auto r = c.exec("SELECT MIN(next_attempt_ms) FROM webhook_outbox WHERE state = 'pending'",
                      "read next webhook time");
      if (!r) return r.error();
      return r->is_null(0, 0) ? int64_t{0} : r->int64(0, 0);
    });
  }

  core::Result<std::vector<OutboxItem>> for_message(const std::string& message_id) override {
    return pool_->with([&](Conn& c) -> core::Result<std::vector<OutboxItem>> {
      auto r = c.exec(
          fmt::format("SELECT {} FROM webhook_outbox WHERE message_id = $1 ORDER BY id", kColumns),
          Params::of(message_id), "read webhook items of a message");
      if (!r) return r.error();
      std::vector<OutboxItem> out;
      if (auto x = read_items(*r, out); !x) return x.error();
      return out;
    });
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
    return pool_->with([&](Conn& c) -> core::Result<OutboxPage> {
      OutboxPage page;
      Params p = Params::of(account_id, static_cast<int64_t>(limit + 1));
      if (before) p.add(*before);
      auto r = c.exec(fmt::format("SELECT {} FROM webhook_outbox WHERE account_id = $1 {} "
                                  "ORDER BY id DESC LIMIT $2",
                                  kColumns, before ? "AND id < $3" : ""),
                      p, "list webhook items");
      if (!r) return r.error();
      if (auto x = read_items(*r, page.items); !x) return x.error();
      if (page.items.size() > limit) {
        page.items.resize(limit);
        page.next_cursor = encode_cursor("w1:", page.items.back().id, "i");
      }
      return page;
    });
  }

  core::Result<std::optional<OutboxItem>> find(int64_t account_id, int64_t id) override {
    using R = std::optional<OutboxItem>;
    return pool_->with([&](Conn& c) -> core::Result<R> {
      auto r = c.exec(
          fmt::format("SELECT {} FROM webhook_outbox WHERE account_id = $1 AND id = $2", kColumns),
          Params::of(account_id, id), "read webhook item");
      if (!r) return r.error();
      std::vector<OutboxItem> out;
      if (auto x = read_items(*r, out); !x) return x.error();
      if (out.empty()) return R();
      return R(std::move(out.front()));
    });
  }

  core::Result<bool> retry_now(int64_t account_id, int64_t id, int64_t now_ms) override {
    return pool_->with(
        [&](Conn& c) -> core::Result<bool> {
          auto r = c.exec(
              "UPDATE webhook_outbox SET state = 'pending', next_attempt_ms = $1 "
              "WHERE account_id = $2 AND id = $3 AND state IN ('pending', 'failed')",
              Params::of(now_ms, account_id, id), "retry webhook item");
          if (!r) return r.error();
          return r->affected() == 1;
        },
        false);
  }

 private:
  // Claims due items inside the caller's transaction (see due()) into r.claimed.
  core::Result<void> claim(Conn& c, int64_t now_ms, size_t max_batches, size_t max_per_batch,
                           const std::vector<std::string>& skip_urls, OutboxRound& r) const {
    auto& out = r.claimed;
    // Oldest group first: the group whose oldest due item is oldest.
    // skip_urls: one parameter each (values are sent out of band, never spliced in). The
    // groups are chosen among the kDueWindow items due earliest: one bounded range of
    // webhook_outbox_due whatever the backlog (a GROUP BY over every due item took 10 ms per
    // claim with 20,000 due, EXPLAIN ANALYZE).
    const size_t window = std::max(kDueWindow, max_batches * max_per_batch);
    Params gp = Params::of(now_ms, static_cast<int64_t>(max_batches), static_cast<int64_t>(window));
    std::string skip;
    for (const auto& u : skip_urls) {
      gp.add(u);
      skip += fmt::format("{}${}", skip.empty() ? "" : ", ", gp.size());
    }
    auto g =
        c.exec(fmt::format("SELECT account_id, kind, url, content_type, MIN(id) AS first FROM "
                           "(SELECT id, account_id, kind, url, content_type FROM webhook_outbox "
                           "WHERE state = 'pending' AND next_attempt_ms <= $1 {} "
                           "ORDER BY next_attempt_ms LIMIT $3) w "
                           "GROUP BY account_id, kind, url, content_type ORDER BY first LIMIT $2",
                           skip.empty() ? "" : "AND url NOT IN (" + skip + ")"),
               gp, "find due webhook items");
    if (!g) return g.error();
    const Rows groups = std::move(g).value();
    if (groups.empty()) return core::ok();
    std::vector<Stmt> claims;
    for (int g = 0; g < groups.size(); ++g)
      claims.push_back(
          {fmt::format("SELECT {} FROM webhook_outbox WHERE state = 'pending' AND "
                       "next_attempt_ms <= $1 AND account_id = $2 AND kind = $3 AND url = $4 "
                       "AND content_type = $5 ORDER BY next_attempt_ms, id LIMIT $6 "
                       "FOR UPDATE SKIP LOCKED",
                       kColumns),
           Params::of(now_ms, groups.int64(g, 0), groups.view(g, 1), groups.view(g, 2),
                      groups.view(g, 3), static_cast<int64_t>(max_per_batch))});
    auto rows = c.pipeline(claims, "claim due webhook items");
    if (!rows) return rows.error();
    std::vector<int64_t> ids;
    for (const auto& rw : *rows) {
      std::vector<OutboxItem> batch;
      if (auto x = read_items(rw, batch); !x) return x.error();
      for (const auto& it : batch) ids.push_back(it.id);
      sort_by_id(batch);
      if (!batch.empty()) out.push_back(std::move(batch));
    }
    if (ids.empty()) return core::ok();
    const int64_t token = new_lease_token();
    const int64_t until = now_ms + opt_.lease_ms;
    auto lease = c.exec(
        "UPDATE webhook_outbox SET next_attempt_ms = $1, lease_owner = $3, lease_token = $4 "
        "WHERE id = ANY($2::bigint[])",
        Params::of(until, int_array(ids), opt_.owner, token), "lease webhook items");
    if (!lease) return lease.error();
    for (auto& b : out)
      for (auto& it : b) {
        it.next_attempt_ms = until;
        it.lease_owner = opt_.owner;
        it.lease_token = token;
      }
    return core::ok();
  }

  // The marks: one UPDATE over the (id, token) pairs, fenced by owner and token.
  // next_attempt_ms keeps the time it went out (the message log shows it).
  Stmt sent_stmt(const std::vector<OutboxClaim>& claims, int64_t now_ms, int code) const {
    const auto [ids, tokens] = split(claims);
    return {
        "UPDATE webhook_outbox w SET state = 'sent', attempts = attempts + 1, "
        "last_error = '', next_attempt_ms = $1, last_code = $3, lease_owner = '' "
        "FROM unnest($2::bigint[], $4::bigint[]) AS c(id, token) "
        "WHERE w.id = c.id AND w.lease_token = c.token AND w.lease_owner = $5 AND "
        "w.state = 'pending'",
        Params::of(now_ms, int_array(ids), int64_t{code}, int_array(tokens), opt_.owner)};
  }

  Stmt failed_stmt(const std::vector<OutboxClaim>& claims, int64_t next_attempt_ms,
                   const std::string& error, bool give_up, int code) const {
    const auto [ids, tokens] = split(claims);
    return {
        "UPDATE webhook_outbox w SET attempts = attempts + 1, last_error = $1, "
        "next_attempt_ms = $2, state = $3, last_code = $5, lease_owner = '' "
        "FROM unnest($4::bigint[], $6::bigint[]) AS c(id, token) "
        "WHERE w.id = c.id AND w.lease_token = c.token AND w.lease_owner = $7 AND "
        "w.state = 'pending'",
        Params::of(error, next_attempt_ms,
                   to_string(give_up ? OutboxState::failed : OutboxState::pending), int_array(ids),
                   int64_t{code}, int_array(tokens), opt_.owner)};
  }

  static std::pair<std::vector<int64_t>, std::vector<int64_t>> split(
      const std::vector<OutboxClaim>& claims) {
    std::vector<int64_t> ids, tokens;
    for (const auto& c : claims) {
      ids.push_back(c.id);
      tokens.push_back(c.token);
    }
    return {std::move(ids), std::move(tokens)};
  }

  std::shared_ptr<Pool> pool_;
  const OutboxOptions opt_;
};

}  // namespace

std::unique_ptr<Outbox> make_outbox(std::shared_ptr<Pool> pool, OutboxOptions opt) {
  return std::make_unique<PgOutbox>(std::move(pool), std::move(opt));
}

}  // namespace tern::store::pg
