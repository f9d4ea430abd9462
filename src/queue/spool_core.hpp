// Internal: the log-structured spool behind Spool. One mutex guards the in-memory index and
// the append position; a dedicated sync thread turns queued waiters into one fdatasync per
// batch (group commit) and completes them in order. spool_core.cpp holds the write path,
// group commit and reclamation; spool_recovery.cpp holds open-time replay and quarantine.
//
// Invariants:
//  - Every record is written at the active segment's tracked end with one pwritev; a failed
//    write is truncated away so a later record never follows garbage.
//  - A segment is referenced (refs) by every live message and open writer with a record in it;
//    a DONE/ABORT record leaves a tombstone in its segment naming the message's other
//    segments, and that segment outlives them, so deleting files never resurrects a message.
//  - A STATE/DONE record that could not be written or synced is kept in unwritten_ (a DONE
//    keeps the message's segment references) and rewritten by the sync thread every
//    kRetryMs and at shutdown; a newer STATE for the same message supersedes it.
//  - After an fsync failure the segment is poisoned (its page-cache state is unknown): the log
//    rolls to a new file and writers with content in the poisoned file cannot commit.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "queue/file_ops.hpp"
#include "queue/record.hpp"
#include "queue/spool.hpp"

namespace tern::queue::detail {

struct Segment {
  uint64_t seq = 0;
  std::string path;
  int fd = -1;
  uint64_t size = 0;  // tracked end: where the next record goes
  bool poisoned = false;
  uint64_t refs = 0;
  std::vector<std::vector<uint64_t>> tombs;
  Segment() = default;
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  ~Segment();
};
using SegmentPtr = std::shared_ptr<Segment>;

struct Extent {
  uint64_t seg = 0;
  uint64_t off = 0;  // of the payload
  uint32_t len = 0;
};

// A live message as the index keeps it: what the delivery engine needs to schedule it and
// where its records lie; the envelope stays on disk (COMMIT payload, latest STATE payload) and
// is decoded by get(). About 250 bytes, whatever the envelope's size.
struct LiveMessage {
  int64_t account_id = 0;
  int64_t received_ms = 0;
  int64_t due_ms = 0;  // earliest next attempt of a recipient that is not final
  bool held = false;
  bool has_state = false;
  uint32_t state_seq = 0;  // STATE records written for it by this process
  Extent commit;           // payload of its COMMIT record
  Extent state;            // payload of its latest STATE record (when has_state)
  std::vector<Extent> data;
  std::set<uint64_t> segs;
  uint64_t order = 0;
  void summarize(const QueuedMessage& m);  // account, arrival, due, held
};

// Envelope codec of COMMIT and STATE payloads (spool_core.cpp), shared with recovery.
struct CommitInfo {
  QueuedMessage msg;
  std::string content_hash;
  uint64_t data_records = 0;
};
core::Result<CommitInfo> decode_commit(std::string_view payload);
// Applies a STATE payload (recipients, held) to an envelope.
core::Result<void> apply_state(std::string_view payload, QueuedMessage& m);
// Reads a record payload (exactly e.len bytes at e.off).
core::Result<std::string> read_extent(int fd, const Extent& e);

// What a Writer accumulates; owned by the Writer, mutated under Core::mu_.
class CheckpointEncoder;  // checkpoint.hpp

struct WriterState {
  std::string id;
  bool id_ok = false;
  std::vector<Extent> data;
  std::set<uint64_t> segs;
  uint64_t size = 0;
  record::ContentHash hash;
  std::optional<core::Error> failed;  // sticky: content has a hole
  bool closed = false;                // committed or aborted
  bool counted = false;               // in Core::open_writers_ (from begin until closed)
  // Where the writer's records lie, if they are one contiguous run (an abort of a run at the
  // tail of the active segment truncates it away instead of writing an ABORT).
  uint64_t run_seg = 0, run_start = 0, run_end = 0;
  bool one_run = true;
};

class Core : public std::enable_shared_from_this<Core> {
 public:
  Core(std::string dir, SpoolOptions opt, std::shared_ptr<FileOps> ops);
  ~Core();

  core::Result<void> recover();  // spool_recovery.cpp; before start()
  void start();
  void shutdown();

  void open_writer(WriterState& w);  // counts it as a sibling a group commit may wait for
  core::Result<void> append_data(WriterState& w, std::string_view bytes);
  void abort_writer(WriterState& w);
  // w is closed by commit whatever the outcome; done runs on the sync thread.
  void commit(WriterState& w, QueuedMessage msg, std::function<void(CommitOutcome)> done);

  std::vector<QueuedMessage> list() const;
  std::vector<QueueEntry> index() const;
  std::optional<QueuedMessage> get(const std::string& id) const;
  core::Result<void> read_content(const std::string& id,
                                  const std::function<void(std::string_view)>& sink) const;
  core::Result<void> update(const QueuedMessage& msg);
  core::Result<void> finish(const std::string& id);
  void update_async(const QueuedMessage& msg, std::function<void(core::Result<void>)> done);
  void finish_async(const std::string& id, std::function<void(core::Result<void>)> done);
  // The segments and extents holding a live message (for Spool::ContentReader).
  core::Result<void> content_parts(const std::string& id,
                                   std::vector<std::pair<SegmentPtr, Extent>>& parts) const;
  Spool::Stats stats() const;
  core::Result<void> checkpoint_now();  // spool_checkpoint.cpp

  const SpoolOptions& options() const { return opt_; }

 private:
  struct Waiter {
    std::function<void(CommitOutcome)> cb;
    std::optional<CommitOutcome> preset;   // already decided (failed before any sync)
    std::unique_ptr<LiveMessage> pending;  // a commit: becomes live once durable
    std::string pending_id;
    std::shared_ptr<std::promise<int>> sync_done;  // update/finish waiting for a sync
    std::function<void(int)> on_sync;  // async update/finish: errno or 0, after the sync
  };
  struct Unwritten {
    bool done = false;
    std::string state;        // the STATE payload (when !done)
    uint32_t seq = 0;         // the message's state_seq it was written as
    std::set<uint64_t> segs;  // done: the finished message's segments, still referenced
  };
  struct SyncSet {
    SegmentPtr active;
    std::vector<SegmentPtr> rolled;
    bool dir = false;
  };

  // --- write path (mu_ held) ---
  int append_locked(record::Type t, std::string_view id, std::string_view payload, Extent* where);
  int roll_locked();
  void abort_writer_locked(WriterState& w);
  void close_writer_locked(WriterState& w);  // closed = true; leaves open_writers_
  void wait_for_siblings_locked(std::unique_lock<std::mutex>& lk);
  void ref_locked(std::set<uint64_t>& segs, uint64_t seq);
  void unref_all_locked(const std::set<uint64_t>& segs);
  // Writes ABORT/DONE for a dead message and leaves its tombstone; false if the write failed.
  bool bury_locked(record::Type t, const std::string& id, const std::set<uint64_t>& segs);
  void reclaim_locked();
  // Free space for n more content bytes above the reserve (reclaims first if short).
  bool space_for_content_locked(size_t n, int64_t& free);
  // Rewrites unwritten_ records (in the map's order) until one fails; returns those written.
  std::vector<std::pair<std::string, Unwritten>> flush_unwritten_locked();
  // After a failed sync of a STATE/DONE: keep it for rewriting unless a newer one is there.
  void keep_unwritten_locked(const std::string& id, Unwritten u);
  void enqueue_locked(Waiter w);
  SyncSet take_sync_set_locked();

  // --- sync ---
  void sync_loop();
  int do_sync(const SyncSet& s);  // 0 or errno
  int sync_wait();                // queue a sync and wait for it; 0 or errno
  void sync_async(std::function<void(int)> cb);
  // On the sync thread itself (a callback): syncs now; lk held on entry, held on return only
  // after a failure (to poison).
  int sync_inline(std::unique_lock<std::mutex>& lk);  // queue a sync; cb(errno or 0) after it
  // The STATE record, no sync; seq: the state_seq it was written as.
  core::Result<void> write_update(const QueuedMessage& msg, uint32_t& seq);
  core::Result<void> write_finish(const std::string& id);  // the DONE record, no sync
  void poison_locked(const SyncSet& s);
  void after_failed_sync(const std::string& id, bool done, const QueuedMessage* msg, uint32_t seq);
  static std::string state_payload(const QueuedMessage& msg);
  static std::string commit_payload(const QueuedMessage& msg, std::string content_hash,
                                    size_t data_records);

  // --- recovery (spool_recovery.cpp) ---
  struct ScanState;
  core::Result<void> scan_segment(const SegmentPtr& seg, bool newest, ScanState& st,
                                  uint64_t from = 0);
  // Everything the scan and the checkpoint put in memory, gone (before a full scan).
  void reset_index_locked();

  // --- checkpoint (spool_checkpoint.cpp; loading in spool_recovery.cpp) ---
  // Reads index.ckpt into live_/order_, segment tombs and refs, and st (open writers); pos
  // gets the log position it covers, must_die the live messages that lost a segment. False
  // (and nothing loaded) when there is none or it is not usable.
  bool load_checkpoint_locked(ScanState& st, std::pair<uint64_t, uint64_t>& pos,
                              std::vector<std::string>& must_die);
  // The checkpoint at the current log position, encoded but not yet finished (nullopt when
  // one cannot be taken now): the caller runs finish() (the checksum over the whole file)
  // after releasing mu_, so the lock is held only while the index is copied out.
  std::optional<CheckpointEncoder> snapshot_locked();
  // Writes bytes as index.ckpt: tmp file, fsync, the log synced (so what it covers is
  // durable), rename, directory fsync. failures: sync_failures_ when the snapshot was taken.
  core::Result<void> install_checkpoint(const std::string& bytes, uint64_t failures, bool sync_log);
  void checkpoint_loop();
  bool checkpoint_due_locked() const;
  bool quarantine(const std::string& id, const std::string& reason,
                  const std::optional<QueuedMessage>& msg, const std::vector<Extent>& data);

  core::Error io_error(const char* what, int err) const;

  const std::string dir_;
  const std::string spool_dir_;
  const SpoolOptions opt_;
  const std::shared_ptr<FileOps> ops_;
  int dir_fd_ = -1;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, SegmentPtr> segments_;
  SegmentPtr active_;
  uint64_t next_seq_ = 1;
  bool need_roll_ = false;
  std::vector<SegmentPtr> unsynced_rolled_;
  bool dir_dirty_ = false;
  std::deque<Waiter> waiters_;
  bool stopping_ = false;
  bool stopped_ = false;
  std::map<std::string, Unwritten> unwritten_;
  bool low_space_ = false;  // an append met ENOSPC or the reserve: roll dead segments early
  std::unordered_map<std::string, LiveMessage> live_;
  // Commit order -> its live_ entry (id and message; erased from here before it leaves
  // live_). The entry itself, not its id: what walks the index in order (index(), the
  // checkpoint under the lock) reads it without a hash look-up per message.
  using LiveEntry = std::unordered_map<std::string, LiveMessage>::value_type;
  std::map<uint64_t, const LiveEntry*> order_;
  uint64_t next_order_ = 1;
  Spool::Stats stats_;
  std::atomic<uint64_t> fsyncs_{0};
  std::thread sync_thread_;
  std::thread::id sync_tid_;

  // Checkpoint bookkeeping (mu_).
  uint64_t log_bytes_ = 0;       // bytes appended by this process
  uint64_t ckpt_log_bytes_ = 0;  // log_bytes_ at the last checkpoint's snapshot
  uint64_t ckpt_size_ = 0;       // the last checkpoint's size
  int64_t ckpt_time_ms_ = 0;     // steady clock, the last snapshot
  bool ckpt_soon_ = false;       // after a recovery: write one without waiting for bytes
  bool ckpt_busy_ = false;       // a snapshot is being written
  uint64_t sync_failures_ = 0;
  // Never truncate the log below a position a checkpoint was taken at (an aborted message at
  // the tail is otherwise cut away): the tail scan starts there.
  uint64_t floor_seg_ = 0, floor_off_ = 0;
  std::unordered_set<WriterState*> writers_;      // open writers with records
  size_t open_writers_ = 0;                       // writers begun and not yet closed
  uint64_t closed_writers_ = 0;                   // counted writers closed since start
  bool sibling_wait_ = false;                     // the sync thread waits for open writers
  const std::deque<Waiter>* inflight_ = nullptr;  // the batch the sync thread is syncing
  std::mutex ckpt_mu_;        // one checkpoint written at a time (taken before mu_)
  int64_t last_lock_ms_ = 0;  // ckpt_mu_: how long the last snapshot held mu_ (for its log line)
  std::condition_variable ckpt_cv_;
  bool ckpt_stop_ = false;
  std::thread ckpt_thread_;
};

}  // namespace tern::queue::detail
