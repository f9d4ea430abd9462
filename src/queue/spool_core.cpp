// The spool's steady-state path: appending records, group commit on the sync thread, the
// live index, and segment reclamation. See spool_core.hpp for the invariants.
//
// Failure semantics (documented choice: at-least-once, never silent loss):
//  - A failed write is truncated away and fails the operation; the writer stays failed.
//  - A failed fdatasync fails every commit in that batch. Each failed message gets an ABORT
//    record in a fresh segment; it becomes durable with the next sync or at shutdown. If the
//    machine dies before that, a COMMIT that reached the disk complete and valid is recovered
//    as live although the client was told 4xx: the message may be delivered and also resent
//    by the client (a duplicate, never a loss). An incomplete or damaged COMMIT is never
//    resurrected (tags and the content hash reject it).
#include "queue/spool_core.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "queue/checkpoint.hpp"

namespace tern::queue::detail {

namespace {

CommitOutcome failed_outcome(int err, const std::string& what) {
  CommitOutcome o;
  o.ok = false;
  o.disk_full = err == ENOSPC;
  o.error = (err == ENOSPC ? std::string("disk full: ") : std::string()) + what + ": " +
            std::strerror(err);
  return o;
}

// How often the sync thread retries STATE/DONE records that found no space.
constexpr auto kRetryMs = std::chrono::milliseconds(250);
// An active segment holding no live message is rolled past (and deleted) beyond this size,
// or at any size while space is short.
constexpr uint64_t kDeadActiveRoll = 1ull << 20;

std::string dump_json(const nlohmann::json& j) {
  // Envelope strings come from the network (HELO, replies); invalid UTF-8 is replaced rather
  // than failing the commit of an otherwise acceptable message.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

Segment::~Segment() {
  if (fd >= 0) ::close(fd);
}

Core::Core(std::string dir, SpoolOptions opt, std::shared_ptr<FileOps> ops)
    : dir_(std::move(dir)), spool_dir_(dir_ + "/spool"), opt_(opt), ops_(std::move(ops)) {}

Core::~Core() {
  shutdown();
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

core::Error Core::io_error(const char* what, int err) const {
  if (err == ENOSPC)
    return core::Error::disk_full(std::string("disk full: ") + what + ": " + std::strerror(err));
  if (err == EROFS) return core::Error::perm(std::string(what) + ": spool is read-only");
  return core::Error::temp(std::string(what) + ": " + std::strerror(err));
}

void Core::start() {
  if (opt_.read_only) return;
  sync_thread_ = std::thread([this] { sync_loop(); });
  if (opt_.checkpoint) ckpt_thread_ = std::thread([this] { checkpoint_loop(); });
}

void Core::shutdown() {
  {
    std::lock_guard lk(mu_);
    if (stopped_) return;
    ckpt_stop_ = true;
  }
  ckpt_cv_.notify_all();
  if (ckpt_thread_.joinable()) ckpt_thread_.join();  // (it may wait for a sync: first)
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (sync_thread_.joinable()) sync_thread_.join();
  std::unique_lock lk(mu_);
  // Make ABORT/DONE records written since the last sync durable, so a clean restart never
  // resurrects a message whose commit failed; a last try for records still unwritten.
  if (!opt_.read_only) (void)flush_unwritten_locked();
  stopped_ = true;
  int final_err = 0;
  if (!opt_.read_only) {
    if (!unwritten_.empty())
      spdlog::error(
          "spool: {} state/done record(s) could not be written (disk full?); those "
          "messages may be delivered again after the restart",
          unwritten_.size());
    SyncSet s = take_sync_set_locked();
    final_err = do_sync(s);
    if (final_err) spdlog::error("spool: final sync failed: {}", std::strerror(final_err));
  }
  // A clean stop leaves a checkpoint of the index: the next open reads it instead of the log.
  // Everything is synced above, so it is installed without another sync.
  if (opt_.checkpoint && !opt_.read_only && !final_err) {
    auto enc = snapshot_locked();
    const uint64_t failures = sync_failures_;
    if (enc) {
      lk.unlock();
      const std::string bytes = enc->finish();
      if (auto r = install_checkpoint(bytes, failures, false); !r)
        spdlog::warn("spool: index checkpoint at shutdown not written: {}", r.error().message);
    }
  }
}

// ---------------------------------------------------------------- write path

int Core::roll_locked() {
  uint64_t seq = next_seq_;
  char name[40];
  std::snprintf(name, sizeof name, "seg-%016llx.log", static_cast<unsigned long long>(seq));
  std::string path = spool_dir_ + "/" + name;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) return errno;
  next_seq_ = seq + 1;
  auto seg = std::make_shared<Segment>();
  seg->seq = seq;
  seg->path = std::move(path);
  seg->fd = fd;
  if (active_) {
    // Cut anything a failed write may have left past the tracked end, so recovery never
    // sees garbage in the middle of the log.
    (void)ops_->ftruncate(active_->fd, static_cast<off_t>(active_->size));
    if (!active_->poisoned) unsynced_rolled_.push_back(active_);
  }
  segments_[seq] = seg;
  active_ = std::move(seg);
  dir_dirty_ = true;  // the new file's directory entry must be durable too
  need_roll_ = false;
  return 0;
}

int Core::append_locked(record::Type t, std::string_view id, std::string_view payload,
                        Extent* where) {
  if (opt_.read_only) return EROFS;
  if (stopped_) return ECANCELED;
  if (!active_ || need_roll_ || active_->size >= opt_.segment_bytes) {
    if (int err = roll_locked()) return err;
  }
  auto h = record::encode_header(t, id, payload);
  const size_t total = h.size() + id.size() + payload.size();
  const uint64_t off = active_->size;
  struct iovec iov[3] = {{h.data(), h.size()},
                         {const_cast<char*>(id.data()), id.size()},
                         {const_cast<char*>(payload.data()), payload.size()}};
  size_t done = 0;
  int err = 0;
  while (done < total) {
    // Rebuild the iovec past what a short write already put down.
    struct iovec cur[3];
    int n = 0;
    size_t skip = done;
    for (auto& v : iov) {
      if (skip >= v.iov_len) {
        skip -= v.iov_len;
        continue;
      }
      cur[n].iov_base = static_cast<char*>(v.iov_base) + skip;
      cur[n].iov_len = v.iov_len - skip;
      skip = 0;
      ++n;
    }
    ssize_t w = ops_->pwritev(active_->fd, cur, n, static_cast<off_t>(off + done));
    if (w < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    if (w == 0) {
      err = EIO;
      break;
    }
    done += static_cast<size_t>(w);
  }
  if (err) {
    // Leave no partial record behind; if even this fails the next record overwrites it.
    (void)ops_->ftruncate(active_->fd, static_cast<off_t>(off));
    if (err == ENOSPC) low_space_ = true;
    return err;
  }
  active_->size += total;
  log_bytes_ += total;
  if (where)
    *where =
        Extent{active_->seq, off + h.size() + id.size(), static_cast<uint32_t>(payload.size())};
  return 0;
}

void Core::ref_locked(std::set<uint64_t>& segs, uint64_t seq) {
  if (segs.insert(seq).second) {
    auto it = segments_.find(seq);
    if (it != segments_.end()) ++it->second->refs;
  }
}

void Core::unref_all_locked(const std::set<uint64_t>& segs) {
  for (uint64_t s : segs) {
    auto it = segments_.find(s);
    if (it != segments_.end() && it->second->refs > 0) --it->second->refs;
  }
}

bool Core::bury_locked(record::Type t, const std::string& id, const std::set<uint64_t>& segs) {
  Extent e;
  if (append_locked(t, id, {}, &e) != 0) return false;
  std::vector<uint64_t> others;
  for (uint64_t s : segs)
    if (s != e.seg) others.push_back(s);
  if (!others.empty()) segments_[e.seg]->tombs.push_back(std::move(others));
  return true;
}

void Core::reclaim_locked() {
  if (opt_.read_only) return;
  // The active segment is never deleted, so one holding only dead records is rolled past
  // first (a fresh empty file costs nothing); otherwise a disk full of dead bytes stays full.
  if (active_ && !stopped_ && active_->refs == 0 && active_->size > 0 &&
      (low_space_ || active_->size >= std::min(kDeadActiveRoll, opt_.segment_bytes))) {
    if (int err = roll_locked())
      spdlog::warn("spool: cannot roll past a dead segment: {}", std::strerror(err));
  }
  bool unlinked = false;
  bool changed = true;
  while (changed) {
    changed = false;
    for (auto it = segments_.begin(); it != segments_.end();) {
      const SegmentPtr& s = it->second;
      bool keep = s == active_ || s->refs > 0;
      for (const auto& t : s->tombs) {
        if (keep) break;
        for (uint64_t o : t)
          if (segments_.count(o)) keep = true;
      }
      if (keep) {
        ++it;
        continue;
      }
      // A segment with tombstones goes only after the unlinks of what they cover are durable;
      // otherwise a crash could bring back a covered segment without its DONE records.
      if (!s->tombs.empty() && unlinked && opt_.sync && dir_fd_ >= 0) {
        (void)ops_->fsync(dir_fd_);
        unlinked = false;
      }
      if (::unlink(s->path.c_str()) != 0 && errno != ENOENT) {
        spdlog::warn("spool: cannot delete {}: {}", s->path, std::strerror(errno));
        ++it;
        continue;
      }
      spdlog::debug("spool: deleted segment {}", s->path);
      // Nothing in it needs a sync any more; holding it open would keep its blocks in use.
      const Segment* gone = s.get();
      std::erase_if(unsynced_rolled_, [gone](const SegmentPtr& p) { return p.get() == gone; });
      it = segments_.erase(it);
      changed = true;
      unlinked = true;
    }
  }
  if (unlinked) dir_dirty_ = true;
}

bool Core::space_for_content_locked(size_t n, int64_t& free) {
  if (opt_.reserve_bytes == 0 || dir_fd_ < 0) return true;
  const auto need = static_cast<int64_t>(opt_.reserve_bytes + n);
  free = ops_->free_bytes(dir_fd_);
  if (free < 0 || free >= need) {
    low_space_ = false;
    return true;  // (unknown: the write itself will tell)
  }
  low_space_ = true;
  reclaim_locked();  // dead segments may be what fills the disk
  free = ops_->free_bytes(dir_fd_);
  return free < 0 || free >= need;
}

core::Result<void> Core::append_data(WriterState& w, std::string_view bytes) {
  if (opt_.read_only) return core::Error::perm("spool is read-only");
  if (!w.id_ok) return core::Error::perm("invalid queue id");
  while (!bytes.empty()) {
    std::string_view piece = bytes.substr(0, record::kDataPiece);
    {
      std::lock_guard lk(mu_);
      if (w.closed) return core::Error::perm("message already committed or aborted");
      if (w.failed) return *w.failed;
      int64_t free = 0;
      if (!space_for_content_locked(piece.size(), free)) {
        ++stats_.reserve_refusals;
        w.failed = core::Error::disk_full(
            "disk full: spool free space " + std::to_string(free >> 10) +
            " KiB is below the reserve of " + std::to_string(opt_.reserve_bytes >> 10) + " KiB");
        return *w.failed;
      }
      Extent e;
      if (int err = append_locked(record::Type::data, w.id, piece, &e)) {
        w.failed = io_error("spool write", err);
        return *w.failed;
      }
      if (opt_.reserve_bytes == 0) low_space_ = false;  // (the reserve check does it otherwise)
      const uint64_t start = e.off - record::kHeaderSize - w.id.size();
      if (w.data.empty()) {
        w.run_seg = e.seg;
        w.run_start = start;
      } else if (w.run_seg != e.seg || w.run_end != start) {
        w.one_run = false;
      }
      w.run_end = e.off + e.len;
      w.data.push_back(e);
      if (w.data.size() == 1) writers_.insert(&w);
      ref_locked(w.segs, e.seg);
      w.size += piece.size();
    }
    w.hash.update(piece);
    bytes.remove_prefix(piece.size());
  }
  return core::ok();
}

void Core::abort_writer_locked(WriterState& w) {
  if (w.closed) return;
  close_writer_locked(w);
  writers_.erase(&w);
  // Content that is the tail of the active segment is cut off: a rejected message (bad line,
  // aborted DATA) gives its bytes back at once. Otherwise an ABORT marker: without it
  // recovery would still drop the content (no COMMIT); it makes that explicit and lets
  // damage checks skip it.
  // (never below a checkpoint's position: the scan after the checkpoint starts there)
  const bool above_floor =
      w.run_seg > floor_seg_ || (w.run_seg == floor_seg_ && w.run_start >= floor_off_);
  const bool tail = !w.data.empty() && w.one_run && active_ && active_->seq == w.run_seg &&
                    active_->size == w.run_end && w.segs.size() == 1 && above_floor &&
                    ops_->ftruncate(active_->fd, static_cast<off_t>(w.run_start)) == 0;
  if (tail)
    active_->size = w.run_start;
  else if (!w.segs.empty())
    (void)bury_locked(record::Type::abort, w.id, w.segs);
  unref_all_locked(w.segs);
  w.segs.clear();
  w.data.clear();
  reclaim_locked();
}

void Core::open_writer(WriterState& w) {
  std::lock_guard lk(mu_);
  if (w.closed || w.counted) return;
  w.counted = true;
  ++open_writers_;
}

void Core::close_writer_locked(WriterState& w) {
  w.closed = true;
  if (!w.counted) return;
  w.counted = false;
  --open_writers_;
  ++closed_writers_;
  if (sibling_wait_) cv_.notify_one();  // the sync thread may be waiting for this one
}

void Core::abort_writer(WriterState& w) {
  std::lock_guard lk(mu_);
  abort_writer_locked(w);
}

void Core::commit(WriterState& w, QueuedMessage msg, std::function<void(CommitOutcome)> done) {
  // The COMMIT payload is encoded before the lock is taken (it is most of a commit's CPU):
  // w belongs to the calling thread, which has finished appending to it, so its size, hash
  // and records are stable; the checks below, under the lock, decide whether it is used.
  std::string payload;
  if (w.id_ok && !w.closed && !w.failed && msg.id == w.id) {
    msg.content_size = w.size;
    payload = commit_payload(msg, w.hash.hex_final(), w.data.size());
  }
  std::unique_lock lk(mu_);
  if (stopping_ || opt_.read_only) {
    abort_writer_locked(w);
    lk.unlock();
    if (done) done(CommitOutcome{false, false, "spool is closed or read-only"});
    return;
  }
  std::optional<CommitOutcome> early;
  std::unique_ptr<LiveMessage> pending;
  if (w.closed) {
    early = CommitOutcome{false, false, "message already committed or aborted"};
  } else if (!w.id_ok) {
    early = CommitOutcome{false, false, "invalid queue id"};
  } else if (msg.id != w.id) {
    early = CommitOutcome{false, false, "envelope id does not match the writer"};
  } else if (w.failed) {
    early = CommitOutcome{false, w.failed->is(core::ErrorCode::disk_full), w.failed->message};
  } else {
    bool poisoned = false;
    for (uint64_t s : w.segs) {
      auto it = segments_.find(s);
      if (it == segments_.end() || it->second->poisoned) poisoned = true;
    }
    if (poisoned) {
      early = CommitOutcome{false, false, "spool sync failed while the content was written"};
    } else {
      Extent e;
      if (payload.size() > record::kMaxPayload) {
        early = CommitOutcome{false, false, "envelope too large"};
      } else if (int err = append_locked(record::Type::commit, w.id, payload, &e)) {
        early = failed_outcome(err, "spool write");
      } else {
        ref_locked(w.segs, e.seg);
        pending = std::make_unique<LiveMessage>();
        pending->summarize(msg);
        pending->commit = e;
        pending->data = std::move(w.data);
        pending->segs = std::move(w.segs);
        w.segs.clear();
        close_writer_locked(w);
        writers_.erase(&w);
      }
    }
  }
  if (early) abort_writer_locked(w);
  Waiter wt;
  wt.cb = std::move(done);
  if (early) {
    wt.preset = std::move(early);
  } else {
    wt.pending = std::move(pending);
    wt.pending_id = w.id;
  }
  waiters_.push_back(std::move(wt));
  lk.unlock();
  cv_.notify_one();
}

// ---------------------------------------------------------------- group commit

// Waits (lock released) until every writer open now has committed or aborted, for at most
// group_commit_wait_us: their commits then share this batch's sync instead of each paying
// one. Writers opened meanwhile are not waited for, so a steady stream cannot starve it.
void Core::wait_for_siblings_locked(std::unique_lock<std::mutex>& lk) {
  if (opt_.group_commit_wait_us == 0 || !opt_.sync || opt_.read_only) return;
  if (open_writers_ == 0 || stopping_) return;
  const uint64_t target = closed_writers_ + open_writers_;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::microseconds(opt_.group_commit_wait_us);
  sibling_wait_ = true;
  ++stats_.group_commit_waits;
  cv_.wait_until(lk, deadline, [&] { return stopping_ || closed_writers_ >= target; });
  sibling_wait_ = false;
}

Core::SyncSet Core::take_sync_set_locked() {
  SyncSet s;
  s.active = active_;
  s.rolled = std::move(unsynced_rolled_);
  unsynced_rolled_.clear();
  s.dir = std::exchange(dir_dirty_, false);
  return s;
}

int Core::do_sync(const SyncSet& s) {
  if (!opt_.sync || opt_.read_only) return 0;
  int err = 0;
  // Rolled segments first: a commit may have DATA in an older file than its COMMIT.
  // Poisoned ones are skipped: nothing acknowledged later depends on them.
  for (const auto& seg : s.rolled) {
    if (seg->poisoned) continue;
    ++fsyncs_;
    if (ops_->fdatasync(seg->fd) != 0 && !err) err = errno;
  }
  if (s.active && !s.active->poisoned) {
    ++fsyncs_;
    if (ops_->fdatasync(s.active->fd) != 0 && !err) err = errno;
  }
  if (s.dir && dir_fd_ >= 0) {
    ++fsyncs_;
    if (ops_->fsync(dir_fd_) != 0 && !err) err = errno;
  }
  return err;
}

void Core::poison_locked(const SyncSet& s) {
  // After a failed fsync the kernel may have dropped the dirty pages and marked them clean,
  // so a later fsync of the same file proves nothing: stop writing there.
  ++sync_failures_;
  if (s.active) s.active->poisoned = true;
  for (const auto& seg : s.rolled) seg->poisoned = true;
  if (s.dir) dir_dirty_ = true;
  need_roll_ = true;
}

void Core::sync_loop() {
  {
    std::lock_guard lk(mu_);
    sync_tid_ = std::this_thread::get_id();
  }
  for (;;) {
    std::deque<Waiter> batch;
    SyncSet set;
    bool need_sync = false;
    std::vector<std::pair<std::string, Unwritten>> retried;
    {
      std::unique_lock lk(mu_);
      auto ready = [&] { return stopping_ || !waiters_.empty(); };
      if (unwritten_.empty())
        cv_.wait(lk, [&] { return ready() || !unwritten_.empty(); });
      else
        cv_.wait_for(lk, kRetryMs, ready);
      if (!unwritten_.empty() && !stopping_) {
        reclaim_locked();  // rolls and deletes dead segments while space is short
        retried = flush_unwritten_locked();
      }
      if (waiters_.empty() && retried.empty()) {
        if (stopping_) break;  // stopping and drained
        continue;
      }
      wait_for_siblings_locked(lk);
      batch.swap(waiters_);
      inflight_ = &batch;  // a checkpoint taken meanwhile sees its pending commits
      need_sync = !retried.empty();
      for (const auto& w : batch)
        if (!w.preset) need_sync = true;
      if (need_sync) set = take_sync_set_locked();
    }
    // Everything in the batch was written before it was queued, so this one sync covers all.
    const int err = need_sync ? do_sync(set) : 0;
    std::vector<CommitOutcome> outs(batch.size());
    {
      std::lock_guard lk(mu_);
      inflight_ = nullptr;
      if (err) poison_locked(set);
      for (auto& [id, u] : retried) {
        if (err) {
          keep_unwritten_locked(id, std::move(u));
        } else {
          spdlog::info("spool: {} record of {} written after space returned",
                       u.done ? "done" : "state", id);
          if (u.done) unref_all_locked(u.segs);
        }
      }
      if (!retried.empty() && !err) reclaim_locked();
      for (size_t i = 0; i < batch.size(); ++i) {
        Waiter& w = batch[i];
        if (w.preset) {
          outs[i] = *w.preset;
        } else if (!err) {
          outs[i].ok = true;
          if (w.pending) {
            LiveMessage& lm = *w.pending;
            lm.order = next_order_++;
            auto [it, fresh] = live_.insert_or_assign(w.pending_id, std::move(lm));
            order_[it->second.order] = &*it;
            ++stats_.commits;
          }
        } else {
          outs[i] = failed_outcome(err, "spool sync");
          if (w.pending) {
            if (!bury_locked(record::Type::abort, w.pending_id, w.pending->segs))
              spdlog::error("spool: cannot write ABORT for {} after a failed sync", w.pending_id);
            unref_all_locked(w.pending->segs);
          }
        }
      }
      if (err) reclaim_locked();
    }
    if (err) spdlog::error("spool: sync failed: {}", std::strerror(err));
    for (size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].sync_done)
        batch[i].sync_done->set_value(outs[i].ok ? 0 : (err ? err : EIO));
      else if (batch[i].on_sync)
        batch[i].on_sync(outs[i].ok ? 0 : (err ? err : EIO));
      else if (batch[i].cb)
        batch[i].cb(std::move(outs[i]));
    }
  }
}

int Core::sync_inline(std::unique_lock<std::mutex>& lk) {
  SyncSet s = take_sync_set_locked();
  lk.unlock();
  int err = do_sync(s);
  if (err) {
    lk.lock();
    poison_locked(s);
  }
  return err;
}

int Core::sync_wait() {
  std::unique_lock lk(mu_);
  if (stopping_) return ECANCELED;
  // Called from a commit callback: waiting for ourselves would deadlock; sync inline.
  if (std::this_thread::get_id() == sync_tid_) return sync_inline(lk);
  auto p = std::make_shared<std::promise<int>>();
  auto f = p->get_future();
  Waiter w;
  w.sync_done = p;
  waiters_.push_back(std::move(w));
  lk.unlock();
  cv_.notify_one();
  return f.get();
}

void Core::sync_async(std::function<void(int)> cb) {
  std::unique_lock lk(mu_);
  if (stopping_) {
    lk.unlock();
    return cb(ECANCELED);
  }
  if (std::this_thread::get_id() == sync_tid_) {  // see sync_wait
    const int err = sync_inline(lk);
    if (lk.owns_lock()) lk.unlock();
    return cb(err);
  }
  Waiter w;
  w.on_sync = std::move(cb);
  waiters_.push_back(std::move(w));
  lk.unlock();
  cv_.notify_one();
}

// ---------------------------------------------------------------- index

std::vector<QueuedMessage> Core::list() const {
  std::vector<std::string> ids;
  {
    std::lock_guard lk(mu_);
    ids.reserve(order_.size());
    for (const auto& [o, e] : order_) ids.push_back(e->first);
  }
  std::vector<QueuedMessage> out;
  out.reserve(ids.size());
  for (const auto& id : ids)
    if (auto m = get(id)) out.push_back(std::move(*m));
  return out;
}

std::vector<QueueEntry> Core::index() const {
  std::lock_guard lk(mu_);
  std::vector<QueueEntry> out;
  out.reserve(order_.size());
  for (const auto& [o, e] : order_) {
    const LiveMessage& lm = e->second;
    out.push_back(QueueEntry{e->first, lm.account_id, lm.received_ms, lm.due_ms, lm.held});
  }
  return out;
}

// The envelope is decoded from disk: the COMMIT payload, then the latest state (the STATE
// record, or the one still waiting for space in unwritten_). Segments are held by pointer, so
// a message finished meanwhile still reads consistently.
std::optional<QueuedMessage> Core::get(const std::string& id) const {
  SegmentPtr commit_seg, state_seg;
  Extent commit, state;
  std::optional<std::string> pending_state;
  {
    std::lock_guard lk(mu_);
    auto it = live_.find(id);
    if (it == live_.end()) return std::nullopt;
    commit = it->second.commit;
    auto cs = segments_.find(commit.seg);
    if (cs == segments_.end()) return std::nullopt;
    commit_seg = cs->second;
    if (auto u = unwritten_.find(id); u != unwritten_.end() && !u->second.done) {
      pending_state = u->second.state;
    } else if (it->second.has_state) {
      state = it->second.state;
      auto ss = segments_.find(state.seg);
      if (ss == segments_.end()) return std::nullopt;
      state_seg = ss->second;
    }
  }
  auto payload = read_extent(commit_seg->fd, commit);
  if (!payload) {
    spdlog::error("spool: {}: {}", id, payload.error().message);
    return std::nullopt;
  }
  auto info = decode_commit(payload.value());
  if (!info) {
    spdlog::error("spool: {}: commit record: {}", id, info.error().message);
    return std::nullopt;
  }
  if (state_seg) {
    auto st = read_extent(state_seg->fd, state);
    if (!st) {
      spdlog::error("spool: {}: {}", id, st.error().message);
      return std::nullopt;
    }
    pending_state = std::move(st).value();
  }
  if (pending_state) {
    if (auto r = apply_state(*pending_state, info.value().msg); !r) {
      spdlog::error("spool: {}: state record: {}", id, r.error().message);
      return std::nullopt;
    }
  }
  return std::move(info.value().msg);
}

core::Result<void> Core::content_parts(const std::string& id,
                                       std::vector<std::pair<SegmentPtr, Extent>>& parts) const {
  std::lock_guard lk(mu_);
  auto it = live_.find(id);
  if (it == live_.end()) return core::Error::perm("no such message: " + id);
  parts.clear();
  parts.reserve(it->second.data.size());
  for (const Extent& e : it->second.data) {
    auto s = segments_.find(e.seg);
    if (s == segments_.end()) return core::Error::temp("spool segment missing for " + id);
    parts.emplace_back(s->second, e);
  }
  return core::ok();
}

core::Result<void> Core::read_content(const std::string& id,
                                      const std::function<void(std::string_view)>& sink) const {
  std::vector<std::pair<SegmentPtr, Extent>> parts;
  auto m = get(id);
  if (!m) return core::Error::perm("no such message: " + id);
  if (auto r = content_parts(id, parts); !r) return r;
  if (!m->prepend.empty()) sink(m->prepend);
  // The segment pointers keep the files open even if the message is finished meanwhile.
  std::string buf;
  for (const auto& [seg, e] : parts) {
    buf.resize(e.len);
    size_t got = 0;
    while (got < e.len) {
      ssize_t n = ::pread(seg->fd, buf.data() + got, e.len - got, static_cast<off_t>(e.off + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return core::Error::temp("spool read failed for " + id);
      got += static_cast<size_t>(n);
    }
    sink(buf);
  }
  return core::ok();
}

core::Result<void> Core::write_update(const QueuedMessage& msg, uint32_t& seq) {
  std::lock_guard lk(mu_);
  if (opt_.read_only) return core::Error::perm("spool is read-only");
  auto it = live_.find(msg.id);
  if (it == live_.end()) return core::Error::perm("no such message: " + msg.id);
  std::string payload = state_payload(msg);
  if (payload.size() > record::kMaxPayload) return core::Error::perm("state too large");
  // Applied now, in call order, so concurrent updates cannot be reordered in memory; a record
  // that cannot be written is kept and rewritten when space returns.
  LiveMessage& lm = it->second;
  const int64_t account = lm.account_id, received = lm.received_ms;
  lm.summarize(msg);
  lm.account_id = account;  // fixed at commit: msg may carry only id, recipients and held
  lm.received_ms = received;
  seq = ++lm.state_seq;
  Extent e;
  if (int err = append_locked(record::Type::state, msg.id, payload, &e)) {
    unwritten_[msg.id] = Unwritten{false, std::move(payload), seq, {}};
    cv_.notify_all();  // the sync thread starts retrying
    return io_error("spool write (kept in memory, retried)", err);
  }
  ref_locked(lm.segs, e.seg);
  lm.state = e;
  lm.has_state = true;
  unwritten_.erase(msg.id);  // superseded
  return core::ok();
}

core::Result<void> Core::write_finish(const std::string& id) {
  std::lock_guard lk(mu_);
  if (opt_.read_only) return core::Error::perm("spool is read-only");
  auto it = live_.find(id);
  if (it == live_.end()) return core::Error::perm("no such message: " + id);
  Extent e;
  const int err = append_locked(record::Type::done, id, {}, &e);
  if (err) {
    // Finished all the same for this process (never handed out again); the DONE waits for
    // space, holding the message's segments so nothing of it is deleted before it.
    Unwritten u;
    u.done = true;
    u.segs = std::move(it->second.segs);
    unwritten_[id] = std::move(u);
    cv_.notify_all();  // the sync thread starts retrying
  } else {
    std::vector<uint64_t> others;
    for (uint64_t s : it->second.segs)
      if (s != e.seg) others.push_back(s);
    if (!others.empty()) segments_[e.seg]->tombs.push_back(std::move(others));
    unref_all_locked(it->second.segs);
    unwritten_.erase(id);
  }
  order_.erase(it->second.order);
  live_.erase(it);
  if (err) return io_error("spool write (kept in memory, retried)", err);
  return core::ok();
}

std::vector<std::pair<std::string, Core::Unwritten>> Core::flush_unwritten_locked() {
  std::vector<std::pair<std::string, Unwritten>> written;
  for (auto it = unwritten_.begin(); it != unwritten_.end();) {
    const std::string& id = it->first;
    Unwritten& u = it->second;
    Extent e;
    if (u.done) {
      if (append_locked(record::Type::done, id, {}, &e) != 0) break;  // still no space
      std::vector<uint64_t> others;
      for (uint64_t s : u.segs)
        if (s != e.seg) others.push_back(s);
      if (!others.empty()) segments_[e.seg]->tombs.push_back(std::move(others));
      // (u.segs stay referenced until the sync covered the DONE)
    } else {
      auto lv = live_.find(id);
      if (lv != live_.end()) {
        if (append_locked(record::Type::state, id, u.state, &e) != 0) break;
        ref_locked(lv->second.segs, e.seg);
        lv->second.state = e;
        lv->second.has_state = true;
      }
    }
    written.emplace_back(id, std::move(u));
    it = unwritten_.erase(it);
  }
  return written;
}

std::string Core::state_payload(const QueuedMessage& msg) {
  nlohmann::json j = nlohmann::json::object();
  to_json(j["recipients"], msg.recipients);
  j["held"] = msg.held;
  return dump_json(j);
}

std::string Core::commit_payload(const QueuedMessage& msg, std::string content_hash,
                                 size_t data_records) {
  nlohmann::json j = nlohmann::json::object();
  to_json(j["envelope"], msg);
  j["content_blake2b"] = std::move(content_hash);
  j["data_records"] = data_records;
  return dump_json(j);
}

void Core::keep_unwritten_locked(const std::string& id, Unwritten u) {
  if (!u.done) {
    auto lv = live_.find(id);
    if (lv == live_.end()) return;              // finished meanwhile
    if (lv->second.state_seq != u.seq) return;  // a newer state supersedes it
  }
  auto [it, fresh] = unwritten_.try_emplace(id, std::move(u));
  if (!fresh && u.done && !it->second.done) it->second = std::move(u);
  cv_.notify_all();
}

// A STATE/DONE record whose sync failed sits in a poisoned segment (its pages may be lost):
// it is rewritten like one that found no space. For a DONE the segments were released at
// write time; the rewritten DONE then carries no tombstone, which is safe (at worst the
// message's segments are reclaimed first, the same as a durable DONE).
void Core::after_failed_sync(const std::string& id, bool done, const QueuedMessage* msg,
                             uint32_t seq) {
  std::lock_guard lk(mu_);
  Unwritten u;
  u.done = done;
  u.seq = seq;
  if (!done && msg) u.state = state_payload(*msg);
  keep_unwritten_locked(id, std::move(u));
}

core::Result<void> Core::update(const QueuedMessage& msg) {
  uint32_t seq = 0;
  if (auto r = write_update(msg, seq); !r) return r;
  if (int err = sync_wait()) {
    after_failed_sync(msg.id, false, &msg, seq);
    return io_error("spool sync", err);
  }
  return core::ok();
}

core::Result<void> Core::finish(const std::string& id) {
  if (auto r = write_finish(id); !r) return r;
  // If this sync fails the DONE is rewritten later; a crash before that may deliver the
  // message again after a restart (at-least-once); the caller sees the error.
  if (int err = sync_wait()) {
    after_failed_sync(id, true, nullptr, 0);
    return io_error("spool sync", err);
  }
  std::lock_guard lk(mu_);
  reclaim_locked();
  return core::ok();
}

void Core::update_async(const QueuedMessage& msg, std::function<void(core::Result<void>)> done) {
  uint32_t seq = 0;
  if (auto r = write_update(msg, seq); !r) return done(r);
  sync_async([this, msg, seq, done = std::move(done)](int err) {
    if (err) after_failed_sync(msg.id, false, &msg, seq);
    done(err ? core::Result<void>(io_error("spool sync", err)) : core::ok());
  });
}

void Core::finish_async(const std::string& id, std::function<void(core::Result<void>)> done) {
  if (auto r = write_finish(id); !r) return done(r);
  sync_async([this, id, done = std::move(done)](int err) {
    if (!err) {
      std::lock_guard lk(mu_);
      reclaim_locked();
    } else {
      after_failed_sync(id, true, nullptr, 0);
    }
    done(err ? core::Result<void>(io_error("spool sync", err)) : core::ok());
  });
}

void LiveMessage::summarize(const QueuedMessage& m) {
  account_id = m.account_id;
  received_ms = m.received_ms;
  held = m.held;
  due_ms = queue::summarize(m).due_ms;
}

core::Result<CommitInfo> decode_commit(std::string_view payload) {
  auto j = nlohmann::json::parse(payload, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return core::Error::perm("not JSON");
  try {
    CommitInfo c;
    c.msg = j.at("envelope").get<QueuedMessage>();
    c.content_hash = j.at("content_blake2b").get<std::string>();
    if (!j.contains("data_records")) return core::Error::perm("no data_records");
    c.data_records = static_cast<uint64_t>(
        int_field(j, "data_records", 0, std::numeric_limits<int64_t>::max(), 0));
    return c;
  } catch (const std::exception& e) {
    return core::Error::perm(e.what());
  }
}

core::Result<void> apply_state(std::string_view payload, QueuedMessage& m) {
  auto j = nlohmann::json::parse(payload, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return core::Error::perm("not JSON");
  try {
    m.recipients = j.at("recipients").get<std::vector<Recipient>>();
    m.held = j.value("held", m.held);
    return core::ok();
  } catch (const std::exception& e) {
    return core::Error::perm(e.what());
  }
}

core::Result<std::string> read_extent(int fd, const Extent& e) {
  std::string buf(e.len, '\0');
  size_t got = 0;
  while (got < e.len) {
    ssize_t n = ::pread(fd, buf.data() + got, e.len - got, static_cast<off_t>(e.off + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return core::Error::temp("spool read failed");
    got += static_cast<size_t>(n);
  }
  return buf;
}

Spool::Stats Core::stats() const {
  std::lock_guard lk(mu_);
  Spool::Stats s = stats_;
  s.fsyncs = fsyncs_.load();
  s.segments = segments_.size();
  s.unwritten = unwritten_.size();
  s.live = live_.size();
  return s;
}

}  // namespace tern::queue::detail
