// The node registry on PostgreSQL (node_registry.hpp): cluster_nodes of migrations 9, 12 and 14,
// shared by every node of the region. A check-in is one transaction: the id's row is read
// FOR UPDATE (a second node checking in under the same id waits for the first's commit and
// then reads its row), planned by plan_check_in, and written. When there is no row yet, two
// nodes may both plan a join: the row is inserted with ON CONFLICT DO NOTHING, and the one
// that inserted nothing reads again (now there is a row to lock) and plans anew.
#include <optional>

#include "store/node_registry.hpp"
#include "store/pg_parts.hpp"

namespace tern::store::pg {

namespace {

constexpr const char* kColumns =
    "node_id, instance, hostname, address, version, started_ms, seen_ms, stopped_ms, run";

NodeRecord record_of(const Rows& r, int i) {  // kColumns
  NodeRecord n;
  r.read(i, n.node_id, n.instance, n.hostname, n.address, n.version, n.started_ms, n.seen_ms,
         n.stopped_ms, n.run);
  return n;
}

Params params_of(const NodeRecord& w) {
  return Params::of(w.node_id, w.instance, w.hostname, w.address, w.version, w.started_ms,
                    w.seen_ms, w.stopped_ms, w.run);
}

class PgNodeRegistry final : public NodeRegistry {
 public:
  explicit PgNodeRegistry(std::shared_ptr<Pool> pool) : pool_(std::move(pool)) {}

  core::Result<CheckInPlan> check_in(const NodeRecord& me, int64_t now_ms, int64_t lease_ms,
                                     const CheckInRound& round) override {
    // Re-running a check-in is harmless (it plans on what it reads): idempotent.
    return pool_->transact(
        [&](Conn& c) -> core::Result<CheckInPlan> {
          for (int attempt = 0;; ++attempt) {
            auto r = c.exec(std::string("SELECT ") + kColumns +
                                " FROM cluster_nodes WHERE node_id = $1 FOR UPDATE",
                            Params::of(me.node_id), "read node registry");
            if (!r) return r.error();
            std::optional<NodeRecord> current;
            if (!r->empty()) current = record_of(*r, 0);
            CheckInPlan plan = plan_check_in(current, me, now_ms, lease_ms, round);
            if (!writes(plan.verdict)) return plan;
            if (current) {
              auto w = c.exec(
                  "UPDATE cluster_nodes SET instance = $2, hostname = $3, address = $4, "
                  "version = $5, started_ms = $6, seen_ms = $7, stopped_ms = $8, run = $9 "
                  "WHERE node_id = $1",
                  params_of(plan.row), "check in node");
              if (!w) return w.error();
              return plan;
            }
            auto w = c.exec(std::string("INSERT INTO cluster_nodes(") + kColumns +
                                ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                                "ON CONFLICT(node_id) DO NOTHING",
                            params_of(plan.row), "join node registry");
            if (!w) return w.error();
            if (w->affected() == 1) return plan;
            if (attempt > 0)  // a row appeared and vanished again: not worth a loop
              return core::Error::unavailable("node registry: the row changed under check-in");
          }
        },
        Pool::TxnOptions{.idempotent = true});
  }

  core::Result<void> check_out(const NodeRecord& me, int64_t now_ms) override {
    return pool_->with([&](Conn& c) -> core::Result<void> {
      auto r = c.exec(
          "UPDATE cluster_nodes SET stopped_ms = $3 WHERE node_id = $1 AND instance = $2 "
          "AND run = $4",
          Params::of(me.node_id, me.instance, now_ms, me.run), "check out node");
      if (!r) return r.error();
      return core::ok();
    });
  }

  core::Result<std::vector<NodeRecord>> list() override {
    return pool_->with([&](Conn& c) -> core::Result<std::vector<NodeRecord>> {
      auto r = c.exec(std::string("SELECT ") + kColumns + " FROM cluster_nodes ORDER BY node_id",
                      "list nodes");
      if (!r) return r.error();
      std::vector<NodeRecord> out;
      for (int i = 0; i < r->size(); ++i) out.push_back(record_of(*r, i));
      return out;
    });
  }

 private:
  std::shared_ptr<Pool> pool_;
};

}  // namespace

std::unique_ptr<NodeRegistry> make_node_registry(std::shared_ptr<Pool> pool) {
  return std::make_unique<PgNodeRegistry>(std::move(pool));
}

}  // namespace tern::store::pg
