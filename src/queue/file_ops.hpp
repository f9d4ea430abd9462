// Internal seam: the few file syscalls whose failures the spool must handle (short writes,
// ENOSPC, fsync errors, free space). Production uses the real calls; tests substitute a subclass
// that injects errors. Calls follow the POSIX convention: -1 with errno set on failure.
#pragma once
#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <string>

#include "core/result.hpp"
#include "queue/spool.hpp"

namespace tern::queue {

class FileOps {
 public:
  virtual ~FileOps() = default;
  virtual ssize_t pwritev(int fd, const struct iovec* iov, int iovcnt, off_t off);
  virtual int fdatasync(int fd);
  virtual int fsync(int fd);
  virtual int ftruncate(int fd, off_t len);
  // Bytes an unprivileged writer may still use on the filesystem holding fd (fstatvfs
  // f_bavail * f_frsize); -1 with errno set on failure.
  virtual int64_t free_bytes(int fd);
};

std::shared_ptr<FileOps> default_file_ops();

// Spool::open with a chosen FileOps (tests).
core::Result<std::unique_ptr<Spool>> open_spool(const std::string& dir, SpoolOptions opt,
                                                std::shared_ptr<FileOps> ops);

}  // namespace tern::queue
