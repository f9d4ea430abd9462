// The delivery engine (SPEC §4): takes committed messages from the spool to their recipients.
// Event-driven on one io_context thread; all engine state lives on that thread, so it needs no
// locks. Policy comes from pure parts: delivery::Scheduler (which job next, connection limits,
// fair turns), delivery::route_for (which destination), dns::plan_mx (which hosts),
// queue::RetryPolicy (the recipient's next state), delivery::build_bounce (notices). The wire
// is net::start_delivery (smtp::ClientSession driven over Asio).
//
// Life of a message: submitted() (or start() for what the spool recovered) → suppressed
// recipients are rejected at once → the others are grouped into jobs per destination →
// connections are opened per Scheduler::connections_to_open() → each connection pulls jobs for
// its destination → per-recipient outcomes go through the RetryPolicy, are recorded as events
// (store) and as a spool STATE record (durable, group-committed); a message whose recipients are
// all final is finished (spool DONE). Deferred recipients are scheduled again.
//
// Durability and duplicates: recipient states are written after the remote's reply; a kill
// between the remote 250 and the durable STATE/DONE record delivers that recipient again after
// restart (at-least-once; the window is one fdatasync, ~1 ms). Nothing else is ever lost: the
// spool replays every message that is not DONE.
//
// Blocking work (DNS look-ups, store reads and event writes) runs on the blocking pool, never on
// the engine thread.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "delivery/queue_view.hpp"
#include "delivery/route.hpp"
#include "delivery/scheduler.hpp"
#include "queue/envelope.hpp"
#include "queue/retry.hpp"
#include "report/target_policy.hpp"
#include "store/store.hpp"

namespace boost::asio {
class io_context;
class thread_pool;
}  // namespace boost::asio
namespace tern::queue {
class Spool;
}
namespace tern::dns {
class Resolver;
}

namespace tern::net {

class CaptureSink;

struct DeliveryConfig {
  bool enabled = true;
  std::string helo_name;            // EHLO name; "" = the server's hostname
  uint16_t mx_port = 25;            // port of every MX host (tests point it at loopback peers)
  delivery::RelayConfig smarthost;  // host "" = direct MX delivery for the platform route
  std::string ca_file;              // extra CAs for verifying relays (private CAs)
  delivery::Limits limits;          // connections overall / per destination
  size_t max_messages_per_connection = 100;
  queue::RetryPolicy retry;
  int connect_timeout_s = 30;
  int command_timeout_s = 300;
  int data_timeout_s = 600;
  bool reject_loopback_mx = false;  // production safety: never deliver to 127/8 via MX
  // Customers' relays (route=custom) follow the webhook SSRF rules (report/target_policy):
  // every resolved address is checked and only checked addresses are connected to; the
  // operator's [delivery] relay_allow prefixes are the exceptions. The smarthost (operator's
  // own) is not checked.
  report::TargetPolicy relay_policy;
};

struct DeliveryServices {
  queue::Spool* spool = nullptr;
  store::Store* store = nullptr;
  dns::Resolver* resolver = nullptr;  // blocking, thread-safe
  boost::asio::thread_pool* blocking = nullptr;
  std::string hostname;
  // Tern's own listeners (host, port): a relay resolving to one of them is Tern itself, and
  // mail would loop: such a target fails permanently (5.4.6) before any connection.
  std::vector<std::pair<std::string, uint16_t>> own_listeners;
  // After each batch of events is recorded in the store (a blocking-pool thread; must not
  // block): every recipient outcome, deferrals included (the reports component).
  std::function<void(const std::vector<store::DeliveryEvent>&)> on_events;
  // Each message the spool gives back at start() (engine thread; must not block).
  std::function<void(const queue::QueuedMessage&)> on_recovered;
  // route=sandbox (SPEC §9): where such mail goes instead of out (net/capture_delivery.hpp),
  // called on capture_pool (null: blocking). A null sink defers sandbox mail (451 4.3.0).
  CaptureSink* capture = nullptr;
  boost::asio::thread_pool* capture_pool = nullptr;
};

struct DeliveryCounters {
  uint64_t delivered = 0, deferred = 0, bounced = 0, expired = 0, rejected = 0;
  uint64_t connections = 0, bounce_notices = 0;
  uint64_t queued_messages = 0;  // live messages the engine holds
};

// Result of an operator command (tern queue retry|hold|release|delete).
struct ControlReply {
  bool ok = false;
  size_t count = 0;     // messages affected
  std::string message;  // error text when !ok
};

// One test message sent now (seed 000 "test email"): outcome "delivered", "deferred"
// (temporary failure), "bounced" (permanent) or "error" (bad input, delivery disabled, no answer
// in time); the remote reply (or the local reason), the host that answered, TLS, and the route.
// Before the engine is asked, the caller may answer "refused" (sender policy) or
// "rate_limited" (nothing was sent).
struct TestSendResult {
  std::string outcome;
  int code = 0;
  std::string enhanced;
  std::string reply;
  std::string host;
  bool tls = false;
  std::string route;  // "platform", "smarthost" or "custom"
};

class DeliveryEngine : public delivery::QueueControl {
 public:
  DeliveryEngine(boost::asio::io_context& io, DeliveryConfig cfg, DeliveryServices svc);
  ~DeliveryEngine() override;
  DeliveryEngine(const DeliveryEngine&) = delete;
  DeliveryEngine& operator=(const DeliveryEngine&) = delete;

  // Loads the spool's live messages and starts delivering. Call once, before io runs (or on it).
  void start();
  // Stops opening connections; connections in flight end with the io_context.
  void stop();
  // A message just committed (any thread).
  void submitted(const queue::QueuedMessage& m);

  // Operator commands, from any thread except the engine's (they wait for the engine thread).
  // id "" = every message.
  ControlReply retry(const std::string& id);
  ControlReply hold(const std::string& id);
  ControlReply release(const std::string& id);
  ControlReply remove(const std::string& id);

  DeliveryCounters counters() const;  // any thread

  // Builds a small message ("Tern test email": From, To, Date, Message-ID) and delivers it now
  // through the account's route (route_for, plan_mx / relay look-up, start_delivery, as for
  // queued mail) — not through the spool or the scheduler, no retry. Blocks the caller until the
  // outcome (any thread except the engine's); the engine thread never waits: settings and DNS
  // are read on the blocking pool, the connection runs as a coroutine on the engine's io.
  TestSendResult test_send(int64_t account_id, const std::string& from, const std::string& to);
  // The same without blocking anyone (the API's test email, issue 13): done runs exactly once,
  // on the engine's thread or its pool, within 60 s (after that: outcome "error", "no outcome
  // within 60 seconds"; the connection goes on and its outcome is dropped). Call from any
  // thread. An account on route=sandbox gets its test email captured like any of its mail.
  void test_send_async(int64_t account_id, const std::string& from, const std::string& to,
                       std::function<void(TestSendResult)> done);

  // delivery::QueueControl (the operator's queue page, issue 13): run on the engine thread,
  // the caller waits (any thread except the engine's). The snapshot holds the messages
  // matching the filter's account, state and destination (paging is the caller's).
  std::vector<delivery::QueueMessageView> queue_snapshot(const delivery::QueueFilter& f) override;
  delivery::QueueActionResult queue_action(delivery::QueueAction a,
                                           const delivery::QueueSelector& s) override;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tern::net
