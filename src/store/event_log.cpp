#include "store/event_log.hpp"

namespace tern::store {

core::Result<void> EventLog::record(const std::vector<DeliveryEvent>& events) {
  if (events.empty()) return core::ok();
  return in_tx(db_, Database::Mode::write, [&](Tx& tx) { return tx.events().append(events); });
}

core::Result<std::vector<DeliveryEvent>> EventLog::for_queue(const std::string& queue_id) {
  return in_tx(db_, Database::Mode::read, [&](Tx& tx) { return tx.events().of_queue(queue_id); });
}

}  // namespace tern::store
