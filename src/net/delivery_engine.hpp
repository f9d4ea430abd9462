// The delivery driver (SPEC §4): runs delivery::Engine (the sans-IO state machine in
// src/delivery/) on one io_context thread — the "connection thread", which also runs every
// outbound SMTP connection (net::start_delivery) — and does the work the engine asks for
// elsewhere:
//   pool (blocking)        LoadEnvelopes (spool get + content source), LoadSettings,
//                          CheckSuppression (one look-up at a time, in batches of whole
//                          messages: delivery/suppression_batches), Resolve (DNS),
//                          AddSuppression, the spool look-ups of submitted messages
//   spool strand (pool)    PersistState, PersistHeld, Finish, SpoolBounce — in the order the
//                          engine decided them (a message's records never overtake each other)
//   events strand (pool)   RecordEvents (store), the per-outcome log lines, on_events
//   connection thread      the engine itself, Connect (start_delivery), timers
// Every store and spool call the driver makes goes through a check that it is not on the
// connection thread (on_pool(): a breach aborts with a log line), and the engine has no store
// or spool pointer at all, so "no store or file call on the connection thread" holds by
// construction. The one file access there is reading message bytes while they are sent
// (ContentReader over segments located on the pool beforehand).
//
// Durability and duplicates: recipient states are written after the remote's reply; a kill
// between the remote 250 and the durable STATE/DONE record delivers that recipient again after
// restart (at-least-once; the window is one fdatasync, ~1 ms). Nothing else is ever lost: the
// spool replays every message that is not DONE.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "delivery/engine_io.hpp"
#include "delivery/queue_view.hpp"
#include "delivery/route.hpp"
#include "delivery/scheduler.hpp"
#include "net/test_send.hpp"
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

struct DeliveryConfig {
  bool enabled = true;
  std::string helo_name;            // EHLO name; "" = the server's hostname
  uint16_t mx_port = 25;            // port of every MX host (tests point it at loopback peers)
  delivery::RelayConfig smarthost;  // host "" = direct MX delivery for the platform route
  std::string ca_file;              // extra CAs for verifying relays (private CAs)
  delivery::Limits limits;          // connections overall / per destination
  size_t max_messages_per_connection = 100;
  size_t max_active_messages = 20000;  // envelopes in memory at once (the rest wait on disk)
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
  // Set when on_events writes the events to the store itself (the report pipeline's journal,
  // issue 12: journaled, then applied with idempotency keys): the engine then does not.
  bool reports_record_events = false;
  // Where a hard bounce's suppression goes (a blocking-pool thread; must not block): the
  // report pipeline's journal. Empty: the engine writes it to the store itself.
  std::function<void(const store::Suppression&)> on_suppression;
  // Each message the spool gives back at start(), read in the background on a pool thread
  // (it may block briefly: the reports component uses it to catch up its message log).
  std::function<void(const queue::QueuedMessage&)> on_recovered;
  // Whether the reports know a recovered message already (pool thread): the background pass
  // reads only the envelopes of those they do not (empty = read every one).
  std::function<bool(const std::string& queue_id)> recovered_known;
  // route=sandbox (SPEC §9): where such mail goes instead of out (net/capture_delivery.hpp),
  // called on capture_pool (null: blocking). A null sink defers sandbox mail (451 4.3.0).
  CaptureSink* capture = nullptr;
  boost::asio::thread_pool* capture_pool = nullptr;
};

using DeliveryCounters = delivery::Counters;
using ControlReply = delivery::ControlReply;

class DeliveryEngine : public delivery::QueueControl {
 public:
  DeliveryEngine(boost::asio::io_context& io, DeliveryConfig cfg, DeliveryServices svc);
  ~DeliveryEngine() override;
  DeliveryEngine(const DeliveryEngine&) = delete;
  DeliveryEngine& operator=(const DeliveryEngine&) = delete;

  // Reads the spool's compact index (on the pool) and starts delivering. Call once.
  void start();
  // Stops opening connections; connections in flight end with the io_context.
  void stop();
  // A message just committed (any thread).
  void submitted(const queue::QueuedMessage& m);

  // Operator commands, from any thread except the engine's (they wait for the engine thread,
  // and for the spool records they cause to be written). id "" = every message.
  ControlReply retry(const std::string& id);
  ControlReply hold(const std::string& id);
  ControlReply release(const std::string& id);
  ControlReply remove(const std::string& id);

  DeliveryCounters counters() const;  // any thread
  // An account's settings changed (the API, or the change feed of a region): the engine
  // reloads them before its next message of that account. Any thread; does not wait.
  void settings_changed(int64_t account_id);
  // The engine has read the spool's index (start() has run on its thread): from then on a
  // command finds every queued message. Any thread.
  bool queue_loaded() const;

  // The test email (net/test_send.hpp): asynchronous, one at a time per account, time-limited.
  void test_send_async(int64_t account_id, const std::string& from, const std::string& to,
                       std::function<void(TestSendResult)> done);
  // The same, blocking the caller until the answer (not on the engine thread).
  TestSendResult test_send(int64_t account_id, const std::string& from, const std::string& to);

  // delivery::QueueControl (the operator's queue page, issue 13); any thread except the
  // engine's, the caller waits. The snapshot is read from the spool (every live envelope) and
  // the store (each account's route, for the destinations) on the caller's thread — the
  // engine keeps envelopes of active messages only. An action picks its messages from such a
  // snapshot (ids: as given) and runs as operator commands do: it returns once the engine has
  // applied it and the spool records it caused are written.
  std::vector<delivery::QueueMessageView> queue_snapshot(const delivery::QueueFilter& f) override;
  delivery::QueueActionResult queue_action(delivery::QueueAction a,
                                           const delivery::QueueSelector& s) override;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tern::net
