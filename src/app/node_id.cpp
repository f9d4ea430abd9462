#include "app/node_id.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <sstream>

#include "store/node_registry.hpp"

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

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  std::string h = buf;
  for (char& c : h)
    if (c <= ' ' || c > '~') c = '?';  // one word in node.instance
  return h;
}

namespace {

std::string random_id() {
  static const char* kAlphabet = "abcdefghijklmnopqrstuvwxyz234567";
  std::string id = "node-";
  for (int i = 0; i < 8; ++i) id += kAlphabet[randombytes_uniform(32)];
  return id;
}

// prefix + 20 base32 characters (100 bits from libsodium).
std::string random_token(const char* prefix) {
  static const char* kAlphabet = "abcdefghijklmnopqrstuvwxyz234567";
  std::string id = prefix;
  for (int i = 0; i < 20; ++i) id += kAlphabet[randombytes_uniform(32)];
  return id;
}

struct InstanceFile {
  std::string instance;
  uint64_t inode = 0;
  std::string host;
};

// "<instance> <inode> <host>\n"; nullopt when it is not that.
std::optional<InstanceFile> parse_instance(const std::string& text) {
  std::istringstream in(text);
  InstanceFile f;
  if (!(in >> f.instance >> f.inode >> f.host)) return std::nullopt;
  if (!store::persistent_instance(f.instance) || f.instance.size() > 64) return std::nullopt;
  return f;
}

core::Result<void> fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return core::Error::unavailable(fmt::format("{}: {}", dir, std::strerror(errno)));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0)
    return core::Error::unavailable(fmt::format("fsync {}: {}", dir, std::strerror(errno)));
  return core::ok();
}

// Writes "<instance> <inode> <host>\n" to node.instance atomically (tmp, fsync, rename, fsync
// of the dir); the inode is the tmp file's, which the rename keeps.
core::Result<void> write_instance(const std::string& data_dir, const std::string& instance,
                                  const std::string& host) {
  const std::string path = data_dir + "/node.instance";
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return core::Error::unavailable(
        fmt::format("node instance: {}: {}", tmp, std::strerror(errno)));
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0;
  const std::string line =
      fmt::format("{} {} {}\n", instance, static_cast<uint64_t>(st.st_ino), host);
  ok = ok && ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ok = ok && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    return core::Error::unavailable(fmt::format("node instance: write {}: {}", path, err));
  }
  if (auto r = fsync_dir(data_dir); !r) return r.error().context("node instance");
  return core::ok();
}

// The data dir's instance: the one in node.instance while that file is still the one written
// here (same inode), else a new one. Another host name with the same inode is the same data
// dir on a recreated container or a renamed machine (a volume keeps its inodes; a file-level
// copy does not): the instance is kept and the file rewritten with the new name (said once). A
// block-level clone also keeps the inode: the registry tells its process from the original's by
// the run (store/node_registry.hpp). Called under node.id's lock: no other process writes it
// meanwhile. machine: the host name; "" (none known) is kept as "-", so that the file stays
// three words and a restart keeps the instance.
core::Result<std::pair<std::string, std::string>> claim_instance(const std::string& data_dir,
                                                                 const std::string& machine) {
  const std::string path = data_dir + "/node.instance";
  const std::string host = machine.empty() ? std::string("-") : machine;
  std::string why = "this data dir had none";
  if (const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW); fd >= 0) {
    std::string text;
    char buf[256];
    ssize_t n;
    while (text.size() < 512 && (n = ::read(fd, buf, sizeof buf)) > 0)
      text.append(buf, static_cast<size_t>(n));
    struct stat st {};
    const bool stat_ok = ::fstat(fd, &st) == 0;
    ::close(fd);
    const auto f = parse_instance(text);
    if (f && stat_ok && f->inode == static_cast<uint64_t>(st.st_ino)) {
      if (f->host == host) return std::pair{f->instance, std::string()};
      if (auto r = write_instance(data_dir, f->instance, host); !r) return r.error();
      return std::pair{
          f->instance,
          fmt::format("node instance {} kept: {} was last written on host {}, now {} (the same "
                      "data dir on a recreated container or a renamed machine; a copy running "
                      "at the same time is told apart by its run)",
                      f->instance, path, f->host, host)};
    }
    why = !f ? fmt::format("{} was not readable as an instance", path)
             : fmt::format(
                   "{} was written for another copy of this data dir (host {}, now {}): a copied "
                   "or restored data dir is a node instance of its own",
                   path, f->host, host);
  } else if (errno != ENOENT) {
    why = fmt::format("{} could not be read ({})", path, std::strerror(errno));
  }
  const std::string instance = random_token("i-");
  if (auto r = write_instance(data_dir, instance, host); !r) return r.error();
  return std::pair{instance, fmt::format("node instance {} made ({})", instance, why)};
}

}  // namespace

core::Result<NodeId> NodeId::claim(const std::string& data_dir, const std::string& configured,
                                   const std::string& host) {
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
    NodeId node(stored, fd);
    if (auto r = node.take_instance(data_dir, host); !r) return r.error();
    return node;
  }
  const std::string id = configured.empty() ? random_id() : configured;
  const std::string line = id + "\n";
  if (::pwrite(fd, line.data(), line.size(), 0) != static_cast<ssize_t>(line.size()) ||
      ::fsync(fd) != 0)
    return fail(
        core::Error::unavailable(fmt::format("node id: write {}: {}", path, std::strerror(errno))));
  NodeId node(id, fd);
  if (auto r = node.take_instance(data_dir, host); !r) return r.error();
  return node;
}

core::Result<void> NodeId::take_instance(const std::string& data_dir, const std::string& host) {
  auto inst = claim_instance(data_dir, host);
  if (!inst) return inst.error();
  instance_ = std::move(inst->first);
  run_ = random_token("r-");
  note_ = std::move(inst->second);
  return core::ok();
}

NodeId::~NodeId() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace tern::app
