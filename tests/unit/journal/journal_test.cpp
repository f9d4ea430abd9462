// The node-local write journal (issue 12): the record codec's scan (torn tails only at the
// end of the newest segment, damage kept and scanned past, damaged headers rebuilt, seq
// order, applied marks), the sans-IO bookkeeping (rotation, trim, seqs), and the
// file driver (replay after reopen, applied marks, trim, a torn or corrupt file on disk, a
// failed fdatasync sealing the segment).
#include "journal/journal.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "journal/core.hpp"
#include "journal/record.hpp"
#include "queue/file_ops.hpp"
#include "unit/store/test_dir.hpp"

namespace tern::journal {
namespace {

namespace fs = std::filesystem;
using record::Kind;
using record::Tail;

std::string three_records() {
  std::string s;
  record::encode(s, Kind::entry, 1, "one");
  record::encode(s, Kind::entry, 2, "two");
  record::encode(s, Kind::applied, 1, "");
  record::encode(s, Kind::entry, 3, "three");
  return s;
}

// --- record codec ---

TEST(JournalRecord, ScanReadsBackWhatWasEncoded) {
  const std::string bytes = three_records();
  auto s = record::scan(bytes);
  EXPECT_EQ(s.tail, Tail::clean);
  EXPECT_EQ(s.valid_bytes, bytes.size());
  ASSERT_EQ(s.records.size(), 4u);
  EXPECT_EQ(s.records[0].payload, "one");
  EXPECT_EQ(s.records[3].payload, "three");
  EXPECT_EQ(s.records[3].seq, 3u);
  EXPECT_EQ(s.last_entry_seq, 3u);
  EXPECT_EQ(s.applied_seq, 1u);
}

TEST(JournalRecord, EveryCutOfTheLastRecordIsATornTail) {
  const std::string bytes = three_records();
  const size_t last_start = bytes.size() - (record::kHeaderSize + 5);
  for (size_t cut = last_start + 1; cut < bytes.size(); ++cut) {
    auto s = record::scan(std::string_view(bytes).substr(0, cut));
    EXPECT_EQ(s.tail, Tail::torn) << cut;
    EXPECT_TRUE(s.damaged.empty()) << cut;
    EXPECT_EQ(s.valid_bytes, last_start) << cut;
    EXPECT_EQ(s.records.size(), 3u) << cut;
    EXPECT_EQ(s.last_entry_seq, 2u);
  }
}

TEST(JournalRecord, ACutShortRecordInAnOlderSegmentIsDamageNotTorn) {
  // Only the newest segment was being appended to: bytes cut short anywhere else are kept.
  const std::string bytes = three_records();
  const size_t last_start = bytes.size() - (record::kHeaderSize + 5);
  auto s = record::scan(std::string_view(bytes).substr(0, bytes.size() - 2), 0, 0, false);
  EXPECT_EQ(s.tail, Tail::clean);
  EXPECT_EQ(s.valid_bytes, bytes.size() - 2);
  ASSERT_EQ(s.damaged.size(), 1u);
  EXPECT_EQ(s.damaged[0].offset, last_start);
  EXPECT_EQ(s.records.size(), 3u);
}

TEST(JournalRecord, ZerosAfterTheLastRecordAreATornTail) {
  std::string bytes = three_records();
  const size_t good = bytes.size();
  bytes.append(100, '\0');  // a file extended by a crash before its data reached the disk
  auto s = record::scan(bytes);
  EXPECT_EQ(s.tail, Tail::torn);
  EXPECT_EQ(s.valid_bytes, good);
}

// The review's case: a flipped bit in a length field in the middle of a segment used to read
// as a torn tail, cutting off the synced records after it. Every record is kept, the bytes are
// reported as damaged, and nothing is torn.
TEST(JournalRecord, AFlippedBitInTheHeaderMidSegmentLosesNoRecord) {
  const std::string bytes = three_records();
  const size_t second = record::kHeaderSize + 3;       // the record "two"
  for (size_t i = second; i < second + 20; ++i) {      // magic, kind, reserved, seq, length
    if (i >= second + 8 && i < second + 16) continue;  // the seq: below
    for (int bit : {0, 3, 7}) {
      std::string b = bytes;
      b[i] = static_cast<char>(b[i] ^ (1 << bit));
      auto s = record::scan(b);
      EXPECT_EQ(s.tail, Tail::clean) << i << "/" << bit;
      EXPECT_EQ(s.valid_bytes, b.size()) << i;
      ASSERT_EQ(s.records.size(), 4u) << i << "/" << bit;
      EXPECT_EQ(s.records[1].payload, "two") << i;
      EXPECT_TRUE(s.records[1].repaired) << i;
      EXPECT_EQ(s.records[3].payload, "three") << i;
      ASSERT_EQ(s.damaged.size(), 1u) << i;
      EXPECT_EQ(s.damaged[0].offset, second);
      EXPECT_EQ(s.damaged[0].bytes, record::kHeaderSize + 3);
      EXPECT_EQ(s.last_entry_seq, 3u);
    }
  }
}

TEST(JournalRecord, AFlippedBitElsewhereLosesOnlyThatRecord) {
  const std::string bytes = three_records();
  const size_t second = record::kHeaderSize + 3;
  const size_t second_len = record::kHeaderSize + 3;
  std::vector<size_t> where;
  for (size_t i = second + 8; i < second + 16; ++i) where.push_back(i);           // seq
  for (size_t i = second + 20; i < second + second_len; ++i) where.push_back(i);  // tag, payload
  for (size_t i : where) {
    std::string b = bytes;
    b[i] = static_cast<char>(b[i] ^ 1);
    auto s = record::scan(b);
    EXPECT_EQ(s.tail, Tail::clean) << i;
    ASSERT_EQ(s.records.size(), 3u) << i;  // "one", the mark, "three"
    EXPECT_EQ(s.records[0].payload, "one");
    EXPECT_EQ(s.records[2].payload, "three");
    ASSERT_EQ(s.damaged.size(), 1u) << i;
    EXPECT_EQ(s.damaged[0].offset, second);
    EXPECT_EQ(s.damaged[0].bytes, second_len);
  }
}

TEST(JournalRecord, AFlippedLengthBitInTheLastRecordIsRepairedNotTorn) {
  const std::string bytes = three_records();
  const size_t last_start = bytes.size() - (record::kHeaderSize + 5);
  for (int bit = 0; bit < 32; ++bit) {
    std::string b = bytes;
    b[last_start + 16 + bit / 8] =
        static_cast<char>(b[last_start + 16 + bit / 8] ^ (1 << (bit % 8)));
    auto s = record::scan(b);
    EXPECT_EQ(s.tail, Tail::clean) << bit;
    ASSERT_EQ(s.records.size(), 4u) << bit;
    EXPECT_EQ(s.records[3].payload, "three") << bit;
    EXPECT_EQ(s.damaged.size(), 1u) << bit;
  }
}

TEST(JournalRecord, EntrySeqsMustGrowAcrossSegments) {
  std::string b;
  record::encode(b, Kind::entry, 5, "x");
  EXPECT_TRUE(record::scan(b, 4).damaged.empty());
  auto s = record::scan(b, 5);  // an earlier segment ended at 5
  EXPECT_EQ(s.damaged.size(), 1u);
  EXPECT_TRUE(s.records.empty());
  std::string back;
  record::encode(back, Kind::entry, 7, "a");
  record::encode(back, Kind::entry, 6, "b");
  record::encode(back, Kind::entry, 8, "c");
  auto t = record::scan(back);
  ASSERT_EQ(t.damaged.size(), 1u);  // "b" only: "c" after it is kept
  ASSERT_EQ(t.records.size(), 2u);
  EXPECT_EQ(t.records[1].payload, "c");
}

TEST(JournalRecord, GarbageIsDamageNotTorn) {
  const std::string junk = "this is not a journal record at all, but it is long enough";
  auto s = record::scan(junk);
  EXPECT_EQ(s.tail, Tail::clean);
  ASSERT_EQ(s.damaged.size(), 1u);
  EXPECT_EQ(s.damaged[0].bytes, junk.size());
  // Garbage between records: the records after it are found again.
  std::string b;
  record::encode(b, Kind::entry, 1, "one");
  b += junk;
  record::encode(b, Kind::entry, 2, "two");
  auto t = record::scan(b);
  ASSERT_EQ(t.records.size(), 2u);
  EXPECT_EQ(t.records[1].payload, "two");
  ASSERT_EQ(t.damaged.size(), 1u);
  EXPECT_EQ(t.damaged[0].bytes, junk.size());
}

// --- bookkeeping ---

TEST(JournalCore, FirstAppendOpensASegmentNamedByItsSeq) {
  JournalCore c({1000});
  auto p = c.plan_append(2, 100);
  EXPECT_EQ(p.first_seq, 1u);
  ASSERT_TRUE(p.new_segment);
  EXPECT_EQ(*p.new_segment, 1u);
  c.appended(p, 2, 100);
  EXPECT_EQ(c.next_seq(), 3u);
  auto q = c.plan_append(1, 100);
  EXPECT_FALSE(q.new_segment);  // room left
  c.appended(q, 1, 100);
  auto r = c.plan_append(1, 900);  // would pass 1000
  ASSERT_TRUE(r.new_segment);
  EXPECT_EQ(*r.new_segment, 4u);
}

TEST(JournalCore, TrimDeletesOnlyASealedFullyAppliedPrefix) {
  JournalCore c({100});
  for (int i = 0; i < 3; ++i) {
    auto p = c.plan_append(2, 100);  // each group fills a segment: names 1, 3, 5
    c.appended(p, 2, 100);
  }
  EXPECT_EQ(c.segments(), 3u);
  EXPECT_TRUE(c.trim(1).empty());  // segment 1 holds 1..2
  EXPECT_EQ(c.trim(3), (std::vector<uint64_t>{1}));
  EXPECT_EQ(c.trim(6), (std::vector<uint64_t>{3}));  // 5 is the active one: kept
  EXPECT_EQ(c.segments(), 1u);
}

TEST(JournalCore, RecoveredSegmentsAreSealedAndSeqsGoOnAboveEverything) {
  JournalCore c({1000});
  c.recovered({10, 12, 300}, 11);
  c.recovered({20, 0, 36}, 12);  // only a mark in it
  EXPECT_EQ(c.next_seq(), 21u);  // above the name 20
  EXPECT_EQ(c.applied(), 12u);
  auto p = c.plan_append(1, 10);
  ASSERT_TRUE(p.new_segment);  // recovered segments are never appended to
  EXPECT_EQ(*p.new_segment, 21u);
  c.appended(p, 1, 10);
  EXPECT_EQ(c.trim(12), (std::vector<uint64_t>{10, 20}));
}

TEST(JournalCore, AFailedWriteSealsTheSegmentAndBurnsItsSeqs) {
  JournalCore c({1000});
  auto p = c.plan_append(1, 10);
  c.appended(p, 1, 10);
  auto q = c.plan_append(3, 10);
  c.failed(q, 3);
  EXPECT_EQ(c.next_seq(), 5u);
  auto r = c.plan_append(1, 10);
  ASSERT_TRUE(r.new_segment);
  EXPECT_EQ(*r.new_segment, 5u);
  EXPECT_FALSE(c.mark_wanted(1));  // no active segment until the next append
}

TEST(JournalCore, RetryDelayDoublesUpToFiveSeconds) {
  EXPECT_EQ(apply_retry_delay_ms(1), 100);
  EXPECT_EQ(apply_retry_delay_ms(2), 200);
  EXPECT_EQ(apply_retry_delay_ms(4), 800);
  EXPECT_EQ(apply_retry_delay_ms(7), 5000);
  EXPECT_EQ(apply_retry_delay_ms(1000), 5000);
}

// --- the driver, on disk ---

std::vector<std::string> payloads_of(const std::vector<Replayed>& r) {
  std::vector<std::string> out;
  for (const auto& x : r) out.push_back(x.payload);
  return out;
}

std::vector<std::string> segment_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

class JournalDisk : public ::testing::Test {
 protected:
  std::unique_ptr<Journal> open(std::vector<Replayed>* out, JournalOptions o = {}) {
    auto j = Journal::open(dir_, o, out);
    EXPECT_TRUE(j.ok()) << j.error().message;
    return j.ok() ? std::move(j).value() : nullptr;
  }
  test::TempDir tmp_;
  std::string dir_ = tmp_.file("journal");
};

TEST_F(JournalDisk, AppendedEntriesAreReplayedAfterReopenInOrder) {
  std::vector<Replayed> r;
  {
    auto j = open(&r);
    EXPECT_TRUE(r.empty());
    EXPECT_EQ(j->append({"a", "b"}).value(), 1u);
    EXPECT_EQ(j->append({"c"}).value(), 3u);
  }
  auto j = open(&r);
  EXPECT_EQ(payloads_of(r), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(r[2].seq, 3u);
  EXPECT_EQ(j->append({"d"}).value(), 4u);  // seqs go on
}

TEST_F(JournalDisk, AppliedEntriesAreNotReplayed) {
  std::vector<Replayed> r;
  {
    auto j = open(&r);
    ASSERT_TRUE(j->append({"a", "b", "c"}).ok());
    ASSERT_TRUE(j->mark_applied(2).ok());
  }
  auto j = open(&r);
  EXPECT_EQ(payloads_of(r), (std::vector<std::string>{"c"}));
  ASSERT_TRUE(j->mark_applied(3).ok());  // recovered segment fully applied: deleted
  ASSERT_TRUE(j->append({"d"}).ok());
  ASSERT_TRUE(j->mark_applied(4).ok());
  j.reset();
  j = open(&r);
  EXPECT_TRUE(r.empty());
}

TEST_F(JournalDisk, AppliedSegmentsAreTrimmed) {
  std::vector<Replayed> r;
  JournalOptions o;
  o.segment_bytes = 400;
  auto j = open(&r, o);
  const std::string payload(100, 'x');
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(j->append({payload}).ok());
  EXPECT_GT(segment_files(dir_).size(), 5u);
  ASSERT_TRUE(j->mark_applied(20).ok());
  EXPECT_EQ(segment_files(dir_).size(), 1u);  // the active one
  EXPECT_EQ(j->stats().segments, 1u);
  j.reset();
  j = open(&r, o);
  EXPECT_TRUE(r.empty());
}

TEST_F(JournalDisk, ATornTailIsCutOffAndAppendsGoOn) {
  std::vector<Replayed> r;
  std::string file;
  {
    auto j = open(&r);
    ASSERT_TRUE(j->append({"first"}).ok());
    ASSERT_TRUE(j->append({"second, cut by the crash"}).ok());
    file = dir_ + "/" + segment_files(dir_).at(0);
  }
  fs::resize_file(file, fs::file_size(file) - 3);
  {
    auto j = open(&r);
    EXPECT_EQ(payloads_of(r), (std::vector<std::string>{"first"}));
    EXPECT_EQ(j->stats().torn_tails, 1u);
    ASSERT_TRUE(j->append({"third"}).ok());
  }
  auto j = open(&r);
  EXPECT_EQ(payloads_of(r), (std::vector<std::string>{"first", "third"}));
  EXPECT_EQ(j->stats().torn_tails, 0u);  // cut off once, for good
}

void flip(const std::string& file, size_t at, int bit) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(at));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(at));
  f.put(static_cast<char>(c ^ (1 << bit)));
}

TEST_F(JournalDisk, ACorruptRecordIsReportedTheFileKeptAndTheRecordsAfterItReplayed) {
  std::vector<Replayed> r;
  std::string file;
  {
    auto j = open(&r);
    ASSERT_TRUE(j->append({"good", "bad", "after"}).ok());
    file = dir_ + "/" + segment_files(dir_).at(0);
  }
  const auto size = fs::file_size(file);
  flip(file, 2 * record::kHeaderSize + 4 + 1, 2);  // inside "bad"'s payload
  {
    auto j = open(&r);
    EXPECT_EQ(payloads_of(r), (std::vector<std::string>{"good", "after"}));
    EXPECT_EQ(j->stats().corrupt_records, 1u);
    EXPECT_EQ(j->stats().torn_tails, 0u);
    EXPECT_TRUE(fs::exists(file + ".corrupt"));
    EXPECT_EQ(fs::file_size(file + ".corrupt"), size);
    EXPECT_EQ(fs::file_size(file), size);  // never cut
  }
  // Reported again at the next start (still there), the same copy kept, not a second one.
  auto j = open(&r);
  EXPECT_EQ(payloads_of(r), (std::vector<std::string>{"good", "after"}));
  EXPECT_FALSE(fs::exists(file + ".corrupt.1"));
}

// The review's case on disk: a flipped bit in the length field of a record in the middle of
// the newest segment was taken for a torn tail: the records after it (synced, acknowledged)
// were cut off with a warning and no copy. Now nothing is lost and the damage is kept.
TEST_F(JournalDisk, AFlippedLengthBitMidSegmentLosesNothingAndIsKeptAsEvidence) {
  std::vector<Replayed> r;
  std::string file;
  {
    auto j = open(&r);
    ASSERT_TRUE(j->append({"first", "second"}).ok());
    ASSERT_TRUE(j->append({"third"}).ok());
    ASSERT_TRUE(j->append({"fourth"}).ok());
    file = dir_ + "/" + segment_files(dir_).at(0);
  }
  const auto size = fs::file_size(file);
  flip(file, record::kHeaderSize + 5 + 16 + 2, 4);  // "second"'s length: +1 MiB
  {
    auto j = open(&r);
    EXPECT_EQ(payloads_of(r), (std::vector<std::string>{"first", "second", "third", "fourth"}));
    EXPECT_EQ(j->stats().torn_tails, 0u);
    EXPECT_EQ(j->stats().corrupt_records, 1u);
    EXPECT_TRUE(fs::exists(file + ".corrupt"));
    EXPECT_EQ(fs::file_size(file), size);
    ASSERT_TRUE(j->append({"fifth"}).ok());
  }
  auto j = open(&r);
  EXPECT_EQ(payloads_of(r),
            (std::vector<std::string>{"first", "second", "third", "fourth", "fifth"}));
}

// Damage in an older segment followed by more segments: kept, and the later segments' entries
// are all replayed.
TEST_F(JournalDisk, DamageInAnOlderSegmentKeepsItsOtherRecordsAndTheNextSegments) {
  std::vector<Replayed> r;
  JournalOptions o;
  o.segment_bytes = 100;
  std::string file;
  {
    auto j = open(&r, o);
    ASSERT_TRUE(j->append({"a1", "a2"}).ok());  // segment 1
    ASSERT_TRUE(j->append({"b1"}).ok());        // segment 3
    file = dir_ + "/" + segment_files(dir_).at(0);
    ASSERT_EQ(segment_files(dir_).size(), 2u);
  }
  // Cut the last record of the older segment short: not a torn tail there.
  fs::resize_file(file, fs::file_size(file) - 1);
  auto j = open(&r, o);
  EXPECT_EQ(payloads_of(r), (std::vector<std::string>{"a1", "b1"}));
  EXPECT_EQ(j->stats().torn_tails, 0u);
  EXPECT_EQ(j->stats().corrupt_records, 1u);
  EXPECT_TRUE(fs::exists(file + ".corrupt"));
}

TEST_F(JournalDisk, AnUnreadableEntryCanBeSetAsideDurably) {
  std::vector<Replayed> r;
  auto j = open(&r);
  auto path = j->set_aside(42, "a newer binary's entry");
  ASSERT_TRUE(path.ok()) << path.error().message;
  EXPECT_EQ(*path, dir_ + "/00000000000000000042.undecodable");
  std::ifstream in(*path, std::ios::binary);
  const std::string kept((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto s = record::scan(kept);
  ASSERT_EQ(s.records.size(), 1u);
  EXPECT_EQ(s.records[0].seq, 42u);
  EXPECT_EQ(s.records[0].payload, "a newer binary's entry");
  EXPECT_EQ(j->stats().set_aside, 1u);
  j.reset();
  j = open(&r);  // not a segment: left alone
  EXPECT_TRUE(r.empty());
  EXPECT_TRUE(fs::exists(*path));
}

// A FileOps whose next fdatasync fails once (an I/O error: the page cache state is unknown).
class FailingSync : public queue::FileOps {
 public:
  int fdatasync(int fd) override {
    if (fail_next) {
      fail_next = false;
      errno = EIO;
      return -1;
    }
    return queue::FileOps::fdatasync(fd);
  }
  bool fail_next = false;
};

TEST_F(JournalDisk, AFailedSyncIsReportedCutOffAndTheNextGroupGoesToANewSegment) {
  std::vector<Replayed> r;
  auto ops = std::make_shared<FailingSync>();
  JournalOptions o;
  o.ops = ops;
  {
    auto j = open(&r, o);
    ASSERT_TRUE(j->append({"a"}).ok());
    ops->fail_next = true;
    auto bad = j->append({"b"});
    ASSERT_FALSE(bad.ok());
    EXPECT_TRUE(bad.error().temporary);
    auto c = j->append({"c"});
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(*c, 3u);  // b's seq is not reused
    EXPECT_EQ(segment_files(dir_).size(), 2u);
  }
  auto j = open(&r, o);
  // "b" was cut off (its caller was told it failed); "a" and "c" are there.
  EXPECT_EQ(payloads_of(r), (std::vector<std::string>{"a", "c"}));
}

TEST_F(JournalDisk, UnknownFilesAreLeftAlone) {
  fs::create_directories(dir_);
  { std::ofstream(dir_ + "/README") << "operator notes"; }
  { std::ofstream(dir_ + "/123.log") << "not a segment name"; }
  std::vector<Replayed> r;
  auto j = open(&r);
  EXPECT_TRUE(r.empty());
  ASSERT_TRUE(j->append({"x"}).ok());
  ASSERT_TRUE(j->mark_applied(1).ok());
  EXPECT_TRUE(fs::exists(dir_ + "/README"));
  EXPECT_TRUE(fs::exists(dir_ + "/123.log"));
}

}  // namespace
}  // namespace tern::journal
