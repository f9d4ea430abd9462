// The store conformance suite's fixture: every store behaviour is a TYPED_TEST over Backends,
// so each runs against SQLite and the memory backend alike, and a new backend (PostgreSQL,
// issue 12) is one more type in that list: a struct with url() (a fresh, empty store per test;
// the fixture holds one instance of it per test, so it may own that storage) and a name. Tests
// reach the store only through the contract (open_backend, Store, the repositories in a Tx,
// MessageLog, Outbox); backend-specific tests (files, WAL, migrations, query plans) live in
// sqlite_*_test.cpp. The services run on a FakeClock (clock_), so times are exact; open_again() is
// a second instance over the same storage (another process on the same file). refuse_claims(dir,
// on): a test's way to make the outbox's lease write fail (a trigger); false where there is none.
#pragma once
#include <gtest/gtest.h>
#include <sodium.h>

#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "store/backend.hpp"
#include "store/secrets.hpp"
#include "store/sqlite_db.hpp"
#include "unit/store/pg_test_server.hpp"
#include "unit/store/test_dir.hpp"

namespace tern::store::conformance {

// kBytesVerbatim: text is kept byte for byte, NUL and malformed UTF-8 included; PostgreSQL
// text cannot hold those and keeps U+FFFD in their place (store/pg_db.hpp).
// kAtomicRound: Outbox::mark_and_claim is one transaction (outbox.hpp).
struct SqliteBackend {
  static constexpr bool kBytesVerbatim = true;
  static constexpr bool kAtomicRound = true;
  static std::string url(const test::TempDir& dir) { return "sqlite:" + dir.file("tern.db"); }
  static bool refuse_claims(const test::TempDir& dir, bool on) {
    auto db = sqlite::Db::open(dir.file("tern.db"));
    if (!db) return false;
    return db
        ->exec(on ? "CREATE TRIGGER refuse_claims BEFORE UPDATE OF lease_token ON "
                    "webhook_outbox BEGIN SELECT RAISE(ABORT, 'claims refused'); END"
                  : "DROP TRIGGER refuse_claims",
               "test trigger")
        .ok();
  }
};

struct MemoryBackend {
  static constexpr bool kBytesVerbatim = true;
  static constexpr bool kAtomicRound = false;
  static std::string url(const test::TempDir&) {
    static std::atomic<int> n{0};
    return "memory:conformance-" + std::to_string(++n);
  }
  static bool refuse_claims(const test::TempDir&, bool) { return false; }
};

// A fresh schema of the shared test server per test (pg_test_server.hpp), dropped afterwards.
struct PostgresBackend {
  static constexpr bool kBytesVerbatim = false;
  static constexpr bool kAtomicRound = false;
  test::PgSchema schema;
  std::string url(const test::TempDir&) const { return schema.url(); }
  bool refuse_claims(const test::TempDir&, bool on) const {
    auto c = pg::Conn::connect(schema.url());
    if (!c) return false;
    const std::vector<std::string> sql =
        on ? std::vector<std::string>{"CREATE FUNCTION refuse_claims() RETURNS trigger "
                                      "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION "
                                      "'claims refused'; END $$",
                                      "CREATE TRIGGER refuse_claims BEFORE UPDATE OF lease_token "
                                      "ON webhook_outbox FOR EACH ROW EXECUTE FUNCTION "
                                      "refuse_claims()"}
           : std::vector<std::string>{"DROP TRIGGER refuse_claims ON webhook_outbox",
                                      "DROP FUNCTION refuse_claims()"};
    for (const auto& q : sql)
      if (!c->exec(q, "test trigger")) return false;
    return true;
  }
};

using Backends = ::testing::Types<SqliteBackend, MemoryBackend, PostgresBackend>;

struct BackendNames {
  template <class B>
  static std::string GetName(int) {
    if (std::is_same_v<B, SqliteBackend>) return "Sqlite";
    if (std::is_same_v<B, MemoryBackend>) return "Memory";
    if (std::is_same_v<B, PostgresBackend>) return "Postgres";
    return "Other";
  }
};

using KV = std::vector<std::pair<std::string, std::string>>;

inline DeliveryEvent event(int64_t t, const std::string& q, int64_t acc, const std::string& rcpt,
                           core::EventKind kind, int attempt = 0) {
  DeliveryEvent e;
  e.time_ms = t;
  e.queue_id = q;
  e.account_id = acc;
  e.recipient = rcpt;
  e.event = kind;
  e.attempt = attempt;
  return e;
}

template <class B>
class Conformance : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(secrets::init());
    url_ = kind_.url(dir_);
    backend_ = open_again();
    ASSERT_TRUE(backend_.store);
    store_ = backend_.store.get();
    log_ = backend_.messages.get();
    outbox_ = backend_.outbox.get();
  }

  // Another instance over the same storage (node_id: its cluster node id and outbox owner).
  Backend open_again(const std::string& node_id = "local",
                     int64_t outbox_lease_ms = kOutboxLeaseMs) {
    BackendOptions o;
    o.clock = &clock_;
    o.node_id = node_id;
    o.outbox_lease_ms = outbox_lease_ms;
    auto b = open_backend(url_, o);
    EXPECT_TRUE(b.ok()) << b.error().message;
    return b.ok() ? std::move(b).value() : Backend{};
  }

  int64_t account(const std::string& name) {
    auto a = store_->accounts.create(name);
    EXPECT_TRUE(a.ok()) << (a.ok() ? "" : a.error().message);
    return a.ok() ? a->account.id : 0;
  }

  // Runs f in a transaction of the store's database and returns its result.
  template <class F>
  auto in(Database::Mode mode, F&& f) {
    return in_tx(*backend_.db, mode, std::forward<F>(f));
  }

  static std::string master_key() {
    std::string k(32, '\0');
    randombytes_buf(k.data(), k.size());
    return k;
  }

  core::FakeClock clock_{1'795'000'000'000};
  test::TempDir dir_;
  B kind_;  // before the backends: its storage (a PostgreSQL schema) outlives them
  std::string url_;
  Backend backend_;
  Store* store_ = nullptr;
  MessageLog* log_ = nullptr;
  Outbox* outbox_ = nullptr;
};

// Text that means something in a PostgreSQL array literal, to SQL or to a terminal, for the
// round-trip tests: each repository stores and returns it as given. `table` names the table a
// "DROP TABLE" in it would hit.
inline std::vector<std::string> hostile_texts(const std::string& table) {
  return {R"(a "quoted", {braced} \ back\\slash)",
          "NULL",
          "",
          "{}",
          "\\",
          "\"",
          "line\nbreak\ttab",
          "'; DROP TABLE " + table + "; --",
          "caf\xc3\xa9",
          std::string(3000, ',')};
}

}  // namespace tern::store::conformance
