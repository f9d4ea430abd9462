// The node registry on SQLite (node_registry.hpp): the cluster_nodes table of migrations 9, 12 and
// 14 on a connection of its own to the store's file, serialized by a mutex. A check-in is one BEGIN
// IMMEDIATE transaction (read the row, plan, write), so two processes on one file checking in
// under the same id see each other. One node is the usual SQLite installation; the rule still
// holds when two data dirs are pointed at one database file.
#include <mutex>
#include <optional>

#include "store/node_registry.hpp"
#include "store/sqlite_db.hpp"

namespace tern::store {

namespace {

using namespace sqlite::names;

constexpr const char* kColumns =
    "node_id, instance, hostname, address, version, started_ms, seen_ms, stopped_ms, run";

NodeRecord record_of(Stmt& s) {
  return NodeRecord{.node_id = s.text(0),
                    .instance = s.text(1),
                    .run = s.text(8),
                    .hostname = s.text(2),
                    .address = s.text(3),
                    .version = s.text(4),
                    .started_ms = s.int64(5),
                    .seen_ms = s.int64(6),
                    .stopped_ms = s.int64(7)};
}

class SqliteNodeRegistry final : public NodeRegistry {
 public:
  explicit SqliteNodeRegistry(Db db) : db_(std::move(db)) {}

  core::Result<CheckInPlan> check_in(const NodeRecord& me, int64_t now_ms, int64_t lease_ms,
                                     const CheckInRound& round) override {
    std::lock_guard lock(mu_);
    Txn txn(db_);
    if (auto r = txn.begin_immediate(); !r) return r.error();
    std::optional<NodeRecord> current;
    {
      Stmt s(db_, std::string("SELECT ") + kColumns + " FROM cluster_nodes WHERE node_id = ?");
      s.bind(1, me.node_id);
      const int rc = s.step();
      if (rc == SQLITE_ROW)
        current = record_of(s);
      else if (rc != SQLITE_DONE)
        return s.error(rc, "read node registry");
    }
    CheckInPlan plan = plan_check_in(current, me, now_ms, lease_ms, round);
    if (!writes(plan.verdict)) return plan;
    const NodeRecord& w = plan.row;
    Stmt s(db_, std::string("INSERT OR REPLACE INTO cluster_nodes(") + kColumns +
                    ") VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
    s.bind(1, w.node_id)
        .bind(2, w.instance)
        .bind(3, w.hostname)
        .bind(4, w.address)
        .bind(5, w.version)
        .bind(6, w.started_ms)
        .bind(7, w.seen_ms)
        .bind(8, w.stopped_ms)
        .bind(9, w.run);
    if (auto r = s.run("check in node"); !r) return r.error();
    if (auto r = txn.commit(); !r) return r.error();
    return plan;
  }

  core::Result<void> check_out(const NodeRecord& me, int64_t now_ms) override {
    std::lock_guard lock(mu_);
    Stmt s(
        db_,
        "UPDATE cluster_nodes SET stopped_ms = ? WHERE node_id = ? AND instance = ? AND run = ?");
    s.bind(1, now_ms).bind(2, me.node_id).bind(3, me.instance).bind(4, me.run);
    return s.run("check out node");
  }

  core::Result<std::vector<NodeRecord>> list() override {
    std::lock_guard lock(mu_);
    Stmt s(db_, std::string("SELECT ") + kColumns + " FROM cluster_nodes ORDER BY node_id");
    std::vector<NodeRecord> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) out.push_back(record_of(s));
    if (rc != SQLITE_DONE) return s.error(rc, "list nodes");
    return out;
  }

 private:
  std::mutex mu_;
  Db db_;
};

}  // namespace

core::Result<std::unique_ptr<NodeRegistry>> open_sqlite_node_registry(const std::string& db_path) {
  auto db = Db::open_companion(db_path, "cluster_nodes", "node registry", Db::Sync::normal);
  if (!db) return db.error();
  return std::unique_ptr<NodeRegistry>(std::make_unique<SqliteNodeRegistry>(std::move(db).value()));
}

}  // namespace tern::store
