// Delivery statistics (issue 13): per-account, per-hour counters of delivery events in
// `stats_hourly` (migration 8; open the Store first). A trigger on `delivery_events` keeps them
// in the transaction that writes the event rows, so reading statistics never scans the message
// log or the events, counts never drift from the events, and a restart (a replayed batch is
// new rows, counted once each) cannot double or lose a count.
// Reads are ranges of the table's primary key (one account) or of its hour index (every
// account: the operator's view).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace tern::store {

struct StatsCount {
  int64_t hour_ms = 0;  // start of the UTC hour
  std::string event;    // accepted, delivered, deferred, bounced, expired, rejected, opened, ...
  int64_t n = 0;
};

class Stats {
 public:
  static core::Result<std::unique_ptr<Stats>> open(const std::string& db_path);
  ~Stats();
  Stats(const Stats&) = delete;
  Stats& operator=(const Stats&) = delete;

  // Counts of the hours in [from_ms, to_ms), by hour then event; account_id 0 = every account
  // (summed). Hours are UTC, aligned to 3600000 ms.
  core::Result<std::vector<StatsCount>> hourly(int64_t account_id, int64_t from_ms, int64_t to_ms);

 private:
  struct Impl;
  explicit Stats(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::store
