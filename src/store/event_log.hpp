// Delivery events (SPEC §4–5): one row per outcome of one recipient (and tracking and webhook
// events), kept for reports and each message's history. The delivery hot path writes them in
// batches: one write transaction and one prepared statement per batch; a batch is all or
// nothing (an event without a queue id is invalid and fails it). An event whose key (issue 12)
// is stored already is skipped: replaying a journal entry adds no second row.
#pragma once
#include <string>
#include <vector>

#include "core/result.hpp"
#include "store/model.hpp"
#include "store/repositories.hpp"

namespace tern::store {

class EventLog {
 public:
  explicit EventLog(Database& db) : db_(db) {}
  core::Result<void> record(const std::vector<DeliveryEvent>& events);
  // A message's events, oldest first (by time_ms, then in recording order).
  core::Result<std::vector<DeliveryEvent>> for_queue(const std::string& queue_id);

 private:
  Database& db_;
};

}  // namespace tern::store
