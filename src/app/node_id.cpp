#include "app/node_id.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sodium.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tern::app {

bool valid_node_id(std::string_view id) {
  if (id.empty() || id.size() > 32) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i > 0);
    if (!ok) return false;
  }
  return true;
}

namespace {

std::string random_id() {
  static const char* kAlphabet = "abcdefghijklmnopqrstuvwxyz234567";
  std::string id = "node-";
  for (int i = 0; i < 8; ++i) id += kAlphabet[randombytes_uniform(32)];
  return id;
}

}  // namespace

core::Result<NodeId> NodeId::claim(const std::string& data_dir, const std::string& configured) {
  if (!configured.empty() && !valid_node_id(configured))
    return core::Error::invalid(fmt::format(
        "cluster.node_id \"{}\": expected 1 to 32 of a-z, 0-9 and '-' (not first)", configured));
  if (sodium_init() < 0) return core::Error::unavailable("node id: libsodium failed to start");
  const std::string path = data_dir + "/node.id";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return core::Error::unavailable(fmt::format("node id: {}: {}", path, std::strerror(errno)));
  auto fail = [fd](core::Error e) {
    ::close(fd);
    return e;
  };
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      return fail(core::Error::conflict(fmt::format(
          "node id: {} is held by another running tern serve: one process per data dir", path)));
    return fail(
        core::Error::unavailable(fmt::format("node id: lock {}: {}", path, std::strerror(errno))));
  }
  std::string stored;
  char buf[128];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return fail(core::Error::unavailable(
          fmt::format("node id: read {}: {}", path, std::strerror(errno))));
    if (n == 0) break;
    stored.append(buf, static_cast<size_t>(n));
    if (stored.size() > 64) break;
  }
  while (!stored.empty() && (stored.back() == '\n' || stored.back() == ' ')) stored.pop_back();
  if (!stored.empty()) {
    if (!valid_node_id(stored))
      return fail(core::Error::corrupt(fmt::format("node id: {} holds no valid node id", path)));
    if (!configured.empty() && configured != stored)
      return fail(core::Error::invalid(fmt::format(
          "node id: cluster.node_id is \"{}\" but {} says \"{}\": this data dir (its spool, its "
          "message-log rows) belongs to node {}; configure that id or use another data dir",
          configured, path, stored, stored)));
    return NodeId(stored, fd);
  }
  const std::string id = configured.empty() ? random_id() : configured;
  const std::string line = id + "\n";
  if (::pwrite(fd, line.data(), line.size(), 0) != static_cast<ssize_t>(line.size()) ||
      ::fsync(fd) != 0)
    return fail(
        core::Error::unavailable(fmt::format("node id: write {}: {}", path, std::strerror(errno))));
  return NodeId(id, fd);
}

NodeId::~NodeId() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace tern::app
