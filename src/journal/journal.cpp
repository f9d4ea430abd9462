#include "journal/journal.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "journal/record.hpp"
#include "queue/file_ops.hpp"

namespace tern::journal {

namespace {

constexpr const char* kSuffix = ".log";

std::string errno_text(const std::string& what, const std::string& path) {
  return fmt::format("journal: {} {}: {}", what, path, std::strerror(errno));
}

core::Error io_error(const std::string& what, const std::string& path) {
  const bool full = errno == ENOSPC || errno == EDQUOT;
  auto msg = errno_text(what, path);
  return full ? core::Error::disk_full(std::move(msg)) : core::Error::unavailable(std::move(msg));
}

// "00000000000000000042.log" → 42; anything else → nullopt.
std::optional<uint64_t> parse_name(const std::string& n) {
  const size_t digits = n.size() - std::strlen(kSuffix);
  if (n.size() <= std::strlen(kSuffix) || n.substr(digits) != kSuffix || digits != 20)
    return std::nullopt;
  uint64_t v = 0;
  for (size_t i = 0; i < digits; ++i) {
    if (n[i] < '0' || n[i] > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(n[i] - '0');
  }
  return v;
}

core::Result<std::string> read_all(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("open", path);
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      auto e = io_error("read", path);
      ::close(fd);
      return e;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

core::Result<void> write_copy(const std::string& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("create", path);
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      auto e = io_error("write", path);
      ::close(fd);
      return e;
    }
    off += static_cast<size_t>(n);
  }
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return io_error("fsync", path);
  return core::ok();
}

// Keeps bytes (a damaged segment, an entry set aside) as name, or name.<n> when that holds
// other bytes (seqs restart when a journal is emptied: an earlier copy is never overwritten);
// an identical copy is not written again. Returns the name used. The caller syncs the
// directory.
core::Result<std::string> keep_copy(const std::string& name, std::string_view bytes) {
  for (int n = 0; n < 1000; ++n) {
    const std::string copy = name + (n ? fmt::format(".{}", n) : std::string());
    struct stat st {};
    if (::stat(copy.c_str(), &st) == 0) {
      if (static_cast<uint64_t>(st.st_size) != bytes.size()) continue;
      auto old = read_all(copy);
      if (old && *old == bytes) return copy;
      continue;
    }
    if (auto r = write_copy(copy, bytes); !r) return r.error();
    return copy;
  }
  return core::Error::unavailable("journal: too many copies of " + name);
}

}  // namespace

Journal::Journal(std::string dir, JournalOptions opt)
    : dir_(std::move(dir)), opt_(std::move(opt)), core_(CoreConfig{opt_.segment_bytes}) {
  if (!opt_.ops) opt_.ops = queue::default_file_ops();
}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

std::string Journal::path_of(uint64_t name) const {
  return fmt::format("{}/{:020}{}", dir_, name, kSuffix);
}

core::Result<std::unique_ptr<Journal>> Journal::open(const std::string& dir, JournalOptions opt,
                                                     std::vector<Replayed>* unapplied) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return io_error("mkdir", dir);
  std::unique_ptr<Journal> j(new Journal(dir, std::move(opt)));
  std::vector<uint64_t> names;
  {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return io_error("opendir", dir);
    while (const dirent* e = ::readdir(d))
      if (auto n = parse_name(e->d_name)) names.push_back(*n);
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  // Every segment is read before anything is handed back: a mark in a later segment covers
  // entries of earlier ones.
  std::vector<Replayed> entries;
  uint64_t last_entry = 0, applied = 0;
  for (uint64_t name : names) {
    const std::string path = j->path_of(name);
    auto bytes = read_all(path);
    if (!bytes) return bytes.error();
    const bool last = name == names.back();
    auto s = record::scan(*bytes, last_entry, applied, last);
    if (!s.damaged.empty()) {
      // Damage, not a torn write: the file is kept as evidence beside it (the segment itself
      // stays too, with the records around the damage, until they are applied and trimmed).
      j->corrupt_ += s.damaged.size();
      auto kept = keep_copy(path + ".corrupt", *bytes);
      if (!kept) return kept.error();
      if (auto r = j->sync_dir(); !r) return r.error();
      size_t repaired = 0;
      for (const auto& r : s.records) repaired += r.repaired;
      std::string where;
      for (const auto& d : s.damaged)
        where += fmt::format("{}{} bytes at {}", where.empty() ? "" : ", ", d.bytes, d.offset);
      spdlog::error(
          "journal: {}: {} damaged range(s) ({}): the file is kept as {}; {} records around the "
          "damage are kept ({} of them rebuilt from a damaged header)",
          path, s.damaged.size(), where, *kept, s.records.size(), repaired);
    }
    if (s.tail == record::Tail::torn) {
      ++j->torn_;
      spdlog::warn("journal: {}: a torn tail of {} bytes (an append that never completed) cut off",
                   path, bytes->size() - s.valid_bytes);
      const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) return io_error("open", path);
      const bool ok = j->opt_.ops->ftruncate(fd, static_cast<off_t>(s.valid_bytes)) == 0 &&
                      j->opt_.ops->fsync(fd) == 0;
      auto err = ok ? core::Error{} : io_error("truncate", path);
      ::close(fd);
      if (!ok) return err;
    }
    for (const auto& r : s.records)
      if (r.kind == record::Kind::entry) entries.push_back({r.seq, std::string(r.payload)});
    j->core_.recovered({name, s.last_entry_seq > last_entry ? s.last_entry_seq : 0, s.valid_bytes},
                       s.applied_seq);
    last_entry = s.last_entry_seq;
    applied = s.applied_seq;
  }
  if (unapplied) {
    unapplied->clear();
    for (auto& e : entries)
      if (e.seq > applied) unapplied->push_back(std::move(e));
  }
  return j;
}

core::Result<void> Journal::open_segment(uint64_t name) {
  const std::string path = path_of(name);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("create", path);
  // The new name must survive a crash as well as the bytes written into it.
  const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const bool dir_ok = dfd >= 0 && opt_.ops->fsync(dfd) == 0;
  auto err = dir_ok ? core::Error{} : io_error("fsync directory", dir_);
  if (dfd >= 0) ::close(dfd);
  if (!dir_ok) {
    ::close(fd);
    return err;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  fd_size_ = 0;
  active_name_ = name;
  return core::ok();
}

core::Result<uint64_t> Journal::append(const std::vector<std::string>& payloads) {
  std::lock_guard lk(mu_);
  const uint64_t first = core_.next_seq();
  std::string buf;
  size_t total = 0;
  for (const auto& p : payloads) total += record::kHeaderSize + p.size();
  buf.reserve(total);
  for (size_t i = 0; i < payloads.size(); ++i) {
    if (payloads[i].size() > record::kMaxPayload)
      return core::Error::invalid("journal: an entry larger than 16 MiB");
    record::encode(buf, record::Kind::entry, first + i, payloads[i]);
  }
  const auto plan = core_.plan_append(payloads.size(), buf.size());
  auto fail = [&](core::Error e) -> core::Result<uint64_t> {
    // Cut the partial group off when possible; the segment is sealed either way.
    if (fd_ >= 0) {
      (void)opt_.ops->ftruncate(fd_, static_cast<off_t>(fd_size_));
      ::close(fd_);
      fd_ = -1;
    }
    core_.failed(plan, payloads.size());
    spdlog::error("{}", e.message);
    return e;
  };
  if (plan.new_segment) {
    if (auto r = open_segment(*plan.new_segment); !r) {
      core_.failed(plan, payloads.size());
      return r.error();
    }
  }
  size_t off = 0;
  while (off < buf.size()) {
    iovec v{buf.data() + off, buf.size() - off};
    const ssize_t n = opt_.ops->pwritev(fd_, &v, 1, static_cast<off_t>(fd_size_ + off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return fail(io_error("write", path_of(active_name_)));
    }
    off += static_cast<size_t>(n);
  }
  if (opt_.ops->fdatasync(fd_) != 0) return fail(io_error("fdatasync", path_of(active_name_)));
  fd_size_ += buf.size();
  core_.appended(plan, payloads.size(), buf.size());
  return first;
}

core::Result<void> Journal::mark_applied(uint64_t seq) {
  std::lock_guard lk(mu_);
  if (core_.mark_wanted(seq) && fd_ >= 0) {
    const std::string rec = record::encode(record::Kind::applied, seq, {});
    iovec v{const_cast<char*>(rec.data()), rec.size()};
    const ssize_t n = opt_.ops->pwritev(fd_, &v, 1, static_cast<off_t>(fd_size_));
    if (n == static_cast<ssize_t>(rec.size())) {
      fd_size_ += rec.size();
      core_.marked(seq, rec.size());
    } else {
      // Not fatal: the entries would be applied again after a restart. The partial bytes are
      // cut off so the next group does not land behind them.
      (void)opt_.ops->ftruncate(fd_, static_cast<off_t>(fd_size_));
      spdlog::warn("journal: writing an applied mark failed; entries may be applied again");
    }
  }
  for (uint64_t name : core_.trim(seq)) {
    const std::string path = path_of(name);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      spdlog::warn("{}", errno_text("delete", path));
  }
  return core::ok();
}

core::Result<std::string> Journal::set_aside(uint64_t seq, std::string_view payload) {
  std::lock_guard lk(mu_);
  auto path = keep_copy(fmt::format("{}/{:020}.undecodable", dir_, seq),
                        record::encode(record::Kind::entry, seq, payload));
  if (!path) return path.error();
  if (auto r = sync_dir(); !r) return r.error();
  ++set_aside_;
  return path;
}

core::Result<void> Journal::sync_dir() {
  const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const bool ok = dfd >= 0 && opt_.ops->fsync(dfd) == 0;
  auto err = ok ? core::Error{} : io_error("fsync directory", dir_);
  if (dfd >= 0) ::close(dfd);
  if (!ok) return err;
  return core::ok();
}

JournalStats Journal::stats() const {
  std::lock_guard lk(mu_);
  return {core_.segments(), core_.bytes(), core_.next_seq(), core_.applied(), torn_,
          corrupt_,         set_aside_};
}

}  // namespace tern::journal
