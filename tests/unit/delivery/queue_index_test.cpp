// QueueIndex (due order, places, the active count, memory given back) and SettingsCache
// (account 0 never loaded, one load at a time, an old copy used while a fresh one loads, a
// failed load keeps the copy and waits before the next).
#include "delivery/queue_index.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <random>
#include <set>
#include <tuple>

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

TEST(QueueIndex, BulkLoadKeepsTheOrderOfOneAddEach) {
  std::vector<queue::QueueEntry> rec = {
      entry("m1", 30),        entry("m2", 10),
      entry("m3", 30),        entry("done", std::numeric_limits<int64_t>::max()),
      entry("held", 0, true), entry("m2", 5),
      entry("m4", 10)};
  QueueIndex bulk;
  EXPECT_EQ(bulk.add_all(rec), 5u) << "nothing to deliver and a duplicate are skipped";
  EXPECT_EQ(bulk.size(), 5u);
  EXPECT_EQ(bulk.waiting_count(), 4u);
  EXPECT_EQ(bulk.find("done"), nullptr);
  EXPECT_EQ(bulk.find("held")->where, Where::held);
  EXPECT_EQ(bulk.find("m2")->due_ms, 10) << "the first of a duplicate id counts";
  EXPECT_EQ(bulk.next_due_ms(), 10);
  EXPECT_EQ(bulk.take_due(100, 10), (std::vector<std::string>{"m2", "m4", "m1", "m3"}));
  // A second bulk load adds to what is there, after it in the order of equal due times.
  EXPECT_TRUE(bulk.add(entry("late", 50)));
  EXPECT_EQ(bulk.add_all({entry("m1", 0), entry("bulk2", 50)}), 1u);
  EXPECT_EQ(bulk.take_due(100, 10), (std::vector<std::string>{"late", "bulk2"}));
  EXPECT_EQ(bulk.active_count(), 6u);
}

TEST(QueueIndex, DueTimeUpdatesAndRemovalLeaveNoStaleTurns) {
  QueueIndex ix;
  for (int i = 0; i < 10; ++i) ix.add(entry("m" + std::to_string(i), 100 + i));
  ix.move("m0", Where::waiting, 500);  // later: goes behind the others
  ix.move("m9", Where::waiting, 1);    // earlier: first
  ix.erase("m5");
  ix.move("m3", Where::held);
  ix.move("m4", Where::active);
  EXPECT_EQ(ix.waiting_count(), 7u);
  EXPECT_EQ(ix.next_due_ms(), 1);
  EXPECT_EQ(ix.take_due(1000, 100),
            (std::vector<std::string>{"m9", "m1", "m2", "m6", "m7", "m8", "m0"}));
  // A reused slot: the erased message's old turn is not handed out for its successor.
  EXPECT_TRUE(ix.add(entry("new", 2000)));
  EXPECT_TRUE(ix.take_due(1999, 10).empty());
  EXPECT_EQ(ix.next_due_ms(), 2000);
  // The same message moved many times (a stale turn each time): one turn, the latest.
  for (int i = 0; i < 5000; ++i) ix.move("new", Where::waiting, 3000 - i % 7);
  EXPECT_EQ(ix.find("new")->due_ms, 3000 - 4999 % 7);
  EXPECT_EQ(ix.take_due(10'000, 10), (std::vector<std::string>{"new"}));
  EXPECT_TRUE(ix.take_due(10'000, 10).empty());
  EXPECT_EQ(ix.next_due_ms(), std::nullopt);
}

TEST(QueueIndex, IdsOfAnyValidLengthAndManyErasures) {
  QueueIndex ix;
  const std::string longest(64, 'z');
  EXPECT_TRUE(ix.add(entry(longest, 1)));
  EXPECT_FALSE(ix.add(entry(longest, 1)));
  // Many in, most out (the id arena and the table are compacted along the way).
  for (int i = 0; i < 20'000; ++i) ASSERT_TRUE(ix.add(entry("id-" + std::to_string(i), i)));
  for (int i = 0; i < 20'000; ++i)
    if (i % 10 != 3) ix.erase("id-" + std::to_string(i));
  EXPECT_EQ(ix.size(), 2001u);
  EXPECT_NE(ix.find(longest), nullptr);
  for (int i = 0; i < 20'000; ++i)
    EXPECT_EQ(ix.find("id-" + std::to_string(i)) != nullptr, i % 10 == 3) << i;
  auto ids = ix.ids();
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 2001u);
  auto got = ix.take_due(100'000, 5);
  EXPECT_EQ(got, (std::vector<std::string>{longest, "id-3", "id-13", "id-23", "id-33"}));
}

// The index against a plain model (a map and an ordered set, the layout it replaced): random
// adds, moves, erasures and hand-outs give the same answers.
TEST(QueueIndex, MatchesAnOrderedModelUnderRandomOperations) {
  struct M {
    Where where;
    int64_t due;
    uint64_t seq;
  };
  std::map<std::string, M> model;
  std::set<std::tuple<int64_t, uint64_t, std::string>> order;
  uint64_t seq = 1;
  auto model_wait = [&](const std::string& id, int64_t due) {
    auto& m = model[id];
    if (m.where == Where::waiting) order.erase({m.due, m.seq, id});
    m = M{Where::waiting, due, seq++};
    order.insert({due, m.seq, id});
  };
  auto model_place = [&](const std::string& id, Where w) {
    auto& m = model[id];
    if (m.where == Where::waiting) order.erase({m.due, m.seq, id});
    m.where = w;
  };
  QueueIndex ix;
  std::mt19937_64 rng(11);
  int64_t now = 0;
  for (int step = 0; step < 60'000; ++step) {
    const std::string id = "q" + std::to_string(rng() % 3000);
    const int64_t due = now + static_cast<int64_t>(rng() % 500);
    switch (rng() % 6) {
      case 0:
      case 1:
        if (ix.add(entry(id, due))) {
          ASSERT_FALSE(model.count(id));
          model_wait(id, due);
        } else {
          ASSERT_TRUE(model.count(id));
        }
        break;
      case 2:
        if (model.count(id)) {
          ix.move(id, Where::waiting, due);
          model_wait(id, due);
        }
        break;
      case 3:
        if (model.count(id)) {
          const Where w = rng() % 2 ? Where::held : Where::active;
          ix.move(id, w);
          model_place(id, w);
        }
        break;
      case 4:
        ix.erase(id);
        if (model.count(id)) {
          model_place(id, Where::held);
          model.erase(id);
        }
        break;
      case 5: {
        now += static_cast<int64_t>(rng() % 50);
        const size_t n = rng() % 20;
        std::vector<std::string> want;
        while (want.size() < n && !order.empty() && std::get<0>(*order.begin()) <= now) {
          const std::string w = std::get<2>(*order.begin());
          model_place(w, Where::loading);
          want.push_back(w);
        }
        ASSERT_EQ(ix.take_due(now, n), want) << "step " << step;
        break;
      }
    }
    ASSERT_EQ(ix.size(), model.size());
    ASSERT_EQ(ix.waiting_count(), order.size());
    ASSERT_EQ(ix.next_due_ms(),
              order.empty() ? std::nullopt : std::optional<int64_t>(std::get<0>(*order.begin())));
  }
  size_t active = 0;
  for (const auto& [id, m] : model) {
    ASSERT_NE(ix.find(id), nullptr);
    EXPECT_EQ(ix.find(id)->where, m.where);
    if (m.where == Where::loading || m.where == Where::active) ++active;
  }
  EXPECT_EQ(ix.active_count(), active);
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

TEST(SettingsCache, ForgetReloadsAtOnceAndDistrustsALoadUnderWay) {
  SettingsCache c(30'000, 60'000);
  bool need = false;
  c.forget(5);  // never loaded: nothing to drop, the first get() loads
  EXPECT_EQ(c.get(5, 0, need), nullptr);
  EXPECT_TRUE(need);
  store::AccountSettings old;
  old.route = store::Route::platform;
  ASSERT_TRUE(c.loaded(5, old, 0));
  c.get(5, 100, need);
  EXPECT_FALSE(need) << "fresh for ttl";
  c.forget(5);
  EXPECT_EQ(c.get(5, 200, need), nullptr) << "the old copy is never used after a change";
  EXPECT_TRUE(need) << "the change is loaded at once";
  EXPECT_TRUE(c.loading(5));
  // The change came again while that load was under way: its result may predate it.
  c.forget(5);
  ASSERT_TRUE(c.loaded(5, old, 300));
  EXPECT_EQ(c.get(5, 300, need)->route, store::Route::platform) << "used, as the best known";
  EXPECT_TRUE(need) << "a load that may be older than the change is loaded again";
  store::AccountSettings fresh;
  fresh.route = store::Route::custom;
  ASSERT_TRUE(c.loaded(5, fresh, 400));
  EXPECT_EQ(c.get(5, 500, need)->route, store::Route::custom);
  EXPECT_FALSE(need);
}
