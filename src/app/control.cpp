#include "app/control.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
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
  if (!r.note.empty()) j["note"] = r.note;
  return j.dump() + "\n";
}

nlohmann::json test_json(const net::TestSendResult& t) {
  return {{"outcome", t.outcome}, {"code", t.code}, {"enhanced", t.enhanced}, {"reply", t.reply},
          {"host", t.host},       {"tls", t.tls},   {"route", t.route}};
}

bool optional_string(const nlohmann::json& j, const char* k) {
  return !j.contains(k) || j[k].is_string();
}

}  // namespace

struct ControlServer::Impl {
  std::string path;
  Handler handler;
  TestEmailHandler test_email;
  int fd = -1;
  int wake[2] = {-1, -1};
  std::thread thread;

  // Returns false when the connection was handed to a callback that answers and closes it.
  bool serve_one(int c) {
    std::string line;
    net::ControlReply rep;
    if (!read_line(c, line, 5000)) {
      rep.message = "request not received";
    } else {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("cmd") || !j["cmd"].is_string() ||
          (j.contains("id") && !j["id"].is_string())) {
        rep.message = "malformed request";
      } else if (j["cmd"] == "test-email") {
        if (!optional_string(j, "account") || !optional_string(j, "from") ||
            !optional_string(j, "to")) {
          rep.message = "malformed request";
        } else if (!test_email) {
          rep.message = "test email is not available";
        } else {
          test_email(j.value("account", std::string()), j.value("from", std::string()),
                     j.value("to", std::string()), [c](net::TestSendResult t) {
                       nlohmann::json out{
                           {"ok", t.outcome != "error"}, {"count", 0}, {"test", test_json(t)}};
                       if (t.outcome == "error") out["error"] = t.reply;
                       write_all(c, out.dump() + "\n");
                       ::close(c);
                     });
          return false;
        }
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
    return true;
  }

  void loop() {
    for (;;) {
      pollfd p[2] = {{fd, POLLIN, 0}, {wake[0], POLLIN, 0}};
      int r = ::poll(p, 2, -1);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 || (p[1].revents & POLLIN)) return;
      int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      if (serve_one(c)) ::close(c);
    }
  }
};

ControlServer::ControlServer(std::string path, Handler handler, TestEmailHandler test_email)
    : impl_(std::make_unique<Impl>()) {
  impl_->path = std::move(path);
  impl_->handler = std::move(handler);
  impl_->test_email = std::move(test_email);
  sockaddr_un a = address_of(impl_->path);
  ::unlink(impl_->path.c_str());  // a stale socket of a server that died
  impl_->fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (impl_->fd < 0)
    throw std::runtime_error("control socket: " + std::string(std::strerror(errno)));
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

namespace {

// One request line, one reply object; an Error when the server cannot be reached or answers
// something that is not a JSON object.
core::Result<nlohmann::json> round_trip(const std::string& path, const nlohmann::json& req,
                                        int timeout_ms) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return core::Error::temp(std::strerror(errno));
  sockaddr_un a = address_of(path);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::string m = "the server is not running (" + path + ": " + std::strerror(errno) + ")";
    ::close(fd);
    return core::Error::temp(std::move(m));
  }
  write_all(fd, req.dump() + "\n");
  std::string line;
  const bool got = read_line(fd, line, timeout_ms);
  ::close(fd);
  auto j = got ? nlohmann::json::parse(line, nullptr, false) : nlohmann::json();
  if (!got || j.is_discarded() || !j.is_object())
    return core::Error::temp("no answer from the server");
  return j;
}

}  // namespace

core::Result<net::TestSendResult> control_test_email(const std::string& path,
                                                     const std::string& account,
                                                     const std::string& from,
                                                     const std::string& to) {
  auto j = round_trip(
      path, {{"cmd", "test-email"}, {"account", account}, {"from", from}, {"to", to}}, 330000);
  if (!j) return j.error();
  const auto& o = j.value();
  if (!o.value("ok", false) || !o.contains("test") || !o["test"].is_object())
    return core::Error::perm(o.value("error", std::string("test email failed")));
  const auto& t = o["test"];
  net::TestSendResult r;
  r.outcome = t.value("outcome", std::string());
  r.code = t.value("code", 0);
  r.enhanced = t.value("enhanced", std::string());
  r.reply = t.value("reply", std::string());
  r.host = t.value("host", std::string());
  r.tls = t.value("tls", false);
  r.route = t.value("route", std::string());
  return r;
}

net::ControlReply control_request(const std::string& path, const std::string& cmd,
                                  const std::string& id) {
  net::ControlReply rep;
  auto got = round_trip(path, {{"cmd", cmd}, {"id", id}}, 60000);
  if (!got) {
    rep.message = got.error().message;
    return rep;
  }
  const auto& j = got.value();
  rep.ok = j.value("ok", false);
  rep.count = j.value("count", size_t{0});
  rep.message = j.value("error", std::string());
  rep.note = j.value("note", std::string());
  return rep;
}

}  // namespace tern::app
