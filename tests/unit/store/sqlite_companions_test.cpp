// The message log on SQLite only: opening without the store's schema is refused, and every
// search the API can make is one index range (query plans). Behaviour: conformance_*.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdio>
#include <filesystem>

#include "store/backend.hpp"
#include "store/sqlite_backend.hpp"
#include "unit/store/test_dir.hpp"

namespace tern::store {
namespace {

TEST(MessageLogOpen, RefusesMissingFileAndMissingSchema) {
  test::TempDir dir;
  auto missing = open_sqlite_message_log(dir.file("nope.db"));
  ASSERT_FALSE(missing.ok());
  EXPECT_FALSE(missing.error().temporary);
  EXPECT_FALSE(std::filesystem::exists(dir.file("nope.db")));
  // A file that exists but is not a store.
  {
    FILE* f = std::fopen(dir.file("empty.db").c_str(), "w");
    std::fclose(f);
  }
  auto empty = open_sqlite_message_log(dir.file("empty.db"));
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message.find("open the store first"), std::string::npos);
}

// Issue 14.13: every search the API can make is one index range walked in page order — no scan
// of the account's rows (a recipient or bulk id that matches nothing read them all) and no sort;
// a deep cursor page is a range on the same index instead of a restart from the newest row.
TEST(SqliteMessageLog, SearchPlansUseAnIndexRangeNeverAScan) {
  test::TempDir dir;
  const std::string path = dir.file("tern.db");
  auto b = open_backend("sqlite:" + path);
  ASSERT_TRUE(b.ok()) << b.error().message;
  MessageLog* log = b->messages.get();
  auto rec = [](int64_t account, const std::string& q, int idx, const std::string& rcpt,
                int64_t t) {
    MessageRecord r;
    r.queue_id = q;
    r.rcpt_index = idx;
    r.message_id = make_message_id(q, idx);
    r.account_id = account;
    r.recipient = rcpt;
    r.created_ms = t;
    return r;
  };
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(
        log->record_accepted({rec(1, "Q" + std::to_string(i), 0, "a@x.example", 1000 + i)}).ok());
  MessageQuery first;
  first.account_id = 1;
  first.limit = 1;
  auto page = log->search(first);
  ASSERT_TRUE(page.ok());
  const std::string cursor = page->next_cursor;
  ASSERT_FALSE(cursor.empty());

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  auto plan = [&](const MessageQuery& q) {
    sqlite3_stmt* st = nullptr;
    const std::string sql = "EXPLAIN QUERY PLAN " + message_search_sql(q);
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    std::string out;
    while (sqlite3_step(st) == SQLITE_ROW)
      out += reinterpret_cast<const char*>(sqlite3_column_text(st, 3)) + std::string("\n");
    sqlite3_finalize(st);
    return out;
  };
  struct Case {
    const char* name;
    MessageQuery q;
    const char* index;
  };
  std::vector<Case> cases;
  auto add = [&](const char* name, const char* index, auto set) {
    for (bool with_cursor : {false, true}) {
      MessageQuery q;
      q.account_id = 1;
      set(q);
      if (with_cursor) q.cursor = cursor;
      cases.push_back({name, q, index});
    }
  };
  add("none", "messages_account_time", [](MessageQuery&) {});
  add("recipient", "messages_account_recipient_time",
      [](MessageQuery& q) { q.recipient = "nobody@x.example"; });
  add("bulk", "messages_account_bulk_time", [](MessageQuery& q) { q.bulk_id = "no-such-bulk"; });
  add("status", "messages_account_status_time",
      [](MessageQuery& q) { q.status = core::MessageStatus::expired; });
  // A status matches a large share of an account's rows, a recipient or a batch few: with both,
  // the walk is on the recipient's (the batch's) index and the status is a filter.
  add("recipient + status", "messages_account_recipient_time", [](MessageQuery& q) {
    q.recipient = "nobody@x.example";
    q.status = core::MessageStatus::delivered;
  });
  add("bulk + status", "messages_account_bulk_time", [](MessageQuery& q) {
    q.bulk_id = "no-such-bulk";
    q.status = core::MessageStatus::delivered;
  });
  add("time window", "messages_account_time", [](MessageQuery& q) {
    q.from_ms = 1000;
    q.to_ms = 2000;
  });
  for (const auto& c : cases) {
    const std::string p = plan(c.q);
    SCOPED_TRACE(std::string(c.name) + (c.q.cursor.empty() ? "" : " + cursor") + ":\n" + p);
    EXPECT_NE(p.find(std::string("USING INDEX ") + c.index + " "), std::string::npos);
    EXPECT_EQ(p.find("SCAN"), std::string::npos);
    EXPECT_EQ(p.find("TEMP B-TREE"), std::string::npos);
    // The cursor (or the time window) bounds the index range itself.
    if (!c.q.cursor.empty()) {
      EXPECT_NE(p.find("(created_ms,message_id)<(?,?)"), std::string::npos);
    }
  }
  sqlite3_close(db);
}

TEST(SqliteOutbox, OpenWithoutSchemaIsAClearError) {
  test::TempDir dir;
  {
    FILE* f = std::fopen(dir.file("empty.db").c_str(), "w");
    std::fclose(f);
  }
  auto r = open_sqlite_outbox(dir.file("empty.db"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("webhook_outbox"), std::string::npos);
}

}  // namespace
}  // namespace tern::store
