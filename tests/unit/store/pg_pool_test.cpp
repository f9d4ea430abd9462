// The connection pool against a real PostgreSQL 15: bounded size, broken connections replaced,
// and the retry rules of transact(): serialization failures, deadlocks and connections lost
// before COMMIT are retried (the failed attempt leaves nothing behind); other errors are not.
#include "store/pg_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "unit/store/pg_test_server.hpp"

namespace tern::store::pg {
namespace {

class PgPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = Pool::open(schema_.url(),
                        Pool::Options{.size = 4, .acquire_timeout_ms = 300, .retries = 4});
    ASSERT_TRUE(p.ok()) << p.error().message;
    pool_ = std::move(p).value();
    auto a = Conn::connect(schema_.url());
    ASSERT_TRUE(a.ok());
    admin_ = std::move(a).value();
    ASSERT_TRUE(
        admin_.exec("CREATE TABLE t(id BIGINT PRIMARY KEY, v BIGINT NOT NULL)", "create").ok());
    ASSERT_TRUE(admin_.exec("INSERT INTO t VALUES(1, 0), (2, 0)", "rows").ok());
  }
  int64_t value(int id) {
    auto r = admin_.exec("SELECT v FROM t WHERE id = $1", Params::of(id), "value");
    EXPECT_TRUE(r.ok());
    return r ? r->int64(0, 0) : -1;
  }

  test::PgSchema schema_;
  Conn admin_;
  std::unique_ptr<Pool> pool_;
};

TEST(PgPoolOpen, FailsFastOnAWrongUrl) {
  auto p = Pool::open("postgres://tern@127.0.0.1:1/tern");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, core::ErrorCode::unavailable);
}

TEST_F(PgPoolTest, AtMostSizeConnectionsThenUnavailable) {
  std::vector<Pool::Lease> held;
  for (int i = 0; i < 4; ++i) {
    auto l = pool_->acquire();
    ASSERT_TRUE(l.ok()) << l.error().message;
    held.push_back(std::move(l).value());
  }
  auto fifth = pool_->acquire();
  ASSERT_FALSE(fifth.ok());
  EXPECT_EQ(fifth.error().code, core::ErrorCode::unavailable);
  held.pop_back();
  auto again = pool_->acquire();
  ASSERT_TRUE(again.ok());
  // Every pooled connection is in the test's schema.
  auto r = again->conn().exec("SELECT current_schema()", "schema");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->text(0, 0), schema_.name());
}

TEST_F(PgPoolTest, AWaiterGetsTheConnectionAReleaseFrees) {
  std::vector<Pool::Lease> held;
  for (int i = 0; i < 4; ++i) held.push_back(std::move(pool_->acquire()).value());
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    auto l = pool_->acquire();
    got = l.ok();
  });
  held.pop_back();
  waiter.join();
  EXPECT_TRUE(got);
}

TEST_F(PgPoolTest, BrokenConnectionsAreReplaced) {
  // Kill the pool's idle connection: the next transaction fails on it, is retried on a new
  // one and succeeds.
  int pid = 0;
  {
    auto l = pool_->acquire();
    ASSERT_TRUE(l.ok());
    pid = PQbackendPID(l->conn().get());
  }
  ASSERT_EQ(pool_->idle(), 1u);
  ASSERT_TRUE(
      admin_.exec("SELECT pg_terminate_backend($1::int, 5000)", Params::of(pid), "kill").ok());
  int attempts = 0, used_pid = 0;
  auto r = pool_->transact([&](Conn& c) -> core::Result<int64_t> {
    ++attempts;
    used_pid = PQbackendPID(c.get());
    auto u = c.exec("UPDATE t SET v = v + 1 WHERE id = 1 RETURNING v", "bump");
    if (!u) return u.error();
    return u->int64(0, 0);
  });
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, 1);
  EXPECT_EQ(value(1), 1);
  // BEGIN failed on the dead connection; fn ran once, on a new one.
  EXPECT_EQ(attempts, 1);
  EXPECT_NE(used_pid, pid);
}

TEST_F(PgPoolTest, ConnectionLostBeforeCommitIsRetriedAndTheFirstAttemptLeavesNothing) {
  int attempts = 0;
  auto r = pool_->transact([&](Conn& c) -> core::Result<void> {
    ++attempts;
    if (auto u = c.exec("UPDATE t SET v = v + 100 WHERE id = 2", "bump"); !u) return u.error();
    if (attempts == 1) {
      // The connection dies in the middle of the transaction.
      auto k = admin_.exec("SELECT pg_terminate_backend($1::int, 5000)",
                           Params::of(PQbackendPID(c.get())), "kill");
      EXPECT_TRUE(k.ok());
    }
    if (auto u = c.exec("UPDATE t SET v = v + 1 WHERE id = 2", "bump again"); !u) return u.error();
    return core::ok();
  });
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(value(2), 101);  // once, not twice
}

TEST_F(PgPoolTest, SerializationFailureIsRetried) {
  int attempts = 0;
  auto r = pool_->transact(
      [&](Conn& c) -> core::Result<void> {
        ++attempts;
        if (auto s = c.exec("SELECT v FROM t WHERE id = 1", "snapshot"); !s) return s.error();
        if (attempts == 1) {
          // Another client changes the row after this transaction's snapshot.
          EXPECT_TRUE(admin_.exec("UPDATE t SET v = v + 1 WHERE id = 1", "concurrent").ok());
        }
        if (auto u = c.exec("UPDATE t SET v = v + 10 WHERE id = 1", "update"); !u) return u.error();
        return core::ok();
      },
      {.isolation = Txn::Isolation::repeatable_read});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(value(1), 11);
}

TEST_F(PgPoolTest, DeadlockIsRetried) {
  // Two transactions lock rows 1 and 2 in opposite orders and meet in the middle: PostgreSQL
  // aborts one (40P01 after deadlock_timeout); the pool runs it again and both succeed.
  std::atomic<int> arrived{0}, attempts{0};
  auto worker = [&](int first, int second) {
    bool waited = false;
    return pool_->transact([&, first, second](Conn& c) -> core::Result<void> {
      ++attempts;
      if (auto u = c.exec("UPDATE t SET v = v + 1 WHERE id = $1", Params::of(first), "first"); !u)
        return u.error();
      if (!waited) {
        waited = true;
        ++arrived;
        while (arrived < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      if (auto u = c.exec("UPDATE t SET v = v + 1 WHERE id = $1", Params::of(second), "second"); !u)
        return u.error();
      return core::ok();
    });
  };
  core::Result<void> a = core::ok(), b = core::ok();
  std::thread ta([&] { a = worker(1, 2); });
  std::thread tb([&] { b = worker(2, 1); });
  ta.join();
  tb.join();
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(attempts, 3);  // one of the two ran twice
  EXPECT_EQ(value(1), 2);
  EXPECT_EQ(value(2), 2);
}

TEST_F(PgPoolTest, AVanishedPreparedStatementIsRetriedWithTheWholeTransaction) {
  auto p = Pool::open(schema_.url(), Pool::Options{.size = 1, .retries = 4});
  ASSERT_TRUE(p.ok());
  const std::string sql = "UPDATE t SET v = v + $1 WHERE id = 1";
  for (int i = 0; i < 2; ++i)  // the second use prepares it on the pool's one connection
    ASSERT_TRUE((*p)->transact([&](Conn& c) -> core::Result<void> {
                      auto r = c.exec(sql, Params::of(1), "bump");
                      if (!r) return r.error();
                      return core::ok();
                    })
                    .ok());
  int attempts = 0;
  auto r = (*p)->transact([&](Conn& c) -> core::Result<void> {
    if (++attempts == 1) {
      // As a transaction-mode pooler would: the session's statements are gone.
      auto d = c.exec_script("DEALLOCATE ALL", "deallocate");
      if (!d) return d.error();
    }
    auto u = c.exec(sql, Params::of(10), "bump");
    if (!u) return u.error();
    return core::ok();
  });
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(value(1), 12);  // 1 + 1 + 10: the failed attempt left nothing
}

TEST_F(PgPoolTest, OtherErrorsAreNotRetried) {
  int attempts = 0;
  auto r = pool_->transact([&](Conn& c) -> core::Result<void> {
    ++attempts;
    if (auto u = c.exec("INSERT INTO t VALUES(1, 0)", "duplicate"); !u) return u.error();
    return core::ok();
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::ErrorCode::conflict);
  EXPECT_EQ(attempts, 1);
  // An error of the caller's own (no statement failed) is not retried either.
  attempts = 0;
  auto own = pool_->transact([&](Conn& c) -> core::Result<void> {
    ++attempts;
    if (auto u = c.exec("UPDATE t SET v = 7 WHERE id = 1", "update"); !u) return u.error();
    return core::Error::invalid("no");
  });
  ASSERT_FALSE(own.ok());
  EXPECT_EQ(attempts, 1);
  EXPECT_EQ(value(1), 0);  // rolled back
}

}  // namespace
}  // namespace tern::store::pg
