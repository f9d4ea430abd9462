// The console's stores (issue 13) over a real SQLite file, what only SQLite has: the file holds
// only hashes of session secrets and login codes, the statistics trigger counts in the events'
// transaction and its reads are index ranges, captured raw bytes survive the file; and the
// Outbox's history (list, find, retry_now, last_code). Every behaviour of sessions, statistics
// and captured mail is in the conformance suite (conformance_sessions/stats/captured_test.cpp).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "store/backend.hpp"
#include "store/cursor.hpp"
#include "store/outbox.hpp"
#include "store/secrets.hpp"
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

// --- SQLite specifics of the console's tables (the behaviours are in conformance_*_test) ---

TEST_F(ConsoleStoreTest, TheFileHoldsOnlyHashesOfSessionSecretsAndLoginCodes) {
  auto& s = store_->sessions;
  const std::string op = secrets::sha256_hex("tern_admin_one");
  auto made = must(s.create_operator(op, kT0));
  const std::string key = must(store_->api_keys.create(acme_));
  auto mine = must(s.create_for_api_key(key, kT0));
  ASSERT_TRUE(mine);
  const std::string code = must(s.create_login_code(kT0, 10 * kMin));
  auto rows = column("SELECT id_hash FROM console_sessions ORDER BY created_ms, id_hash");
  ASSERT_EQ(rows.size(), 2u);
  std::vector<std::string> want = {secrets::sha256_hex(made.secret),
                                   secrets::sha256_hex(mine->secret)};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(rows, want);
  EXPECT_EQ(column("SELECT code_hash FROM console_login_codes")[0], secrets::sha256_hex(code));
  // No column anywhere holds a secret, a code or the API key.
  for (const std::string& secret : {made.secret, mine->secret, code, key})
    EXPECT_EQ(column("SELECT count(*) FROM console_sessions WHERE id_hash = '" + secret +
                     "' OR operator_hash = '" + secret + "'")[0] +
                  column("SELECT count(*) FROM console_login_codes WHERE code_hash = '" + secret +
                         "'")[0],
              "00");
  // The account's session names its key by id (the revocation trigger's handle).
  EXPECT_EQ(column("SELECT count(*) FROM console_sessions s JOIN api_keys k ON "
                   "k.id = s.api_key_id WHERE k.hash = '" +
                   secrets::sha256_hex(key) + "'")[0],
            "1");
}

DeliveryEvent ev(int64_t account, int64_t t, core::EventKind what) {
  DeliveryEvent e;
  e.time_ms = t;
  e.queue_id = "Q" + std::to_string(t);
  e.account_id = account;
  e.recipient = "r@example.com";
  e.event = what;
  return e;
}

TEST_F(ConsoleStoreTest, StatsTriggerCountsInTheEventsTransactionAndReadsAreIndexRanges) {
  auto& st = store_->stats;
  must(store_->events.record({ev(acme_, kT0 + 1, core::EventKind::delivered),
                              ev(acme_, kT0 + 2, core::EventKind::delivered)}));
  // A batch that a trigger refuses at its second row writes neither events nor counts.
  exec(
      "CREATE TRIGGER refuse_nope BEFORE INSERT ON delivery_events WHEN NEW.recipient = "
      "'nope@example.com' BEGIN SELECT RAISE(ABORT, 'nope'); END");
  auto nope = ev(acme_, kT0, core::EventKind::delivered);
  nope.recipient = "nope@example.com";
  EXPECT_FALSE(store_->events.record({ev(acme_, kT0 + 9, core::EventKind::delivered), nope}).ok());
  exec("DROP TRIGGER refuse_nope");
  EXPECT_EQ(must(st.hourly(acme_, kT0, kT0 + kHour))[0].n, 2);
  // The counters equal the event rows.
  EXPECT_EQ(
      column("SELECT SUM(n) FROM stats_hourly WHERE account_id = " + std::to_string(acme_))[0],
      column("SELECT count(*) FROM delivery_events WHERE account_id = " +
             std::to_string(acme_))[0]);
  // The plan is a range of the table's key or its time index, never a scan of the events.
  // (column 3 of EXPLAIN QUERY PLAN is the detail)
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  for (const char* sql :
       {"EXPLAIN QUERY PLAN SELECT hour_ms, event, SUM(n) FROM stats_hourly WHERE hour_ms >= 1 "
        "AND hour_ms < 2 GROUP BY hour_ms, event ORDER BY hour_ms, event",
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
}

TEST_F(ConsoleStoreTest, CapturedRawBytesAndRecipientsSurviveTheFile) {
  CapturedMessage m;
  m.account_id = acme_;
  m.queue_id = "QRAW";
  m.recipients = {"a@example.com", "\"odd, name\"@example.com"};
  m.raw = std::string("Subject: x\r\n\r\nbinary \0\x01\xff end\r\n", 30);
  const std::string id = must(store_->captured.add(m, kT0));
  auto got = must(store_->captured.get(acme_, id, true));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->raw, m.raw);  // embedded NULs stay data
  EXPECT_EQ(got->recipients, m.recipients);
  EXPECT_EQ(must(store_->captured.add(m, kT0 + 1)), id);  // the delivery's identity
}

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
  // Marks are fenced by the claim the sender got from due().
  auto claim_of = [&](int64_t id, int64_t now) {
    std::vector<OutboxClaim> c;
    for (const auto& b : must(box->due(now, 10, 10)))
      for (const auto& i : b)
        if (i.id == id) c.push_back({i.id, i.lease_token});
    EXPECT_EQ(c.size(), 1u);
    return c;
  };
  EXPECT_EQ(must(box->mark_failed(claim_of(m1, kT0), kT0, "POST x: 500", true, 500)), 1u);
  auto gave = must(box->find(acme_, m1));
  EXPECT_EQ(gave->state, OutboxState::failed);
  EXPECT_EQ(gave->last_code, 500);
  EXPECT_TRUE(must(box->retry_now(acme_, m1, kT0 + 5)));
  auto again = must(box->find(acme_, m1));
  EXPECT_EQ(again->state, OutboxState::pending);
  EXPECT_EQ(again->next_attempt_ms, kT0 + 5);
  EXPECT_EQ(again->attempts, 1);
  EXPECT_FALSE(must(box->retry_now(acme_, b1, kT0)));  // another account's
  EXPECT_EQ(must(box->mark_sent(claim_of(m1, kT0 + 5), kT0 + 6, 204)), 1u);
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
