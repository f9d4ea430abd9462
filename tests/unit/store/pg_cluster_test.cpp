// The cluster seam on PostgreSQL (store/pg_cluster.cpp): two nodes (two backends with their own
// pools and ids) over one fresh schema: one lease holder at a time with fencing tokens that grow
// with every new holding, one check-in per node id at a time, and one change feed.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "store/pg_backend.hpp"
#include "unit/store/pg_test_server.hpp"

namespace tern::store {
namespace {

PgParts open_node(const std::string& url, const std::string& id) {
  auto p = open_pg_backend(
      url, PgOptions{.pool_size = 4, .node_id = id, .lease_clock = PgOptions::LeaseClock::caller});
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
  return p.ok() ? std::move(p).value() : PgParts{};
}

TEST(PgCluster, OneHolderAtATimeAndTokensGrowWithEveryNewHolding) {
  test::PgSchema s;
  PgParts a = open_node(s.url(), "node-a"), b = open_node(s.url(), "node-b");
  ASSERT_TRUE(a.cluster && b.cluster);
  auto la = a.cluster->acquire("retention", 1000, 500);
  ASSERT_TRUE(la.ok() && la->has_value());
  EXPECT_EQ((*la)->holder, "node-a");
  EXPECT_EQ((*la)->expires_ms, 1500);
  auto lb = b.cluster->acquire("retention", 1100, 500);  // held by a: refused
  ASSERT_TRUE(lb.ok());
  EXPECT_FALSE(lb->has_value());
  auto renewed = a.cluster->acquire("retention", 1200, 500);
  ASSERT_TRUE(renewed.ok() && renewed->has_value());
  EXPECT_EQ((*renewed)->token, (*la)->token);
  EXPECT_EQ((*renewed)->expires_ms, 1700);
  auto taken = b.cluster->acquire("retention", 1700, 500);  // expired: b's, a new token
  ASSERT_TRUE(taken.ok() && taken->has_value());
  EXPECT_EQ((*taken)->holder, "node-b");
  EXPECT_GT((*taken)->token, (*la)->token);
  // a's stale release changes nothing; b's own release frees it for a, with a newer token.
  ASSERT_TRUE(a.cluster->release("retention", (*la)->token).ok());
  EXPECT_FALSE(a.cluster->acquire("retention", 1800, 500).value().has_value());
  ASSERT_TRUE(b.cluster->release("retention", (*taken)->token).ok());
  auto back = a.cluster->acquire("retention", 1900, 500);
  ASSERT_TRUE(back.ok() && back->has_value());
  EXPECT_GT((*back)->token, (*taken)->token);
  EXPECT_FALSE(a.cluster->acquire("", 1, 1).ok());
}

TEST(PgCluster, ConcurrentAcquiresGrantTheLeaseOnce) {
  test::PgSchema s;
  PgParts a = open_node(s.url(), "node-a"), b = open_node(s.url(), "node-b");
  ASSERT_TRUE(a.cluster && b.cluster);
  for (int round = 0; round < 20; ++round) {
    const std::string name = "job-" + std::to_string(round);
    std::atomic<int> granted{0};
    auto ask = [&](Cluster* c) {
      auto l = c->acquire(name, 1000, 60'000);
      if (l.ok() && l->has_value()) ++granted;
    };
    std::thread t1(ask, a.cluster.get()), t2(ask, b.cluster.get());
    t1.join();
    t2.join();
    EXPECT_EQ(granted.load(), 1) << name;
  }
}

// Two data dirs under one node id checking in at the same moment on an empty registry: one
// joins, the other is refused (the row is inserted once; the loser reads it and plans again).
TEST(PgCluster, ConcurrentCheckInsUnderOneIdAdmitOne) {
  test::PgSchema s;
  PgParts a = open_node(s.url(), "node-a"), b = open_node(s.url(), "node-a");
  ASSERT_TRUE(a.nodes && b.nodes);
  for (int round = 0; round < 10; ++round) {
    const std::string id = "node-" + std::to_string(round);
    std::atomic<int> joined{0}, refused{0};
    auto check_in = [&](NodeRegistry* r, std::string instance) {
      NodeRecord me;
      me.node_id = id;
      me.instance = std::move(instance);
      auto p = r->check_in(me, 1000, 30'000);
      ASSERT_TRUE(p.ok()) << p.error().message;
      if (p->verdict == CheckInVerdict::joined) ++joined;
      if (p->verdict == CheckInVerdict::refused) ++refused;
    };
    std::thread t1(check_in, a.nodes.get(), "i-aaaa"), t2(check_in, b.nodes.get(), "i-bbbb");
    t1.join();
    t2.join();
    EXPECT_EQ(joined.load(), 1) << id;
    EXPECT_EQ(refused.load(), 1) << id;
  }
}

TEST(PgCluster, OneChangeFeedForEveryNode) {
  test::PgSchema s;
  PgParts a = open_node(s.url(), "node-a"), b = open_node(s.url(), "node-b");
  ASSERT_TRUE(a.cluster && b.cluster);
  // The feed may already hold rows from the triggers (none yet: nothing was written).
  const auto start = a.cluster->changes_since(0, 1000).value();
  const int64_t from = start.empty() ? 0 : start.back().seq;
  auto s1 = a.cluster->publish("account:7", 10);
  auto s2 = b.cluster->publish("domain:example.com", 11);
  ASSERT_TRUE(s1.ok() && s2.ok());
  EXPECT_LT(*s1, *s2);
  auto seen = b.cluster->changes_since(from, 100).value();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].subject, "account:7");
  EXPECT_EQ(seen[1].subject, "domain:example.com");
  EXPECT_EQ(a.cluster->changes_since(*s1, 100).value().size(), 1u);
}

// In production the database's clock arbitrates: a node whose clock runs far ahead cannot take
// a lease another node holds, and one far behind cannot keep it past its time.
TEST(PgCluster, LeasesRunOnTheDatabasesClock) {
  test::PgSchema s;
  auto open_db_clock = [&](const std::string& id) {
    auto p = open_pg_backend(s.url(), PgOptions{.pool_size = 2, .node_id = id});
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
    return p.ok() ? std::move(p).value() : PgParts{};
  };
  PgParts a = open_db_clock("node-a"), b = open_db_clock("node-b");
  ASSERT_TRUE(a.cluster && b.cluster);
  auto la = a.cluster->acquire("change-log-trim", 1, 60'000);  // a's clock says 1970
  ASSERT_TRUE(la.ok()) << la.error().message;
  ASSERT_TRUE(la->has_value());
  EXPECT_GT((*la)->expires_ms, 1'700'000'000'000);  // the database's time + 60 s
  // b's clock says the year 33658: the lease is still a's on the database's clock.
  auto lb = b.cluster->acquire("change-log-trim", 1'000'000'000'000'000, 60'000);
  ASSERT_TRUE(lb.ok());
  EXPECT_FALSE(lb->has_value());
  ASSERT_TRUE(a.cluster->release("change-log-trim", (*la)->token).ok());
  auto again = b.cluster->acquire("change-log-trim", 1, 60'000);
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_GT((*again)->token, (*la)->token);
}

TEST(PgCluster, TrimForgetsOldChangesOnly) {
  test::PgSchema s;
  PgParts a = open_node(s.url(), "node-a");
  ASSERT_TRUE(a.cluster);
  const auto start = a.cluster->changes_since(0, 1000).value();
  const int64_t from = start.empty() ? 0 : start.back().seq;
  ASSERT_TRUE(a.cluster->publish("account:1", 100).ok());
  auto kept = a.cluster->publish("account:2", 200);
  ASSERT_TRUE(kept.ok());
  auto n = a.cluster->trim_changes(200);
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_GE(n.value(), 1u);
  auto left = a.cluster->changes_since(from, 100).value();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].seq, *kept);
}

}  // namespace
}  // namespace tern::store
