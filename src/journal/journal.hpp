// The node-local write journal's driver (issue 12, docs/cluster.md "The journal"): segment files
// under <data>/journal/, written with the spool's file seam (queue/file_ops.hpp) so tests can
// inject short writes, ENOSPC and fsync errors. What is decided (seqs, segment rotation, trim)
// is JournalCore (core.hpp); the bytes are record.hpp.
//
// Invariants:
//  - append() returns a seq only after the group's bytes were written and fdatasync'd (a new
//    segment's directory entry is fsync'd too): an entry handed back survives kill -9 and a
//    power cut. One write and one sync per group, whatever its size (group commit).
//  - A failed write or sync is reported, the partial bytes are cut off when possible, and the
//    segment is sealed: a later group never lands behind bytes that did not make it.
//  - open() returns every entry after the last applied mark, in seq order. Only a torn tail
//    (bytes cut short at the end of the newest segment: a crash mid-append) is cut off, with a
//    warning. Damage anywhere else (a bad record followed by more bytes, a whole record that
//    fails its tag, any bad bytes in an older segment) is an error: counted, the segment
//    copied beside it as <name>.corrupt (.corrupt.<n> when that holds other bytes), never
//    truncated, and every record that verifies before and after the damage is kept (record.hpp
//    has the scan's rules). Unknown files are left alone.
//  - set_aside(seq, payload) keeps an entry the caller cannot read (a newer binary's format) as
//    <seq>.undecodable (.undecodable.<n> when that holds another), synced, before the caller
//    lets the journal trim past it. Neither kind of copy is ever overwritten or deleted here.
//  - mark_applied(seq) writes an applied mark without a sync (a lost mark means entries are
//    applied again, which the idempotency keys make harmless) and deletes the oldest segments
//    whose entries are all applied.
//  - Thread-safe: append and mark_applied may be called from different threads.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "journal/core.hpp"

namespace tern::queue {
class FileOps;
}

namespace tern::journal {

struct JournalOptions {
  uint64_t segment_bytes = 4u << 20;
  std::shared_ptr<queue::FileOps> ops;  // null: the real syscalls
};

struct Replayed {
  uint64_t seq = 0;
  std::string payload;
};

struct JournalStats {
  size_t segments = 0;
  uint64_t bytes = 0;
  uint64_t next_seq = 0;
  uint64_t applied = 0;
  uint64_t torn_tails = 0;       // cut off at open
  uint64_t corrupt_records = 0;  // damaged ranges found at open (segments kept as .corrupt)
  uint64_t set_aside = 0;        // undecodable entries kept as <seq>.undecodable
};

class Journal {
 public:
  // Creates dir when missing; fills *unapplied with the entries to replay.
  static core::Result<std::unique_ptr<Journal>> open(const std::string& dir, JournalOptions opt,
                                                     std::vector<Replayed>* unapplied);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Appends the payloads as one group; returns the seq of the first (the others follow it).
  core::Result<uint64_t> append(const std::vector<std::string>& payloads);
  // Everything up to seq has been applied to the store.
  core::Result<void> mark_applied(uint64_t seq);
  // Writes the entry seq (payload as read back) to <dir>/<seq>.undecodable and syncs it and the
  // directory; returns that path.
  core::Result<std::string> set_aside(uint64_t seq, std::string_view payload);
  JournalStats stats() const;

 private:
  Journal(std::string dir, JournalOptions opt);
  core::Result<void> open_segment(uint64_t name);
  core::Result<void> sync_dir();
  std::string path_of(uint64_t name) const;

  std::string dir_;
  JournalOptions opt_;
  mutable std::mutex mu_;
  JournalCore core_;
  int fd_ = -1;  // the active segment
  uint64_t fd_size_ = 0;
  uint64_t active_name_ = 0;
  uint64_t torn_ = 0, corrupt_ = 0, set_aside_ = 0;
};

}  // namespace tern::journal
