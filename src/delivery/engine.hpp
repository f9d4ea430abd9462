// The delivery engine (SPEC §4) as a sans-IO state machine: it is told what happened (inputs)
// and answers with what to do next (actions, engine_io.hpp); it never touches a socket, a
// file, the store or a clock of its own. net/delivery_engine is the thin driver that turns
// actions into pool work and connections, and feeds the results back.
//
// Life of a message: submitted() (or start() with the spool's compact index) puts it in the
// QueueIndex. When it is due and fewer than max_active_messages envelopes are in memory, the
// engine asks for its envelope (LoadEnvelopes) → envelopes_loaded() → recipients never tried
// are looked up on the suppression list in one batch (CheckSuppression → suppression_checked:
// suppressed ones are rejected without an attempt) → the recipients that are due are grouped
// into jobs per destination (route_for with the account's settings: LoadSettings →
// settings_loaded, cached and refreshed ahead) → the Scheduler says which destinations get a
// connection (Resolve → resolved, Connect) → each connection pulls jobs (next_message; accounts
// take turns) → per-recipient outcomes (message_done / connection_done) go through the
// RetryPolicy, become events (RecordEvents, batched), STATE records (PersistState), bounce
// notices (SpoolBounce, never for a notice: its sender is null) and suppressions of hard
// bounces (AddSuppression). A message whose recipients are all final is finished (Finish); one
// that still has recipients to try goes back to waiting in the index and its envelope leaves
// memory until its next recipient is due. Memory: ~100 bytes per waiting message, envelopes
// only for the active ones.
//
// Time: every input reads the Clock once; next_wakeup_ms() says when tick() is due (a retry,
// a destination's rest ending, an event batch to flush).
//
// "No store or file call on the delivery connection thread", guaranteed by construction: this
// class has no store, spool or file pointer (it links the store library only for value types),
// so nothing it does on the driver's connection thread can reach one. The driver runs every
// action that does I/O on its pools (net/delivery_engine.cpp says which), and checks at each
// store/spool call that it is not on the connection thread (a failed check aborts). The only
// file access on that thread is the reading of message bytes already located by a
// ContentSource (pread on spool segments opened before, like a socket read) while they are
// sent.
//
// Invariants:
//  - Each recipient of an active message is in at most one job (busy), and a job handed to a
//    connection is settled exactly once (message_done, or connection_done for what is left).
//  - Outcomes for a message that was deleted meanwhile are dropped; a recipient already final
//    is never changed again (RetryPolicy), so a late duplicate outcome changes nothing.
//  - Actions come out in the order they were decided; a message's STATE/DONE actions in the
//    order of its changes, and a SpoolBounce before the Finish of its original.
//  - Accepted mail is delivered at least once: a kill between the remote's 250 and the STATE/
//    DONE record sends it again after restart (the spool replays all that is not DONE).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.hpp"
#include "core/outcome.hpp"
#include "core/result.hpp"
#include "delivery/engine_config.hpp"
#include "delivery/engine_io.hpp"
#include "delivery/queue_index.hpp"
#include "delivery/scheduler.hpp"
#include "delivery/settings_cache.hpp"

namespace tern::delivery {

class Engine {
 public:
  Engine(EngineConfig cfg, const core::Clock& clock);
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // ---------------------------------------------------------------- inputs
  // What the spool recovered (its compact index): waiting until due.
  void start(const std::vector<queue::QueueEntry>& recovered);
  // A message just committed. content: where its bytes lie (null: it cannot be read, error
  // says why). notice: a bounce notice the engine asked for (counted).
  void submitted(queue::QueuedMessage m, std::shared_ptr<const ContentSource> content,
                 std::string error = {}, bool notice = false);
  void envelopes_loaded(std::vector<LoadedEnvelope> batch);
  void settings_loaded(int64_t account_id, core::Result<store::AccountSettings> r);
  // The account's settings changed (its API, or another node): the next message reloads them.
  void settings_changed(int64_t account_id) { settings_.forget(account_id); }
  void suppression_checked(std::vector<SuppressionQuery> answers);
  // failure: nullopt = the driver holds endpoints for dest; else why there are none.
  void resolved(const std::string& dest, std::optional<core::DeliveryOutcome> failure);
  // The next message for an open connection; nullopt = none (the connection says QUIT).
  std::optional<Handout> next_message(uint64_t conn);
  // One outcome per recipient of the handout, in order.
  void message_done(uint64_t conn, uint64_t handle, const std::vector<core::DeliveryOutcome>& outs);
  // The connection ended; failure when it did not end by our QUIT (before any handout: why
  // the destination could not be reached).
  void connection_done(uint64_t conn, std::optional<core::DeliveryOutcome> failure);
  void tick();
  ControlReply command(const Command& c);
  // No new connections or loads; the events still buffered are flushed.
  void stop();

  // ---------------------------------------------------------------- outputs
  std::vector<Action> take_actions();
  std::optional<int64_t> next_wakeup_ms() const;
  Counters counters() const;
  Scheduler::Stats scheduler_stats() const { return sched_.stats(); }

 private:
  struct Active {
    queue::QueuedMessage m;
    std::vector<uint8_t> busy;      // recipient is in a job (scheduled, ready or in flight)
    std::vector<uint8_t> inflight;  // recipient's job is handed to a connection
    std::shared_ptr<const ContentSource> content;
    std::string content_error;
    bool checking = false;  // suppression answers awaited
    bool parked = false;    // waiting for its account's settings
  };
  struct Conn {
    std::string dest;
    size_t handed = 0;
    std::unordered_map<uint64_t, Job> jobs;  // handle → job in flight
  };

  int64_t now() const { return clock_.now_ms(); }
  void pump();
  void activate_due(int64_t now);
  bool can_load() const;
  // An envelope arrives (loaded or submitted): suppression queries go to `queries`.
  void activate(queue::QueuedMessage m, std::shared_ptr<const ContentSource> content,
                std::string error, std::vector<SuppressionQuery>& queries);
  void advance(const std::string& id);
  // Puts the due recipients into jobs; false when the message waits for settings (or left).
  bool schedule(const std::string& id);
  // A message with nothing in flight: finished, held, scheduled again or back to waiting.
  void review(const std::string& id);
  void deactivate(const std::string& id, int64_t due_ms);
  void open(const std::string& dest, int64_t now);
  void connect(const std::string& dest);
  void fail_destination(const std::string& dest, const core::DeliveryOutcome& o);

  // engine_outcomes.cpp
  void apply(const Job& job, const std::vector<core::DeliveryOutcome>& outs, bool handed);
  void record(const queue::QueuedMessage& m, const queue::Recipient& r,
              const core::DeliveryOutcome& o);
  void flush_events();
  void persist(const Active& a);
  void notify_sender(const Active& a, std::vector<FailedRecipient> failed, int64_t now);
  void suppress(const queue::QueuedMessage& m, const std::string& addr, std::string reason);

  // engine_commands.cpp
  bool retry_one(const std::string& id, int64_t now);
  bool hold_one(const std::string& id);
  bool release_one(const std::string& id, int64_t now);
  bool remove_one(const std::string& id);

  EngineConfig cfg_;
  const core::Clock& clock_;
  Scheduler sched_;
  QueueIndex index_;
  SettingsCache settings_;
  std::unordered_map<std::string, Active> active_;
  std::unordered_map<int64_t, std::vector<std::string>> settings_wait_;  // account → parked
  std::unordered_map<std::string, Route> routes_;          // dest → route (latest seen)
  std::unordered_map<std::string, int64_t> target_until_;  // dest → driver's endpoints valid
  std::unordered_map<std::string, size_t> resolving_;      // dest → slots awaiting endpoints
  std::unordered_map<std::string, int64_t> backoff_;       // dest → no connection before
  std::unordered_map<uint64_t, Conn> conns_;
  std::vector<DeliveryEvent> events_;
  int64_t events_due_ = 0;
  std::vector<Action> actions_;
  Counters c_;
  uint64_t next_conn_ = 1, next_handle_ = 1, seed_ = 0;
  bool stopped_ = false;
};

}  // namespace tern::delivery
