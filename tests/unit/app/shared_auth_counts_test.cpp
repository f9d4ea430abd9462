// app/shared_auth_counts: the AUTH limiter's counts shared by the nodes of a region. Three
// limiters ("nodes") over one MemoryAuthCountStore stand for three nodes on one database; the
// policy is AuthLimiter's (tests/unit/store/auth_limiter_test.cpp), unchanged.
#include "app/shared_auth_counts.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "policy/auth_limiter.hpp"

namespace tern::app {
namespace {

using policy::AuthLimiter;

struct Node {
  std::shared_ptr<SharedAuthCounts> counts;
  std::unique_ptr<AuthLimiter> limiter;
};

struct Region {
  core::FakeClock clock;
  store::MemoryAuthCountStore db;
  std::vector<Node> nodes;
  explicit Region(int n, const std::string& prefix = "smtp:") {
    for (int i = 0; i < n; ++i) add(prefix);
  }
  Node& add(const std::string& prefix) {
    Node node;
    node.counts = std::make_shared<SharedAuthCounts>(
        db, SharedAuthCounts::Options{.prefix = prefix, .keep_ms = 300'000});
    node.limiter = std::make_unique<AuthLimiter>(clock, AuthLimiter::Limits{}, node.counts);
    nodes.push_back(std::move(node));
    return nodes.back();
  }
  void refresh_all() {
    for (auto& n : nodes) ASSERT_TRUE(n.counts->refresh(clock.now_ms()).ok());
  }
};

TEST(SharedAuthCounts, TenFailuresSpreadOverThreeNodesBlockTheAddressOnAll) {
  Region r(3);
  const std::string ip = "192.0.2.7";
  // Nine failures, three per node, each under another username (no per-user block).
  for (int i = 0; i < 9; ++i) {
    r.nodes[i % 3].limiter->record_failure(ip, "user" + std::to_string(i));
    r.refresh_all();
  }
  for (auto& n : r.nodes) EXPECT_TRUE(n.limiter->allowed(ip, "someone"));
  // The tenth, on node 2: blocked there at once, on the others from their next refresh.
  r.nodes[1].limiter->record_failure(ip, "user9");
  EXPECT_FALSE(r.nodes[1].limiter->allowed(ip, "someone"));
  EXPECT_TRUE(r.nodes[0].limiter->allowed(ip, "someone"));  // not refreshed yet
  r.refresh_all();
  for (auto& n : r.nodes) EXPECT_FALSE(n.limiter->allowed(ip, "someone"));
  EXPECT_TRUE(r.nodes[0].limiter->allowed("192.0.2.8", "someone"));  // another address
  // The block ends for everyone with its time.
  r.clock.advance_ms(300'000);
  r.refresh_all();
  for (auto& n : r.nodes) EXPECT_TRUE(n.limiter->allowed(ip, "someone"));
}

TEST(SharedAuthCounts, FailuresOnTheSameKeyAtOnceAreEachCounted) {
  Region r(3);
  std::vector<std::thread> ts;
  for (int t = 0; t < 3; ++t)
    ts.emplace_back([&r, t] {
      for (int i = 0; i < 3; ++i) r.nodes[t].limiter->record_failure("198.51.100.1", "");
    });
  for (auto& t : ts) t.join();
  auto row = r.db.get("smtp:198.51.100.1").value();
  ASSERT_TRUE(row);
  EXPECT_EQ(row->failures, 9);
  EXPECT_EQ(row->blocked_until_ms, 0);
  r.nodes[0].limiter->record_failure("198.51.100.1", "");
  EXPECT_GT(r.db.get("smtp:198.51.100.1").value()->blocked_until_ms, r.clock.now_ms());
}

TEST(SharedAuthCounts, TheQuestionBeforeAuthAndAPlainSuccessCostNoRoundTrip) {
  Region r(1);
  auto& l = *r.nodes[0].limiter;
  const size_t before = r.db.calls();
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(l.allowed("203.0.113.5", "alice"));
    l.record_success("203.0.113.5", "alice");
  }
  EXPECT_EQ(r.db.calls(), before);
  // A success after a failure of that pair clears the shared count (one round trip).
  l.record_failure("203.0.113.5", "alice");
  ASSERT_TRUE(r.db.get("smtp:203.0.113.5\nalice").value());
  l.record_success("203.0.113.5", "alice");
  EXPECT_FALSE(r.db.get("smtp:203.0.113.5\nalice").value());
  EXPECT_TRUE(r.db.get("smtp:203.0.113.5").value());  // the address stays counted
}

TEST(SharedAuthCounts, WhileTheDatabaseIsAwayANodeStillCountsAndBlocksByItself) {
  Region r(2);
  r.db.set_failing(true);
  for (int i = 0; i < 10; ++i) r.nodes[0].limiter->record_failure("192.0.2.9", "");
  EXPECT_FALSE(r.nodes[0].limiter->allowed("192.0.2.9", ""));
  EXPECT_FALSE(r.nodes[0].counts->refresh(r.clock.now_ms()).ok());
  EXPECT_FALSE(r.nodes[0].limiter->allowed("192.0.2.9", ""));  // a failed refresh keeps it
  EXPECT_TRUE(r.nodes[1].limiter->allowed("192.0.2.9", ""));   // nothing reached the others
  r.db.set_failing(false);
  r.nodes[1].limiter->record_failure("192.0.2.10", "");
  EXPECT_EQ(r.db.get("smtp:192.0.2.10").value()->failures, 1);
}

TEST(SharedAuthCounts, SmtpAndConsoleLoginsCountApart) {
  Region r(1, "smtp:");
  Node& console = r.add("login:");
  for (int i = 0; i < 10; ++i) console.limiter->record_failure("192.0.2.20", "");
  r.refresh_all();
  EXPECT_FALSE(console.limiter->allowed("192.0.2.20", ""));
  EXPECT_TRUE(r.nodes[0].limiter->allowed("192.0.2.20", ""));
  EXPECT_EQ(r.nodes[0].counts->size(), 0u);
}

TEST(SharedAuthCounts, StaleRowsAreTrimmedAndLeaveTheMirror) {
  Region r(1);
  r.nodes[0].limiter->record_failure("192.0.2.30", "");
  for (int i = 0; i < 10; ++i) r.nodes[0].limiter->record_failure("192.0.2.31", "");
  r.clock.advance_ms(200'000);
  const int64_t now = r.clock.now_ms();
  EXPECT_EQ(r.db.trim(now, now - 300'000).value(), 0u);
  r.clock.advance_ms(100'001);
  EXPECT_EQ(r.db.trim(r.clock.now_ms(), r.clock.now_ms() - 300'000).value(), 2u);
  ASSERT_TRUE(r.nodes[0].counts->refresh(r.clock.now_ms()).ok());
  EXPECT_EQ(r.nodes[0].limiter->tracked(), 0u);
}

}  // namespace
}  // namespace tern::app
