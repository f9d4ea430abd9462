#include "app/control.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <stdexcept>
#include <thread>

namespace tern::app {

namespace {

constexpr size_t kMaxLine = 4096;

sockaddr_un address_of(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof(a.sun_path))
    throw std::runtime_error("control socket path too long: " + path);
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return a;
}

// Reads one line (without the LF) within timeout_ms; false on EOF, timeout or overflow.
bool read_line(int fd, std::string& line, int timeout_ms) {
  line.clear();
  char buf[512];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] == '\n') return true;
      line += buf[i];
    }
    if (line.size() > kMaxLine) return false;
  }
}

void write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

std::string reply_json(const net::ControlReply& r) {
  nlohmann::json j{{"ok", r.ok}, {"count", r.count}};
  if (!r.ok) j["error"] = r.message;
  return j.dump() + "\n";
}

}  // namespace

struct ControlServer::Impl {
  std::string path;
  Handler handler;
  int fd = -1;
  int wake[2] = {-1, -1};
  std::thread thread;

  void serve_one(int c) {
    std::string line;
    net::ControlReply rep;
    if (!read_line(c, line, 5000)) {
      rep.message = "request not received";
    } else {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("cmd") || !j["cmd"].is_string() ||
          (j.contains("id") && !j["id"].is_string())) {
        rep.message = "malformed request";
      } else {
        const std::string cmd = j["cmd"];
        const std::string id = j.value("id", std::string());
        if (cmd != "retry" && cmd != "hold" && cmd != "release" && cmd != "delete")
          rep.message = "unknown command: " + cmd;
        else
          rep = handler(cmd, id);
      }
    }
    write_all(c, reply_json(rep));
  }

  void loop() {
    for (;;) {
      pollfd p[2] = {{fd, POLLIN, 0}, {wake[0], POLLIN, 0}};
      int r = ::poll(p, 2, -1);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 || (p[1].revents & POLLIN)) return;
      int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      serve_one(c);
      ::close(c);
    }
  }
};

ControlServer::ControlServer(std::string path, Handler handler) : impl_(std::make_unique<Impl>()) {
  impl_->path = std::move(path);
  impl_->handler = std::move(handler);
  sockaddr_un a = address_of(impl_->path);
  ::unlink(impl_->path.c_str());  // a stale socket of a server that died
  impl_->fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (impl_->fd < 0) throw std::runtime_error("control socket: " + std::string(std::strerror(errno)));
  const mode_t old = ::umask(0177);  // the socket file is created 0600
  const int b = ::bind(impl_->fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::umask(old);
  if (b != 0 || ::listen(impl_->fd, 16) != 0) {
    const std::string why = std::strerror(errno);
    ::close(impl_->fd);
    throw std::runtime_error("control socket " + impl_->path + ": " + why);
  }
  if (::pipe2(impl_->wake, O_CLOEXEC) != 0) throw std::runtime_error("control socket: pipe");
  impl_->thread = std::thread([this] { impl_->loop(); });
}

ControlServer::~ControlServer() {
  char x = 1;
  (void)!::write(impl_->wake[1], &x, 1);
  if (impl_->thread.joinable()) impl_->thread.join();
  ::close(impl_->fd);
  ::close(impl_->wake[0]);
  ::close(impl_->wake[1]);
  ::unlink(impl_->path.c_str());
}

net::ControlReply control_request(const std::string& path, const std::string& cmd,
                                  const std::string& id) {
  net::ControlReply rep;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    rep.message = std::strerror(errno);
    return rep;
  }
  sockaddr_un a = address_of(path);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    rep.message = "the server is not running (" + path + ": " + std::strerror(errno) + ")";
    ::close(fd);
    return rep;
  }
  write_all(fd, nlohmann::json{{"cmd", cmd}, {"id", id}}.dump() + "\n");
  std::string line;
  const bool got = read_line(fd, line, 60000);
  ::close(fd);
  auto j = got ? nlohmann::json::parse(line, nullptr, false) : nlohmann::json();
  if (!got || j.is_discarded() || !j.is_object()) {
    rep.message = "no answer from the server";
    return rep;
  }
  rep.ok = j.value("ok", false);
  rep.count = j.value("count", size_t{0});
  rep.message = j.value("error", std::string());
  return rep;
}

}  // namespace tern::app
