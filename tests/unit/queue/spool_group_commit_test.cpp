// Group commit with a sibling wait (SpoolOptions::group_commit_wait_us): a commit made while
// other messages are between begin() and their commit waits for them, so one sync covers all;
// a lone commit never waits; an abort releases the wait as a commit does; writers begun after
// the wait started are not waited for. The wait is set far beyond any test's run time, so a
// test that passes proves the wait ended on the sibling, not on the clock.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

#include "spool_test_util.hpp"

using namespace tern;
using namespace tern::queue;
using namespace tern::queue::test;

namespace {

constexpr uint32_t kForever = 600'000'000;  // 10 minutes, in µs

SpoolOptions waiting() {
  SpoolOptions o;
  o.group_commit_wait_us = kForever;
  return o;
}

std::future<CommitOutcome> commit_async(Spool& s, std::unique_ptr<Spool::Writer> w) {
  auto p = std::make_shared<std::promise<CommitOutcome>>();
  auto f = p->get_future();
  const std::string id = w->id();
  s.commit(std::move(w), make_msg(id), [p](CommitOutcome o) { p->set_value(std::move(o)); });
  return f;
}

std::unique_ptr<Spool::Writer> begun(Spool& s, const std::string& content) {
  auto w = s.begin(core::new_queue_id());
  EXPECT_TRUE(w->append(content).ok());
  return w;
}

// Polls a positive marker: the sync thread has entered its wait (it counts it first).
bool waits_reach(Spool& s, uint64_t n) {
  for (int i = 0; i < 20000; ++i) {
    if (s.stats().group_commit_waits >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

bool done_soon(std::future<CommitOutcome>& f) {
  return f.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
}

}  // namespace

TEST(SpoolGroupCommit, ALoneCommitNeverWaits) {
  TempDir dir;
  auto s = open_ok(dir.str(), waiting());
  ASSERT_TRUE(s);
  auto f = commit_async(*s, begun(*s, "hello"));
  ASSERT_TRUE(done_soon(f));
  EXPECT_TRUE(f.get().ok);
  EXPECT_EQ(s->stats().group_commit_waits, 0u);
}

TEST(SpoolGroupCommit, ACommitWaitsForItsSiblingAndBothShareOneSync) {
  TempDir dir;
  auto s = open_ok(dir.str(), waiting());
  ASSERT_TRUE(s);
  // What one batch with one message costs in syncs, once the segment file exists (the first
  // commit also syncs the directory that gained it).
  auto warm = commit_async(*s, begun(*s, "warm-up"));
  ASSERT_TRUE(done_soon(warm));
  ASSERT_TRUE(warm.get().ok);
  const uint64_t before_lone = s->stats().fsyncs;
  auto lone = commit_async(*s, begun(*s, "lone"));
  ASSERT_TRUE(done_soon(lone));
  ASSERT_TRUE(lone.get().ok);
  const uint64_t lone_syncs = s->stats().fsyncs - before_lone;
  ASSERT_GE(lone_syncs, 1u);

  auto a = begun(*s, "first");
  auto b = begun(*s, "second");
  const uint64_t before = s->stats().fsyncs;
  auto fa = commit_async(*s, std::move(a));
  ASSERT_TRUE(waits_reach(*s, 1));  // a's sync waits: b is still open
  EXPECT_EQ(s->stats().fsyncs, before);
  auto fb = commit_async(*s, std::move(b));
  ASSERT_TRUE(done_soon(fa));
  ASSERT_TRUE(done_soon(fb));
  EXPECT_TRUE(fa.get().ok);
  EXPECT_TRUE(fb.get().ok);
  EXPECT_EQ(s->stats().fsyncs - before, lone_syncs);  // one batch for both
  EXPECT_EQ(s->stats().commits, 4u);
  EXPECT_EQ(s->list().size(), 4u);
}

TEST(SpoolGroupCommit, AnAbortedSiblingReleasesTheWait) {
  TempDir dir;
  auto s = open_ok(dir.str(), waiting());
  ASSERT_TRUE(s);
  auto a = begun(*s, "kept");
  auto b = begun(*s, "dropped");
  const std::string a_id = a->id();
  auto fa = commit_async(*s, std::move(a));
  ASSERT_TRUE(waits_reach(*s, 1));
  b.reset();  // the client quit in DATA: the writer is aborted
  ASSERT_TRUE(done_soon(fa));
  EXPECT_TRUE(fa.get().ok);
  ASSERT_EQ(s->list().size(), 1u);
  EXPECT_EQ(s->list()[0].id, a_id);
}

TEST(SpoolGroupCommit, WritersBegunDuringTheWaitAreNotWaitedFor) {
  TempDir dir;
  auto s = open_ok(dir.str(), waiting());
  ASSERT_TRUE(s);
  auto a = begun(*s, "a");
  auto b = begun(*s, "b");
  auto fa = commit_async(*s, std::move(a));
  ASSERT_TRUE(waits_reach(*s, 1));
  auto late = begun(*s, "late");  // opened after the wait began
  auto fb = commit_async(*s, std::move(b));
  ASSERT_TRUE(done_soon(fa));
  ASSERT_TRUE(done_soon(fb));
  EXPECT_TRUE(fa.get().ok);
  EXPECT_TRUE(fb.get().ok);
  // The late writer is still open; committing it now waits for nobody.
  auto fl = commit_async(*s, std::move(late));
  ASSERT_TRUE(done_soon(fl));
  EXPECT_TRUE(fl.get().ok);
  EXPECT_EQ(s->stats().group_commit_waits, 1u);
}

TEST(SpoolGroupCommit, ShutdownEndsAWait) {
  TempDir dir;
  auto s = open_ok(dir.str(), waiting());
  ASSERT_TRUE(s);
  auto a = begun(*s, "a");
  auto b = begun(*s, "b");  // never committed
  auto fa = commit_async(*s, std::move(a));
  ASSERT_TRUE(waits_reach(*s, 1));
  s.reset();  // closing the spool while b is open: a is synced and acknowledged
  ASSERT_TRUE(done_soon(fa));
  EXPECT_TRUE(fa.get().ok);
  b.reset();  // (a writer that outlives its spool fails cleanly)
  auto again = open_ok(dir.str());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->list().size(), 1u);
}

TEST(SpoolGroupCommit, OffByDefault) {
  TempDir dir;
  auto s = open_ok(dir.str());
  ASSERT_TRUE(s);
  auto a = begun(*s, "a");
  auto b = begun(*s, "b");
  auto fa = commit_async(*s, std::move(a));
  ASSERT_TRUE(done_soon(fa));  // b stays open: without the option nobody waits for it
  EXPECT_TRUE(fa.get().ok);
  EXPECT_EQ(s->stats().group_commit_waits, 0u);
}
