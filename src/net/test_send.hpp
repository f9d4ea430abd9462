// The test email (seed 000): one small message ("Tern test email": From, To, Date,
// Message-ID) delivered now through the account's route — route_for, resolve_target and
// start_delivery as for queued mail (route=sandbox: start_capture, into the account's capture
// store) — but not through the spool or the scheduler, and never retried.
//
// Bounded (a tenant cannot use it to tie up the server):
//  - at most one test email per account at a time: a second while the first's connection is
//    alive is answered "busy" at once (the API: 429 too_many_requests; the caller's per-minute
//    limit comes on top). This is the one such bound: the API, the console and the control
//    socket all go through it;
//  - a time limit (time_limit_s, 60 by default): the answer comes by then whatever the
//    remote does ("error", "no outcome within N seconds"); the connection then ends by its own
//    deadlines and only after that may the account send another;
//  - asynchronous: send_async() returns at once and calls done exactly once, from the
//    delivery io thread or a pool thread (it must not block), so an HTTP handler or the
//    control socket holds no thread for the SMTP transaction. send() is the blocking form for
//    callers that have a thread to spare.
// Threads: settings (with the relay password) and DNS are read on the pool; the connection
// runs on the delivery io_context. Outcomes: "delivered", "deferred" (temporary failure),
// "bounced" (permanent), "error" (bad input, no answer in time), "busy" (one at a time).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "delivery/route.hpp"
#include "net/delivery_target.hpp"

namespace boost::asio {
class io_context;
class thread_pool;
namespace ssl {
class context;
}
}  // namespace boost::asio
namespace tern::store {
class Store;
}

namespace tern::net {

class CaptureSink;

// One test message's answer: outcome (above), the remote reply (or the local reason), the host
// that answered, TLS, and the route ("platform", "smarthost", "custom" or "sandbox"). Before the
// engine is asked, the caller may answer "refused" (sender policy) or "rate_limited" (nothing was
// sent).
struct TestSendResult {
  std::string outcome;
  int code = 0;
  std::string enhanced;
  std::string reply;
  std::string host;
  bool tls = false;
  std::string route;
};

struct TestSendServices {
  boost::asio::io_context* io = nullptr;  // where the connection runs
  boost::asio::thread_pool* pool = nullptr;
  std::shared_ptr<boost::asio::ssl::context> tls;
  store::Store* store = nullptr;
  TargetContext target;
  delivery::RelayConfig smarthost;
  uint16_t mx_port = 25;
  int time_limit_s = 60;
  // route=sandbox: the test email is captured like any of the account's mail (null sink:
  // 451 4.3.0), on capture_pool.
  CaptureSink* capture = nullptr;
  boost::asio::thread_pool* capture_pool = nullptr;
};

class TestSender {
 public:
  explicit TestSender(TestSendServices svc);
  ~TestSender();
  TestSender(const TestSender&) = delete;
  TestSender& operator=(const TestSender&) = delete;

  // from and to must be valid mailboxes (else "error" at once); account 0 = no account.
  void send_async(int64_t account_id, const std::string& from, const std::string& to,
                  std::function<void(TestSendResult)> done);
  // Blocks until the answer (at most the time limit); not on the delivery io thread.
  TestSendResult send(int64_t account_id, const std::string& from, const std::string& to);

  struct Impl;  // (public only so the connection delegate in test_send.cpp can name it)

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace tern::net
