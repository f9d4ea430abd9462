// Spool behaviour: durability round trip, group commit, torn tails, damage and quarantine,
// I/O failures, state updates, reclamation and read-only inspection.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "queue/record.hpp"
#include "spool_test_util.hpp"

using namespace tern;
using namespace tern::queue;
using namespace tern::queue::test;

namespace {
// One well-formed record (valid tag), as the spool writes it.
std::string record_bytes(record::Type t, const std::string& id, const std::string& payload) {
  auto h = record::encode_header(t, id, payload);
  return std::string(reinterpret_cast<const char*>(h.data()), h.size()) + id + payload;
}
}  // namespace

TEST(Spool, CommitReopenRecoversMessageAndExactContent) {
  TempDir dir;
  // Binary content with NULs and the record magic inside, larger than one DATA record.
  std::string big = random_bytes(300000, 1);
  big.replace(5000, 4, "TRNR");
  std::string a_id, b_id;
  {
    auto s = open_ok(dir.str());
    ASSERT_TRUE(s);
    a_id = core::new_queue_id();
    auto w = s->begin(a_id);
    // Uneven pieces, one far above the 64 KiB record size.
    ASSERT_TRUE(w->append(std::string_view(big).substr(0, 1)).ok());
    ASSERT_TRUE(w->append(std::string_view(big).substr(1, 70000)).ok());
    ASSERT_TRUE(w->append(std::string_view(big).substr(70001, 200000)).ok());
    ASSERT_TRUE(w->append(std::string_view(big).substr(270001)).ok());
    EXPECT_EQ(w->size(), big.size());
    auto m = make_msg(a_id);
    m.recipients[1].last_reply = "caf\xc3\xa9";
    auto out = commit_sync(*s, std::move(w), m);
    ASSERT_TRUE(out.ok) << out.error;
    b_id = put(*s, "");  // empty content is legal
    EXPECT_EQ(s->stats().commits, 2u);
    EXPECT_EQ(content_of(*s, a_id), big);
  }
  auto s = open_ok(dir.str());
  ASSERT_TRUE(s);
  EXPECT_EQ(ids(*s), (std::vector<std::string>{a_id, b_id}));
  auto m = s->get(a_id);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->content_size, big.size());
  EXPECT_EQ(m->recipients.size(), 2u);
  EXPECT_EQ(m->recipients[1].last_reply, "caf\xc3\xa9");
  EXPECT_EQ(nlohmann::json::parse(m->options_json)["k"], "v");
  EXPECT_EQ(m->helo, "h.acme.example");
  EXPECT_EQ(content_of(*s, a_id), big);
  EXPECT_EQ(content_of(*s, b_id), "");
  EXPECT_EQ(s->get(b_id)->content_size, 0u);
  EXPECT_EQ(s->stats().quarantined, 0u);
  EXPECT_EQ(s->stats().torn_bytes_discarded, 0u);
  EXPECT_FALSE(s->get("NOSUCHID"));
  EXPECT_FALSE(s->read_content("NOSUCHID", [](std::string_view) {}).ok());
}

TEST(Spool, GroupCommitSharesFsyncsAcrossThreads) {
  TempDir dir;
  auto s = open_ok(dir.str());
  ASSERT_TRUE(s);
  constexpr int kThreads = 8, kPerThread = 50;
  std::atomic<int> ok{0}, failed{0};
  std::mutex mu;
  std::set<std::thread::id> callback_threads;
  std::vector<std::vector<int>> completion(kThreads);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      std::vector<std::future<void>> waits;
      for (int i = 0; i < kPerThread; ++i) {
        std::string id = core::new_queue_id();
        auto w = s->begin(id);
        ASSERT_TRUE(w->append(random_bytes(2000, static_cast<uint32_t>(t * 1000 + i))).ok());
        auto p = std::make_shared<std::promise<void>>();
        waits.push_back(p->get_future());
        s->commit(std::move(w), make_msg(id), [&, p, t, i](CommitOutcome o) {
          (o.ok ? ok : failed)++;
          {
            std::lock_guard lk(mu);
            callback_threads.insert(std::this_thread::get_id());
            completion[t].push_back(i);
          }
          p->set_value();
        });
        // Keep a few commits in flight per thread, as concurrent sessions would.
        if (waits.size() >= 4) {
          waits.front().wait();
          waits.erase(waits.begin());
        }
      }
      for (auto& f : waits) f.wait();
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  EXPECT_EQ(failed.load(), 0);
  auto st = s->stats();
  EXPECT_EQ(st.commits, uint64_t(kThreads * kPerThread));
  EXPECT_GT(st.fsyncs, 0u);
  EXPECT_LT(st.fsyncs, st.commits / 2) << "fsyncs=" << st.fsyncs;
  RecordProperty("fsyncs", static_cast<int>(st.fsyncs));
  // All callbacks come from the one sync thread, in each submitter's order.
  EXPECT_EQ(callback_threads.size(), 1u);
  EXPECT_EQ(callback_threads.count(std::this_thread::get_id()), 0u);
  for (const auto& c : completion) EXPECT_TRUE(std::is_sorted(c.begin(), c.end()));
  EXPECT_EQ(s->list().size(), size_t(kThreads * kPerThread));
  s.reset();
  auto again = open_ok(dir.str());
  EXPECT_EQ(again->list().size(), size_t(kThreads * kPerThread));
}

namespace {

struct TornFixture {
  TempDir dir;
  std::string a, b, ca, cb;  // ids and contents
  std::string prefix;        // the segment up to the end of B (acknowledged)
  std::string full;          // plus C's records (DATA x3 + COMMIT)
  fs::path seg;
  std::vector<size_t> bounds;  // record boundaries within C's records

  // Where recovery must cut a file holding the first t bytes: the last complete record.
  size_t keep(size_t t) const {
    size_t k = prefix.size();
    for (size_t b : bounds)
      if (b <= t) k = b;
    return k;
  }
};

void build_torn_fixture(TornFixture& f) {
  auto s = open_ok(f.dir.str());
  f.ca = random_bytes(700, 11);
  f.cb = random_bytes(1500, 12);
  f.a = put(*s, f.ca, 500);
  f.b = put(*s, f.cb, 600);
  auto files = segment_files(f.dir.path);
  ASSERT_EQ(files.size(), 1u);
  f.seg = files[0];
  f.prefix = read_file(f.seg);
  put(*s, random_bytes(600, 13), 200);
  s.reset();
  f.full = read_file(f.seg);
  ASSERT_GT(f.full.size(), f.prefix.size());
  ASSERT_EQ(f.full.substr(0, f.prefix.size()), f.prefix);
  for (size_t off = f.prefix.size(); off < f.full.size();) {
    auto h = record::parse_header(reinterpret_cast<const uint8_t*>(f.full.data() + off));
    ASSERT_TRUE(h);
    off += h->total();
    f.bounds.push_back(off);
  }
  ASSERT_EQ(f.bounds.size(), 4u);  // three DATA records and the COMMIT
  ASSERT_EQ(f.bounds.back(), f.full.size());
}

// The file holds f.full cut at t (plus garbage): A and B survive exactly once, C is gone,
// and exactly the bytes after the last complete record are discarded.
void expect_ab_exactly(TornFixture& f, size_t t, const std::string& garbage,
                       const std::string& what) {
  const std::string bytes = f.full.substr(0, t) + garbage;
  const uint64_t expect_torn = bytes.size() - f.keep(t);
  TempDir d;
  fs::create_directories(d.path / "spool");
  fs::path seg = d.path / "spool" / f.seg.filename();
  write_file(seg, bytes);
  SpoolOptions o;
  o.sync = false;
  auto s = open_ok(d.str(), o);
  ASSERT_TRUE(s) << what;
  ASSERT_EQ(ids(*s), (std::vector<std::string>{f.a, f.b})) << what;
  EXPECT_EQ(content_of(*s, f.a), f.ca) << what;
  EXPECT_EQ(content_of(*s, f.b), f.cb) << what;
  EXPECT_EQ(s->stats().torn_bytes_discarded, expect_torn) << what;
  EXPECT_EQ(s->stats().quarantined, 0u) << what;
  s.reset();
  EXPECT_EQ(fs::file_size(seg), f.keep(t)) << what << ": torn tail must be cut";
  EXPECT_FALSE(fs::exists(d.path / "quarantine")) << what;
}

}  // namespace

TEST(Spool, TornTailAtEveryOffsetIsCut) {
  TornFixture f;
  build_torn_fixture(f);
  for (size_t t = f.prefix.size(); t < f.full.size(); ++t) {
    expect_ab_exactly(f, t, "", "cut at " + std::to_string(t));
    if (HasFatalFailure()) return;
  }
}

TEST(Spool, GarbageAfterPartialRecordIsCut) {
  TornFixture f;
  build_torn_fixture(f);
  std::string junk = random_bytes(37, 99);
  // Garbage that starts like a record header but whose tag cannot match.
  std::string fake = std::string("TRNR\x01\0\0\0\x14\0\0\0\x05\0\0\0", 16) + std::string(16, 'x') +
                     "ABCDEFGHIJKLMNOPQRST" + "hello";
  size_t damaged_cases = 0;
  for (size_t t = f.prefix.size(); t <= f.full.size(); ++t) {
    const std::string& g = (t % 2) ? junk : fake;
    // Cutting after all of C's records leaves C complete: appending garbage then is not a
    // partial write of C, so only the truncated cases are checked here.
    if (t == f.full.size()) continue;
    const std::string what = "cut at " + std::to_string(t) + " + garbage";
    // Where the garbage makes the cut record whole (its length fits), it is no longer a
    // partial write: a whole record failing its check is damage, and the message it may
    // belong to (C) is quarantined rather than dropped. Otherwise it is a torn tail.
    const std::string bytes = f.full.substr(0, t) + g;
    const size_t k = f.keep(t);
    auto h = bytes.size() - k >= record::kHeaderSize
                 ? record::parse_header(reinterpret_cast<const uint8_t*>(bytes.data() + k))
                 : std::nullopt;
    if (!h || k + h->total() > bytes.size()) {
      expect_ab_exactly(f, t, g, what);
      if (HasFatalFailure()) return;
      continue;
    }
    ++damaged_cases;
    TempDir d;
    fs::create_directories(d.path / "spool");
    write_file(d.path / "spool" / f.seg.filename(), bytes);
    SpoolOptions o;
    o.sync = false;
    auto s = open_ok(d.str(), o);
    ASSERT_TRUE(s) << what;
    ASSERT_EQ(ids(*s), (std::vector<std::string>{f.a, f.b})) << what;
    EXPECT_EQ(content_of(*s, f.a), f.ca) << what;
    // (C is quarantined with what is readable of it; when the damaged record is its first,
    // nothing of C is readable: the damage is logged, there is nothing to keep.)
    EXPECT_EQ(s->stats().quarantined, k > f.prefix.size() ? 1u : 0u) << what;
    EXPECT_EQ(s->stats().torn_bytes_discarded, bytes.size() - k - h->total()) << what;
  }
  EXPECT_GT(damaged_cases, 0u);
  // Garbage after a complete message: that message survives and only the garbage goes.
  TempDir d;
  fs::create_directories(d.path / "spool");
  write_file(d.path / "spool" / f.seg.filename(), f.full + junk);
  auto s = open_ok(d.str());
  EXPECT_EQ(s->list().size(), 3u);
  EXPECT_EQ(s->stats().torn_bytes_discarded, junk.size());
}

TEST(Spool, TornThenNewCommitsWork) {
  TornFixture f;
  build_torn_fixture(f);
  write_file(f.seg, f.full.substr(0, f.full.size() - 3));
  std::string d_id;
  {
    auto s = open_ok(f.dir.str());
    EXPECT_EQ(s->stats().torn_bytes_discarded, f.full.size() - 3 - f.keep(f.full.size() - 3));
    d_id = put(*s, "after the tear");
  }
  auto s = open_ok(f.dir.str());
  EXPECT_EQ(ids(*s), (std::vector<std::string>{f.a, f.b, d_id}));
  EXPECT_EQ(content_of(*s, d_id), "after the tear");
  EXPECT_EQ(s->stats().torn_bytes_discarded, 0u);
}

TEST(Spool, FlippedByteInsideCommittedMessageQuarantinesOnlyIt) {
  TempDir base;
  std::string a, b, c, ca = random_bytes(900, 21), cb = random_bytes(1200, 22),
                       cc = random_bytes(800, 23);
  size_t b_start, b_end;
  fs::path seg;
  {
    SpoolOptions o;
    o.sync = false;
    auto s = open_ok(base.str(), o);
    a = put(*s, ca, 1000);
    seg = segment_files(base.path).at(0);
    b_start = fs::file_size(seg);
    b = put(*s, cb, 700);  // two DATA records and a COMMIT
    b_end = fs::file_size(seg);
    c = put(*s, cc, 1000);
  }
  const std::string pristine = read_file(seg);
  for (size_t pos = b_start; pos < b_end; ++pos) {
    const std::string what = "flip at " + std::to_string(pos);
    TempDir d;
    fs::create_directories(d.path / "spool");
    fs::path copy = d.path / "spool" / seg.filename();
    std::string bytes = pristine;
    bytes[pos] = static_cast<char>(bytes[pos] ^ 0xFF);
    write_file(copy, bytes);
    SpoolOptions o;
    o.sync = false;
    {
      auto s = open_ok(d.str(), o);
      ASSERT_TRUE(s) << what;
      ASSERT_EQ(ids(*s), (std::vector<std::string>{a, c})) << what;
      EXPECT_EQ(content_of(*s, a), ca) << what;
      EXPECT_EQ(content_of(*s, c), cc) << what;
      EXPECT_EQ(s->stats().quarantined, 1u) << what;
      EXPECT_EQ(s->stats().torn_bytes_discarded, 0u) << what;
      ASSERT_TRUE(fs::exists(d.path / "quarantine" / (b + ".eml"))) << what;
      auto j = nlohmann::json::parse(read_file(d.path / "quarantine" / (b + ".json")));
      EXPECT_EQ(j["id"], b) << what;
      EXPECT_FALSE(j["reason"].get<std::string>().empty());
      // The spool keeps working after damage.
      if (pos % 64 == 0) put(*s, "later");
    }
    // Quarantine is done once: the next open neither resurrects nor re-quarantines B.
    auto s = open_ok(d.str(), o);
    EXPECT_EQ(s->list().size(), pos % 64 == 0 ? 3u : 2u) << what;
    EXPECT_FALSE(s->get(b)) << what;
    EXPECT_EQ(s->stats().quarantined, 0u) << what;
    if (HasFatalFailure()) return;
  }
}

// An acknowledged message whose COMMIT is the last record of the log: one flipped byte
// anywhere in that record (header, tag, id or envelope) leaves it whole, so it is damage, not
// a torn write: the message is quarantined with its content, never silently dropped.
TEST(Spool, FlippedByteInLastCommitRecordQuarantinesNotTorn) {
  TempDir base;
  std::string a, b, ca = random_bytes(900, 31), cb = "Subject: last\r\n\r\nacknowledged\r\n";
  fs::path seg;
  size_t commit_pos, end;
  {
    SpoolOptions o;
    o.sync = false;
    auto s = open_ok(base.str(), o);
    a = put(*s, ca, 1000);
    b = core::new_queue_id();
    auto w = s->begin(b);
    ASSERT_TRUE(w->append(cb).ok());
    seg = segment_files(base.path).at(0);
    commit_pos = fs::file_size(seg);
    ASSERT_TRUE(commit_sync(*s, std::move(w), make_msg(b)).ok);
    end = fs::file_size(seg);
  }
  const std::string pristine = read_file(seg);
  ASSERT_EQ(pristine.size(), end);
  for (size_t pos = commit_pos; pos < end; ++pos) {
    for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x80}}) {
      const std::string what = "flip " + std::to_string(flip) + " at " + std::to_string(pos);
      TempDir d;
      fs::create_directories(d.path / "spool");
      std::string bytes = pristine;
      bytes[pos] = static_cast<char>(bytes[pos] ^ flip);
      write_file(d.path / "spool" / seg.filename(), bytes);
      SpoolOptions o;
      o.sync = false;
      {
        auto s = open_ok(d.str(), o);
        ASSERT_TRUE(s) << what;
        ASSERT_EQ(ids(*s), (std::vector<std::string>{a})) << what;
        EXPECT_EQ(content_of(*s, a), ca) << what;
        EXPECT_EQ(s->stats().torn_bytes_discarded, 0u) << what;
        EXPECT_EQ(s->stats().quarantined, 1u) << what;
        ASSERT_TRUE(fs::exists(d.path / "quarantine" / (b + ".eml"))) << what;
        EXPECT_EQ(read_file(d.path / "quarantine" / (b + ".eml")), cb) << what;
        auto j = nlohmann::json::parse(read_file(d.path / "quarantine" / (b + ".json")));
        EXPECT_EQ(j["id"], b) << what;
      }
      auto s = open_ok(d.str(), o);  // quarantined once, not again
      EXPECT_EQ(s->stats().quarantined, 0u) << what;
      EXPECT_EQ(ids(*s), (std::vector<std::string>{a})) << what;
      if (HasFatalFailure()) return;
    }
  }
}

// A flipped byte in the envelope JSON still lets the quarantine report name the recipients.
TEST(Spool, QuarantineOfDamagedLastCommitKeepsReadableEnvelope) {
  TempDir dir;
  std::string b = core::new_queue_id();
  fs::path seg;
  size_t commit_pos;
  {
    auto s = open_ok(dir.str());
    put(*s, "first");
    auto w = s->begin(b);
    ASSERT_TRUE(w->append("body").ok());
    seg = segment_files(dir.path).at(0);
    commit_pos = fs::file_size(seg);
    ASSERT_TRUE(commit_sync(*s, std::move(w), make_msg(b)).ok);
  }
  std::string bytes = read_file(seg);
  const size_t at = bytes.find("h.acme.example", commit_pos);
  ASSERT_NE(at, std::string::npos);
  bytes[at] = 'H';  // inside a JSON string: still valid JSON, tag fails
  write_file(seg, bytes);
  auto s = open_ok(dir.str());
  EXPECT_FALSE(s->get(b));
  auto j = nlohmann::json::parse(read_file(dir.path / "quarantine" / (b + ".json")));
  ASSERT_TRUE(j["envelope"].is_object()) << j.dump();
  EXPECT_EQ(j["envelope"]["recipients"].size(), 2u);
  EXPECT_NE(j["reason"].get<std::string>().find("damaged commit"), std::string::npos);
}

TEST(Spool, DamagedCommitRecordQuarantinesWithRecoveredContent) {
  TempDir dir;
  std::string a, b, cb = "Subject: x\r\n\r\nbody\r\n";
  fs::path seg;
  size_t commit_pos;
  {
    auto s = open_ok(dir.str());
    a = put(*s, "first");
    b = core::new_queue_id();
    auto w = s->begin(b);
    ASSERT_TRUE(w->append(cb).ok());
    seg = segment_files(dir.path).at(0);
    commit_pos = fs::file_size(seg);
    ASSERT_TRUE(commit_sync(*s, std::move(w), make_msg(b)).ok);
    put(*s, "third");
  }
  std::string bytes = read_file(seg);
  bytes[commit_pos + record::kHeaderSize + 25] ^= 0x40;  // inside B's envelope JSON
  write_file(seg, bytes);
  auto s = open_ok(dir.str());
  EXPECT_EQ(s->list().size(), 2u);
  EXPECT_FALSE(s->get(b));
  EXPECT_EQ(read_file(dir.path / "quarantine" / (b + ".eml")), cb);
}

// Found by spool_fuzz / envelope_fuzz: a COMMIT whose tag is intact but whose envelope holds a
// number its field cannot (attempts = 1e10) was decoded with undefined behaviour (a double
// converted to int). Such a commit is unreadable: the message is quarantined, content kept.
TEST(Spool, CommitWithOutOfRangeNumberIsQuarantined) {
  TempDir dir;
  const std::string id = core::new_queue_id();
  const std::string content = "Subject: n\r\n\r\nbody\r\n";
  nlohmann::json env = make_msg(id);
  env["recipients"][0]["attempts"] = 1e10;
  env["size"] = content.size();
  record::ContentHash hash;
  hash.update(content);
  const nlohmann::json commit = {
      {"envelope", env}, {"content_blake2b", hash.hex_final()}, {"data_records", 1}};
  fs::create_directories(dir.path / "spool");
  write_file(dir.path / "spool" / "seg-0000000000000001.log",
             record_bytes(record::Type::data, id, content) +
                 record_bytes(record::Type::commit, id, commit.dump()));
  auto s = open_ok(dir.str());
  EXPECT_TRUE(s->list().empty());
  EXPECT_EQ(s->stats().quarantined, 1u);
  EXPECT_EQ(read_file(dir.path / "quarantine" / (id + ".eml")), content);
}

// Found by spool_fuzz: a record that follows its message's ABORT/DONE in a later segment (a
// well-tagged stray) was ignored at the first open, but the segment holding the ABORT was then
// reclaimed, so the next open saw the stray alone and quarantined a message that was dead.
// Recovery is idempotent: the second open finds the same (nothing).
TEST(Spool, RecordAfterDeathInALaterSegmentStaysDead) {
  TempDir dir;
  const std::string id = core::new_queue_id();
  fs::create_directories(dir.path / "spool");
  write_file(dir.path / "spool" / "seg-0000000000000001.log",
             record_bytes(record::Type::data, id, "Subject: x\r\n\r\nbody\r\n") +
                 record_bytes(record::Type::abort, id, ""));
  write_file(dir.path / "spool" / "seg-0000000000000002.log",
             record_bytes(record::Type::commit, id, "not json"));
  for (int open = 1; open <= 2; ++open) {
    auto s = open_ok(dir.str());
    EXPECT_TRUE(s->list().empty()) << "open " << open;
    EXPECT_EQ(s->stats().quarantined, 0u) << "open " << open;
  }
  EXPECT_FALSE(fs::exists(dir.path / "quarantine" / (id + ".json")));
}

TEST(Spool, EnospcOnAppendFailsCommitAndLeavesNoTrace) {
  TempDir dir;
  auto ops = std::make_shared<FaultyOps>();
  std::string a, c, b = core::new_queue_id();
  {
    auto s = open_ok(dir.str(), {}, ops);
    a = put(*s, "before");
    auto w = s->begin(b);
    ASSERT_TRUE(w->append("hello").ok());
    ops->write_budget = 10;  // a short write, then ENOSPC
    ops->write_errno = ENOSPC;
    auto r = w->append(random_bytes(5000, 3));
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.error().temporary);
    EXPECT_TRUE(r.error().is(core::ErrorCode::disk_full)) << r.error().message;
    ops->write_errno = 0;
    // Sticky: the content has a hole even though the disk recovered.
    EXPECT_FALSE(w->append("more").ok());
    auto out = commit_sync(*s, std::move(w), make_msg(b));
    EXPECT_FALSE(out.ok);
    EXPECT_TRUE(out.disk_full);
    EXPECT_FALSE(s->get(b));
    c = put(*s, "after");  // the fault cleared: the next commit works
  }
  auto s = open_ok(dir.str());
  EXPECT_EQ(ids(*s), (std::vector<std::string>{a, c}));
  EXPECT_EQ(content_of(*s, c), "after");
  EXPECT_EQ(s->stats().quarantined, 0u);
  EXPECT_EQ(s->stats().torn_bytes_discarded, 0u);  // the short write was truncated away
}

TEST(Spool, EnospcOnCommitRecordFailsCommit) {
  TempDir dir;
  auto ops = std::make_shared<FaultyOps>();
  std::string c, b = core::new_queue_id();
  {
    auto s = open_ok(dir.str(), {}, ops);
    auto w = s->begin(b);
    ASSERT_TRUE(w->append("content").ok());
    ops->write_errno = ENOSPC;
    auto out = commit_sync(*s, std::move(w), make_msg(b));
    EXPECT_FALSE(out.ok);
    EXPECT_TRUE(out.disk_full);
    EXPECT_NE(out.error.find("disk full"), std::string::npos);
    ops->write_errno = 0;
    c = put(*s, "after");
    EXPECT_EQ(s->stats().commits, 1u);
  }
  auto s = open_ok(dir.str());
  EXPECT_EQ(ids(*s), (std::vector<std::string>{c}));
}

TEST(Spool, FsyncFailureFailsCommitAndIsNotRecovered) {
  for (int err : {ENOSPC, EIO}) {
    TempDir dir;
    auto ops = std::make_shared<FaultyOps>();
    std::string a, c, b = core::new_queue_id(), inflight = core::new_queue_id();
    {
      auto s = open_ok(dir.str(), {}, ops);
      a = put(*s, "before");
      auto early = s->begin(inflight);  // content written before the failed sync
      ASSERT_TRUE(early->append("in flight").ok());
      auto w = s->begin(b);
      ASSERT_TRUE(w->append("doomed").ok());
      ops->sync_errno = err;
      ops->sync_failures_left = 1;
      auto out = commit_sync(*s, std::move(w), make_msg(b));
      EXPECT_FALSE(out.ok);
      EXPECT_EQ(out.disk_full, err == ENOSPC);
      EXPECT_FALSE(s->get(b));
      // Its content sat in a file whose fsync failed: it must not be acknowledged.
      EXPECT_FALSE(commit_sync(*s, std::move(early), make_msg(inflight)).ok);
      c = put(*s, "after");  // fault cleared
      EXPECT_TRUE(s->get(c));
    }
    // Design: the COMMIT of b is complete in the file (the page cache kept it), but the ABORT
    // written after the failure was made durable at shutdown, so b is not resurrected.
    auto s = open_ok(dir.str());
    EXPECT_EQ(ids(*s), (std::vector<std::string>{a, c})) << "errno " << err;
    EXPECT_EQ(content_of(*s, c), "after");
    EXPECT_EQ(s->stats().quarantined, 0u);
  }
}

TEST(Spool, UpdateIsDurable) {
  TempDir dir;
  std::string id;
  {
    auto s = open_ok(dir.str());
    id = put(*s, "x");
    auto m = *s->get(id);
    m.recipients[0].state = RcptState::delivered;
    m.recipients[0].attempts = 1;
    m.recipients[0].last_reply = "250 2.0.0 ok";
    m.recipients[1].state = RcptState::deferred;
    m.recipients[1].attempts = 1;
    m.recipients[1].next_attempt_ms = 1700000600000;
    m.held = true;
    ASSERT_TRUE(s->update(m).ok());
    EXPECT_EQ(s->get(id)->recipients[0].state, RcptState::delivered);
  }
  {
    auto s = open_ok(dir.str());
    auto m = s->get(id);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->recipients[0].state, RcptState::delivered);
    EXPECT_EQ(m->recipients[0].last_reply, "250 2.0.0 ok");
    EXPECT_EQ(m->recipients[1].state, RcptState::deferred);
    EXPECT_EQ(m->recipients[1].next_attempt_ms, 1700000600000);
    EXPECT_TRUE(m->held);
    auto n = *m;
    n.recipients[1].state = RcptState::bounced;
    n.held = false;
    ASSERT_TRUE(s->update(n).ok());
  }
  auto s = open_ok(dir.str());
  EXPECT_EQ(s->get(id)->recipients[1].state, RcptState::bounced);
  EXPECT_FALSE(s->get(id)->held);
  EXPECT_EQ(content_of(*s, id), "x");
  auto ghost = make_msg("NOSUCHMESSAGE");
  EXPECT_FALSE(s->update(ghost).ok());
  EXPECT_FALSE(s->finish("NOSUCHMESSAGE").ok());
}

TEST(Spool, FinishDeletesRolledSegments) {
  TempDir dir;
  SpoolOptions o;
  o.segment_bytes = 1;  // every record starts a new segment
  std::string a, b, c;
  {
    auto s = open_ok(dir.str(), o);
    a = put(*s, "aaa");  // DATA seg1, COMMIT seg2
    b = put(*s, "bbb");  // seg3, seg4
    EXPECT_EQ(segment_files(dir.path).size(), 4u);
    // DONE in seg5; nothing live is there, so the log rolls past it (seg6, empty) and seg3,
    // seg4 and then seg5 (its tombstone covers nothing left) go.
    ASSERT_TRUE(s->finish(b).ok());
    auto files = segment_files(dir.path);
    ASSERT_EQ(files.size(), 3u);
    EXPECT_EQ(files[2].filename(), "seg-0000000000000006.log");
    c = put(*s, "ccc");              // seg6, seg7
    ASSERT_TRUE(s->finish(a).ok());  // DONE seg8, rolled past (seg9): seg1, seg2, seg8 go
    files = segment_files(dir.path);
    std::vector<std::string> names;
    for (auto& f : files) names.push_back(f.filename().string());
    EXPECT_EQ(names,
              (std::vector<std::string>{"seg-0000000000000006.log", "seg-0000000000000007.log",
                                        "seg-0000000000000009.log"}));
    EXPECT_EQ(s->stats().segments, 3u);
    EXPECT_FALSE(s->get(a));
    EXPECT_FALSE(s->finish(a).ok());
  }
  auto s = open_ok(dir.str(), o);
  EXPECT_EQ(ids(*s), (std::vector<std::string>{c}));
  EXPECT_EQ(content_of(*s, c), "ccc");
}

TEST(Spool, DoneRecordOutlivesTheSegmentsItCovers) {
  TempDir dir;
  SpoolOptions o;
  o.segment_bytes = 4096;
  std::string a, b, e, f;
  const fs::path seg2 = dir.path / "spool" / "seg-0000000000000002.log";
  {
    auto s = open_ok(dir.str(), o);
    a = put(*s, "A");                          // seg1
    b = put(*s, "B");                          // seg1 (stays live)
    e = put(*s, random_bytes(5000, 1), 5000);  // DATA seg1, COMMIT seg2
    ASSERT_TRUE(s->finish(a).ok());            // DONE seg2: covers seg1
    f = put(*s, random_bytes(5000, 2), 5000);  // DATA seg2, COMMIT seg3
    ASSERT_TRUE(s->finish(f).ok());
    ASSERT_TRUE(s->finish(e).ok());
    // seg2 holds no live record, but A's DONE in it must stay while seg1 (B) exists.
    EXPECT_TRUE(fs::exists(seg2));
  }
  {
    auto s = open_ok(dir.str(), o);
    EXPECT_EQ(ids(*s), (std::vector<std::string>{b}));
    ASSERT_TRUE(s->finish(b).ok());
    auto files = segment_files(dir.path);
    ASSERT_EQ(files.size(), 1u);
    EXPECT_EQ(files[0].filename(), "seg-0000000000000003.log");
  }
  auto s = open_ok(dir.str(), o);
  EXPECT_TRUE(s->list().empty());
}

TEST(Spool, ReadOnlyOpenNeverModifies) {
  TempDir dir;
  auto w = open_ok(dir.str());
  std::string a = put(*w, "alpha"), b = put(*w, "beta");
  std::string c = core::new_queue_id();
  auto inflight = w->begin(c);
  ASSERT_TRUE(inflight->append("gamma").ok());
  auto before = snapshot(dir.path);
  SpoolOptions ro;
  ro.read_only = true;
  {
    auto r = open_ok(dir.str(), ro);
    ASSERT_TRUE(r);
    EXPECT_EQ(ids(*r), (std::vector<std::string>{a, b}));
    EXPECT_EQ(content_of(*r, a), "alpha");
    auto rw = r->begin(core::new_queue_id());
    EXPECT_FALSE(rw->append("x").ok());
    EXPECT_FALSE(commit_sync(*r, std::move(rw), make_msg("X")).ok);
    EXPECT_FALSE(r->update(*r->get(a)).ok());
    EXPECT_FALSE(r->finish(a).ok());
  }
  EXPECT_EQ(snapshot(dir.path), before);
  ASSERT_TRUE(commit_sync(*w, std::move(inflight), make_msg(c)).ok);
  w.reset();

  // A torn tail and a damaged message: read-only reports but neither cuts nor quarantines.
  fs::path seg = segment_files(dir.path).at(0);
  std::string bytes = read_file(seg);
  bytes[record::kHeaderSize + 20 + 2] ^= 1;  // inside A's first DATA payload
  write_file(seg, bytes + "partial-record-bytes");
  before = snapshot(dir.path);
  {
    auto r = open_ok(dir.str(), ro);
    EXPECT_EQ(ids(*r), (std::vector<std::string>{b, c}));
    EXPECT_EQ(r->stats().quarantined, 1u);
  }
  EXPECT_EQ(snapshot(dir.path), before);
  EXPECT_FALSE(fs::exists(dir.path / "quarantine"));
  // The writable open does both.
  auto s = open_ok(dir.str());
  EXPECT_EQ(ids(*s), (std::vector<std::string>{b, c}));
  EXPECT_TRUE(fs::exists(dir.path / "quarantine" / (a + ".eml")));
  EXPECT_EQ(s->stats().torn_bytes_discarded, 20u);
}

TEST(Spool, ReadOnlyOfMissingSpoolIsEmpty) {
  TempDir dir;
  SpoolOptions ro;
  ro.read_only = true;
  auto r = open_ok((dir.path / "nothing-here").string(), ro);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->list().empty());
  EXPECT_FALSE(fs::exists(dir.path / "nothing-here"));
}

TEST(Spool, HostileIdsAndMisuse) {
  TempDir dir;
  std::string good;
  {
    auto s = open_ok(dir.str());
    for (std::string bad : {std::string("../../etc/passwd"), std::string(""), std::string(65, 'A'),
                            std::string("a/b"), std::string("A\0B", 3), std::string("A B")}) {
      auto w = s->begin(bad);
      EXPECT_FALSE(w->append("x").ok()) << bad;
      auto m = make_msg(bad);
      EXPECT_FALSE(commit_sync(*s, std::move(w), m).ok) << bad;
    }
    // Envelope id differing from the writer's id.
    std::string id = core::new_queue_id();
    auto w = s->begin(id);
    ASSERT_TRUE(w->append("content").ok());
    EXPECT_FALSE(commit_sync(*s, std::move(w), make_msg(core::new_queue_id())).ok);
    // Abandoned writer: ABORT, never live.
    {
      auto abandoned = s->begin(core::new_queue_id());
      ASSERT_TRUE(abandoned->append("half a message").ok());
    }
    good = put(*s, "good");
    EXPECT_EQ(ids(*s), (std::vector<std::string>{good}));
  }
  auto s = open_ok(dir.str());
  EXPECT_EQ(ids(*s), (std::vector<std::string>{good}));
  EXPECT_EQ(s->stats().quarantined, 0u);
  EXPECT_FALSE(fs::exists(dir.path / "quarantine"));
}

TEST(Spool, CallbackMayUpdateAndFinishWithoutDeadlock) {
  TempDir dir;
  auto s = open_ok(dir.str());
  std::string id = core::new_queue_id();
  auto w = s->begin(id);
  ASSERT_TRUE(w->append("x").ok());
  std::promise<bool> p;
  s->commit(std::move(w), make_msg(id), [&](CommitOutcome o) {
    auto m = *s->get(id);
    m.held = true;
    bool ok = o.ok && s->update(m).ok() && s->finish(id).ok();
    p.set_value(ok);
  });
  EXPECT_TRUE(p.get_future().get());
  EXPECT_TRUE(s->list().empty());
}

TEST(Spool, ConcurrentCommitUpdateFinishAndRead) {
  TempDir dir;
  SpoolOptions o;
  o.segment_bytes = 64 * 1024;  // force many rolls and deletions under load
  std::set<std::string> kept;
  std::mutex mu;
  {
    auto s = open_ok(dir.str(), o);
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t) {
      ts.emplace_back([&, t] {
        for (int i = 0; i < 40; ++i) {
          std::string content = random_bytes(3000 + i * 10, static_cast<uint32_t>(t * 100 + i));
          std::string id = put(*s, content, 1024);
          EXPECT_EQ(content_of(*s, id), content);
          auto m = *s->get(id);
          m.recipients[0].state = RcptState::delivered;
          EXPECT_TRUE(s->update(m).ok());
          if (i % 3 == 0) {
            std::lock_guard lk(mu);
            kept.insert(id);
          } else {
            EXPECT_TRUE(s->finish(id).ok());
          }
        }
      });
    }
    for (auto& t : ts) t.join();
    EXPECT_EQ(s->list().size(), kept.size());
  }
  auto s = open_ok(dir.str(), o);
  std::set<std::string> got;
  for (const auto& m : s->list()) {
    got.insert(m.id);
    EXPECT_EQ(m.recipients[0].state, RcptState::delivered);
  }
  EXPECT_EQ(got, kept);
  EXPECT_EQ(s->stats().quarantined, 0u);
  EXPECT_EQ(s->stats().torn_bytes_discarded, 0u);
}

// DKIM-Signature fields are known only after the body: they are stored with the commit and
// read back in front of the streamed content, exactly, also after a restart.
TEST(Spool, PrependIsStoredWithTheCommitAndReadFirst) {
  TempDir dir;
  const std::string prepend = "DKIM-Signature: v=1; a=rsa-sha256; d=x.test; s=s1;\r\n b=abc\r\n";
  const std::string body = "From: a@x.test\r\n\r\nhello\r\n";
  std::string id = core::new_queue_id();
  {
    auto s = open_ok(dir.str());
    ASSERT_TRUE(s);
    auto w = s->begin(id);
    ASSERT_TRUE(w->append(body).ok());
    auto m = make_msg(id);
    m.prepend = prepend;
    ASSERT_TRUE(commit_sync(*s, std::move(w), m).ok);
    EXPECT_EQ(content_of(*s, id), prepend + body);
  }
  auto s = open_ok(dir.str());
  ASSERT_TRUE(s);
  EXPECT_EQ(content_of(*s, id), prepend + body);
  auto m = s->get(id);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->content_size, body.size());
  nlohmann::json j = *m;
  EXPECT_EQ(j["size"].get<uint64_t>(), prepend.size() + body.size());
  QueuedMessage back = j.get<QueuedMessage>();
  EXPECT_EQ(back.prepend, prepend);
  EXPECT_EQ(back.content_size, body.size());
}

// The delivery engine's calls: a pull reader of prepend + content, and asynchronous
// update/finish that share group commits and survive a reopen.
TEST(Spool, ContentReaderAndAsyncUpdateFinish) {
  TempDir dir;
  const std::string body = random_bytes(150000, 9);
  std::string id, done_id;
  {
    auto s = open_ok(dir.str());
    ASSERT_TRUE(s);
    id = core::new_queue_id();
    auto w = s->begin(id);
    ASSERT_TRUE(w->append(body).ok());
    auto m = make_msg(id);
    m.prepend = "DKIM-Signature: v=1\r\n";
    ASSERT_TRUE(commit_sync(*s, std::move(w), m).ok);
    done_id = put(*s, "to be finished");

    auto rd = s->open_content(id);
    ASSERT_TRUE(rd.ok());
    EXPECT_EQ(rd.value()->size(), m.prepend.size() + body.size());
    std::string got;
    char buf[7000];  // pieces that straddle the prepend and the records
    for (;;) {
      auto n = rd.value()->read(buf, sizeof buf);
      ASSERT_TRUE(n.ok());
      if (n.value() == 0) break;
      got.append(buf, n.value());
    }
    EXPECT_EQ(got, m.prepend + body);
    EXPECT_FALSE(s->open_content("NOSUCHID").ok());

    // Async updates: the in-memory state changes at once, durability is reported later.
    std::vector<std::future<bool>> waits;
    for (int i = 0; i < 50; ++i) {
      m.recipients[0].attempts = i + 1;
      m.recipients[0].state = RcptState::deferred;
      auto p = std::make_shared<std::promise<bool>>();
      waits.push_back(p->get_future());
      s->update_async(m, [p](core::Result<void> r) { p->set_value(r.ok()); });
      EXPECT_EQ(s->get(id)->recipients[0].attempts, i + 1);
    }
    for (auto& f : waits) EXPECT_TRUE(f.get());
    std::promise<bool> fin;
    s->finish_async(done_id, [&fin](core::Result<void> r) { fin.set_value(r.ok()); });
    EXPECT_TRUE(fin.get_future().get());
    EXPECT_FALSE(s->get(done_id));
    std::promise<bool> bad;
    s->update_async(make_msg("NOSUCHID"), [&bad](core::Result<void> r) { bad.set_value(r.ok()); });
    EXPECT_FALSE(bad.get_future().get());
  }
  auto s = open_ok(dir.str());
  ASSERT_TRUE(s);
  EXPECT_EQ(ids(*s), std::vector<std::string>{id});
  EXPECT_EQ(s->get(id)->recipients[0].attempts, 50);
  EXPECT_EQ(s->get(id)->recipients[0].state, RcptState::deferred);
}
