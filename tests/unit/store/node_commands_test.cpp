// store/node_commands.hpp and store/auth_counts.hpp: the same behaviour from the memory store
// and PostgreSQL (two "nodes" = two backends with their own pools over one fresh schema).
#include "store/node_commands.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "store/auth_counts.hpp"
#include "store/pg_backend.hpp"
#include "unit/store/pg_test_server.hpp"

namespace tern::store {
namespace {

// Two handles on one table: the nodes' views.
struct MemoryStores {
  std::shared_ptr<MemoryNodeCommands> cmds = std::make_shared<MemoryNodeCommands>();
  std::shared_ptr<MemoryAuthCountStore> counts = std::make_shared<MemoryAuthCountStore>();
  NodeCommands& commands(int) { return *cmds; }
  AuthCountStore& auth(int) { return *counts; }
};

struct PgStores {
  test::PgSchema schema;
  PgParts a, b;
  PgStores() {
    auto open = [&](const char* id) {
      auto p = open_pg_backend(schema.url(), PgOptions{.pool_size = 4, .node_id = id});
      EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
      return p.ok() ? std::move(p).value() : PgParts{};
    };
    a = open("n1");
    b = open("n2");
  }
  NodeCommands& commands(int i) { return *(i == 0 ? a : b).node_commands; }
  AuthCountStore& auth(int i) { return *(i == 0 ? a : b).auth_counts; }
};

template <class S>
class NodeStores : public ::testing::Test {
 protected:
  S s;
};

struct Names {
  template <class T>
  static std::string GetName(int) {
    return std::is_same_v<T, MemoryStores> ? "Memory" : "Postgres";
  }
};
using Kinds = ::testing::Types<MemoryStores, PgStores>;
TYPED_TEST_SUITE(NodeStores, Kinds, Names);

NodeCommand cmd(const std::string& node, const std::string& q, int64_t t) {
  NodeCommand c;
  c.node_id = node;
  c.command = "hold";
  c.queue_id = q;
  c.args = R"({"ids":[")" + q + R"("]})";
  c.created_ms = t;
  return c;
}

TYPED_TEST(NodeStores, ACommandReachesOnlyItsNodeAndFinishesOnce) {
  auto& one = this->s.commands(0);
  auto& two = this->s.commands(1);
  const int64_t a = two.enqueue(cmd("n1", "Q1", 1000)).value();
  const int64_t b = two.enqueue(cmd("n2", "Q2", 1001)).value();
  const int64_t c = one.enqueue(cmd("n1", "Q3", 1002)).value();
  EXPECT_LT(a, c);
  auto mine = one.pending("n1", 10).value();
  ASSERT_EQ(mine.size(), 2u);
  EXPECT_EQ(mine[0].id, a);
  EXPECT_EQ(mine[0].queue_id, "Q1");
  EXPECT_EQ(mine[0].args, R"({"ids":["Q1"]})");
  EXPECT_EQ(mine[0].created_ms, 1000);
  EXPECT_EQ(mine[0].state, "pending");
  EXPECT_EQ(mine[1].id, c);
  EXPECT_EQ(one.pending("n1", 1).value().size(), 1u);
  EXPECT_EQ(two.pending("n2", 10).value().at(0).id, b);
  EXPECT_TRUE(one.pending("n3", 10).value().empty());
  EXPECT_TRUE(one.finish(a, "done", R"({"count":1})", 2000).value());
  EXPECT_FALSE(two.finish(a, "failed", "{}", 2001).value());  // once
  auto got = two.get(a).value();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->state, "done");
  EXPECT_EQ(got->result, R"({"count":1})");
  EXPECT_EQ(got->done_ms, 2000);
  EXPECT_EQ(one.pending("n1", 10).value().size(), 1u);
  EXPECT_FALSE(one.get(999'999).value());
  EXPECT_FALSE(one.enqueue(cmd("", "Q", 1)).ok());
}

TYPED_TEST(NodeStores, StaleCommandsExpireAndFinishedOnesAreTrimmed) {
  auto& c = this->s.commands(0);
  const int64_t old = c.enqueue(cmd("n1", "OLD", 1000)).value();
  const int64_t other = c.enqueue(cmd("n2", "OTHER", 1000)).value();
  const int64_t fresh = c.enqueue(cmd("n1", "NEW", 5000)).value();
  EXPECT_EQ(c.expire("n1", 2000, 6000).value(), 1u);
  EXPECT_EQ(c.get(old).value()->state, "expired");
  EXPECT_EQ(c.get(other).value()->state, "pending");        // another node's: its own business
  EXPECT_FALSE(c.finish(old, "done", "{}", 6001).value());  // too late to run
  EXPECT_EQ(c.trim(6000).value(), 1u);                      // old went, pending ones stay
  EXPECT_FALSE(c.get(old).value());
  EXPECT_TRUE(c.get(other).value());
  EXPECT_TRUE(c.get(fresh).value());
}

TYPED_TEST(NodeStores, AuthCountsSwapOnlyFromWhatWasRead) {
  auto& one = this->s.auth(0);
  auto& two = this->s.auth(1);
  EXPECT_FALSE(one.get("smtp:192.0.2.1").value());
  const AuthCountRow first{1, 1000, 0};
  EXPECT_TRUE(one.swap("smtp:192.0.2.1", std::nullopt, first).value());
  EXPECT_FALSE(two.swap("smtp:192.0.2.1", std::nullopt, first).value());  // exists now
  EXPECT_EQ(two.get("smtp:192.0.2.1").value(), first);
  const AuthCountRow second{2, 1000, 0};
  EXPECT_TRUE(two.swap("smtp:192.0.2.1", first, second).value());
  EXPECT_FALSE(one.swap("smtp:192.0.2.1", first, AuthCountRow{2, 1000, 0}).value());  // stale
  EXPECT_EQ(one.get("smtp:192.0.2.1").value(), second);
  // Keys are bytes the limiter made: a username may hold anything.
  const std::string odd = std::string("smtp:192.0.2.1\nbob\xff") + "%_";
  EXPECT_TRUE(one.swap(odd, std::nullopt, first).value());
  EXPECT_TRUE(one.get(odd).value());
  ASSERT_TRUE(one.erase(odd).ok());
  EXPECT_FALSE(two.get(odd).value());
}

TYPED_TEST(NodeStores, AuthCountsLiveAndTrimByPrefixAndTime) {
  auto& c = this->s.auth(0);
  ASSERT_TRUE(c.swap("smtp:a", std::nullopt, {1, 1000, 0}).value());      // window old
  ASSERT_TRUE(c.swap("smtp:b", std::nullopt, {10, 1000, 9000}).value());  // blocked
  ASSERT_TRUE(c.swap("smtp:c", std::nullopt, {2, 5000, 0}).value());      // counting
  ASSERT_TRUE(c.swap("login:d", std::nullopt, {2, 5000, 0}).value());     // other prefix
  ASSERT_TRUE(c.swap("smtpx:e", std::nullopt, {2, 5000, 0}).value());     // not "smtp:"
  auto live = c.live("smtp:", 6000, 4000, 100).value();
  ASSERT_EQ(live.size(), 2u);
  EXPECT_EQ(live[0].first, "smtp:c");  // the newest window first
  EXPECT_EQ(live[1].first, "smtp:b");
  EXPECT_EQ(live[1].second, (AuthCountRow{10, 1000, 9000}));
  EXPECT_EQ(c.live("smtp:", 6000, 4000, 1).value().size(), 1u);
  EXPECT_EQ(c.trim(6000, 4000).value(), 1u);  // smtp:a
  EXPECT_FALSE(c.get("smtp:a").value());
  EXPECT_EQ(c.trim(9000, 6000).value(), 4u);
}

TYPED_TEST(NodeStores, ConcurrentCompareAndSetCountsEveryIncrement) {
  std::atomic<int> done{0};
  auto bump = [&](AuthCountStore& c) {
    for (int i = 0; i < 20; ++i) {
      for (;;) {
        auto cur = c.get("smtp:hot").value();
        AuthCountRow next = cur.value_or(AuthCountRow{0, 1, 0});
        ++next.failures;
        if (c.swap("smtp:hot", cur, next).value()) break;
      }
      ++done;
    }
  };
  std::thread t1(bump, std::ref(this->s.auth(0))), t2(bump, std::ref(this->s.auth(1)));
  t1.join();
  t2.join();
  EXPECT_EQ(done.load(), 40);
  EXPECT_EQ(this->s.auth(0).get("smtp:hot").value()->failures, 40);
}

}  // namespace
}  // namespace tern::store
