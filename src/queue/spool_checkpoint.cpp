// The spool's index checkpoint (queue/checkpoint.hpp has the format): taken under the
// spool's lock at the current log position, written in the background (tmp file, fsync, the
// log synced, rename, directory fsync), loaded by recovery before it scans the log after it.
//
// Why it is safe to trust (spool.hpp, Invariants): the file is renamed into place only after
// a sync covered every record before its position and no sync failed since the snapshot; the
// log before that position is never truncated afterwards (floor_seg_/floor_off_); messages
// whose COMMIT was written but not yet synced at the snapshot are included as live — if that
// sync fails, an ABORT follows in the log after the position, and the sync failure keeps this
// checkpoint from being installed anyway; open writers are included with their DATA extents,
// so a COMMIT after the position still finds its content (re-hashed from disk at load).
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "queue/checkpoint.hpp"
#include "queue/spool_core.hpp"

namespace tern::queue::detail {

namespace {

constexpr const char* kFile = "/index.ckpt";
constexpr const char* kTmp = "/index.ckpt.tmp";

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool write_all_fd(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    s.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads exactly n bytes at off (false on an error or a short file).
bool pread_all(int fd, char* buf, size_t n, uint64_t off) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, buf + got, n - got, static_cast<off_t>(off + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

}  // namespace

std::optional<CheckpointEncoder> Core::snapshot_locked() {
  if (opt_.read_only || !active_ || active_->poisoned || need_roll_ || !unwritten_.empty())
    return std::nullopt;
  CheckpointHead h;
  h.pos_seg = active_->seq;
  h.pos_off = active_->size;
  h.segments.reserve(segments_.size());
  std::string prefix;
  for (const auto& [seq, seg] : segments_) {
    CheckpointSegment cs{seq, seg->tombs};
    cs.prefix_len = static_cast<uint32_t>(std::min<uint64_t>(kCheckpointPrefix, seg->size));
    prefix.resize(cs.prefix_len);
    if (!pread_all(seg->fd, prefix.data(), prefix.size(), 0)) return std::nullopt;
    cs.prefix_hash = checkpoint_hash(prefix);
    h.segments.push_back(std::move(cs));
  }
  for (const WriterState* w : writers_) {
    if (w->closed || w->data.empty()) continue;
    h.writers.push_back({w->id, w->size, w->data, {w->segs.begin(), w->segs.end()}});
  }
  // Commits written but not yet synced (the batch being synced, then those queued): live
  // from this checkpoint's point of view, in the order the sync thread will make them live.
  std::vector<const Waiter*> pending;
  if (inflight_)
    for (const auto& w : *inflight_)
      if (w.pending && !w.preset) pending.push_back(&w);
  for (const auto& w : waiters_)
    if (w.pending && !w.preset) pending.push_back(&w);
  h.next_order = next_order_ + pending.size();
  h.live_count = live_.size() + pending.size();
  CheckpointEncoder enc(h, static_cast<size_t>(h.live_count) * 128);
  for (const auto& [order, e] : order_) enc.add(e->first, e->second);
  uint64_t next = next_order_;
  for (const Waiter* w : pending) {
    LiveMessage copy = *w->pending;
    copy.order = next++;
    enc.add(w->pending_id, copy);
  }
  if (!enc.complete()) return std::nullopt;  // cannot happen: counted above
  floor_seg_ = h.pos_seg;
  floor_off_ = h.pos_off;
  return enc;
}

core::Result<void> Core::install_checkpoint(const std::string& bytes, uint64_t failures,
                                            bool sync_log) {
  const std::string tmp = spool_dir_ + kTmp, path = spool_dir_ + kFile;
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return io_error("checkpoint open", errno);
  bool ok = write_all_fd(fd, bytes);
  int err = ok ? 0 : errno;
  if (ok && opt_.sync && ::fdatasync(fd) != 0) {
    ok = false;
    err = errno;
  }
  ::close(fd);
  if (ok && sync_log) {
    // Everything before the checkpoint's position was appended before this call: one sync
    // makes it durable (or fails, and the checkpoint is not installed).
    if (int e = sync_wait()) {
      ok = false;
      err = e;
    }
  }
  if (ok) {
    std::lock_guard lk(mu_);
    if (sync_failures_ != failures) {
      ok = false;
      err = EIO;
    }
  }
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    ::unlink(tmp.c_str());
    return io_error("checkpoint write", err);
  }
  if (opt_.sync && dir_fd_ >= 0) (void)ops_->fsync(dir_fd_);
  return core::ok();
}

core::Result<void> Core::checkpoint_now() {
  if (opt_.read_only) return core::Error::perm("spool is read-only");
  std::lock_guard wl(ckpt_mu_);
  std::optional<CheckpointEncoder> enc;
  uint64_t failures = 0;
  const int64_t t0 = steady_ms();
  {
    std::lock_guard lk(mu_);
    if (stopped_) return core::Error::perm("spool is closed");
    enc = snapshot_locked();
    if (!enc)
      return core::Error::temp("checkpoint: not now (records waiting for space or a failed sync)");
    failures = sync_failures_;
    ckpt_log_bytes_ = log_bytes_;
    ckpt_time_ms_ = steady_ms();
    ckpt_soon_ = false;
  }
  last_lock_ms_ = ckpt_time_ms_ - t0;
  const std::string bytes = enc->finish();  // the checksum, outside the lock
  auto r = install_checkpoint(bytes, failures, true);
  std::lock_guard lk(mu_);
  if (r) {
    ckpt_size_ = bytes.size();
    ++stats_.checkpoints;
  }
  return r;
}

bool Core::checkpoint_due_locked() const {
  if (!opt_.checkpoint || opt_.read_only || stopping_) return false;
  if (steady_ms() - ckpt_time_ms_ < static_cast<int64_t>(opt_.checkpoint_interval_ms)) return false;
  if (ckpt_soon_) return true;
  const uint64_t grown = log_bytes_ - ckpt_log_bytes_;
  return grown > 0 && grown >= std::max(opt_.checkpoint_min_bytes, ckpt_size_);
}

void Core::checkpoint_loop() {
  for (;;) {
    {
      std::unique_lock lk(mu_);
      ckpt_cv_.wait_for(lk, std::chrono::seconds(1), [&] { return ckpt_stop_; });
      if (ckpt_stop_) return;
      if (!checkpoint_due_locked()) continue;
    }
    const auto t0 = steady_ms();
    auto r = checkpoint_now();
    if (!r)
      spdlog::warn("spool: index checkpoint not written: {}", r.error().message);
    else
      spdlog::info("spool: index checkpoint written ({} ms, {} ms of it under the spool lock)",
                   steady_ms() - t0, last_lock_ms_);
  }
}

}  // namespace tern::queue::detail
