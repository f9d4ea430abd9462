// The operator's control socket: `tern queue retry|hold|release|delete` reach the running
// server through <data_dir>/control.sock (a Unix socket, mode 0600: only the operator who runs
// the server can use it — the file system is the authentication, as with Postfix's queue
// commands). One request per connection: a JSON line {"cmd": "...", "id": "..."} ("" = every
// message), answered by one JSON line {"ok": bool, "count": n, "error": "..."}.
// A plain thread with blocking sockets: operator commands are rare and must not touch the I/O
// threads. Requests are bounded (4 KiB line, 5 s to send it).
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "net/delivery_engine.hpp"

namespace tern::app {

class ControlServer {
 public:
  using Handler = std::function<net::ControlReply(const std::string& cmd, const std::string& id)>;
  // Binds path (replacing a stale socket file) and serves until destroyed. Throws
  // std::runtime_error when it cannot bind.
  ControlServer(std::string path, Handler handler);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Client side, for the CLI: sends one command and returns the reply; ok=false with a message
// when the server is not running or the answer is malformed.
net::ControlReply control_request(const std::string& path, const std::string& cmd,
                                  const std::string& id);

}  // namespace tern::app
