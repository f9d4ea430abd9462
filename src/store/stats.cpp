// Statistics reads on SQLite (see stats.hpp). The writes are the schema's trigger.
#include "store/stats.hpp"

#include <mutex>

#include "store/sqlite_db.hpp"

namespace tern::store {

using sqlite::Db;
using sqlite::Stmt;

struct Stats::Impl {
  Db db;
  std::mutex mu;
};

Stats::Stats(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Stats::~Stats() = default;

core::Result<std::unique_ptr<Stats>> Stats::open(const std::string& db_path) {
  auto db = Db::open_companion(db_path, "stats_hourly", "stats", Db::Sync::full);
  if (!db) return db.error();
  auto impl = std::make_unique<Impl>();
  impl->db = std::move(db).value();
  return std::unique_ptr<Stats>(new Stats(std::move(impl)));
}

core::Result<std::vector<StatsCount>> Stats::hourly(int64_t account_id, int64_t from_ms,
                                                    int64_t to_ms) {
  std::vector<StatsCount> out;
  std::lock_guard lock(impl_->mu);
  Stmt s(impl_->db,
         account_id != 0
             ? "SELECT hour_ms, event, n FROM stats_hourly WHERE account_id = ?3 AND hour_ms >= ?1 "
               "AND hour_ms < ?2 ORDER BY hour_ms, event"
             : "SELECT hour_ms, event, SUM(n) FROM stats_hourly WHERE hour_ms >= ?1 AND "
               "hour_ms < ?2 GROUP BY hour_ms, event ORDER BY hour_ms, event");
  s.bind(1, from_ms).bind(2, to_ms);
  if (account_id != 0) s.bind(3, account_id);
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back({s.int64(0), s.text(1), s.int64(2)});
  if (rc != SQLITE_DONE) return s.error(rc, "read statistics");
  return out;
}

}  // namespace tern::store
