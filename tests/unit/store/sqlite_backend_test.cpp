// The SQLite backend itself (what no other backend shares): the file (mode 0600, WAL), the
// schema (migrations applied once, also by processes racing on a fresh file; a newer schema
// refused; old data migrated), processes sharing the file, the SQLite result codes as error
// codes, and sealing (key_box). Every store behaviour is in the conformance suite.
#include "store/sqlite_backend.hpp"

#include <gtest/gtest.h>
#include <sodium.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "store/backend.hpp"
#include "store/key_box.hpp"
#include "store/secrets.hpp"
#include "store/sqlite_db.hpp"
#include "store/sqlite_schema.hpp"
#include "unit/store/test_dir.hpp"

namespace tern::store {
namespace {

Backend open_or_fail(const std::string& path) {
  auto b = open_backend("sqlite:" + path);
  EXPECT_TRUE(b.ok()) << b.error().message;
  return b.ok() ? std::move(b).value() : Backend{};
}

size_t count(const std::string& path, const char* table) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  std::string sql = std::string("SELECT COUNT(*) FROM ") + table;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK);
  EXPECT_EQ(sqlite3_step(st), SQLITE_ROW);
  auto n = static_cast<size_t>(sqlite3_column_int64(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

TEST(SqliteBackend, FileIsPrivateAndWal) {
  test::TempDir dir;
  const std::string path = dir.file("tern.db");
  Backend b = open_or_fail(path);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)), "wal");
  sqlite3_finalize(s);
  sqlite3_close(db);
  EXPECT_EQ(count(path, "schema_version"), sqlite::migrations().size());
}

TEST(SqliteBackend, ReopenKeepsDataAndDoesNotRemigrate) {
  test::TempDir dir;
  const std::string path = dir.file("tern.db");
  int64_t id = 0;
  {
    Backend b = open_or_fail(path);
    id = b.store->accounts.create("acme").value().account.id;
  }
  Backend again = open_or_fail(path);
  auto found = again.store->accounts.find("acme");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->id, id);
  EXPECT_EQ(count(path, "schema_version"), sqlite::migrations().size());
}

TEST(SqliteBackend, RefusesSchemaFromNewerProgram) {
  test::TempDir dir;
  const std::string path = dir.file("tern.db");
  { Backend b = open_or_fail(path); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "INSERT INTO schema_version VALUES(999)", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto s = open_backend("sqlite:" + path);
  ASSERT_FALSE(s.ok());
  EXPECT_FALSE(s.error().temporary);
  EXPECT_TRUE(s.error().is(core::ErrorCode::conflict));
  EXPECT_NE(s.error().message.find("newer"), std::string::npos);
}

// Vocabularies are parsed at the column: a record state of a status Tern never writes is
// corrupt data, not a guess.
TEST(SqliteBackend, StoredUnknownRecordStatusIsCorrupt) {
  test::TempDir dir;
  const std::string path = dir.file("tern.db");
  {
    Backend b = open_or_fail(path);
    auto acc = b.store->accounts.create("acme");
    ASSERT_TRUE(acc.ok());
    ASSERT_TRUE(b.store->domains.add(acc->account.id, "example.com", false).ok());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "INSERT INTO domain_records(account_id, domain, id, status, found, "
                         "checked_ms) VALUES(1, 'example.com', 'spf', 'okay', '', 1)",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  Backend b = open_or_fail(path);
  auto d = b.store->domains.find("example.com");
  ASSERT_FALSE(d.ok());
  EXPECT_TRUE(d.error().is(core::ErrorCode::corrupt));
}

// Cached statements (sqlite::StmtCache): the same SQL twice at once gets two statements, each
// goes back reset and without its bindings; a statement that does not prepare is not kept.
// Constraint failures: a conflict's text is ours (it reaches HTTP clients with a 409), never
// SQLite's ("UNIQUE constraint failed: t.k"); other constraints are bugs (internal, not shown).
TEST(SqliteErrors, ConstraintFailuresGetAFixedTextAndTheRightCode) {
  auto db = sqlite::Db::open(":memory:");
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(db->exec("PRAGMA foreign_keys = ON; CREATE TABLE p(k TEXT PRIMARY KEY); "
                       "CREATE TABLE t(k TEXT UNIQUE, n INTEGER NOT NULL CHECK(n > 0), "
                       "p TEXT REFERENCES p(k)); INSERT INTO t VALUES('a', 1, NULL)",
                       "seed")
                  .ok());
  struct Case {
    const char* sql;
    core::ErrorCode code;
    const char* text;  // "" = not checked (not shown to clients)
  };
  for (const Case& c :
       {Case{"INSERT INTO t VALUES('a', 1, NULL)", core::ErrorCode::conflict,
             "store: add row: it exists already"},
        Case{"INSERT INTO p VALUES('x'), ('x')", core::ErrorCode::conflict,
             "store: add row: it exists already"},
        Case{"INSERT INTO t VALUES('b', 1, 'nowhere')", core::ErrorCode::conflict,
             "store: add row: what it refers to does not exist"},
        Case{"INSERT INTO t VALUES('c', NULL, NULL)", core::ErrorCode::internal, ""},
        Case{"INSERT INTO t VALUES('d', -1, NULL)", core::ErrorCode::internal, ""}}) {
    sqlite::Stmt st(*db, c.sql);
    auto r = st.run("add row");
    ASSERT_FALSE(r.ok()) << c.sql;
    EXPECT_EQ(r.error().code, c.code) << c.sql << ": " << r.error().message;
    if (*c.text) {
      EXPECT_EQ(r.error().message, c.text) << c.sql;
    }
  }
}

TEST(StmtCache, ReuseIsResetAndNestedUseIsSeparate) {
  auto db = sqlite::Db::open(":memory:");
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(
      db->exec("CREATE TABLE t(x INTEGER); INSERT INTO t VALUES(1), (2), (3)", "seed").ok());
  sqlite::StmtCache cache(*db);
  const char* sql = "SELECT x FROM t WHERE x >= ? ORDER BY x";
  {
    sqlite::Stmt a(cache, sql);
    a.bind(1, int64_t{2});
    ASSERT_EQ(a.step(), SQLITE_ROW);
    EXPECT_EQ(a.int64(0), 2);
    sqlite::Stmt b(cache, sql);  // while a is mid-way
    b.bind(1, int64_t{1});
    ASSERT_EQ(b.step(), SQLITE_ROW);
    EXPECT_EQ(b.int64(0), 1);
    ASSERT_EQ(a.step(), SQLITE_ROW);
    EXPECT_EQ(a.int64(0), 3);  // a was not disturbed
  }
  for (int round = 0; round < 3; ++round) {
    sqlite::Stmt c(cache, sql);        // from the cache: starts from the first row, no old binding
    ASSERT_EQ(c.step(), SQLITE_DONE);  // x >= NULL: nothing
    sqlite::Stmt d(cache, sql);
    d.bind(1, int64_t{3});
    ASSERT_EQ(d.step(), SQLITE_ROW);
    EXPECT_EQ(d.int64(0), 3);
  }
  {
    sqlite::Stmt bad(cache, "SELECT nope FROM nowhere");
    EXPECT_EQ(bad.step(), SQLITE_ERROR);
  }
  ASSERT_TRUE(db->exec("CREATE TABLE nowhere(nope INTEGER)", "create").ok());
  sqlite::Stmt good(cache, "SELECT nope FROM nowhere");  // prepared again, now it works
  EXPECT_EQ(good.step(), SQLITE_DONE);
}

TEST(SqliteBackend, ResultCodesBecomeErrorCodes) {
  struct Case {
    int rc;
    core::ErrorCode code;
  };
  for (const Case& c : {Case{SQLITE_FULL, core::ErrorCode::disk_full},
                        Case{SQLITE_BUSY, core::ErrorCode::unavailable},
                        Case{SQLITE_LOCKED, core::ErrorCode::unavailable},
                        Case{SQLITE_IOERR_WRITE, core::ErrorCode::unavailable},
                        Case{SQLITE_NOMEM, core::ErrorCode::unavailable},
                        Case{SQLITE_CANTOPEN, core::ErrorCode::unavailable},
                        Case{SQLITE_CONSTRAINT_UNIQUE, core::ErrorCode::conflict},
                        Case{SQLITE_CONSTRAINT_FOREIGNKEY, core::ErrorCode::conflict},
                        Case{SQLITE_CORRUPT, core::ErrorCode::corrupt},
                        Case{SQLITE_NOTADB, core::ErrorCode::corrupt},
                        Case{SQLITE_ERROR, core::ErrorCode::internal},
                        Case{SQLITE_MISUSE, core::ErrorCode::internal}}) {
    const core::Error e = sqlite::to_error(nullptr, c.rc, "step");
    EXPECT_EQ(e.code, c.code) << sqlite3_errstr(c.rc);
    EXPECT_EQ(e.temporary, core::is_temporary(c.code)) << sqlite3_errstr(c.rc);
  }
}

TEST(SqliteBackend, UnknownUrlsAreRefused) {
  // (postgres:// is a backend of its own since issue 12: pg_backend_test.cpp.)
  for (const char* url :
       {"", "sqlite:", "postgres:/x", "mysql://localhost/tern", "file:/tmp/x", "memory"}) {
    auto b = open_backend(url);
    ASSERT_FALSE(b.ok()) << url;
    EXPECT_TRUE(b.error().is(core::ErrorCode::invalid)) << url;
  }
}

TEST(SqliteBackend, ConcurrentThreadsAndProcesses) {
  // A child process (the CLI) and this process (the server, two threads) write at once. No
  // connection may be open across fork() (SQLite's rule): the child opens its own.
  test::TempDir dir;
  const std::string path = dir.file("tern.db");
  { Backend created = open_or_fail(path); }
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto b = open_backend("sqlite:" + path);
    int bad = b.ok() ? 0 : 1;
    for (int i = 0; i < 4 && !bad; ++i)
      if (!b->store->accounts.create("child" + std::to_string(i)).ok()) bad = 1;
    _exit(bad);
  }
  Backend b = open_or_fail(path);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3; ++i) {
        auto r = b.store->accounts.create("t" + std::to_string(t) + "-" + std::to_string(i));
        if (!r.ok())
          ++failures;
        else if (b.store->credentials.verify(r->username, r->password).value() != r->account.id)
          ++failures;
      }
    });
  for (auto& th : threads) th.join();
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(b.store->accounts.list().value().size(), 10u);
}

TEST(SqliteBackend, ProcessesRacingOnAFreshFileMigrateOnce) {
  // Server and CLI started together on a new data directory: both create the schema at once.
  test::TempDir dir;
  const std::string path = dir.file("fresh.db");
  std::vector<pid_t> kids;
  for (int k = 0; k < 3; ++k) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto b = open_backend("sqlite:" + path);
      if (!b.ok()) _exit(2);
      _exit(b->store->accounts.create("p" + std::to_string(k)).ok() ? 0 : 3);
    }
    kids.push_back(pid);
  }
  for (pid_t pid : kids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  Backend b = open_or_fail(path);
  EXPECT_EQ(b.store->accounts.list().value().size(), 3u);
  EXPECT_EQ(count(path, "schema_version"), sqlite::migrations().size());
}

TEST(KeyBox, RoundTripTamperAndWrongKey) {
  ASSERT_GE(sodium_init(), 0);
  std::string k(32, 'k');
  const std::string pem = "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n";
  auto s1 = key_box::seal(k, pem);
  auto s2 = key_box::seal(k, pem);
  EXPECT_NE(s1, s2);  // random nonce per seal
  ASSERT_TRUE(key_box::is_sealed(s1));
  auto back = key_box::open(k, s1);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back.value(), pem);
  EXPECT_EQ(key_box::open("", pem).value(), pem);  // plain passes through
  EXPECT_FALSE(key_box::open("", s1).ok());
  EXPECT_FALSE(key_box::open("short", s1).ok());
  std::string other = k;
  other[31] = 'x';
  EXPECT_FALSE(key_box::open(other, s1).ok());
  // Any altered character of the encoding fails (or decodes to other bytes: the tag catches it).
  for (size_t i = key_box::kPrefix.size(); i < s1.size(); ++i) {
    std::string t = s1;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(key_box::open(k, t).ok()) << i;
  }
  for (size_t n = key_box::kPrefix.size(); n < s1.size(); n += 7)
    EXPECT_FALSE(key_box::open(k, s1.substr(0, n)).ok()) << n;
  EXPECT_FALSE(key_box::open(k, "sbx1:").ok());
  EXPECT_FALSE(key_box::open(k, "sbx1:!!!!").ok());
}

TEST(DomainMigration, SchemaOneDomainsGetTokens) {
  test::TempDir dir;
  const std::string path = dir.file("old.db");
  {
    auto db = sqlite::Db::open(path);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->exec("CREATE TABLE schema_version(version INTEGER NOT NULL)", "v").ok());
    ASSERT_TRUE(db->exec(sqlite::migrations()[0], "m1").ok());
    ASSERT_TRUE(
        db->exec("INSERT INTO schema_version VALUES(1);"
                 "INSERT INTO accounts(name, code, created_ms) VALUES('old', 'abcdefgh', 1);"
                 "INSERT INTO domains(account_id, domain, verified, created_ms) "
                 "VALUES(1, 'old.example', 1, 1), (1, 'two.example', 0, 1);",
                 "seed")
            .ok());
  }
  auto s = open_backend("sqlite:" + path);
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto d = s->store->domains.find("old.example");
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(d.value().has_value());
  EXPECT_TRUE(d.value()->verified);
  EXPECT_EQ(d.value()->dkim_mode, "direct");
  EXPECT_EQ(d.value()->token.size(), 32u);
  auto d2 = s->store->domains.find("two.example");
  ASSERT_TRUE(d2.ok());
  EXPECT_NE(d2.value()->token, d.value()->token);
}

// Migration 6 (issue 10 item 11): domains and their record states survive the rebuild into
// per-account claims; afterwards a second account may claim the same domain unverified, and
// two verified claims on one domain are impossible.
TEST(DomainMigration, SchemaFiveDomainsBecomeClaims) {
  test::TempDir dir;
  const std::string path = dir.file("v5.db");
  {
    auto db = sqlite::Db::open(path);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->exec("CREATE TABLE schema_version(version INTEGER NOT NULL)", "v").ok());
    for (size_t i = 0; i < 5; ++i) ASSERT_TRUE(db->exec(sqlite::migrations()[i], "m").ok()) << i;
    ASSERT_TRUE(
        db->exec("INSERT INTO schema_version VALUES(5);"
                 "INSERT INTO accounts(name, code, created_ms) VALUES('old', 'abcdefgh', 1);"
                 "INSERT INTO accounts(name, code, created_ms) VALUES('new', 'ijklmnop', 1);"
                 "INSERT INTO domains(account_id, domain, verified, created_ms, token) "
                 "VALUES(1, 'old.example', 1, 1, 'tok1'), (1, 'two.example', 0, 1, 'tok2');"
                 "INSERT INTO domain_records(domain, id, status, found, checked_ms) "
                 "VALUES('old.example', 'ownership', 'ok', '', 5),"
                 "('two.example', 'spf', 'wrong', 'v=spf1 -all', 6);",
                 "seed")
            .ok());
  }
  auto s = open_backend("sqlite:" + path);
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto& st = *s->store;
  auto d = st.domains.find("old.example");
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(d.value().has_value());
  EXPECT_TRUE(d.value()->verified);
  EXPECT_EQ(d.value()->token, "tok1");
  ASSERT_NE(d.value()->record("ownership"), nullptr);
  EXPECT_EQ(d.value()->record("ownership")->status, RecordStatus::ok);
  auto d2 = st.domains.find("two.example", 1);
  ASSERT_TRUE(d2.ok());
  ASSERT_TRUE(d2.value().has_value());
  ASSERT_NE(d2.value()->record("spf"), nullptr);
  EXPECT_EQ(d2.value()->record("spf")->found, "v=spf1 -all");
  // The unverified one can be claimed by another account too; the verified one cannot.
  EXPECT_TRUE(st.domains.add(2, "two.example", false).ok());
  EXPECT_FALSE(st.domains.add(2, "old.example", false).ok());
  auto both = st.domains.all();
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->size(), 3u);
  // Deleting an account takes its claims and their record states with it (foreign keys).
  ASSERT_TRUE(st.accounts.remove(1).ok());
  auto left = st.domains.all();
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ(left->front().account_id, 2);
}

}  // namespace
}  // namespace tern::store
