// The delivery scheduler (SPEC §4): which message goes next, over which connection. Pure: no
// I/O and no clock of its own (callers pass now_ms), so every rule is testable without waiting.
//
// Model:
//  - A Job is one message's recipients that share one destination (Route::key(): an MX domain,
//    a custom relay, the smarthost). A message with recipients at two domains is two jobs.
//  - Jobs are scheduled (due later) or ready (due). tick(now) moves due jobs to the ready queue
//    of their destination.
//  - Each destination holds its ready jobs per account. next_job(dest) gives accounts turns
//    (round robin over the accounts with ready jobs there, one job per turn), so one account's
//    100,000-message burst cannot starve another account's single message.
//  - Connections: at most max_connections open overall and max_connections_per_dest per
//    destination. connections_to_open() reserves slots for destinations whose ready jobs
//    outnumber their open connections; destinations take turns for free global slots (round
//    robin), so one busy destination cannot hold every slot while others wait.
//
// Invariants:
//  - Every job added is, at any time, in exactly one place: scheduled, ready, or handed out by
//    next_job/take_ready (then the caller owns it and adds it back if it must be retried).
//  - remove(queue_id) drops all of a message's jobs that are not handed out.
//  - connections() for a destination never exceeds max_connections_per_dest, and the total
//    never exceeds max_connections; a slot is freed only by connection_closed(dest). A close
//    with no open connection to that destination is a caller bug and is ignored.
//  - Accounts take turns in account-id order with a per-destination cursor; within an
//    account, jobs leave in the order they became ready. All operations are O(log n).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tern::delivery {

struct Job {
  std::string queue_id;
  int64_t account_id = 0;
  std::string dest;             // destination key
  std::vector<uint32_t> rcpts;  // indexes into the message's recipients
};

struct Limits {
  size_t max_connections = 100;
  size_t max_connections_per_dest = 10;
};

class Scheduler {
 public:
  explicit Scheduler(Limits limits = {});
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // A job due at due_ms; it becomes ready at the first tick(now_ms >= due_ms).
  void add(Job job, int64_t due_ms);
  // Moves every scheduled job due at or before now_ms to its destination's ready queue.
  void tick(int64_t now_ms);
  // The earliest due time among scheduled jobs; nullopt when none is scheduled.
  std::optional<int64_t> next_due_ms() const;

  // Destinations to open one new connection to now, one entry per connection (a destination
  // may appear several times). The slots are reserved: call connection_closed(dest) for each
  // when that connection ends (also when it never connected).
  std::vector<std::string> connections_to_open();
  // The next ready job for a connection to dest (accounts take turns); nullopt = none ready.
  std::optional<Job> next_job(const std::string& dest);
  void connection_closed(const std::string& dest);

  // All ready jobs of dest, handed out (a failure that condemns the destination — every host
  // refused the connection — defers them all at once instead of one per connection).
  std::vector<Job> take_ready(const std::string& dest);
  // Drops every scheduled or ready job of the message; returns how many.
  size_t remove(const std::string& queue_id);
  // Makes scheduled jobs ready at the next tick: of one message, or of all when queue_id is ""
  // (`tern queue retry`); their due time becomes now_ms (never later than it was). Returns
  // how many scheduled jobs that covers (ready and handed-out jobs are not counted).
  size_t expedite(const std::string& queue_id, int64_t now_ms);

  struct Stats {
    size_t scheduled = 0;
    size_t ready = 0;
    size_t connections = 0;
    size_t destinations = 0;  // with ready jobs or open connections
  };
  Stats stats() const;
  size_t connections(const std::string& dest) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::delivery
