#include "queue/file_ops.hpp"

#include <sys/statvfs.h>
#include <unistd.h>

namespace tern::queue {

ssize_t FileOps::pwritev(int fd, const struct iovec* iov, int iovcnt, off_t off) {
  return ::pwritev(fd, iov, iovcnt, off);
}
int FileOps::fdatasync(int fd) { return ::fdatasync(fd); }
int FileOps::fsync(int fd) { return ::fsync(fd); }
int FileOps::ftruncate(int fd, off_t len) { return ::ftruncate(fd, len); }
int64_t FileOps::free_bytes(int fd) {
  struct statvfs st;
  if (::fstatvfs(fd, &st) != 0) return -1;
  return static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_frsize);
}

std::shared_ptr<FileOps> default_file_ops() {
  static auto ops = std::make_shared<FileOps>();
  return ops;
}

}  // namespace tern::queue
