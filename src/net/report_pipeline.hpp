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
// Durability (issue 12, docs/cluster.md "The journal"): with a journal_dir, every item is
// first appended to the node-local journal (journal/journal.hpp; one write and one fdatasync
// per batch: group commit) by the writer thread, then applied to the store by a second thread
// with idempotency keys derived from the entry's key (events/journal_entry.hpp): message-log
// rows by message id, delivery events by event_key, outbox items by item_key, status moves and
// suppressions are idempotent by their rules. An entry leaves the journal (an applied mark,
// then the segment is deleted) only after every write it makes succeeded or failed
// permanently. While the store answers a temporary error ("unavailable": the database is
// away) the applier keeps the entries and tries again with backoff (journal::
// apply_retry_delay_ms), never dropping them; accepting and delivering mail go on. At start
// the entries not yet applied are replayed first; one that cannot be decoded (a newer binary's
// format) is never dropped: it is set aside as <journal>/<seq>.undecodable (or, if that
// fails, the journal is not trimmed past it), logged as an error and counted.
// The rule callers rely on: an entry is applied only after its journal append succeeded
// (durable first). A failed append (disk full, I/O error) keeps the batch, and what queues
// behind it, in memory and tries the append again with backoff until it succeeds; nothing is
// applied meanwhile, so a restart never finds applied writes missing from the journal nor
// loses one the database did not get. flush() waits through that too. Only at stop() are the
// retries bounded: then what could not be journaled is applied from memory, with an error. events()
// and suppressed() make the batch due at once: the writer syncs whatever is queued as one group, so
// an engine event is durable within about one fdatasync, and the engine never waits on the disk.
// Without a journal_dir (tests), the same happens in memory: what stop() cannot apply is lost.
// stop() journals everything queued, then applies what it can (a few tries while the store is
// away; what is left stays in the journal for the next start).
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "queue/envelope.hpp"
#include "report/report.hpp"
#include "store/outbox.hpp"
#include "store/store.hpp"

namespace tern::queue {
class FileOps;
}  // namespace tern::queue

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
  // The node-local journal's directory ("" = none: items wait in memory only).
  std::string journal_dir = {};
  // Whether events() also writes the events to the event log (store->events): set when the
  // delivery engine leaves that write to the pipeline (DeliveryServices::reports_record_events)
  // so it is journaled too.
  bool record_events = false;
  std::shared_ptr<queue::FileOps> journal_ops = {};  // the journal's file seam (null: real calls)
};

struct ReportPipelineCounters {
  uint64_t messages = 0;         // accepted messages logged
  uint64_t reports = 0;          // outbox items enqueued
  uint64_t errors = 0;           // writes that failed permanently (dropped)
  uint64_t pending = 0;          // journaled entries not yet applied
  uint64_t replayed = 0;         // entries found unapplied in the journal at start
  uint64_t retries = 0;          // times the applier waited for the store to come back
  uint64_t journal_errors = 0;   // failed appends (the batch waits in memory and is tried again)
  uint64_t unjournaled = 0;      // entries waiting in memory for an append to succeed
  uint64_t undecodable = 0;      // journaled entries found unreadable at start (set aside)
  uint64_t journal_damaged = 0;  // damaged ranges found in the journal at start (kept as .corrupt)
  uint64_t suppressions = 0;     // suppression entries applied (each entry counted once)
};

class ReportPipeline {
 public:
  explicit ReportPipeline(ReportPipelineServices svc);
  ~ReportPipeline();  // stop()
  ReportPipeline(const ReportPipeline&) = delete;
  ReportPipeline& operator=(const ReportPipeline&) = delete;

  void accepted(const queue::QueuedMessage& m);
  void recovered(const queue::QueuedMessage& m);
  // Journaled at once (without waiting: the next group commit takes it).
  void events(const std::vector<store::DeliveryEvent>& batch);
  // A suppression the engine made (a hard bounce); journaled at once like events().
  void suppressed(const store::Suppression& s);
  // Rows made elsewhere, written as they are (the webhook sender's attempt events; the tracking
  // endpoint's opened/clicked event and its tracking item): journaled at once like events();
  // poke() follows items.
  void rows(std::vector<store::DeliveryEvent> evs, std::vector<store::OutboxItem> items);
  // Handles what is queued, then ends the thread. Later calls are dropped (logged).
  void stop();
  // Blocks until everything queued before the call is applied to the store, or found not
  // applicable (a permanent error), or stop() gave up on it.
  void flush();
  // The same, for at most limit: false when the store is away and the queued writes wait in
  // the journal (a caller that only paces itself must not wait for the database).
  bool flush_for(std::optional<std::chrono::milliseconds> limit);

  ReportPipelineCounters counters() const;
  // An account's settings changed: the next batch reads its report defaults (notify URL,
  // format) again instead of the copy of up to 30 s. Any thread.
  void settings_changed(int64_t account_id);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::net
