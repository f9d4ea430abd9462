// The journal's bookkeeping (issue 12), sans-IO: which segment files exist, which sequence
// number the next entry gets, when a new segment starts, which segments may be deleted, and how
// long the applier waits before trying the store again. The driver (journal.hpp) does the
// files; this decides.
//
// The journal: every database-bound write the node makes in the background is appended here
// (group commit: one write and one fdatasync per batch) before it counts as done, applied to
// the store with idempotency keys, and trimmed once applied. Segment files are named by the
// seq their first record was written with (zero-padded, so name order is write order).
//
// Invariants:
//  - seqs grow: next_seq() is above every entry seq, applied mark and segment name seen, so a
//    new segment sorts after every old one and a mark never covers an entry written later;
//  - only a prefix of the segments is ever deleted, and only sealed segments (never the one
//    being appended to) whose entries are all applied;
//  - a segment is sealed when it reaches segment_bytes, after a failed write or sync (its tail
//    is not trusted any more), and at start-up (recovered segments are only read and deleted).
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

namespace tern::journal {

struct CoreConfig {
  uint64_t segment_bytes = 4u << 20;  // a segment is sealed once it holds this much
};

struct SegmentInfo {
  uint64_t name = 0;        // the seq in its file name
  uint64_t last_entry = 0;  // highest entry seq in it (0: none)
  uint64_t bytes = 0;
};

// The pause before try attempt+1 of applying journaled entries to a store that answered
// "unavailable" (1-based): 100 ms doubling to at most 5 s. Entries are never given up on a
// temporary error: they wait in the journal.
int64_t apply_retry_delay_ms(int attempt);

class JournalCore {
 public:
  explicit JournalCore(CoreConfig cfg) : cfg_(cfg) {}

  // Start-up, oldest first: each segment found, with what its scan saw.
  void recovered(SegmentInfo seg, uint64_t applied_mark);

  uint64_t next_seq() const { return next_seq_; }
  uint64_t applied() const { return applied_; }
  size_t segments() const { return segs_.size(); }
  uint64_t bytes() const;

  // Before writing a record group of `bytes` with `entries` entry records: the seq of the first
  // entry, and the name of a new segment to open first (nullopt: append to the active one).
  struct Plan {
    uint64_t first_seq = 0;
    std::optional<uint64_t> new_segment;
  };
  Plan plan_append(size_t entries, uint64_t bytes) const;
  // The group was written and synced (its entries took first_seq..first_seq+entries-1).
  void appended(const Plan& p, size_t entries, uint64_t bytes);
  // A write or sync failed: the active segment is sealed; the seqs planned are not reused.
  void failed(const Plan& p, size_t entries);

  // An applied mark of `bytes` is about to be written (nullopt: nothing new to mark, or no
  // active segment to write it into: a lost mark only means a harmless re-apply).
  bool mark_wanted(uint64_t seq) const;
  void marked(uint64_t seq, uint64_t bytes);
  // Everything up to seq is applied: the names of the segments to delete now (oldest first);
  // they are forgotten here.
  std::vector<uint64_t> trim(uint64_t applied_seq);

 private:
  CoreConfig cfg_;
  std::deque<SegmentInfo> segs_;  // oldest first; the last is active when active_
  bool active_ = false;
  uint64_t next_seq_ = 1;
  uint64_t applied_ = 0;
};

}  // namespace tern::journal
