// The webhook sender (SPEC §5, issue 5): takes due batches from the durable outbox and POSTs
// them (net::start_http_post), one io_context thread of its own like the DeliveryEngine.
//
// Per batch (items of one account, kind, URL and content type):
//  - body: kind "report" → {"results":[...]} (application/json) or report::to_xml
//    (application/xml), rendered from the stored result items; kind "tracking" → always JSON
//    {"events":[...]} of the stored event objects. An item that cannot be rendered (damaged
//    row) is given up at once with the reason; the rest of the batch goes out.
//  - headers: Content-Type, User-Agent "Tern-Webhooks/1", X-Tern-Timestamp (unix seconds)
//    and, when the account has a webhook_secret, X-Tern-Signature = report::signature_header(
//    secrets, timestamp, body): the secret read in the store round just before this POST starts
//    (no cache: a new or rotated secret signs the next webhook), plus the replaced one during
//    secret_grace_ms after a rotation (report::signing_secrets).
//  - 2xx → mark_sent. Anything else → mark_failed, next attempt after 30 s, 1 m, 2 m, 5 m,
//    10 m, 20 m, 30 m, then every hour (by the item's attempt count); an item is given up
//    (state "failed") when it is older than max_age_ms, or at once when the failure is
//    permanent (malformed URL, target refused by the SSRF policy).
//  - every attempt is recorded for each item as a store::DeliveryEvent "webhook" (queue_id and
//    recipient of the item, code = HTTP status or 0, reply "POST <url>: 200 OK" or the error).
//
// Concurrency, retries, give-up, wake-up times and the coalescing of marks are
// events::WebhookScheduler, events::settle and events::MarkCoalescer (src/events/
// webhook_policy.hpp, pure and unit-tested): at most max_concurrent POSTs at once and one at a
// time per URL host (a slow or dead receiver holds only its own slot; batches waiting for a
// busy host do not take POST slots). Wake-ups: poke() (any thread, after enqueue) and a timer
// at Outbox::next_due_ms(). The outbox is durable, so a restart resumes where it stopped (items
// taken but not marked come back after the outbox lease: at least once).
//
// Threading (issue 12): two threads. The sender's io_context thread holds all state and does
// the HTTP exchanges, rendering and signing; it never waits for the database. Every Outbox and
// Store call runs on the sender's own store thread, in rounds, one round at a time: a round
// marks the items of every POST that ended since the last round (coalesced: one mark per HTTP
// status) and claims batches for the free slots in one Outbox::mark_and_claim (SQLite: one commit),
// records their attempt events, reads the secrets of the POSTs about to start and of the
// batches claimed, and reads next_due_ms() only when the claim returned fewer batches than
// asked. POSTs keep running while a round commits; a POST that ends frees
// its host at once, and its items stay held (not sent again by this process) until the round
// that marks them is stored; a round whose store fails gives its marks back (stored by a later
// round, the items held meanwhile: no second POST). DNS look-ups run on the blocking pool.
// stop() only stops new POSTs and claims (rounds still store the marks of POSTs that end);
// drain() then stores what ended (bounded); the destructor waits for the round that runs.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "events/webhook_policy.hpp"
#include "report/target_policy.hpp"
#include "store/model.hpp"

namespace boost::asio {
class io_context;
class thread_pool;
}  // namespace boost::asio
namespace tern::store {
class Store;
class Outbox;
}  // namespace tern::store
namespace tern::dns {
class Resolver;
}
namespace tern::core {
class Clock;
}

namespace tern::net {

struct WebhookConfig {
  int timeout_s = 10;                        // one POST, redirects included
  int64_t max_age_ms = 172800LL * 1000;      // retry this long, then give up
  size_t batch = 50;                         // items per POST at most
  size_t max_concurrent = 8;                 // POSTs in flight at most
  size_t max_waiting_per_host = 2;           // batches waiting for a busy host (more: parked)
  std::string ca_file;                       // extra CAs for https receivers
  report::TargetPolicy policy;               // SSRF rules
  int64_t secret_grace_ms = 86400LL * 1000;  // old secret signs too this long after a rotation
  int64_t idle_poll_ms = 0;  // > 0: look at the outbox at least this often (a region)
};

struct WebhookServices {
  store::Outbox* outbox = nullptr;
  store::Store* store = nullptr;                 // account secrets, attempt events
  dns::Resolver* resolver = nullptr;             // blocking, thread-safe
  boost::asio::thread_pool* blocking = nullptr;  // where look-ups run
  const core::Clock* clock = nullptr;            // null = system clock (tests pass a fake)
  // Where attempt events go (issue 12: the report pipeline's journal); empty: store->events.
  std::function<void(std::vector<store::DeliveryEvent>)> record_events = {};
};

struct WebhookCounters {
  uint64_t sent = 0;             // items delivered (2xx)
  uint64_t failed_attempts = 0;  // POSTs that did not get a 2xx (and unrenderable items)
  uint64_t given_up = 0;         // items marked "failed"
  uint64_t backlog = 0;          // pending items, as of the last look at the outbox
  uint64_t in_flight = 0;        // POSTs running now
};

// The SSRF policy from [webhooks]: allow_loopback, and `allow` prefixes ("10.1.0.0/16",
// "fd00::/8"; a bare address is a /32 or /128). An error names the first malformed entry.
core::Result<report::TargetPolicy> webhook_policy(bool allow_loopback,
                                                  const std::vector<std::string>& allow);

// The outcome of WebhookSender::test_post.
struct WebhookTest {
  bool configured = true;  // false: the account has no such URL (error says which setting)
  bool ok = false;         // 2xx
  int status = 0;          // HTTP status, 0 = none
  std::string error;       // "" when ok
  std::string url;
};

// The backoff after the n-th failed attempt: events::webhook_backoff_ms.
using events::webhook_backoff_ms;

class WebhookSender {
 public:
  WebhookSender(boost::asio::io_context& io, WebhookConfig cfg, WebhookServices svc);
  ~WebhookSender();
  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  void start();  // first look at the outbox; call once
  void stop();   // no new POSTs; those in flight end with the io_context
  // After stop(), before the io_context stops (any other thread; it must be running): waits,
  // at most `timeout`, for the round that runs, then stores the marks and attempt events of
  // every POST that ended (one last round). true when all of it was stored; false (logged)
  // after a store error or the timeout: those items go out again after the outbox lease. POSTs
  // still in flight are not waited for.
  bool drain(std::chrono::milliseconds timeout);
  void poke();  // new items were enqueued (any thread)
  // One POST now, outside the outbox (the console's "send a test report", issue 13): a sample
  // report (kind "report": the account's notify_url and report_format) or tracking event
  // ("tracking": tracking_url), with every field saying it is a test (messageId
  // "tern-webhook-test"), signed with the account's secret, under the same SSRF rules and
  // timeout. Not retried, not recorded. done runs once on the sender's thread (any thread may
  // call this).
  void test_post(int64_t account_id, const std::string& kind,
                 std::function<void(WebhookTest)> done);
  WebhookCounters counters() const;  // any thread

 private:
  struct Impl;
  std::shared_ptr<boost::asio::thread_pool> store_;  // the store thread (Impl shares it)
  std::shared_ptr<Impl> impl_;
};

}  // namespace tern::net
