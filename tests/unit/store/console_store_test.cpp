// The console's stores (issue 13) over a real SQLite file: Sessions (only the hash stored,
// idle and absolute limits, the once-a-minute touch, a revoked key or deleted account ends
// its sessions, a new operator token ends operator sessions, the per-principal cap, one-time
// login codes), Stats (counters kept by the trigger with the events, per account
// and for all), Captured (scoped, idempotent, retention by count and age, cursor pages),
// and the
// Outbox's history (list, find, retry_now, last_code).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "store/backend.hpp"
#include "store/captured.hpp"
#include "store/cursor.hpp"
#include "store/outbox.hpp"
#include "store/secrets.hpp"
#include "store/sessions.hpp"
#include "store/stats.hpp"
#include "store/store.hpp"
#include "unit/store/test_dir.hpp"

namespace tern::store {
namespace {

constexpr int64_t kT0 = 1'795'348'800'000;  // 2026-11-22T12:00:00Z
constexpr int64_t kMin = 60'000;
constexpr int64_t kHour = 3'600'000;

template <class T>
T must(core::Result<T> r) {
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  if (!r.ok()) throw std::runtime_error(r.error().message);
  return std::move(r).value();
}
void must(core::Result<void> r) {
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  if (!r.ok()) throw std::runtime_error(r.error().message);
}

class ConsoleStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("tern.db");
    backend_ = must(open_backend("sqlite:" + path_));
    store_ = backend_.store.get();
    acme_ = must(store_->accounts.create("acme")).account.id;
    beta_ = must(store_->accounts.create("beta")).account.id;
  }
  void exec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
        << (err ? err : "") << " in " << sql;
    sqlite3_free(err);
    sqlite3_close(db);
  }
  // A raw look at the file, as an attacker with a copy of it would have.
  std::vector<std::string> column(const std::string& sql) {
    sqlite3* db = nullptr;
    std::vector<std::string> out;
    EXPECT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sql;
    while (sqlite3_step(st) == SQLITE_ROW)
      out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }
  test::TempDir dir_;
  std::string path_;
  Backend backend_;
  Store* store_ = nullptr;
  int64_t acme_ = 0, beta_ = 0;
};

// --- Sessions -------------------------------------------------------------------------------

TEST_F(ConsoleStoreTest, OperatorSessionStoresOnlyTheHashAndEndsWithTheToken) {
  auto s = must(Sessions::open(path_));
  const std::string op = secrets::sha256_hex("tern_admin_one");
  auto made = must(s->create_operator(op, kT0));
  EXPECT_EQ(made.secret.size(), 52u);
  EXPECT_TRUE(made.session.is_operator);
  EXPECT_EQ(made.session.expires_ms, kT0 + 12 * kHour);
  EXPECT_EQ(made.session.idle_expires_ms, kT0 + 30 * kMin);
  auto rows = column("SELECT id_hash FROM console_sessions");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], secrets::sha256_hex(made.secret));
  EXPECT_EQ(
      column("SELECT count(*) FROM console_sessions WHERE id_hash = '" + made.secret + "'")[0],
      "0");
  auto found = must(s->find(made.secret, op, kT0 + kMin));
  ASSERT_TRUE(found);
  EXPECT_TRUE(found->is_operator);
  // Another operator token (rotated file): the old sessions no longer work.
  EXPECT_FALSE(must(s->find(made.secret, secrets::sha256_hex("tern_admin_two"), kT0 + kMin)));
  EXPECT_FALSE(must(s->find(made.secret, "", kT0 + kMin)));
  // Secrets that are not ours, or almost ours.
  EXPECT_FALSE(must(s->find("", op, kT0)));
  EXPECT_FALSE(must(s->find(made.secret.substr(1) + "a", op, kT0)));
  EXPECT_FALSE(must(s->find(std::string(52, 'A'), op, kT0)));
}

TEST_F(ConsoleStoreTest, IdleAndAbsoluteLimits) {
  auto s = must(Sessions::open(path_));
  const std::string op = secrets::sha256_hex("tok");
  auto made = must(s->create_operator(op, kT0));
  // Used every 20 minutes: alive past the idle limit, until the absolute one.
  int64_t t = kT0;
  for (; t + 20 * kMin < kT0 + 12 * kHour; t += 20 * kMin)
    ASSERT_TRUE(must(s->find(made.secret, op, t + 20 * kMin))) << (t - kT0) / kMin;
  EXPECT_FALSE(must(s->find(made.secret, op, kT0 + 12 * kHour)));
  // Idle: 30 minutes without a request.
  auto idle = must(s->create_operator(op, kT0));
  EXPECT_TRUE(must(s->find(idle.secret, op, kT0 + 29 * kMin)));
  EXPECT_FALSE(must(s->find(idle.secret, op, kT0 + 29 * kMin + 30 * kMin)));
}

TEST_F(ConsoleStoreTest, LastSeenIsWrittenAtMostOnceAMinute) {
  auto s = must(Sessions::open(path_));
  const std::string op = secrets::sha256_hex("tok");
  auto made = must(s->create_operator(op, kT0));
  ASSERT_TRUE(must(s->find(made.secret, op, kT0 + 30'000)));
  EXPECT_EQ(column("SELECT last_seen_ms FROM console_sessions")[0], std::to_string(kT0));
  auto f = must(s->find(made.secret, op, kT0 + kMin));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->last_seen_ms, kT0 + kMin);
  EXPECT_EQ(f->idle_expires_ms, kT0 + kMin + 30 * kMin);
  EXPECT_EQ(column("SELECT last_seen_ms FROM console_sessions")[0], std::to_string(kT0 + kMin));
}

TEST_F(ConsoleStoreTest, AccountSessionEndsWhenItsKeyIsRevokedOrTheAccountDeleted) {
  auto s = must(Sessions::open(path_));
  const std::string key = must(store_->api_keys.create(acme_));
  const std::string other = must(store_->api_keys.create(acme_));
  auto a = must(s->create_for_api_key(key, kT0));
  auto b = must(s->create_for_api_key(other, kT0));
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(a->session.is_operator);
  EXPECT_EQ(a->session.account_id, acme_);
  ASSERT_TRUE(must(s->find(a->secret, "", kT0 + 1)));
  must(store_->api_keys.revoke(acme_, key.substr(0, 12)));
  EXPECT_FALSE(must(s->find(a->secret, "", kT0 + 2)));      // ended at once
  EXPECT_TRUE(must(s->find(b->secret, "", kT0 + 2)));       // the other key's session lives
  EXPECT_FALSE(must(s->create_for_api_key(key, kT0 + 3)));  // a revoked key makes none
  EXPECT_FALSE(must(s->create_for_api_key("tern_" + std::string(26, 'a'), kT0)));
  must(store_->accounts.remove(acme_));
  EXPECT_FALSE(must(s->find(b->secret, "", kT0 + 4)));
  EXPECT_EQ(column("SELECT count(*) FROM console_sessions")[0], "0");
}

TEST_F(ConsoleStoreTest, SessionsPerPrincipalAreCapped) {
  SessionLimits l;
  l.max_per_principal = 3;
  auto s = must(Sessions::open(path_, l));
  const std::string op = secrets::sha256_hex("tok");
  std::vector<std::string> secrets_made;
  for (int i = 0; i < 5; ++i) secrets_made.push_back(must(s->create_operator(op, kT0 + i)).secret);
  EXPECT_FALSE(must(s->find(secrets_made[0], op, kT0 + 10)));
  EXPECT_FALSE(must(s->find(secrets_made[1], op, kT0 + 10)));
  for (int i = 2; i < 5; ++i) EXPECT_TRUE(must(s->find(secrets_made[i], op, kT0 + 10))) << i;
  // An account's sessions are counted apart from the operator's.
  const std::string key = must(store_->api_keys.create(beta_));
  ASSERT_TRUE(must(s->create_for_api_key(key, kT0 + 20)));
  EXPECT_TRUE(must(s->find(secrets_made[4], op, kT0 + 21)));
}

TEST_F(ConsoleStoreTest, RemoveEndsOneSession) {
  auto s = must(Sessions::open(path_));
  const std::string op = secrets::sha256_hex("tok");
  auto a = must(s->create_operator(op, kT0));
  auto b = must(s->create_operator(op, kT0));
  must(s->remove(a.secret));
  must(s->remove("not-a-session"));
  EXPECT_FALSE(must(s->find(a.secret, op, kT0 + 1)));
  EXPECT_TRUE(must(s->find(b.secret, op, kT0 + 1)));
}

TEST_F(ConsoleStoreTest, LoginCodesWorkOnceAndExpire) {
  auto s = must(Sessions::open(path_));
  const std::string code = must(s->create_login_code(kT0, 10 * kMin));
  EXPECT_EQ(code.size(), 26u);
  EXPECT_EQ(column("SELECT code_hash FROM console_login_codes")[0], secrets::sha256_hex(code));
  EXPECT_TRUE(must(s->consume_login_code(code, kT0 + kMin)));
  EXPECT_FALSE(must(s->consume_login_code(code, kT0 + kMin)));  // once
  const std::string late = must(s->create_login_code(kT0, 10 * kMin));
  EXPECT_FALSE(must(s->consume_login_code(late, kT0 + 10 * kMin)));  // expired
  EXPECT_FALSE(must(s->consume_login_code("", kT0)));
  EXPECT_FALSE(must(s->consume_login_code(std::string(26, 'z') + "'", kT0)));
  // Another process (the CLI next to the server) sees the same codes.
  auto other = must(Sessions::open(path_));
  const std::string shared = must(other->create_login_code(kT0, 10 * kMin));
  EXPECT_TRUE(must(s->consume_login_code(shared, kT0 + 1)));
}

// --- Stats ----------------------------------------------------------------------------------

DeliveryEvent ev(int64_t account, int64_t t, core::EventKind what) {
  DeliveryEvent e;
  e.time_ms = t;
  e.queue_id = "Q" + std::to_string(t);
  e.account_id = account;
  e.recipient = "r@example.com";
  e.event = what;
  return e;
}

TEST_F(ConsoleStoreTest, StatsFollowTheEventsInTheirTransaction) {
  auto st = must(Stats::open(path_));
  must(store_->events.record({ev(acme_, kT0 + 1, core::EventKind::accepted),
                              ev(acme_, kT0 + 2, core::EventKind::delivered),
                              ev(acme_, kT0 + 3, core::EventKind::delivered),
                              ev(acme_, kT0 + kHour, core::EventKind::bounced),
                              ev(beta_, kT0 + 5, core::EventKind::delivered)}));
  auto rows = must(st->hourly(acme_, kT0, kT0 + 2 * kHour));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].hour_ms, kT0);
  EXPECT_EQ(rows[0].event, "accepted");
  EXPECT_EQ(rows[0].n, 1);
  EXPECT_EQ(rows[1].event, "delivered");
  EXPECT_EQ(rows[1].n, 2);  // beta's is not here
  EXPECT_EQ(rows[2].hour_ms, kT0 + kHour);
  EXPECT_EQ(rows[2].event, "bounced");
  // Every account (operator): summed.
  auto all = must(st->hourly(0, kT0, kT0 + kHour));
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].event, "delivered");
  EXPECT_EQ(all[1].n, 3);
  // A batch that fails writes neither events nor counts (a trigger refuses its second row).
  exec(
      "CREATE TRIGGER refuse_nope BEFORE INSERT ON delivery_events WHEN NEW.recipient = "
      "'nope@example.com' BEGIN SELECT RAISE(ABORT, 'nope'); END");
  auto nope = ev(acme_, kT0, core::EventKind::delivered);
  nope.recipient = "nope@example.com";
  EXPECT_FALSE(store_->events.record({ev(acme_, kT0 + 9, core::EventKind::delivered), nope}).ok());
  exec("DROP TRIGGER refuse_nope");
  EXPECT_EQ(must(st->hourly(acme_, kT0, kT0 + kHour))[1].n, 2);
  // Counters equal the events, row for row, after any number of batches (reopened too).
  for (int i = 0; i < 50; ++i)
    must(store_->events.record({ev(acme_, kT0 + 100 + i, core::EventKind::deferred)}));
  auto again = must(Stats::open(path_));
  int64_t counted = 0;
  for (const auto& r : must(again->hourly(acme_, 0, kT0 + 10 * kHour))) counted += r.n;
  EXPECT_EQ(std::to_string(counted),
            column("SELECT count(*) FROM delivery_events WHERE account_id = " +
                   std::to_string(acme_))[0]);
  // The plan is a range of the table's key or its time index, never a scan of the events.
  // (column 3 of EXPLAIN QUERY PLAN is the detail)
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  for (const char* sql :
       {"EXPLAIN QUERY PLAN SELECT hour_ms, event, SUM(n) FROM stats_hourly WHERE hour_ms >= 1 "
        "AND hour_ms < 2 GROUP BY hour_ms, event",
        "EXPLAIN QUERY PLAN SELECT hour_ms, event, n FROM stats_hourly WHERE account_id = 1 AND "
        "hour_ms >= 1 AND hour_ms < 2 ORDER BY hour_ms, event"}) {
    sqlite3_stmt* q = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, sql, -1, &q, nullptr), SQLITE_OK);
    std::string detail;
    while (sqlite3_step(q) == SQLITE_ROW)
      detail += reinterpret_cast<const char*>(sqlite3_column_text(q, 3)) + std::string("; ");
    sqlite3_finalize(q);
    EXPECT_NE(detail.find("USING"), std::string::npos) << detail;
    EXPECT_EQ(detail.find("delivery_events"), std::string::npos) << detail;
    EXPECT_EQ(detail.find("SCAN stats_hourly"), std::string::npos) << detail;
  }
  sqlite3_close(db);
  must(store_->accounts.remove(beta_));
  EXPECT_TRUE(must(st->hourly(beta_, 0, kT0 + kHour)).empty());
}

// --- Captured -------------------------------------------------------------------------------

CapturedMessage cap(int64_t account, const std::string& qid, int64_t t) {
  CapturedMessage m;
  m.account_id = account;
  m.queue_id = qid;
  m.recipients = {"to@example.com"};
  m.sender = "from@acme.test";
  m.header_from = "From <from@acme.test>";
  m.subject = "Subject " + qid;
  m.message_id = "<" + qid + "@acme.test>";
  m.captured_ms = t;
  m.raw = "From: from@acme.test\r\nSubject: Subject " + qid + "\r\n\r\nbody " + qid + "\r\n";
  return m;
}

TEST_F(ConsoleStoreTest, CapturedIsScopedIdempotentAndPaged) {
  auto c = must(Captured::open(path_));
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i)
    ids.push_back(must(c->add(cap(acme_, "Q" + std::to_string(i), kT0 + i), kT0 + i)));
  const std::string b = must(c->add(cap(beta_, "QB", kT0), kT0));
  // A replay of a delivery keeps one copy.
  EXPECT_EQ(must(c->add(cap(acme_, "Q3", kT0 + 99), kT0 + 99)), ids[3]);
  EXPECT_EQ(ids[0].size(), 26u);
  auto one = must(c->get(acme_, ids[2], true));
  ASSERT_TRUE(one);
  EXPECT_EQ(one->subject, "Subject Q2");
  EXPECT_EQ(one->recipients, std::vector<std::string>{"to@example.com"});
  EXPECT_NE(one->raw.find("body Q2"), std::string::npos);
  EXPECT_EQ(one->size, static_cast<int64_t>(one->raw.size()));
  EXPECT_TRUE(must(c->get(acme_, ids[2], false))->raw.empty());
  // Another account's id is not found.
  EXPECT_FALSE(must(c->get(acme_, b, true)));
  EXPECT_FALSE(must(c->get(beta_, ids[0], true)));
  // Pages: newest first, two at a time.
  std::vector<std::string> seen;
  std::string cursor;
  for (int guard = 0; guard < 10; ++guard) {
    auto p = must(c->list(acme_, 2, cursor));
    for (const auto& m : p.items) seen.push_back(m.id);
    if (p.next_cursor.empty()) break;
    cursor = p.next_cursor;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{ids[4], ids[3], ids[2], ids[1], ids[0]}));
  EXPECT_FALSE(c->list(acme_, 2, "nonsense").ok());
  EXPECT_FALSE(c->list(acme_, 0, "").ok());
  // A cursor of another list is refused, not misread.
  EXPECT_FALSE(c->list(acme_, 2, encode_cursor("w1:", 5, "i")).ok());
  EXPECT_EQ(must(c->list(beta_, 10, "")).items.size(), 1u);
  must(store_->accounts.remove(beta_));
  EXPECT_EQ(column("SELECT count(*) FROM captured WHERE id = '" + b + "'")[0], "0");
}

TEST_F(ConsoleStoreTest, CapturedRetentionByCountAndAge) {
  auto c = must(Captured::open(path_, {3, 24 * kHour}));
  for (int i = 0; i < 5; ++i) must(c->add(cap(acme_, "Q" + std::to_string(i), kT0 + i), kT0 + i));
  must(c->add(cap(beta_, "QB", kT0), kT0));
  auto p = must(c->list(acme_, 10, ""));
  ASSERT_EQ(p.items.size(), 3u);  // the newest three
  EXPECT_EQ(p.items.back().queue_id, "Q2");
  EXPECT_EQ(must(c->list(beta_, 10, "")).items.size(), 1u);  // per account
  EXPECT_EQ(must(c->prune(kT0 + 24 * kHour + 4)), 3u);       // older than a day: Q2, Q3, QB
  EXPECT_EQ(must(c->list(acme_, 10, "")).items.size(), 1u);
  must(c->add(cap(acme_, "QN", kT0 + 48 * kHour), kT0 + 48 * kHour));  // add() ages out too
  EXPECT_EQ(must(c->list(acme_, 10, "")).items.size(), 1u);
}

// --- Suppression search and bulk ------------------------------------------------------------

// --- Outbox history -------------------------------------------------------------------------

TEST_F(ConsoleStoreTest, OutboxHistoryListRetryAndCodes) {
  Outbox* box = backend_.outbox.get();
  auto item = [](int64_t account, const std::string& mid) {
    OutboxItem it;
    it.account_id = account;
    it.kind = OutboxKind::report;
    it.url = "https://hooks.example.com/r";
    it.content_type = "application/json";
    it.message_id = mid;
    it.item = "{}";
    return it;
  };
  must(box->enqueue({item(acme_, "m1"), item(acme_, "m2"), item(beta_, "b1"), item(acme_, "m3")},
                    kT0));
  auto page = must(box->list(acme_, 2, ""));
  ASSERT_EQ(page.items.size(), 2u);
  EXPECT_EQ(page.items[0].message_id, "m3");  // newest first
  ASSERT_FALSE(page.next_cursor.empty());
  auto rest = must(box->list(acme_, 2, page.next_cursor));
  ASSERT_EQ(rest.items.size(), 1u);
  EXPECT_EQ(rest.items[0].message_id, "m1");
  EXPECT_TRUE(rest.next_cursor.empty());
  EXPECT_FALSE(box->list(acme_, 2, "bogus").ok());
  const int64_t m1 = rest.items[0].id;
  const int64_t b1 = must(box->list(beta_, 10, "")).items[0].id;
  EXPECT_FALSE(must(box->find(acme_, b1)));  // scoped
  // Give m1 up, then retry it: pending again, due now, attempts kept.
  must(box->mark_failed({m1}, kT0, "POST x: 500", true, 500));
  auto gave = must(box->find(acme_, m1));
  EXPECT_EQ(gave->state, OutboxState::failed);
  EXPECT_EQ(gave->last_code, 500);
  EXPECT_TRUE(must(box->retry_now(acme_, m1, kT0 + 5)));
  auto again = must(box->find(acme_, m1));
  EXPECT_EQ(again->state, OutboxState::pending);
  EXPECT_EQ(again->next_attempt_ms, kT0 + 5);
  EXPECT_EQ(again->attempts, 1);
  EXPECT_FALSE(must(box->retry_now(acme_, b1, kT0)));  // another account's
  must(box->mark_sent({m1}, kT0 + 6, 204));
  EXPECT_EQ(must(box->find(acme_, m1))->last_code, 204);
  EXPECT_FALSE(must(box->retry_now(acme_, m1, kT0 + 7)));  // sent already
}

TEST(CursorTest, RoundTripAndRefusals) {
  const auto c = encode_cursor("c1:", 1795348800000, "abc");
  auto d = decode_cursor("c1:", c);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->first, 1795348800000);
  EXPECT_EQ(d->second, "abc");
  EXPECT_FALSE(decode_cursor("w1:", c));
  EXPECT_FALSE(decode_cursor("c1:", c + "="));
  EXPECT_FALSE(decode_cursor("c1:", ""));
  EXPECT_FALSE(decode_cursor("c1:", std::string(600, 'a')));
  EXPECT_FALSE(decode_cursor("c1:", encode_cursor("c1:", 1, "")));
  EXPECT_FALSE(decode_cursor("c1:", encode_cursor("c1:", -1, "x")));
  EXPECT_FALSE(decode_cursor("c1:", "YzE6MDAwMDphYmM"));  // "c1:0000:abc": not encode's form
  EXPECT_TRUE(decode_cursor("c1:", encode_cursor("c1:", 0, "abc")));
  // Bytes outside the alphabet (libsodium alone would decode 0xff to something).
  EXPECT_FALSE(decode_cursor(
      "c1:", std::string("YzE6MTc5NTM0ODgwMDAwMDpzE6MT\xff\xff\xff\xedM0ODgwMDhYmM")));
}

}  // namespace
}  // namespace tern::store
