// The registry's driver (app/node_presence.hpp) on the memory backend: a start that finds a
// fresh run of its own instance looks again after probe_ms and is refused (conflict, the
// duplicate message) when that run beat meanwhile, starts when it did not; a running node whose
// row another run of its instance took stops at its next heartbeat (conflict); a heartbeat never
// takes the id back from another instance.
#include "app/node_presence.hpp"

#include <gtest/gtest.h>

#include <memory>

namespace tern::app {
namespace {

constexpr int64_t kLease = 30'000;
constexpr int64_t kProbe = 10'000;

store::NodeRecord node(std::string instance, std::string run) {
  return store::NodeRecord{.node_id = "node-1",
                           .instance = std::move(instance),
                           .run = std::move(run),
                           .hostname = "mx-a",
                           .address = "10.0.0.1:8080",
                           .version = "test"};
}

class NodePresenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int n = 0;
    auto r = store::open_memory_node_registry("node-presence-" + std::to_string(++n));
    ASSERT_TRUE(r.ok()) << r.error().message;
    registry_ = std::move(r).value();
  }
  std::unique_ptr<store::NodeRegistry> registry_;
  int64_t now_ = 1'000'000;
};

TEST_F(NodePresenceTest, ACloneStartedWhileTheOriginalBeatsIsRefused) {
  NodePresence original(*registry_, node("i-aaaa", "r-original"), kLease);
  NodePresence clone(*registry_, node("i-aaaa", "r-clone"), kLease);
  ASSERT_EQ(original.check_in(now_).value(), store::CheckInVerdict::joined);
  int slept = 0;
  auto r = clone.start([&] { return now_; },
                       [&](int64_t ms) {
                         EXPECT_EQ(ms, kProbe);
                         ++slept;
                         now_ += ms;
                         ASSERT_TRUE(original.check_in(now_ - 5000).ok());  // it beats meanwhile
                       },
                       kProbe);
  EXPECT_EQ(slept, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::ErrorCode::conflict);
  EXPECT_NE(r.error().message.find("another process runs from a copy of this data dir"),
            std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("r-original"), std::string::npos);
  // The original goes on.
  EXPECT_EQ(original.check_in(now_).value(), store::CheckInVerdict::renewed);
  EXPECT_EQ(registry_->list().value().at(0).run, "r-original");
}

TEST_F(NodePresenceTest, ARestartAfterACrashStartsAfterLookingAgain) {
  {
    NodePresence killed(*registry_, node("i-aaaa", "r-killed"), kLease);
    ASSERT_EQ(killed.check_in(now_).value(), store::CheckInVerdict::joined);
  }  // kill -9: no check_out
  NodePresence restarted(*registry_, node("i-aaaa", "r-restarted"), kLease);
  int slept = 0;
  auto r = restarted.start([&] { return now_ += 1000; }, [&](int64_t) { ++slept; }, kProbe);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, store::CheckInVerdict::renewed);
  EXPECT_EQ(slept, 1);
  EXPECT_EQ(registry_->list().value().at(0).run, "r-restarted");
  // A clean stop first: no second look.
  restarted.check_out(now_);
  NodePresence next(*registry_, node("i-aaaa", "r-next"), kLease);
  slept = 0;
  EXPECT_EQ(next.start([&] { return now_; }, [&](int64_t) { ++slept; }, kProbe).value(),
            store::CheckInVerdict::renewed);
  EXPECT_EQ(slept, 0);
}

TEST_F(NodePresenceTest, ARunningNodeWhoseRowAnotherRunTookStopsAtItsNextHeartbeat) {
  NodePresence original(*registry_, node("i-aaaa", "r-original"), kLease);
  ASSERT_EQ(original.check_in(now_).value(), store::CheckInVerdict::joined);
  // The original is paused; a clone starts, looks again, nobody beat: it takes the row.
  NodePresence clone(*registry_, node("i-aaaa", "r-clone"), kLease);
  ASSERT_EQ(
      clone.start([&] { return now_ += 1000; }, [&](int64_t ms) { now_ += ms; }, kProbe).value(),
      store::CheckInVerdict::renewed);
  auto beat = original.check_in(now_ + 1000);
  ASSERT_FALSE(beat.ok());
  EXPECT_EQ(beat.error().code, core::ErrorCode::conflict);
  EXPECT_NE(beat.error().message.find("r-clone"), std::string::npos) << beat.error().message;
  // Its clean stop on the way out leaves the clone's row as it is.
  original.check_out(now_ + 1000);
  const auto rows = registry_->list().value();
  EXPECT_EQ(rows.at(0).run, "r-clone");
  EXPECT_EQ(rows.at(0).stopped_ms, 0);
  EXPECT_EQ(clone.check_in(now_ + 2000).value(), store::CheckInVerdict::renewed);
}

TEST_F(NodePresenceTest, AHeartbeatDoesNotTakeTheIdBackFromAnotherInstance) {
  NodePresence a(*registry_, node("i-aaaa", "r-a"), kLease);
  NodePresence b(*registry_, node("i-bbbb", "r-b"), kLease);
  ASSERT_EQ(a.check_in(now_).value(), store::CheckInVerdict::joined);
  // a is silent for lease_s: b takes over, then stops cleanly.
  ASSERT_EQ(b.check_in(now_ + kLease).value(), store::CheckInVerdict::took_over);
  b.check_out(now_ + kLease + 1);
  // a wakes up: it lost its id while it slept; it stops rather than take the id back.
  auto beat = a.check_in(now_ + kLease + 2);
  ASSERT_FALSE(beat.ok());
  EXPECT_EQ(beat.error().code, core::ErrorCode::conflict);
  EXPECT_EQ(registry_->list().value().at(0).instance, "i-bbbb");
}

}  // namespace
}  // namespace tern::app
