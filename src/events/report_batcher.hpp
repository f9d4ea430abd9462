// The report batcher (issue 5, issue 11): which of the reports component's queued items
// (accepted messages, engine event batches, flush requests) are written together, and when.
// Sans-IO: the driver (net/report_pipeline) push()es items with their size and the time, asks
// poll(now) what to do, writes what it gets, and sleeps until the time poll names.
//
// Decisions (tests/unit/events/report_batcher_test.cpp):
//  - Ordering: items leave in arrival order; a batch is always a prefix of the queue (the
//    server logs a message before the engine reports its first event, and the batch keeps
//    that order).
//  - When: a batch is due delay_ms after its oldest item arrived (one transaction per ~100 ms
//    instead of one per message), at once when the queue holds max_units units (a burst is
//    written in slices instead of one huge transaction), at once up to a flush request, and
//    at once while closing.
//  - Size: a batch takes items until the next would pass max_units; an item larger than
//    max_units alone goes alone (items are never split: an accepted message and its rows are
//    one unit of work).
//  - Clock: a clock that went back does not hold a batch longer than delay_ms from now (the
//    oldest item's time is moved to now); one that jumped forward makes the batch due.
//  - Write failures: retry_delay_ms says whether and when a failed store write is tried again
//    (temporary errors, kWriteAttempts tries, 100 ms × attempt apart); after that the write is
//    counted as an error and dropped (the rows are lost from the log, never the mail; the
//    engine's own event log keeps the delivery events).
//  - close(): no new items; everything queued leaves, then poll says done.
//  - Wake-ups: push() says whether a driver sleeping on poll's last answer must poll again
//    (the queue was empty, or the item made a batch due at once). An item that joins a
//    gathering batch does not: the driver's timer already names that batch's time, so the
//    accept path does not wake the report thread once per message.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

namespace tern::events {

constexpr int kWriteAttempts = 5;

// The pause before try attempt+1 of a store write that failed on try `attempt` (1-based), or
// nullopt when it is not tried again (permanent error, or kWriteAttempts tries made).
std::optional<int64_t> retry_delay_ms(int attempt, bool temporary);

struct ReportBatcherConfig {
  int64_t delay_ms = 100;    // how long a batch gathers after its first item
  size_t max_units = 5'000;  // recipients + events per batch (0 counts as 1)
};

// What the driver does next.
struct BatchWait {
  std::optional<int64_t> until_ms;  // nullopt: until an item arrives
};
struct BatchDone {};  // closed and empty: the driver ends
template <class T>
struct BatchWrite {
  std::vector<T> items;
};

// What push() did.
enum class Pushed {
  refused,  // closed: the item is not queued
  queued,   // queued; the time poll() last named still stands
  wake,     // queued; the driver must poll again now
};

template <class T>
class ReportBatcher {
 public:
  using Action = std::variant<BatchWait, BatchWrite<T>, BatchDone>;

  explicit ReportBatcher(ReportBatcherConfig cfg) : cfg_(cfg) {
    if (cfg_.max_units == 0) cfg_.max_units = 1;
  }

  // Queues an item of `units` work (recipients, events; 0 for a flush marker). urgent: a flush
  // request, due at once with everything before it.
  Pushed push(T item, size_t units, int64_t now_ms, bool urgent = false) {
    if (closed_) return Pushed::refused;
    const bool was_empty = queue_.empty();
    if (was_empty) oldest_ms_ = now_ms;
    const bool was_due = urgent_until_ > 0 || units_ >= cfg_.max_units;
    queue_.push_back({std::move(item), units});
    units_ += units;
    if (urgent) urgent_until_ = queue_.size();
    const bool due_now = urgent_until_ > 0 || units_ >= cfg_.max_units;
    return was_empty || (due_now && !was_due) ? Pushed::wake : Pushed::queued;
  }

  void close() { closed_ = true; }
  bool closed() const { return closed_; }
  size_t size() const { return queue_.size(); }
  size_t units() const { return units_; }

  Action poll(int64_t now_ms) {
    if (queue_.empty()) return closed_ ? Action{BatchDone{}} : Action{BatchWait{}};
    if (now_ms < oldest_ms_) oldest_ms_ = now_ms;  // the clock went back
    const bool due = closed_ || urgent_until_ > 0 || units_ >= cfg_.max_units ||
                     now_ms - oldest_ms_ >= cfg_.delay_ms;
    if (!due) return BatchWait{oldest_ms_ + cfg_.delay_ms};
    BatchWrite<T> w;
    size_t taken_units = 0;
    while (!queue_.empty()) {
      Entry& e = queue_.front();
      const bool must = urgent_until_ > 0 && e.units == 0;  // markers never wait for room
      if (!w.items.empty() && !must && taken_units + e.units > cfg_.max_units) break;
      taken_units += e.units;
      units_ -= e.units;
      w.items.push_back(std::move(e.item));
      queue_.pop_front();
      if (urgent_until_ > 0) --urgent_until_;
    }
    // What stays behind is the start of the next batch: it gathers from now.
    oldest_ms_ = now_ms;
    return w;
  }

 private:
  struct Entry {
    T item;
    size_t units = 0;
  };
  ReportBatcherConfig cfg_;
  std::deque<Entry> queue_;
  size_t units_ = 0;
  size_t urgent_until_ = 0;  // the first urgent_until_ entries are due at once
  int64_t oldest_ms_ = 0;
  bool closed_ = false;
};

}  // namespace tern::events
