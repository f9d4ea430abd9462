// QueueIndex (due order, places, the active count, memory given back) and SettingsCache
// (account 0 never loaded, one load at a time, an old copy used while a fresh one loads, a
// failed load keeps the copy and waits before the next).
#include "delivery/queue_index.hpp"

#include <gtest/gtest.h>

#include "delivery/settings_cache.hpp"

using namespace tern;
using namespace tern::delivery;
using Where = QueueIndex::Where;

namespace {
queue::QueueEntry entry(std::string id, int64_t due, bool held = false) {
  return queue::QueueEntry{std::move(id), 7, 1000, due, held};
}
}  // namespace

TEST(QueueIndex, HandsOutWaitingMessagesByDueTimeThenArrival) {
  QueueIndex ix;
  EXPECT_TRUE(ix.add(entry("b", 50)));
  EXPECT_TRUE(ix.add(entry("a", 50)));
  EXPECT_TRUE(ix.add(entry("c", 10)));
  EXPECT_TRUE(ix.add(entry("h", 0, true)));
  EXPECT_FALSE(ix.add(entry("a", 0))) << "known already";
  EXPECT_EQ(ix.next_due_ms(), 10);
  EXPECT_TRUE(ix.take_due(9, 10).empty());
  EXPECT_EQ(ix.take_due(50, 2), (std::vector<std::string>{"c", "b"}));
  EXPECT_EQ(ix.active_count(), 2u);
  EXPECT_EQ(ix.find("c")->where, Where::loading);
  EXPECT_EQ(ix.take_due(1000, 10), (std::vector<std::string>{"a"})) << "never the held one";
  ix.move("c", Where::active);
  ix.move("b", Where::waiting, 70);
  EXPECT_EQ(ix.active_count(), 2u);  // c (active) and a (loading)
  EXPECT_EQ(ix.next_due_ms(), 70);
  ix.erase("a");
  ix.erase("nosuch");
  EXPECT_EQ(ix.active_count(), 1u);
  EXPECT_EQ(ix.size(), 3u);
  ix.move("h", Where::waiting, 5);
  EXPECT_EQ(ix.take_due(100, 10), (std::vector<std::string>{"h", "b"}));
  for (const auto& id : ix.ids()) ix.erase(id);
  EXPECT_EQ(ix.size(), 0u);
  EXPECT_EQ(ix.active_count(), 0u);
  ix.shrink_if_empty();
  EXPECT_EQ(ix.next_due_ms(), std::nullopt);
  EXPECT_TRUE(ix.add(entry("again", 1)));
}

TEST(SettingsCache, LoadsAheadAndKeepsACopyThroughFailures) {
  SettingsCache c(30'000, 60'000);
  bool need = true;
  EXPECT_NE(c.get(0, 0, need), nullptr) << "account 0: defaults";
  EXPECT_FALSE(need);
  EXPECT_EQ(c.get(5, 0, need), nullptr);
  EXPECT_TRUE(need);
  EXPECT_TRUE(c.loading(5));
  EXPECT_EQ(c.get(5, 1, need), nullptr);
  EXPECT_FALSE(need) << "one load at a time";
  store::AccountSettings s;
  s.route = store::Route::custom;
  EXPECT_TRUE(c.loaded(5, s, 10));
  const store::AccountSettings* got = c.get(5, 20, need);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->route, store::Route::custom);
  EXPECT_FALSE(need);
  got = c.get(5, 30'010, need);  // old: used, and reloaded beside
  ASSERT_NE(got, nullptr);
  EXPECT_TRUE(need);
  EXPECT_TRUE(c.loaded(5, core::Error::temp("locked"), 30'020)) << "the copy stays";
  EXPECT_EQ(c.get(5, 30'030, need)->route, store::Route::custom);
  EXPECT_FALSE(need) << "after a failure: wait before the next load";
  c.get(5, 90'020, need);
  EXPECT_TRUE(need);
  // No copy and a failed load: nothing to use, and no new load before retry_ms.
  EXPECT_EQ(c.get(6, 0, need), nullptr);
  EXPECT_FALSE(c.loaded(6, core::Error::temp("locked"), 0));
  EXPECT_EQ(c.get(6, 59'999, need), nullptr);
  EXPECT_FALSE(need);
  EXPECT_FALSE(c.loading(6));
  c.get(6, 60'000, need);
  EXPECT_TRUE(need);
}
