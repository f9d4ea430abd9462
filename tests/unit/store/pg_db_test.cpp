// The libpq layer against a real PostgreSQL 15 (tests/unit/store/pg_test_server.hpp): parameters
// out of band (what text cannot hold replaced, never cut), results, SQLSTATEs mapped to error codes
// and retry classes, transactions rolled back at scope exit, an aborted transaction's COMMIT
// reported, pipelined batches all-or-nothing with the failing statement named, statements
// prepared on their second use and sent again when a pooler (DEALLOCATE) made them vanish.
#include "store/pg_db.hpp"

#include <gtest/gtest.h>

#include "unit/store/pg_test_server.hpp"

namespace tern::store::pg {
namespace {

class PgDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Conn::connect(schema_.url());
    ASSERT_TRUE(c.ok()) << c.error().message;
    c_ = std::move(c).value();
    ASSERT_TRUE(
        c_.exec("CREATE TABLE t(id BIGINT PRIMARY KEY, name TEXT, n BIGINT)", "create").ok());
  }
  int64_t count() {
    auto r = c_.exec("SELECT count(*) FROM t", "count");
    EXPECT_TRUE(r.ok());
    return r ? r->int64(0, 0) : -1;
  }

  test::PgSchema schema_;
  Conn c_;
};

TEST(PgSqlstate, MapsToCodesAndRetryClasses) {
  using core::ErrorCode;
  EXPECT_EQ(code_for_sqlstate("23505"), ErrorCode::conflict);
  EXPECT_EQ(code_for_sqlstate("23503"), ErrorCode::conflict);
  EXPECT_EQ(code_for_sqlstate("23502"), ErrorCode::internal);
  EXPECT_EQ(code_for_sqlstate("22021"), ErrorCode::invalid);
  EXPECT_EQ(code_for_sqlstate("40001"), ErrorCode::unavailable);
  EXPECT_EQ(code_for_sqlstate("40P01"), ErrorCode::unavailable);
  EXPECT_EQ(code_for_sqlstate("08006"), ErrorCode::unavailable);
  EXPECT_EQ(code_for_sqlstate("57P01"), ErrorCode::unavailable);
  EXPECT_EQ(code_for_sqlstate("53300"), ErrorCode::unavailable);
  EXPECT_EQ(code_for_sqlstate("53100"), ErrorCode::disk_full);
  EXPECT_EQ(code_for_sqlstate("42P01"), ErrorCode::internal);
  EXPECT_EQ(code_for_sqlstate("XX001"), ErrorCode::corrupt);
  EXPECT_EQ(code_for_sqlstate(""), ErrorCode::unavailable);
  EXPECT_EQ(failure_for_sqlstate("40001"), Failure::serialization);
  EXPECT_EQ(failure_for_sqlstate("40P01"), Failure::deadlock);
  EXPECT_EQ(failure_for_sqlstate("26000"), Failure::statement_gone);
  EXPECT_EQ(code_for_sqlstate("26000"), ErrorCode::unavailable);
  EXPECT_EQ(failure_for_sqlstate("08006"), Failure::connection);
  EXPECT_EQ(failure_for_sqlstate("57P01"), Failure::connection);
  EXPECT_EQ(failure_for_sqlstate(""), Failure::connection);
  EXPECT_EQ(failure_for_sqlstate("23505"), Failure::other);
  EXPECT_EQ(failure_for_sqlstate("42601"), Failure::other);
}

TEST_F(PgDbTest, ParametersAndResults) {
  auto ins = c_.exec("INSERT INTO t VALUES($1, $2, $3), ($4, $5, $6)",
                     Params::of(1, "one", int64_t{-9'000'000'000}, 2, "x'; DROP TABLE t; --", 0),
                     "insert");
  ASSERT_TRUE(ins.ok()) << ins.error().message;
  EXPECT_EQ(ins->affected(), 2);
  auto q = c_.exec("SELECT id, name, n FROM t ORDER BY id", "select");
  ASSERT_TRUE(q.ok()) << q.error().message;
  ASSERT_EQ(q->size(), 2);
  EXPECT_EQ(q->int64(0, 0), 1);
  EXPECT_EQ(q->text(0, 1), "one");
  EXPECT_EQ(q->int64(0, 2), -9'000'000'000);
  EXPECT_EQ(q->text(1, 1), "x'; DROP TABLE t; --");  // data, never SQL
  Params p;
  p.add(3).add_null().add_null();
  ASSERT_TRUE(c_.exec("INSERT INTO t VALUES($1, $2, $3)", p, "insert null").ok());
  auto n = c_.exec("SELECT name, n FROM t WHERE id = 3", "select null");
  ASSERT_TRUE(n.ok());
  EXPECT_TRUE(n->is_null(0, 0));
  EXPECT_TRUE(n->is_null(0, 1));
  EXPECT_EQ(n->int64(0, 1), 0);
  EXPECT_EQ(c_.failure(), Failure::none);
}

TEST(PgText, WhatTextCannotHoldBecomesReplacementCharacters) {
  EXPECT_EQ(storable_text("plain ascii"), "plain ascii");
  EXPECT_EQ(storable_text("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");
  EXPECT_EQ(storable_text(std::string("a\0b", 3)),
            "a\xef\xbf\xbd"
            "b");
  EXPECT_EQ(storable_text("x\xff\xfey"), "x\xef\xbf\xbd\xef\xbf\xbdy");
  EXPECT_EQ(storable_text("\xc3"), "\xef\xbf\xbd");  // truncated sequence
  EXPECT_EQ(storable_text(""), "");
}

TEST_F(PgDbTest, TextWithNulOrBadUtf8IsStoredReplacedNeitherCutNorRefused) {
  const std::string nul("ab\0cd", 5), bad("r\xe9ply");  // Latin-1 from a remote server
  ASSERT_TRUE(
      c_.exec("INSERT INTO t VALUES(1, $1, 0), (2, $2, 0)", Params::of(nul, bad), "insert").ok());
  auto r = c_.exec("SELECT name FROM t ORDER BY id", "select");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->text(0, 0),
            "ab\xef\xbf\xbd"
            "cd");  // not "ab"
  EXPECT_EQ(r->text(1, 0), "r\xef\xbf\xbdply");
  std::vector<Stmt> batch{{"INSERT INTO t VALUES(3, $1, 0)", Params::of(nul)}};
  ASSERT_TRUE(c_.pipeline(batch, "batch").ok());
  EXPECT_EQ(count(), 3);
}

// A malformed value is invalid; a NOT NULL or CHECK violation is a bug of ours: internal (as
// on SQLite, sqlite::to_error), never shown.
TEST_F(PgDbTest, DataErrorsAreInvalidOtherIntegrityViolationsInternal) {
  auto r = c_.exec("SELECT $1::bigint", Params::of("twelve"), "cast");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::ErrorCode::invalid);
  EXPECT_EQ(c_.sqlstate(), "22P02");
  EXPECT_EQ(c_.failure(), Failure::other);
  auto n = c_.exec("INSERT INTO t VALUES(NULL, 'x', 0)", "null key");
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().code, core::ErrorCode::internal);
  EXPECT_EQ(c_.sqlstate(), "23502");
}

TEST_F(PgDbTest, UniqueViolationIsConflictAndNotRetryable) {
  ASSERT_TRUE(c_.exec("INSERT INTO t VALUES(1, 'a', 0)", "insert").ok());
  auto r = c_.exec("INSERT INTO t VALUES(1, 'b', 0)", "insert again");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::ErrorCode::conflict);
  EXPECT_FALSE(r.error().temporary);
  EXPECT_EQ(c_.sqlstate(), "23505");
  EXPECT_EQ(c_.failure(), Failure::other);
  EXPECT_EQ(r.error().message, "store: insert again: it exists already");
  EXPECT_NE(r.error().message.find("insert again"), std::string::npos);
  // The connection stays usable, and a success clears the failure.
  EXPECT_EQ(count(), 1);
  EXPECT_EQ(c_.failure(), Failure::none);
}

TEST_F(PgDbTest, OurSqlErrorsAreInternal) {
  auto r = c_.exec("SELEKT 1", "typo");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::ErrorCode::internal);
  auto u = c_.exec("SELECT * FROM no_such_table", "missing");
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.error().code, core::ErrorCode::internal);
}

TEST(PgConnect, BadUrlIsInvalidUnreachableIsUnavailable) {
  auto bad = Conn::connect("postgres://[::1");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, core::ErrorCode::invalid);
  auto bad_option = Conn::connect("postgres://127.0.0.1/x?no_such_option=1");
  ASSERT_FALSE(bad_option.ok());
  EXPECT_EQ(bad_option.error().code, core::ErrorCode::invalid);
  // Port 1 on loopback: nothing listens there.
  auto away = Conn::connect("postgres://tern@127.0.0.1:1/tern");
  ASSERT_FALSE(away.ok());
  EXPECT_EQ(away.error().code, core::ErrorCode::unavailable);
  EXPECT_TRUE(away.error().temporary);
}

TEST_F(PgDbTest, TxnRollsBackUnlessCommitted) {
  {
    Txn t(c_);
    ASSERT_TRUE(t.begin().ok());
    ASSERT_TRUE(c_.exec("INSERT INTO t VALUES(1, 'a', 0)", "insert").ok());
  }  // no commit
  EXPECT_EQ(count(), 0);
  {
    Txn t(c_);
    ASSERT_TRUE(t.begin(Txn::Isolation::serializable).ok());
    ASSERT_TRUE(c_.exec("INSERT INTO t VALUES(1, 'a', 0)", "insert").ok());
    ASSERT_TRUE(t.commit().ok());
  }
  EXPECT_EQ(count(), 1);
  EXPECT_EQ(PQtransactionStatus(c_.get()), PQTRANS_IDLE);
}

TEST_F(PgDbTest, CommitOfAnAbortedTransactionIsAnError) {
  Txn t(c_);
  ASSERT_TRUE(t.begin().ok());
  ASSERT_TRUE(c_.exec("INSERT INTO t VALUES(1, 'a', 0)", "insert").ok());
  EXPECT_FALSE(c_.exec("INSERT INTO t VALUES(1, 'b', 0)", "duplicate").ok());
  auto cm = t.commit();  // the server answers ROLLBACK, not an error
  ASSERT_FALSE(cm.ok());
  EXPECT_EQ(count(), 0);
}

TEST_F(PgDbTest, PipelineRunsABatchInOrder) {
  std::vector<Stmt> batch;
  for (int i = 0; i < 5000; ++i)
    batch.push_back(
        {"INSERT INTO t VALUES($1, $2, $3)", Params::of(i, "n" + std::to_string(i), i * 2)});
  batch.push_back({"SELECT count(*), sum(n) FROM t", {}});
  auto r = c_.pipeline(batch, "batch");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), batch.size());
  EXPECT_EQ((*r)[17].affected(), 1);
  EXPECT_EQ(r->back().int64(0, 0), 5000);
  EXPECT_EQ(r->back().int64(0, 1), 4999 * 5000);
  // The connection is back in normal mode.
  EXPECT_EQ(PQpipelineStatus(c_.get()), PQ_PIPELINE_OFF);
  EXPECT_EQ(count(), 5000);
}

TEST_F(PgDbTest, PipelineIsAllOrNothingAndNamesTheFailingStatement) {
  std::vector<Stmt> batch;
  for (int i = 0; i < 100; ++i)
    batch.push_back({"INSERT INTO t VALUES($1, 'x', 0)", Params::of(i)});
  batch[60] = {"INSERT INTO t VALUES($1, 'x', 0)", Params::of(5)};  // duplicate of statement 6
  auto r = c_.pipeline(batch, "batch");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::ErrorCode::conflict);
  EXPECT_NE(r.error().message.find("statement 61 of 100"), std::string::npos) << r.error().message;
  EXPECT_EQ(count(), 0);  // one implicit transaction: the first 60 are rolled back too
  // Inside an explicit transaction the batch is part of it.
  Txn t(c_);
  ASSERT_TRUE(t.begin().ok());
  std::vector<Stmt> ok_batch{{"INSERT INTO t VALUES(1, 'a', 0)", {}},
                             {"INSERT INTO t VALUES(2, 'b', 0)", {}}};
  ASSERT_TRUE(c_.pipeline(ok_batch, "in txn").ok());
  ASSERT_TRUE(t.commit().ok());
  EXPECT_EQ(count(), 2);
}

TEST_F(PgDbTest, LostConnectionIsAConnectionFailure) {
  auto admin = Conn::connect(test::pg_url());
  ASSERT_TRUE(admin.ok());
  const int pid = PQbackendPID(c_.get());
  ASSERT_TRUE(
      admin->exec("SELECT pg_terminate_backend($1::int, 5000)", Params::of(pid), "kill").ok());
  auto r = c_.exec("SELECT 1", "after kill");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::ErrorCode::unavailable);
  EXPECT_TRUE(r.error().temporary);
  EXPECT_EQ(c_.failure(), Failure::connection);
  EXPECT_TRUE(c_.broken());
  std::vector<Stmt> batch{{"SELECT 1", {}}};
  auto b = c_.pipeline(batch, "batch after kill");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(c_.failure(), Failure::connection);
}

// How many named statements this connection holds for sql (asked on another connection would
// not see them: pg_prepared_statements is per session).
int64_t prepared(Conn& c, const std::string& sql) {
  auto q = c.exec(
      "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'tern\\_%' AND statement = $1",
      Params::of(sql), "prepared statements");
  EXPECT_TRUE(q.ok()) << (q ? "" : q.error().message);
  return q ? q->int64(0, 0) : -1;
}

TEST(PgStatementName, IsTheConnectionsTagAndAHashOfTheText) {
  const auto a = statement_name("0a1b2c3d", "SELECT 1");
  EXPECT_EQ(a, statement_name("0a1b2c3d", "SELECT 1"));
  EXPECT_NE(a, statement_name("0a1b2c3d", "SELECT 2"));
  EXPECT_NE(a, statement_name("ffffffff", "SELECT 1"));  // another connection's
  EXPECT_EQ(a.size(), 5u + 8u + 1u + 32u);               // under NAMEDATALEN (63)
  EXPECT_EQ(a.rfind("tern_0a1b2c3d_", 0), 0u);
}

TEST_F(PgDbTest, ATextIsPreparedOnItsSecondUseAndGivesTheSameResults) {
  ASSERT_TRUE(c_.exec("INSERT INTO t VALUES(1, 'one', 10), (2, 'two', 20)", "rows").ok());
  const std::string sql = "SELECT name, n FROM t WHERE id = $1";
  auto first = c_.exec(sql, Params::of(1), "first");
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->text(0, 0), "one");
  EXPECT_EQ(prepared(c_, sql), 0);  // one use: sent unnamed
  auto second = c_.exec(sql, Params::of(2), "second");
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->text(0, 0), "two");
  EXPECT_EQ(second->int64(0, 1), 20);
  EXPECT_EQ(prepared(c_, sql), 1);
  auto third = c_.exec(sql, Params::of(1), "third");
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->text(0, 0), "one");
  EXPECT_EQ(prepared(c_, sql), 1);
}

TEST_F(PgDbTest, SeveralStatementsInOneTextAreNeverPrepared) {
  const std::string sql = "SELECT 1; SELECT 2";
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(c_.exec_script(sql, "script").ok());
  auto q = c_.exec("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%SELECT 2%'",
                   "prepared");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->int64(0, 0), 0);
}

TEST_F(PgDbTest, AtMostKMaxPreparedTextsPerConnection) {
  for (size_t i = 0; i < kMaxPrepared + 20; ++i) {
    const std::string sql = "SELECT " + std::to_string(i) + " + $1::bigint";
    for (int k = 0; k < 2; ++k) {
      auto r = c_.exec(sql, Params::of(1), "distinct text");
      ASSERT_TRUE(r.ok()) << r.error().message;
      EXPECT_EQ(r->int64(0, 0), static_cast<int64_t>(i) + 1);
    }
  }
  auto q =
      c_.exec("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'tern_%'", "prepared");
  ASSERT_TRUE(q.ok());
  EXPECT_GE(q->int64(0, 0), static_cast<int64_t>(kMaxPrepared) - 2);
  EXPECT_LE(q->int64(0, 0), static_cast<int64_t>(kMaxPrepared));
}

TEST_F(PgDbTest, AVanishedStatementOutsideATransactionIsSentAgainUnnamed) {
  ASSERT_TRUE(c_.exec("INSERT INTO t VALUES(1, 'one', 10)", "row").ok());
  const std::string sql = "UPDATE t SET n = n + $1 WHERE id = 1";
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(c_.exec(sql, Params::of(1), "bump").ok());
  ASSERT_EQ(prepared(c_, sql), 1);
  ASSERT_TRUE(c_.exec_script("DEALLOCATE ALL", "as a pooler would").ok());
  auto r = c_.exec(sql, Params::of(1), "bump");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->affected(), 1);
  EXPECT_EQ(c_.failure(), Failure::none);
  auto n = c_.exec("SELECT n FROM t WHERE id = 1", "n");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->int64(0, 0), 13);  // each bump exactly once
}

TEST_F(PgDbTest, AVanishedStatementInsideATransactionFailsAsTemporary) {
  const std::string sql = "SELECT count(*) FROM t WHERE id > $1";
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(c_.exec(sql, Params::of(0), "count").ok());
  ASSERT_TRUE(c_.exec_script("DEALLOCATE ALL", "as a pooler would").ok());
  {
    Txn txn(c_);
    ASSERT_TRUE(txn.begin().ok());
    auto r = c_.exec(sql, Params::of(0), "count");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(c_.failure(), Failure::statement_gone);
    EXPECT_EQ(r.error().code, core::ErrorCode::unavailable);
  }
  // The connection forgot its names: the text runs (and is prepared again) as new.
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(c_.exec(sql, Params::of(0), "count").ok());
  EXPECT_EQ(prepared(c_, sql), 1);
}

// Another node's migration changed a column's type under a prepared statement (0A000 "cached
// plan must not change result type"): outside a transaction the call is sent again at once;
// inside one it fails as temporary, and the text is prepared again under a new name.
TEST_F(PgDbTest, AStalePlanIsSentAgainOrFailsAsTemporaryAndIsPreparedAnew) {
  ASSERT_TRUE(c_.exec("INSERT INTO t VALUES(1, 'one', 10)", "row").ok());
  const std::string sql = "SELECT n FROM t WHERE id = $1";
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(c_.exec(sql, Params::of(1), "n").ok());
  ASSERT_EQ(prepared(c_, sql), 1);
  ASSERT_TRUE(c_.exec_script("ALTER TABLE t ALTER COLUMN n TYPE text", "migration").ok());
  auto r = c_.exec(sql, Params::of(1), "n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->text(0, 0), "10");
  EXPECT_EQ(c_.failure(), Failure::none);
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(c_.exec(sql, Params::of(1), "n").ok());
  EXPECT_EQ(prepared(c_, sql), 2);  // the stale one (old name) and the new one
  ASSERT_TRUE(
      c_.exec_script("ALTER TABLE t ALTER COLUMN n TYPE bigint USING n::bigint", "migration").ok());
  {
    Txn txn(c_);
    ASSERT_TRUE(txn.begin().ok());
    auto in = c_.exec(sql, Params::of(1), "n");
    ASSERT_FALSE(in.ok());
    EXPECT_EQ(c_.failure(), Failure::statement_gone);
    EXPECT_EQ(in.error().code, core::ErrorCode::unavailable);
  }
  // A pipeline too: sent again whole.
  ASSERT_TRUE(c_.pipeline({{sql, Params::of(1)}}, "n").ok());
  ASSERT_TRUE(c_.pipeline({{sql, Params::of(1)}}, "n").ok());
  ASSERT_TRUE(c_.exec_script("ALTER TABLE t ALTER COLUMN n TYPE text", "migration").ok());
  auto p = c_.pipeline({{sql, Params::of(1)}}, "n");
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ((*p)[0].text(0, 0), "10");
}

TEST_F(PgDbTest, APipelineWithVanishedStatementsIsSentAgainWhole) {
  const std::string ins = "INSERT INTO t VALUES($1, $2, $3)";
  auto batch = [&](int from) {
    std::vector<Stmt> b;
    for (int i = from; i < from + 3; ++i) b.push_back({ins, Params::of(i, "x", i)});
    return b;
  };
  ASSERT_TRUE(c_.pipeline(batch(1), "batch").ok());
  ASSERT_TRUE(c_.pipeline(batch(4), "batch").ok());
  ASSERT_EQ(prepared(c_, ins), 1);
  ASSERT_TRUE(c_.exec_script("DEALLOCATE ALL", "as a pooler would").ok());
  auto r = c_.pipeline(batch(7), "batch");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(count(), 9);
  auto ids = c_.exec("SELECT count(DISTINCT id), min(id), max(id) FROM t", "ids");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->int64(0, 0), 9);
  EXPECT_EQ(ids->int64(0, 1), 1);
  EXPECT_EQ(ids->int64(0, 2), 9);
}

TEST_F(PgDbTest, APrepareThatFailsInsideATransactionFailsWithItsOwnError) {
  const std::string sql = "SELECT count(*) FROM t WHERE id > $1";
  ASSERT_TRUE(c_.exec(sql, Params::of(0), "count").ok());  // first use: unnamed
  // Another session locks the table: preparing the text (its second use) has to wait.
  auto other = Conn::connect(schema_.url());
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(other->exec_script("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE", "lock").ok());
  {
    Txn txn(c_);
    ASSERT_TRUE(txn.begin().ok());
    ASSERT_TRUE(c_.exec_script("SET LOCAL lock_timeout = '200ms'", "timeout").ok());
    auto r = c_.exec(sql, Params::of(0), "count");
    ASSERT_FALSE(r.ok());
    // The lock timeout itself (temporary), not "current transaction is aborted" (25P02).
    EXPECT_EQ(c_.sqlstate(), "55P03") << r.error().message;
    EXPECT_EQ(r.error().code, core::ErrorCode::unavailable);
  }
  ASSERT_TRUE(other->exec_script("ROLLBACK", "unlock").ok());
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(c_.exec(sql, Params::of(0), "count").ok());
  EXPECT_EQ(prepared(c_, sql), 1);
}

TEST_F(PgDbTest, SchemaIsPrivateToTheTest) {
  auto other = Conn::connect(test::pg_url());  // default search_path: public
  ASSERT_TRUE(other.ok());
  auto r = other->exec("SELECT count(*) FROM t", "other schema");
  EXPECT_FALSE(r.ok());
  auto here = c_.exec("SELECT current_schema()", "schema");
  ASSERT_TRUE(here.ok());
  EXPECT_EQ(here->text(0, 0), schema_.name());
}

TEST(PgSchemaHelper, DropsItsSchema) {
  std::string name;
  {
    test::PgSchema s;
    name = s.name();
    auto c = Conn::connect(s.url());
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(c->exec("CREATE TABLE x(a BIGINT)", "create").ok());
  }
  auto c = Conn::connect(test::pg_url());
  ASSERT_TRUE(c.ok());
  auto r =
      c->exec("SELECT count(*) FROM pg_namespace WHERE nspname = $1", Params::of(name), "look");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->int64(0, 0), 0);
}

}  // namespace
}  // namespace tern::store::pg
