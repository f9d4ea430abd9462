// The operator's control socket: `tern queue retry|hold|release|delete` reach the running
// server through <data_dir>/control.sock (a Unix socket, mode 0600: only the operator who runs
// the server can use it — the file system is the authentication, as with Postfix's queue
// commands). One request per connection: a JSON line {"cmd": "...", "id": "..."} ("" = every
// message), answered by one JSON line {"ok": bool, "count": n, "error": "..."}.
// "test-email" (tern account test-email): {"cmd":"test-email","account":"NAME|ID","from":"",
// "to":"ADDR"} → {"ok":true,"test":{"outcome","code","enhanced","reply","host","tls","route"}}
// (ok false with an error when the request could not be carried out: unknown account, bad
// address, delivery disabled). The answer is written when the attempt ends (within the test
// email's time limit): the handler completes a callback and the socket's thread goes on
// serving other requests meanwhile.
// A plain thread with blocking sockets: operator commands are rare and must not touch the I/O
// threads. Requests are bounded (4 KiB line, 5 s to send it).
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "core/result.hpp"
#include "net/delivery_engine.hpp"

namespace tern::app {

class ControlServer {
 public:
  using Handler = std::function<net::ControlReply(const std::string& cmd, const std::string& id)>;
  // account as given (name or id), from "" = the server's default. A result with outcome
  // "error" and ok=false in the reply when the request itself failed.
  // done may be called on any thread, once.
  using TestEmailHandler =
      std::function<void(const std::string& account, const std::string& from, const std::string& to,
                         std::function<void(net::TestSendResult)> done)>;
  // Binds path (replacing a stale socket file) and serves until destroyed. Throws
  // std::runtime_error when it cannot bind.
  ControlServer(std::string path, Handler handler, TestEmailHandler test_email = {});
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

// Client side of "test-email": the attempt's result, or an error (server not running, request
// refused: the reason).
core::Result<net::TestSendResult> control_test_email(const std::string& path,
                                                     const std::string& account,
                                                     const std::string& from,
                                                     const std::string& to);

}  // namespace tern::app
