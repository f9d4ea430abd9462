// PostgreSQL migrations: applied once per schema even when several nodes start at the same
// moment, a no-op the second time, a database newer than the binary refused unless that version
// is declared compatible (expand-only), and the schema equivalent to SQLite's after migrating
// both (a migration added to one backend only fails here).
#include "store/pg_schema.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "store/sqlite_schema.hpp"
#include "unit/store/pg_test_server.hpp"
#include "unit/store/schema_shape.hpp"

namespace tern::store::pg {
namespace {

Conn connect(const std::string& url) {
  auto c = Conn::connect(url);
  if (!c) throw std::runtime_error(c.error().message);
  return std::move(c).value();
}

TEST(PgSchema, MigratesOnceAndThenIsANoOp) {
  test::PgSchema s;
  Conn c = connect(s.url());
  auto v0 = schema_version(c);
  ASSERT_TRUE(v0.ok()) << v0.error().message;
  EXPECT_EQ(*v0, 0);
  auto m = migrate(c);
  ASSERT_TRUE(m.ok()) << m.error().message;
  auto v = schema_version(c);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, static_cast<int64_t>(migrations().size()));
  ASSERT_TRUE(migrate(c).ok());
  auto rows = c.exec("SELECT count(*), count(DISTINCT version) FROM schema_version", "rows");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->int64(0, 0), static_cast<int64_t>(migrations().size()));
  EXPECT_EQ(rows->int64(0, 1), static_cast<int64_t>(migrations().size()));
  // The tables are in the test's schema, nowhere else.
  auto t = c.exec("SELECT count(*) FROM pg_tables WHERE tablename = 'accounts' AND schemaname = $1",
                  Params::of(s.name()), "where");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->int64(0, 0), 1);
}

TEST(PgSchema, NodesStartingTogetherApplyEachMigrationOnce) {
  test::PgSchema s;
  constexpr int kNodes = 6;
  std::vector<core::Result<void>> results(kNodes, core::ok());
  std::vector<Conn> conns;
  for (int i = 0; i < kNodes; ++i) conns.push_back(connect(s.url()));
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kNodes; ++i)
    threads.emplace_back([&, i] {
      ++ready;
      while (ready < kNodes) std::this_thread::yield();
      results[static_cast<size_t>(i)] = migrate(conns[static_cast<size_t>(i)]);
    });
  for (auto& t : threads) t.join();
  for (auto& r : results) EXPECT_TRUE(r.ok()) << r.error().message;
  Conn c = connect(s.url());
  auto rows = c.exec("SELECT count(*) FROM schema_version", "rows");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->int64(0, 0), static_cast<int64_t>(migrations().size()));
}

TEST(PgSchema, NewerDatabaseIsRefusedUnlessCompatible) {
  test::PgSchema s;
  Conn c = connect(s.url());
  ASSERT_TRUE(migrate(c).ok());
  const auto newest = static_cast<int64_t>(migrations().size());
  // A later binary added an expand-only migration: this one may keep running.
  ASSERT_TRUE(c.exec("INSERT INTO schema_version VALUES($1, $2, 0)", Params::of(newest + 1, newest),
                     "expand")
                  .ok());
  auto ok = migrate(c);
  EXPECT_TRUE(ok.ok()) << ok.error().message;
  // ... and then a contract migration: this binary must stop.
  ASSERT_TRUE(
      c.exec("INSERT INTO schema_version VALUES($1, $1, 0)", Params::of(newest + 2), "contract")
          .ok());
  auto refused = migrate(c);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, core::ErrorCode::conflict);  // as on SQLite
  EXPECT_NE(refused.error().message.find("newer than this program"), std::string::npos);
}

TEST(PgSchema, FailedMigrationLeavesTheVersionAsItWas) {
  test::PgSchema s;
  Conn c = connect(s.url());
  // Something in the way of migration 1: it fails as a whole and records nothing.
  ASSERT_TRUE(c.exec("CREATE TABLE messages(x BIGINT)", "obstacle").ok());
  auto m = migrate(c);
  ASSERT_FALSE(m.ok());
  auto v = schema_version(c);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 0);
  auto t = c.exec("SELECT to_regclass('accounts') IS NULL", "accounts");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->view(0, 0), "t");
}

TEST(PgSchema, SameSchemaAsSqlite) {
  // Same number of migrations: one added to a single list fails here first.
  ASSERT_EQ(migrations().size(), sqlite::migrations().size())
      << "a migration was added to one backend only (src/store/sqlite_schema.cpp, "
         "src/store/pg_schema.cpp)";
  auto sdb = sqlite::Db::open(":memory:");
  ASSERT_TRUE(sdb.ok());
  ASSERT_TRUE(sqlite::migrate(*sdb).ok());
  test::PgSchema s;
  Conn c = connect(s.url());
  ASSERT_TRUE(migrate(c).ok());
  const test::SchemaShape lite = test::sqlite_shape(*sdb), pg = test::pg_shape(c);
  ASSERT_GT(lite.size(), 50u);  // the shape reader sees the schema at all
  std::string only_lite, only_pg;
  for (const auto& x : lite)
    if (!pg.contains(x)) only_lite += "  " + x + "\n";
  for (const auto& x : pg)
    if (!lite.contains(x)) only_pg += "  " + x + "\n";
  EXPECT_TRUE(only_lite.empty() && only_pg.empty()) << "only in SQLite:\n"
                                                    << only_lite << "only in PostgreSQL:\n"
                                                    << only_pg;
}

TEST(PgSchema, ShapeComparisonSeesADifference) {
  // The comparison itself must notice a missing column and a missing index.
  auto sdb = sqlite::Db::open(":memory:");
  ASSERT_TRUE(sdb.ok());
  ASSERT_TRUE(sqlite::migrate(*sdb).ok());
  test::PgSchema s;
  Conn c = connect(s.url());
  ASSERT_TRUE(migrate(c).ok());
  ASSERT_TRUE(c.exec("ALTER TABLE messages ADD COLUMN extra TEXT", "extra column").ok());
  ASSERT_TRUE(c.exec("DROP INDEX messages_queue", "drop index").ok());
  const test::SchemaShape lite = test::sqlite_shape(*sdb), pg = test::pg_shape(c);
  EXPECT_TRUE(pg.contains("column messages.extra text"));
  EXPECT_FALSE(lite.contains("column messages.extra text"));
  EXPECT_TRUE(lite.contains("index messages(queue_id,rcpt_index) named messages_queue"));
  EXPECT_FALSE(pg.contains("index messages(queue_id,rcpt_index) named messages_queue"));
}

}  // namespace
}  // namespace tern::store::pg
