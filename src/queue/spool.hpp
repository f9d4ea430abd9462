// Durable message spool: an append-only log of checksummed records in segment files, with
// group commit.
//
// Layout: <dir>/spool/seg-<16 hex>.log. Each record is
//   [magic u32 "TRNR"][type u8][reserved 3][id_len u16][reserved 2][len u32][blake2b-128 tag]
//   [id][payload]
// (all integers little-endian; the tag covers the fixed fields, id and payload).
// Record types: DATA (a piece of message content), COMMIT (envelope JSON: the message is
// accepted iff its COMMIT is durable), STATE (JSON recipient-state update), DONE (message
// finished; its records are dead), ABORT (content of an unaccepted message, dead).
//
// Invariants:
//  - commit() completes (callback) only after fdatasync covered the COMMIT record and every
//    DATA record of the message. Concurrent commits share one fdatasync (group commit).
//  - Content is never held whole in memory: DATA records are written as chunks arrive.
//  - Recovery (open()) replays all segments in order: a record cut short (fewer bytes than
//    its length) at the tail of the newest segment is an unacknowledged partial write and is
//    cut off; any other bad record - including a whole record at the tail whose check fails -
//    damages the messages it may belong to, which are moved to <dir>/quarantine/ (content and
//    what is known) with a log line; the spool keeps working.
//  - With a checkpoint (SpoolOptions::checkpoint), recovery trusts what it covers: the live
//    index at a log position whose records were durable before the checkpoint was renamed
//    into place (atomic rename, BLAKE2b checksum); only the log after that position is
//    scanned as above. A missing, damaged or inconsistent checkpoint (a message it calls live
//    lost a segment and no later DONE explains it) is ignored and the whole log scanned. So
//    damage to bytes the checkpoint covers is not looked for at open (the log stays the
//    source of truth: delete index.ckpt to have everything checked).
//  - A segment file is deleted when no live message has records in it; the active segment
//    too (the log rolls past it) once it is large or space is short, so a disk full of dead
//    bytes recovers without a restart. An aborted message whose records are the tail of the
//    active segment is truncated away at once.
//  - ENOSPC or an fsync failure fails the commit as temporary (disk_full flagged for ENOSPC);
//    nothing is acknowledged; the next commit tries again.
//  - Reserve: new content is refused as disk full while the spool's filesystem has less than
//    reserve_bytes free, so the STATE/DONE records of messages already accepted still fit.
//    A STATE/DONE record that cannot be written (or synced) anyway stays pending in memory
//    and is retried from the sync thread until durable; its effect is visible at once (a
//    finished message leaves list()/get() and is never handed out again by this process).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "queue/envelope.hpp"

namespace tern::queue {

struct SpoolOptions {
  uint64_t segment_bytes = 64ull << 20;  // roll to a new segment past this size
  bool read_only = false;                // offline inspection (CLI) while a server runs
  bool sync = true;                      // tests of logic only may turn fsync off
  // Free space kept for state records: content appends fail as disk full below it; 0 = none.
  uint64_t reserve_bytes = 16ull << 20;
  // Index checkpoint (<dir>/spool/index.ckpt): recovery reads it and scans only the log
  // written after it. Written in the background once checkpoint_min_bytes (or the last
  // checkpoint's size, if larger) of log were written since the last one, at most every
  // checkpoint_interval_ms, soon after a recovery, and at a clean shutdown. The server turns
  // it on; off by default so the spool's own tests see full scans (see Invariants above).
  bool checkpoint = false;
  uint64_t checkpoint_min_bytes = 64ull << 20;
  uint64_t checkpoint_interval_ms = 10'000;
  // Group commit: before a sync, wait up to this long while other messages are between DATA
  // and their commit (they would otherwise each need a sync of their own a moment later);
  // never when none is (a lone sender pays nothing). 0 = sync at once.
  uint32_t group_commit_wait_us = 0;
};

struct CommitOutcome {
  bool ok = false;
  bool disk_full = false;
  std::string error;
};

class Spool {
 public:
  // Opens (creating if needed) and recovers the spool under dir.
  static core::Result<std::unique_ptr<Spool>> open(const std::string& dir, SpoolOptions opt = {});
  virtual ~Spool() = default;

  // An in-progress message. Destroying it without commit() writes an ABORT marker.
  class Writer {
   public:
    virtual ~Writer() = default;
    virtual const std::string& id() const = 0;
    // Appends content. Returns a temporary error on I/O failure (ENOSPC → disk_full).
    virtual core::Result<void> append(std::string_view bytes) = 0;
    virtual uint64_t size() const = 0;
  };
  // id: the queue id chosen by the submission session (core::new_queue_id()).
  virtual std::unique_ptr<Writer> begin(const std::string& id) = 0;

  // Writes the COMMIT record (msg.id must equal w.id(); content_size is filled in) and calls
  // done from the spool's sync thread once durable (or failed). Thread-safe.
  virtual void commit(std::unique_ptr<Writer> w, QueuedMessage msg,
                      std::function<void(CommitOutcome)> done) = 0;

  // Live (committed, not done) messages, oldest first.
  virtual std::vector<QueuedMessage> list() const = 0;
  // The compact entries of the live messages, oldest first (what the delivery engine indexes
  // at start; no envelope is copied).
  virtual std::vector<QueueEntry> index() const = 0;
  virtual std::optional<QueuedMessage> get(const std::string& id) const = 0;
  // The exact content bytes of a live message, streamed to sink in pieces.
  virtual core::Result<void> read_content(
      const std::string& id, const std::function<void(std::string_view)>& sink) const = 0;
  // Pull-style reader of a live message's stored bytes (prepend + content), for the delivery
  // client which sends as the socket drains. Holds its segments open: reading stays valid even
  // if the message is finished meanwhile. Not thread-safe; one reader per use.
  class ContentReader {
   public:
    virtual ~ContentReader() = default;
    // Up to n bytes into buf; 0 = end. A temporary error on an I/O failure.
    virtual core::Result<size_t> read(char* buf, size_t n) = 0;
    virtual uint64_t size() const = 0;  // prepend + content
  };
  virtual core::Result<std::unique_ptr<ContentReader>> open_content(
      const std::string& id) const = 0;
  // Where a live message's bytes lie, taken once (off the delivery thread) so that readers
  // can be made later without touching the spool's index: reader() only copies positions.
  // Thread-safe; it keeps the segments open like a ContentReader.
  class ContentSource {
   public:
    virtual ~ContentSource() = default;
    virtual std::unique_ptr<ContentReader> reader() const = 0;
    virtual uint64_t size() const = 0;
  };
  // m: the live message's envelope (its id and prepend).
  virtual core::Result<std::shared_ptr<const ContentSource>> content_source(
      const QueuedMessage& m) const = 0;

  // Asynchronous update/finish for the delivery engine: the record is written now (so the
  // in-memory state changes at once, in call order) and done runs on the spool's sync thread
  // once a (shared, group) fdatasync covered it — many deliveries share one sync.
  virtual void update_async(const QueuedMessage& msg,
                            std::function<void(core::Result<void>)> done) = 0;
  virtual void finish_async(const std::string& id,
                            std::function<void(core::Result<void>)> done) = 0;

  // Durably records new recipient states (and held flag) for a live message; other
  // envelope fields are fixed at commit. update/finish may be called from a commit callback.
  virtual core::Result<void> update(const QueuedMessage& msg) = 0;
  // Durably marks a message finished; its space is reclaimed.
  virtual core::Result<void> finish(const std::string& id) = 0;

  // Counters for tests and metrics.
  struct Stats {
    uint64_t fsyncs = 0;
    uint64_t commits = 0;
    uint64_t segments = 0;
    uint64_t quarantined = 0;
    uint64_t torn_bytes_discarded = 0;
    uint64_t unwritten = 0;           // STATE/DONE records waiting for space (retried)
    uint64_t reserve_refusals = 0;    // content appends refused below the reserve
    bool from_checkpoint = false;     // the last open read a checkpoint (and the log after it)
    uint64_t bytes_scanned = 0;       // log bytes the last open scanned
    uint64_t checkpoints = 0;         // checkpoints written by this process
    uint64_t live = 0;                // live (committed, not done) messages
    uint64_t group_commit_waits = 0;  // syncs that first waited for messages still in DATA
  };
  virtual Stats stats() const = 0;

  // Writes an index checkpoint now (synchronously; tests and tools). An error when the spool
  // is read-only, has STATE/DONE records waiting for space, or a write or sync failed.
  virtual core::Result<void> checkpoint() = 0;
};

}  // namespace tern::queue
