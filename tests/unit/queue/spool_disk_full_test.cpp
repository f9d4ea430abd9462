// Spool on a full disk (issue 10 item 6): the reserve refuses new content so state records
// fit, STATE/DONE records that found no space stay pending and are rewritten when space
// returns (a finished message is never handed out again meanwhile), and dead bytes - a dead
// active segment, an aborted message at the tail - are given back without a restart.
#include <gtest/gtest.h>

#include <future>

#include "spool_test_util.hpp"

using namespace tern;
using namespace tern::queue;
using namespace tern::queue::test;

namespace {

core::Result<void> finish_wait(Spool& s, const std::string& id) {
  std::promise<core::Result<void>> p;
  auto f = p.get_future();
  s.finish_async(id, [&p](core::Result<void> r) { p.set_value(std::move(r)); });
  return f.get();
}

core::Result<void> update_wait(Spool& s, const QueuedMessage& m) {
  std::promise<core::Result<void>> p;
  auto f = p.get_future();
  s.update_async(m, [&p](core::Result<void> r) { p.set_value(std::move(r)); });
  return f.get();
}

// Deleted spool segments this process still holds open: their blocks are not free yet
// (a tmpfs or ext4 frees them at the last close). The sync thread may hold one for a moment
// after a sync it just completed, so callers wait (bounded) for none.
size_t deleted_but_open(const fs::path& dir) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = fs::read_symlink(e.path(), ec).string();
    if (!ec && target.find(dir.string()) == 0 && target.find("(deleted)") != std::string::npos) ++n;
  }
  return n;
}

SpoolOptions with_reserve(uint64_t bytes) {
  SpoolOptions o;
  o.reserve_bytes = bytes;
  return o;
}

}  // namespace

TEST(SpoolDiskFull, ReserveRefusesNewContentWhileStateRecordsStillFit) {
  TempDir dir;
  auto ops = std::make_shared<FaultyOps>();
  auto s = open_ok(dir.str(), with_reserve(1 << 20), ops);
  const std::string a = put(*s, "accepted before the disk filled");
  ops->free_space = (1 << 20) - 1;  // just below the reserve
  auto w = s->begin(core::new_queue_id());
  auto r = w->append("new mail");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().temporary);
  EXPECT_TRUE(r.error().is(core::ErrorCode::disk_full))
      << r.error().message;  // 452 4.3.1 at the session
  EXPECT_EQ(s->stats().reserve_refusals, 1u);
  w.reset();
  // What the reserve is for: the accepted message's state and DONE records still go down.
  auto m = *s->get(a);
  m.recipients[0].state = RcptState::delivered;
  EXPECT_TRUE(s->update(m).ok());
  EXPECT_TRUE(s->finish(a).ok());
  EXPECT_EQ(s->stats().unwritten, 0u);
  ops->free_space = -1;  // space returns: new mail is accepted by the same spool
  const std::string b = put(*s, "after");
  s.reset();
  auto again = open_ok(dir.str());
  EXPECT_EQ(ids(*again), (std::vector<std::string>{b}));
}

TEST(SpoolDiskFull, FailedDoneAndStateStayPendingAndAreRewrittenWhenSpaceReturns) {
  TempDir dir;
  auto ops = std::make_shared<FaultyOps>();
  std::string a, b;
  {
    auto s = open_ok(dir.str(), with_reserve(0), ops);
    a = put(*s, "delivered while the disk was full");
    b = put(*s, "still queued");
    ops->write_errno = ENOSPC;
    auto r = finish_wait(*s, a);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.error().is(core::ErrorCode::disk_full)) << r.error().message;
    // Finished for this process all the same: never handed out (redelivered) again.
    EXPECT_FALSE(s->get(a));
    EXPECT_EQ(ids(*s), (std::vector<std::string>{b}));
    auto mb = *s->get(b);
    mb.recipients[0].state = RcptState::delivered;
    mb.recipients[0].attempts = 1;
    EXPECT_FALSE(update_wait(*s, mb).ok());
    EXPECT_EQ(s->get(b)->recipients[0].state, RcptState::delivered);  // applied in memory
    EXPECT_EQ(s->stats().unwritten, 2u);
    ops->write_errno = 0;  // space returns: the sync thread rewrites both, no restart
    EXPECT_TRUE(eventually([&] { return s->stats().unwritten == 0; }));
    // Read-only view of the disk while the spool still runs: the records are durable now.
    SpoolOptions ro;
    ro.read_only = true;
    auto view = open_ok(dir.str(), ro);
    EXPECT_EQ(ids(*view), (std::vector<std::string>{b}));
    EXPECT_EQ(view->get(b)->recipients[0].state, RcptState::delivered);
  }
  auto s = open_ok(dir.str());
  EXPECT_EQ(ids(*s), (std::vector<std::string>{b}));
  EXPECT_EQ(s->get(b)->recipients[0].state, RcptState::delivered);
  EXPECT_EQ(s->get(b)->recipients[0].attempts, 1);
}

TEST(SpoolDiskFull, PendingDoneIsWrittenAtShutdownIfSpaceReturnedJustBefore) {
  TempDir dir;
  auto ops = std::make_shared<FaultyOps>();
  std::string a;
  {
    auto s = open_ok(dir.str(), with_reserve(0), ops);
    a = put(*s, "x");
    ops->write_errno = ENOSPC;
    ASSERT_FALSE(finish_wait(*s, a).ok());
    ops->write_errno = 0;
  }  // closed at once: the final flush writes the DONE
  auto s = open_ok(dir.str());
  EXPECT_TRUE(s->list().empty());
}

TEST(SpoolDiskFull, NewerStateSupersedesAnUnwrittenOne) {
  TempDir dir;
  auto ops = std::make_shared<FaultyOps>();
  std::string a;
  {
    auto s = open_ok(dir.str(), with_reserve(0), ops);
    a = put(*s, "x");
    auto m = *s->get(a);
    m.recipients[0].attempts = 1;
    ops->write_errno = ENOSPC;
    EXPECT_FALSE(update_wait(*s, m).ok());
    ops->write_errno = 0;
    m.recipients[0].attempts = 2;
    EXPECT_TRUE(update_wait(*s, m).ok());
    EXPECT_EQ(s->stats().unwritten, 0u);
  }
  auto s = open_ok(dir.str());
  EXPECT_EQ(s->get(a)->recipients[0].attempts, 2);
}

// A full disk whose bytes are all dead (every message finished): the active segment is
// rolled past and deleted, so space returns without a restart.
TEST(SpoolDiskFull, DeadActiveSegmentIsDeletedWhenTheReserveIsReached) {
  TempDir dir;
  auto ops = std::make_shared<FaultyOps>();
  auto s = open_ok(dir.str(), with_reserve(1 << 20), ops);
  const std::string a = put(*s, random_bytes(300000, 5), 60000);
  ASSERT_TRUE(s->finish(a).ok());
  ASSERT_GT(segment_bytes(dir.path), 300000u);  // dead, but the active segment
  ops->free_space = 1000;
  auto w = s->begin(core::new_queue_id());
  EXPECT_FALSE(w->append("x").ok());
  w.reset();
  EXPECT_LT(segment_bytes(dir.path), 1000u);
  EXPECT_TRUE(eventually([&] { return deleted_but_open(dir.path) == 0; }))
      << "space is only free once the file is closed";
  ops->free_space = -1;
  const std::string b = put(*s, "after");
  EXPECT_EQ(content_of(*s, b), "after");
}

TEST(SpoolDiskFull, DeadActiveSegmentIsDeletedAfterEnospcWithoutReserve) {
  TempDir dir;
  auto ops = std::make_shared<FaultyOps>();
  auto s = open_ok(dir.str(), with_reserve(0), ops);
  const std::string a = put(*s, random_bytes(300000, 6), 60000);
  ASSERT_TRUE(s->finish(a).ok());
  ASSERT_GT(segment_bytes(dir.path), 300000u);
  ops->write_errno = ENOSPC;
  auto w = s->begin(core::new_queue_id());
  EXPECT_FALSE(w->append("x").ok());
  w.reset();  // the rejected message goes; with it the dead segment
  EXPECT_LT(segment_bytes(dir.path), 1000u);
  EXPECT_TRUE(eventually([&] { return deleted_but_open(dir.path) == 0; }));
  ops->write_errno = 0;
  const std::string b = put(*s, "after");
  s.reset();
  auto again = open_ok(dir.str());
  EXPECT_EQ(ids(*again), (std::vector<std::string>{b}));
}

TEST(SpoolDiskFull, LargeDeadActiveSegmentIsDeletedWhenTheQueueEmpties) {
  TempDir dir;
  auto s = open_ok(dir.str(), with_reserve(0));
  const std::string a = put(*s, random_bytes(1200000, 7), 60000);
  ASSERT_TRUE(s->finish(a).ok());
  EXPECT_LT(segment_bytes(dir.path), 1000u);
  EXPECT_TRUE(eventually([&] { return deleted_but_open(dir.path) == 0; }));
}

// A rejected message (bad line, aborted DATA) whose records are the tail of the active
// segment gives its bytes back at once; one interleaved with others gets an ABORT record.
TEST(SpoolDiskFull, AbortedMessageAtTheTailIsTruncatedAway) {
  TempDir dir;
  std::string a, c;
  {
    auto s = open_ok(dir.str());
    a = put(*s, "kept");
    const uint64_t before = segment_bytes(dir.path);
    {
      auto w = s->begin(core::new_queue_id());
      for (int i = 0; i < 5; ++i) ASSERT_TRUE(w->append(random_bytes(40000, 8 + i)).ok());
      EXPECT_GT(segment_bytes(dir.path), before + 200000);
    }  // aborted
    EXPECT_EQ(segment_bytes(dir.path), before);
    // Interleaved: the first is not the tail when it aborts, the second then is.
    auto w1 = s->begin(core::new_queue_id());
    auto w2 = s->begin(core::new_queue_id());
    ASSERT_TRUE(w1->append("one").ok());
    ASSERT_TRUE(w2->append("two").ok());
    ASSERT_TRUE(w1->append("one more").ok());
    w2.reset();
    EXPECT_GT(segment_bytes(dir.path), before);
    w1.reset();
    c = put(*s, "later");
  }
  auto s = open_ok(dir.str());
  EXPECT_EQ(ids(*s), (std::vector<std::string>{a, c}));
  EXPECT_EQ(content_of(*s, c), "later");
  EXPECT_EQ(s->stats().quarantined, 0u);
  EXPECT_EQ(s->stats().torn_bytes_discarded, 0u);
}
