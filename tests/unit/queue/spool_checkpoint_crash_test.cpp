// The checkpoint never changes what recovery finds. A kill -9 leaves the files as they are
// (page cache included); at every step of a random history (messages queued in pieces,
// updated, held, finished, writers left open, committed late or aborted, checkpoints taken,
// segments rolled and deleted) the image opened with its checkpoint gives exactly what a full
// scan of the same log gives, and every accepted message not finished is there with its
// content. And a damaged byte anywhere in the log after a checkpoint's position is judged as a
// full scan judges it (the same messages kept, the same quarantined).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <tuple>

#include "spool_test_util.hpp"

using namespace tern;
using namespace tern::queue;
using namespace tern::queue::test;

namespace {

SpoolOptions with_checkpoint() {
  SpoolOptions o;
  o.checkpoint = true;
  o.checkpoint_interval_ms = 3'600'000;  // only the checkpoints the history takes
  return o;
}

// The spool directory as a kill -9 would leave it now; without_checkpoint: the same log for
// the full scan to compare with.
void crash_image(const TempDir& from, const TempDir& to, bool without_checkpoint) {
  fs::copy(from.path / "spool", to.path / "spool", fs::copy_options::recursive);
  std::error_code ec;
  fs::remove(to.path / "spool" / "index.ckpt.tmp", ec);
  if (without_checkpoint) fs::remove(to.path / "spool" / "index.ckpt", ec);
}

struct Recovered {
  std::vector<std::string> ids;  // in queue order
  std::vector<std::tuple<std::string, int64_t, bool>> index;
  std::map<std::string, std::string> contents;
  std::map<std::string, std::string> envelopes;  // as JSON
  std::vector<std::string> quarantined;          // file names under quarantine/
  bool operator==(const Recovered&) const = default;
};

// What a failed comparison shows: the ids, due times, held flags, content sizes, quarantine.
void PrintTo(const Recovered& r, std::ostream* os) {
  *os << "{";
  for (const auto& [id, due, held] : r.index)
    *os << id << " due " << due << (held ? " held" : "") << " size "
        << (r.contents.count(id) ? r.contents.at(id).size() : 0) << "; ";
  *os << "order:";
  for (const auto& id : r.ids) *os << " " << id;
  *os << "; envelopes:";
  for (const auto& [id, env] : r.envelopes) *os << " " << env;
  *os << "; quarantined:";
  for (const auto& q : r.quarantined) *os << " " << q;
  *os << "}";
}

// sync=false: only where nothing is compared after a power loss (the many damaged copies).
Recovered recover_from(const fs::path& dir, bool* used = nullptr, bool sync = true) {
  Recovered r;
  SpoolOptions o = with_checkpoint();
  o.sync = sync;
  auto s = open_ok(dir.string(), o);
  if (!s) return r;
  if (used) *used = s->stats().from_checkpoint;
  for (const auto& m : s->list()) {
    r.ids.push_back(m.id);
    r.envelopes[m.id] = nlohmann::json(m).dump();
    r.contents[m.id] = content_of(*s, m.id);
  }
  for (const auto& e : s->index()) r.index.emplace_back(e.id, e.due_ms, e.held);
  s.reset();
  if (fs::exists(dir / "quarantine"))
    for (const auto& e : fs::directory_iterator(dir / "quarantine"))
      r.quarantined.push_back(e.path().filename().string());
  std::sort(r.quarantined.begin(), r.quarantined.end());
  return r;
}

}  // namespace

TEST(SpoolCheckpointCrash, EveryStepOfARandomHistoryRecoversAsAFullScanDoes) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    std::mt19937 rng(seed);
    TempDir dir;
    SpoolOptions o = with_checkpoint();
    o.segment_bytes = 16 * 1024;  // rolls and deletions within the history
    auto s = open_ok(dir.str(), o);
    ASSERT_TRUE(s);
    std::map<std::string, std::string> model;  // accepted, not finished: id → content
    struct Open {
      std::string id;
      std::unique_ptr<Spool::Writer> w;
      std::string content;
    };
    std::vector<Open> open;
    int checkpoints = 0, used = 0;
    for (int step = 0; step < 70; ++step) {
      const unsigned op = rng() % 10;
      std::string what = "seed " + std::to_string(seed) + " step " + std::to_string(step);
      if (op <= 2) {
        const std::string c = random_bytes(200 + rng() % 5000, rng());
        model[put(*s, c, 700 + rng() % 2000)] = c;
        what += " put";
      } else if (op == 3 && !model.empty()) {
        auto it = std::next(model.begin(), static_cast<long>(rng() % model.size()));
        auto m = *s->get(it->first);
        m.recipients[rng() % 2].state = RcptState::deferred;
        m.recipients[0].next_attempt_ms = 1700000000000 + (rng() % 100000);
        m.held = rng() % 2;
        ASSERT_TRUE(s->update(m).ok()) << what;
        what += " update";
      } else if (op == 4 && !model.empty()) {
        auto it = std::next(model.begin(), static_cast<long>(rng() % model.size()));
        ASSERT_TRUE(s->finish(it->first).ok()) << what;
        model.erase(it);
        what += " finish";
      } else if (op == 5 && open.size() < 3) {
        Open w{core::new_queue_id(), nullptr, random_bytes(100 + rng() % 3000, rng())};
        w.w = s->begin(w.id);
        ASSERT_TRUE(w.w->append(w.content).ok()) << what;
        open.push_back(std::move(w));
        what += " begin";
      } else if (op == 6 && !open.empty()) {
        Open w = std::move(open.front());
        open.erase(open.begin());
        const std::string more = random_bytes(rng() % 2000, rng());
        ASSERT_TRUE(w.w->append(more).ok()) << what;
        ASSERT_TRUE(commit_sync(*s, std::move(w.w), make_msg(w.id)).ok) << what;
        model[w.id] = w.content + more;
        what += " late commit";
      } else if (op == 7 && !open.empty()) {
        open.pop_back();  // the writer's destructor aborts it
        what += " abort";
      } else if (!segment_files(dir.path).empty()) {  // (an empty spool has no log position)
        ASSERT_TRUE(s->checkpoint().ok()) << what;
        ++checkpoints;
        what += " checkpoint";
      }
      TempDir img, full;
      crash_image(dir, img, false);
      crash_image(dir, full, true);
      bool from_ckpt = false;
      const Recovered a = recover_from(img.path, &from_ckpt);
      const Recovered b = recover_from(full.path);
      used += from_ckpt;
      ASSERT_EQ(a, b) << what;
      EXPECT_TRUE(a.quarantined.empty()) << what;
      ASSERT_EQ(a.contents, model) << what << ": every accepted message, nothing else";
    }
    EXPECT_GT(checkpoints, 3);
    EXPECT_GT(used, 20) << "most crash images were recovered from their checkpoint";
    open.clear();
  }
}

TEST(SpoolCheckpointCrash, DamageAfterTheCheckpointIsJudgedAsAFullScanJudgesIt) {
  TempDir dir, img;
  fs::path seg;
  uint64_t from = 0;
  {
    auto s = open_ok(dir.str(), with_checkpoint());
    std::vector<std::string> before;
    for (int i = 0; i < 3; ++i)
      before.push_back(put(*s, random_bytes(600, static_cast<uint32_t>(i)), 400));
    const std::string late = core::new_queue_id();
    auto w = s->begin(late);  // open across the checkpoint, committed after it
    ASSERT_TRUE(w->append(random_bytes(300, 50)).ok());
    seg = segment_files(dir.path).back();
    ASSERT_TRUE(s->checkpoint().ok());
    from = fs::file_size(seg);
    // The tail: a state record and a DONE of messages the checkpoint has, a late commit, a
    // new message.
    auto m = *s->get(before[0]);
    m.recipients[0].state = RcptState::deferred;
    m.recipients[0].next_attempt_ms = 1700000123000;
    ASSERT_TRUE(s->update(m).ok());
    ASSERT_TRUE(s->finish(before[1]).ok());
    ASSERT_TRUE(w->append(random_bytes(200, 51)).ok());
    ASSERT_TRUE(commit_sync(*s, std::move(w), make_msg(late)).ok);
    put(*s, random_bytes(500, 52), 300);
    crash_image(dir, img, false);
  }  // (the spool's clean stop writes a newer checkpoint into dir: the image is what counts)
  ASSERT_TRUE(fs::exists(img.path / "spool" / "index.ckpt"));
  seg = img.path / "spool" / seg.filename();
  const std::string pristine = read_file(seg);
  ASSERT_GT(pristine.size(), from + 100);
  const fs::path ckpt = img.path / "spool" / "index.ckpt";
  int checked = 0, quarantining = 0;
  for (uint64_t pos = from; pos < pristine.size(); pos += 3) {
    const std::string what = "flip at " + std::to_string(pos);
    TempDir a, b;
    for (TempDir* d : {&a, &b}) {
      fs::create_directories(d->path / "spool");
      std::string bytes = pristine;
      bytes[pos] = static_cast<char>(bytes[pos] ^ 0x41);
      write_file(d->path / "spool" / seg.filename(), bytes);
      for (const auto& e : fs::directory_iterator(img.path / "spool"))
        if (e.path().filename() != seg.filename() && e.path().filename() != "index.ckpt")
          fs::copy(e.path(), d->path / "spool" / e.path().filename());
    }
    fs::copy(ckpt, a.path / "spool" / "index.ckpt");
    bool used = false;
    const Recovered ra = recover_from(a.path, &used, false);
    const Recovered rb = recover_from(b.path, nullptr, false);
    ASSERT_TRUE(used) << what;
    ASSERT_EQ(ra, rb) << what;
    quarantining += !ra.quarantined.empty();
    ++checked;
  }
  EXPECT_GT(checked, 100);
  EXPECT_GT(quarantining, 0) << "some flips damage messages the checkpoint has as live";
}
