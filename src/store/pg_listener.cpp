// The LISTEN wake-up (pg_listener.hpp for the contract).
#include "store/pg_listener.hpp"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include "store/pg_db.hpp"

namespace tern::store::pg {

namespace {
constexpr int kFirstRetryMs = 1'000;
constexpr int kLongestRetryMs = 30'000;
}  // namespace

Listener::Listener(std::string url, std::string channel, std::function<void()> on_wake)
    : url_(std::move(url)), channel_(std::move(channel)), on_wake_(std::move(on_wake)) {
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

Listener::~Listener() {
  stop();
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

void Listener::start() {
  if (thread_.joinable() || stop_fd_ < 0) {
    if (stop_fd_ < 0) spdlog::warn("change feed: no eventfd; polling only");
    return;
  }
  thread_ = std::thread([this] { run(); });
}

void Listener::stop() {
  stopping_ = true;
  if (stop_fd_ >= 0) {
    const uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stop_fd_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
}

bool Listener::wait_stop(int ms) const {
  pollfd p{stop_fd_, POLLIN, 0};
  for (;;) {
    if (stopping_) return true;
    const int n = ::poll(&p, 1, ms);
    if (n < 0 && errno == EINTR) continue;
    return stopping_ || n > 0;
  }
}

void Listener::run() {
  int retry_ms = kFirstRetryMs;
  bool failing = false;
  while (!stopping_) {
    auto c = Conn::connect(url_);
    core::Result<void> listening =
        c ? c->exec_script("LISTEN \"" + channel_ + "\"", "listen for changes")
          : core::Result<void>(c.error());
    if (!listening) {
      ++failed_;
      if (!failing)
        spdlog::warn(
            "change feed: cannot listen for changes ({}); polling every second, trying "
            "again",
            listening.error().message);
      failing = true;
      if (wait_stop(retry_ms)) return;
      retry_ms = std::min(retry_ms * 2, kLongestRetryMs);
      continue;
    }
    if (failing) spdlog::info("change feed: listening for changes again");
    failing = false;
    retry_ms = kFirstRetryMs;
    ++connects_;
    on_wake_();  // what was announced meanwhile may be in the feed already
    PGconn* pc = c->get();
    while (PQsocket(pc) >= 0) {
      pollfd fds[2] = {{PQsocket(pc), POLLIN, 0}, {stop_fd_, POLLIN, 0}};
      const int n = ::poll(fds, 2, -1);
      if (n < 0 && errno == EINTR) continue;
      if (stopping_ || (fds[1].revents & POLLIN) != 0) return;
      if (n < 0) break;
      if (PQconsumeInput(pc) == 0) break;  // the connection is gone
      bool any = false;
      while (PGnotify* note = PQnotifies(pc)) {
        any = true;
        PQfreemem(note);
      }
      if (any) on_wake_();
      if (PQstatus(pc) != CONNECTION_OK) break;
    }
    spdlog::warn(
        "change feed: the listening connection was lost; polling every second, "
        "connecting again");
    failing = true;
    if (wait_stop(retry_ms)) return;
  }
}

}  // namespace tern::store::pg
