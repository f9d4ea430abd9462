// The tern.db truncation guard (issue 10 item 13): the decision, the marker files, and
// open_backend("sqlite:...") refusing a database whose WAL vanished after an unclean stop.
#include "store/db_guard.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

#include "store/backend.hpp"
#include "store/sqlite_db.hpp"
#include "unit/store/test_dir.hpp"

namespace tern::store {
namespace {

namespace fs = std::filesystem;
using db_guard::Verdict;

TEST(DbGuard, JudgeOnlyAMissingWalAfterAnUncleanStopIsALoss) {
  EXPECT_EQ(db_guard::judge(true, true, false), Verdict::wal_lost);
  EXPECT_EQ(db_guard::judge(true, true, true), Verdict::ok);    // crash: SQLite replays it
  EXPECT_EQ(db_guard::judge(true, false, false), Verdict::ok);  // clean stop: WAL holds nothing new
  EXPECT_EQ(db_guard::judge(false, true, false), Verdict::ok);  // no database yet
  EXPECT_EQ(db_guard::judge(false, false, false), Verdict::ok);
}

TEST(DbGuard, MarkersAndCheckOnFiles) {
  test::TempDir dir;
  const std::string db = dir.file("tern.db");
  EXPECT_TRUE(db_guard::check(db).ok());  // nothing there
  {
    auto s = open_backend("sqlite:" + db);
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  EXPECT_TRUE(fs::exists(db + "-wal")) << "the WAL is kept on close (PERSIST_WAL)";
  ASSERT_TRUE(db_guard::mark_running(db).ok());
  EXPECT_TRUE(fs::exists(db_guard::marker_path(db)));
  EXPECT_TRUE(db_guard::check(db).ok());
  fs::remove(db + "-wal");
  auto r = db_guard::check(db);
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(r.error().temporary);
  EXPECT_NE(r.error().message.find("looks truncated"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(db + "-wal"), std::string::npos);
  EXPECT_NE(r.error().message.find("--force"), std::string::npos);
  ASSERT_TRUE(db_guard::mark_clean(db).ok());
  EXPECT_FALSE(fs::exists(db_guard::marker_path(db)));
  EXPECT_TRUE(db_guard::check(db).ok());
  EXPECT_TRUE(db_guard::mark_clean(db).ok());  // idempotent
  EXPECT_TRUE(db_guard::check(":memory:").ok());
}

TEST(DbGuard, StoreRefusesToOpenUnlessForcedAndCreatesNoWal) {
  test::TempDir dir;
  const std::string db = dir.file("tern.db");
  {
    auto s = open_backend("sqlite:" + db);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE(s->store->accounts.create("kept").ok());
  }
  ASSERT_TRUE(db_guard::mark_running(db).ok());
  fs::remove(db + "-wal");
  fs::remove(db + "-shm");
  auto refused = open_backend("sqlite:" + db);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("looks truncated"), std::string::npos);
  EXPECT_FALSE(fs::exists(db + "-wal")) << "refusing must leave the evidence as it was";
  BackendOptions force;
  force.force = true;
  auto forced = open_backend("sqlite:" + db, force);
  ASSERT_TRUE(forced.ok()) << forced.error().message;
  auto accounts = forced->store->accounts.list();
  ASSERT_TRUE(accounts.ok());
  EXPECT_EQ(accounts.value().size(), 1u);  // checkpointed at the last close: nothing was lost
}

TEST(DbGuard, CompanionConnectionsUseTheRequestedSync) {
  test::TempDir dir;
  const std::string db = dir.file("tern.db");
  {
    auto s = open_backend("sqlite:" + db);
    ASSERT_TRUE(s.ok());
  }
  for (auto [sync, want] : {std::pair{sqlite::Db::Sync::full, 2}, {sqlite::Db::Sync::normal, 1}}) {
    auto c = sqlite::Db::open_companion(db, "messages", "test", sync);
    ASSERT_TRUE(c.ok()) << c.error().message;
    sqlite::Stmt st(*c, "PRAGMA synchronous");
    ASSERT_EQ(st.step(), SQLITE_ROW);
    EXPECT_EQ(st.int64(0), want);
  }
}

}  // namespace
}  // namespace tern::store
