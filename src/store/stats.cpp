// Statistics reads (see stats.hpp), over any backend. The writes are EventRepo::append's.
#include "store/stats.hpp"

namespace tern::store {

core::Result<std::vector<StatsCount>> StatsService::hourly(int64_t account_id, int64_t from_ms,
                                                           int64_t to_ms) {
  if (to_ms <= from_ms) return core::Error::invalid("statistics: \"to\" must be after \"from\"");
  return in_tx(db_, Database::Mode::read,
               [&](Tx& tx) { return tx.stats().hourly(account_id, from_ms, to_ms); });
}

}  // namespace tern::store
