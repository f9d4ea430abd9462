// Delivery statistics (issue 13): per-account, per-hour counters of delivery events, read
// through StatsRepo. Store::stats.
// The counters are kept by every backend in the transaction that appends the event rows
// (EventRepo::append; SQLite: a trigger on delivery_events), so reading statistics never scans
// the message log or the events, counts never drift from the events, and a restart (a
// replayed batch is new rows, counted once each) cannot double or lose a count.
#pragma once
#include <cstdint>
#include <vector>

#include "core/result.hpp"
#include "store/model.hpp"
#include "store/repositories.hpp"

namespace tern::store {

class StatsService {
 public:
  explicit StatsService(Database& db) : db_(db) {}

  // Counts of the hours in [from_ms, to_ms), by hour then event; account_id 0 = every account
  // (summed). Hours are UTC, aligned to 3600000 ms. An empty range is invalid.
  core::Result<std::vector<StatsCount>> hourly(int64_t account_id, int64_t from_ms, int64_t to_ms);

 private:
  Database& db_;
};

}  // namespace tern::store
