#include "store/db_guard.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace tern::store::db_guard {

namespace {

bool is_file_path(const std::string& p) {
  return !p.empty() && p != ":memory:" && !p.starts_with("file:");
}

bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

int sync_dir_of(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  int rc = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  return rc;
}

core::Error io(const std::string& what, const std::string& path, int err) {
  return core::Error::temp("store: " + what + " " + path + ": " + std::strerror(err));
}

}  // namespace

Verdict judge(bool db_exists, bool marker_exists, bool wal_exists) {
  return db_exists && marker_exists && !wal_exists ? Verdict::wal_lost : Verdict::ok;
}

std::string marker_path(const std::string& db_path) { return db_path + "-running"; }

core::Result<void> check(const std::string& db_path) {
  if (!is_file_path(db_path)) return core::ok();
  const std::string wal = db_path + "-wal";
  if (judge(exists(db_path), exists(marker_path(db_path)), exists(wal)) == Verdict::ok)
    return core::ok();
  return core::Error::corrupt(
      "store: " + db_path + " looks truncated: the server did not stop cleanly (" +
      marker_path(db_path) + " exists) and its write-ahead log " + wal +
      " is missing, so the most recent accounts, API keys, suppressions and settings may be "
      "lost. Restore " +
      wal +
      " (from where it was moved or from the backup that has it) "
      "and start again; or, to accept the loss and go on with the database as it is, start "
      "once with `tern serve --force`");
}

core::Result<void> mark_running(const std::string& db_path) {
  if (!is_file_path(db_path)) return core::ok();
  const std::string m = marker_path(db_path);
  int fd = ::open(m.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return io("cannot create", m, errno);
  static constexpr char kText[] =
      "tern serve is running on this database (removed at a clean stop)\n";
  bool ok = ::write(fd, kText, sizeof kText - 1) == static_cast<ssize_t>(sizeof kText - 1);
  int err = ok ? 0 : (errno ? errno : EIO);
  if (ok && ::fsync(fd) != 0) err = errno;
  ::close(fd);
  if (err) return io("cannot write", m, err);
  if (int e = sync_dir_of(m)) return io("cannot sync the directory of", m, e);
  return core::ok();
}

core::Result<void> mark_clean(const std::string& db_path) {
  if (!is_file_path(db_path)) return core::ok();
  const std::string m = marker_path(db_path);
  if (::unlink(m.c_str()) != 0 && errno != ENOENT) return io("cannot remove", m, errno);
  if (int e = sync_dir_of(m)) return io("cannot sync the directory of", m, e);
  return core::ok();
}

}  // namespace tern::store::db_guard
