#include "app/secret_files.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "store/secrets.hpp"

namespace tern::app {

namespace {
std::runtime_error failure(const std::string& path, const std::string& what) {
  return std::runtime_error(path + ": " + what);
}

// Writes all of content to fd and fsyncs it; closes fd. Returns 0 or the errno.
int write_and_close(int fd, const std::string& content) {
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = n < 0 ? errno : EIO;
      ::close(fd);
      return e;
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int e = errno;
    ::close(fd);
    return e;
  }
  return ::close(fd) == 0 ? 0 : errno;
}

std::string trim(std::string s) {
  auto ws = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
  while (!s.empty() && ws(s.back())) s.pop_back();
  size_t i = 0;
  while (i < s.size() && ws(s[i])) ++i;
  return s.substr(i);
}
}  // namespace

std::string load_or_create_secret(const std::string& path, const std::function<std::string()>& make,
                                  bool text, bool* created) {
  if (created) *created = false;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    std::error_code ec;
    auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    const std::string secret = make();
    int w = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (w >= 0) {
      if (int e = write_and_close(w, text ? secret + "\n" : secret)) {
        ::unlink(path.c_str());
        throw failure(path, std::string("cannot write: ") + std::strerror(e));
      }
      if (created) *created = true;
      return secret;
    }
    if (errno != EEXIST) throw failure(path, std::string("cannot create: ") + std::strerror(errno));
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);  // another process made it meanwhile
  }
  if (fd < 0) throw failure(path, std::string("cannot read: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
    ::close(fd);
    throw failure(path, "must not be readable by group or others (chmod 600)");
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      throw failure(path, std::string("cannot read: ") + std::strerror(errno));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > 4096) {
      ::close(fd);
      throw failure(path, "too large for a secret");
    }
  }
  ::close(fd);
  if (text) out = trim(std::move(out));
  if (out.empty()) throw failure(path, "is empty");
  return out;
}

void replace_secret_file(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".new";
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw failure(tmp, std::string("cannot create: ") + std::strerror(errno));
  if (int e = write_and_close(fd, content)) {
    ::unlink(tmp.c_str());
    throw failure(tmp, std::string("cannot write: ") + std::strerror(e));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    throw failure(path, std::string("cannot replace: ") + std::strerror(e));
  }
}

std::string new_admin_token() {
  unsigned char raw[20];
  randombytes_buf(raw, sizeof raw);
  return "tern_admin_" + store::secrets::base32_lower(raw, sizeof raw);
}

std::string new_tracking_secret() {
  std::string s(32, '\0');
  randombytes_buf(s.data(), s.size());
  return s;
}

}  // namespace tern::app
