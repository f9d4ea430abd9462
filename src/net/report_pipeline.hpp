// The reports component (issue 5): turns what the submission path and the delivery engine
// report into the message log and the webhook outbox.
//   accepted(m)  (SMTP/HTTP on_accepted, any thread)  → MessageLog::record_accepted + one
//                "accepted" delivery event per recipient
//   recovered(m) (engine start, spool replay)          → the same, only for messages the log
//                does not know (a kill between the 250 and the batch write)
//   events(b)    (engine, after it recorded a batch)    → MessageLog::update_status +
//                report::report_for → Outbox::enqueue, then poke() (wakes the webhook sender)
//
// Threading: the callers only append to a queue under a mutex (never block on SQLite); one own
// thread writes in batches. What goes in a batch and when (~100 ms after the first item, at
// most batch_max_units recipients + events, at once for flush/stop) and how often a failed
// store write is tried again is events::ReportBatcher / events::retry_delay_ms (pure, unit
// tested); this file is the driver: the thread, the waits, the store calls. Items are handled in
// arrival order, and the server calls accepted() before handing the message to the engine, so a
// message's rows exist before its first delivery event is handled.
// Account report defaults (notify_url, report_format, intermediate_report) are read through a
// 30 s cache, like the engine's settings.
// Durability: a report reaches the outbox only after the engine recorded the event; stop()
// handles everything queued before it returns (the server stops the engine first).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "queue/envelope.hpp"
#include "report/report.hpp"
#include "store/store.hpp"

namespace tern::store {
class MessageLog;
class Outbox;
}  // namespace tern::store

namespace tern::net {

struct ReportPipelineServices {
  store::Store* store = nullptr;
  store::MessageLog* log = nullptr;
  store::Outbox* outbox = nullptr;
  std::function<void()> poke;  // after items were enqueued (may be empty)
  int batch_delay_ms = 100;
  report::Price price = {};        // every report's price ([webhooks] price_per_message, currency)
  size_t batch_max_units = 5'000;  // recipients + events per write (events::ReportBatcher)
  std::string node_id = {};        // recorded on every message-log row (the node that holds it)
};

struct ReportPipelineCounters {
  uint64_t messages = 0;  // accepted messages logged
  uint64_t reports = 0;   // outbox items enqueued
  uint64_t errors = 0;    // batches that failed after retries
};

class ReportPipeline {
 public:
  explicit ReportPipeline(ReportPipelineServices svc);
  ~ReportPipeline();  // stop()
  ReportPipeline(const ReportPipeline&) = delete;
  ReportPipeline& operator=(const ReportPipeline&) = delete;

  void accepted(const queue::QueuedMessage& m);
  void recovered(const queue::QueuedMessage& m);
  void events(const std::vector<store::DeliveryEvent>& batch);
  // Handles what is queued, then ends the thread. Later calls are dropped (logged).
  void stop();
  // Blocks until everything queued before the call is handled (tests).
  void flush();

  ReportPipelineCounters counters() const;
  // An account's settings changed: the next batch reads its report defaults (notify URL,
  // format) again instead of the copy of up to 30 s. Any thread.
  void settings_changed(int64_t account_id);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::net
