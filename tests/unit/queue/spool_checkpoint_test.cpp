// The spool's index checkpoint: a clean stop leaves one that the next open reads (no log
// scanned); after a crash only the log written after it is scanned and the result equals a
// full scan (updates, finishes, a writer open at the checkpoint that commits later, one that
// never does); a damaged, truncated or foreign file is ignored; a checkpoint whose messages
// lost their segments without a DONE left in the log falls back to the full scan; an aborted
// message at the tail is never cut below a checkpoint's position; checkpoints are written in
// the background as the log grows. The codec is in checkpoint_codec_test.cpp.
#include <gtest/gtest.h>

#include "spool_test_util.hpp"

using namespace tern;
using namespace tern::queue;
using namespace tern::queue::test;

namespace {

SpoolOptions with_checkpoint() {
  SpoolOptions o;
  o.checkpoint = true;
  o.checkpoint_interval_ms = 3'600'000;  // no background checkpoint unless a test wants one
  return o;
}

// What a kill -9 leaves: the files as they are on disk now (everything here was synced).
void crash_image(const TempDir& from, const TempDir& to) {
  fs::copy(from.path / "spool", to.path / "spool", fs::copy_options::recursive);
  std::error_code ec;
  fs::remove(to.path / "spool" / "index.ckpt.tmp", ec);
}

struct Seen {
  std::string id;
  int64_t due_ms;
  bool held;
  bool operator==(const Seen&) const = default;
};

std::vector<Seen> index_of(const Spool& s) {
  std::vector<Seen> v;
  for (const auto& e : s.index()) v.push_back({e.id, e.due_ms, e.held});
  return v;
}

std::string content(size_t n, uint32_t seed) { return random_bytes(n, seed); }

}  // namespace

TEST(SpoolCheckpoint, CleanStopLeavesOneTheNextOpenReadsWithoutScanning) {
  TempDir dir;
  std::vector<Seen> before;
  std::string a, b, c;
  {
    auto s = open_ok(dir.str(), with_checkpoint());
    a = put(*s, content(3000, 1));
    b = put(*s, content(100, 2));
    c = put(*s, content(70000, 3));  // two DATA records
    auto m = *s->get(a);
    m.recipients[1].state = RcptState::deferred;
    m.recipients[1].next_attempt_ms = 1700000099000;
    m.held = true;
    ASSERT_TRUE(s->update(m).ok());
    ASSERT_TRUE(s->finish(b).ok());
    before = index_of(*s);
  }
  ASSERT_TRUE(fs::exists(dir.path / "spool" / "index.ckpt"));
  auto s = open_ok(dir.str(), with_checkpoint());
  EXPECT_TRUE(s->stats().from_checkpoint);
  EXPECT_EQ(s->stats().bytes_scanned, 0u);
  EXPECT_EQ(index_of(*s), before);
  EXPECT_EQ(content_of(*s, a), content(3000, 1));
  EXPECT_EQ(content_of(*s, c), content(70000, 3));
  EXPECT_EQ(s->get(a)->recipients[1].next_attempt_ms, 1700000099000);
  EXPECT_FALSE(s->get(b));
  // And it keeps working: a new message, then another clean reopen.
  const std::string d = put(*s, "after the checkpoint");
  s.reset();
  s = open_ok(dir.str(), with_checkpoint());
  EXPECT_TRUE(s->stats().from_checkpoint);
  EXPECT_EQ(content_of(*s, d), "after the checkpoint");
  EXPECT_EQ(s->index().size(), 3u);
}

TEST(SpoolCheckpoint, AfterACrashOnlyTheTailIsScannedAndTheResultEqualsAFullScan) {
  TempDir dir, image;
  std::string a, b, c, w1_id, w2_id;
  {
    auto s = open_ok(dir.str(), with_checkpoint());
    a = put(*s, content(2000, 1));
    b = put(*s, content(2000, 2));
    // Two writers open across the checkpoint: one commits after it, one never does.
    w1_id = core::new_queue_id();
    auto w1 = s->begin(w1_id);
    ASSERT_TRUE(w1->append(content(1500, 3)).ok());
    w2_id = core::new_queue_id();
    auto w2 = s->begin(w2_id);
    ASSERT_TRUE(w2->append(content(900, 4)).ok());
    ASSERT_TRUE(s->checkpoint().ok());
    EXPECT_EQ(s->stats().checkpoints, 1u);
    ASSERT_TRUE(w1->append(content(500, 5)).ok());
    ASSERT_TRUE(commit_sync(*s, std::move(w1), make_msg(w1_id)).ok);
    c = put(*s, content(800, 6));
    auto m = *s->get(a);
    m.recipients[0].state = RcptState::delivered;
    m.recipients[1].state = RcptState::deferred;
    m.recipients[1].next_attempt_ms = 1700000500000;
    ASSERT_TRUE(s->update(m).ok());
    ASSERT_TRUE(s->finish(b).ok());
    crash_image(dir, image);  // w2 is still open: its content stays uncommitted
  }
  const uint64_t log = segment_bytes(image.path) - fs::file_size(image.path / "spool/index.ckpt");
  TempDir full;
  fs::copy(image.path / "spool", full.path / "spool", fs::copy_options::recursive);
  fs::remove(full.path / "spool/index.ckpt");

  auto s = open_ok(image.str(), with_checkpoint());
  const auto st = s->stats();
  EXPECT_TRUE(st.from_checkpoint);
  EXPECT_GT(st.bytes_scanned, 0u);
  EXPECT_LT(st.bytes_scanned, log / 2) << "only the log after the checkpoint";
  auto f = open_ok(full.str(), with_checkpoint());
  EXPECT_FALSE(f->stats().from_checkpoint);
  EXPECT_EQ(index_of(*s), index_of(*f));
  std::vector<std::string> want = {a, w1_id, c};
  EXPECT_EQ(ids(*s), want);
  EXPECT_EQ(content_of(*s, w1_id), content(1500, 3) + content(500, 5))
      << "content written before the checkpoint, committed after it";
  EXPECT_EQ(s->get(a)->recipients[1].next_attempt_ms, 1700000500000);
  EXPECT_EQ(s->stats().quarantined, 0u);
}

TEST(SpoolCheckpoint, ADamagedTruncatedOrForeignCheckpointIsIgnored) {
  TempDir dir;
  std::vector<Seen> before;
  {
    auto s = open_ok(dir.str(), with_checkpoint());
    for (int i = 0; i < 5; ++i) put(*s, content(1000, static_cast<uint32_t>(i)));
    before = index_of(*s);
  }
  const fs::path ck = dir.path / "spool" / "index.ckpt";
  const std::string good = read_file(ck);
  ASSERT_GT(good.size(), 100u);
  std::vector<std::string> bad;
  for (size_t at : {size_t{3}, size_t{12}, size_t{40}, good.size() / 2, good.size() - 1}) {
    std::string b = good;
    b[at] = static_cast<char>(b[at] ^ 0x20);
    bad.push_back(b);
  }
  bad.push_back(good.substr(0, good.size() - 1));
  bad.push_back(good.substr(0, 20));
  bad.push_back(good + "x");
  bad.push_back("not a checkpoint at all");
  bad.push_back("");
  for (size_t i = 0; i < bad.size(); ++i) {
    write_file(ck, bad[i]);
    auto s = open_ok(dir.str(), with_checkpoint());
    EXPECT_FALSE(s->stats().from_checkpoint) << "variant " << i;
    EXPECT_EQ(index_of(*s), before) << "variant " << i;
    s.reset();  // its clean stop writes a good checkpoint again
    EXPECT_EQ(read_file(ck).size(), good.size()) << "variant " << i;
  }
}

TEST(SpoolCheckpoint, MessagesThatLostTheirSegmentsWithoutADoneFallBackToAFullScan) {
  TempDir dir, image;
  SpoolOptions o = with_checkpoint();
  o.segment_bytes = 8 * 1024;  // a few messages per segment
  std::vector<std::string> first;
  std::string last;
  {
    auto s = open_ok(dir.str(), o);
    for (int i = 0; i < 4; ++i) first.push_back(put(*s, content(3000, static_cast<uint32_t>(i))));
    ASSERT_TRUE(s->checkpoint().ok());
    // After the checkpoint they all finish; their segments and then the segments holding
    // their DONE records are deleted as the log moves on.
    for (const auto& id : first) ASSERT_TRUE(s->finish(id).ok());
    for (int i = 0; i < 12; ++i) {
      const std::string id = put(*s, content(3000, 100 + static_cast<uint32_t>(i)));
      if (i < 11) {
        ASSERT_TRUE(s->finish(id).ok());
      }
      last = id;
    }
    crash_image(dir, image);
  }
  ASSERT_FALSE(fs::exists(image.path / "spool" / "seg-0000000000000001.log"));
  ASSERT_FALSE(fs::exists(image.path / "spool" / "seg-0000000000000002.log"));
  auto s = open_ok(image.str(), o);
  EXPECT_FALSE(s->stats().from_checkpoint) << "the checkpoint's messages lost their segments";
  for (const auto& id : first) EXPECT_FALSE(s->get(id)) << id;
  EXPECT_EQ(content_of(*s, last), content(3000, 111));
  EXPECT_EQ(s->index().size(), 1u);
  EXPECT_EQ(s->stats().quarantined, 0u);
}

TEST(SpoolCheckpoint, AnAbortAtTheTailIsNotCutBelowTheCheckpoint) {
  TempDir dir, image;
  std::string c;
  {
    auto s = open_ok(dir.str(), with_checkpoint());
    put(*s, "before");
    {
      auto w = s->begin(core::new_queue_id());
      ASSERT_TRUE(w->append(content(5000, 7)).ok());
      ASSERT_TRUE(s->checkpoint().ok());
    }  // aborted: its records end the log, but the checkpoint's position lies after them
    c = put(*s, content(4000, 8));
    crash_image(dir, image);
  }
  auto s = open_ok(image.str(), with_checkpoint());
  EXPECT_TRUE(s->stats().from_checkpoint);
  EXPECT_EQ(content_of(*s, c), content(4000, 8));
  EXPECT_EQ(s->index().size(), 2u);
  EXPECT_EQ(s->stats().quarantined, 0u);
}

TEST(SpoolCheckpoint, WrittenInTheBackgroundAsTheLogGrows) {
  TempDir dir, image;
  SpoolOptions o = with_checkpoint();
  o.checkpoint_min_bytes = 20'000;
  o.checkpoint_interval_ms = 0;
  std::vector<std::string> all;
  {
    auto s = open_ok(dir.str(), o);
    for (int i = 0; i < 10; ++i) all.push_back(put(*s, content(3000, static_cast<uint32_t>(i))));
    ASSERT_TRUE(eventually([&] { return s->stats().checkpoints >= 1; }));
    crash_image(dir, image);
  }
  auto s = open_ok(image.str(), o);
  EXPECT_TRUE(s->stats().from_checkpoint);
  EXPECT_EQ(ids(*s), all);
}

TEST(SpoolCheckpoint, ReadOnlyOpenReadsItAndNeverWritesOne) {
  TempDir dir;
  std::vector<Seen> before;
  {
    auto s = open_ok(dir.str(), with_checkpoint());
    for (int i = 0; i < 3; ++i) put(*s, content(1000, static_cast<uint32_t>(i)));
    before = index_of(*s);
  }
  const auto files = snapshot(dir.path);
  SpoolOptions ro = with_checkpoint();
  ro.read_only = true;
  auto s = open_ok(dir.str(), ro);
  EXPECT_TRUE(s->stats().from_checkpoint);
  EXPECT_EQ(index_of(*s), before);
  EXPECT_FALSE(s->checkpoint().ok());
  s.reset();
  EXPECT_EQ(snapshot(dir.path), files);
}

TEST(SpoolCheckpoint, AnotherSpoolsCheckpointIsIgnored) {
  // A stale index.ckpt beside another log (segment files replaced, the checkpoint left): its
  // positions would point into bytes of other messages. Recovery sees that the segments are
  // not the ones it saw (their first bytes), or that the log ends before its position.
  SpoolOptions o = with_checkpoint();
  o.segment_bytes = 8 * 1024;
  TempDir old_dir, small, big;
  {
    auto s = open_ok(old_dir.str(), o);
    for (int i = 0; i < 12; ++i) put(*s, content(3000, static_cast<uint32_t>(i)));
  }
  const std::string stale = read_file(old_dir.path / "spool" / "index.ckpt");
  for (TempDir* d : {&small, &big}) {
    std::vector<std::string> want;
    {
      SpoolOptions plain = o;
      plain.checkpoint = false;
      auto s = open_ok(d->str(), plain);
      const int n = d == &small ? 1 : 20;
      for (int i = 0; i < n; ++i)
        want.push_back(put(*s, content(3000, 500 + static_cast<uint32_t>(i))));
    }
    write_file(d->path / "spool" / "index.ckpt", stale);
    auto s = open_ok(d->str(), o);
    EXPECT_FALSE(s->stats().from_checkpoint) << (d == &small ? "small" : "big");
    EXPECT_EQ(ids(*s), want);
    for (size_t i = 0; i < want.size(); ++i)
      EXPECT_EQ(content_of(*s, want[i]), content(3000, 500 + static_cast<uint32_t>(i)));
    EXPECT_EQ(s->stats().quarantined, 0u);
  }
}
