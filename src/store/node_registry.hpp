// The node registry (docs/cluster.md, "One node per id"): one row per node id (cluster_nodes),
// written by the node that runs under that id at start and at every heartbeat. A node id names
// one running process in a region: leases, webhook claims, queue commands and message-log rows
// are keyed by it, so two processes under one id would defeat fencing and run each other's
// commands. The row therefore also names the *instance*: the identity of the data directory the
// process runs from (<data>/node.instance, app/node_id.hpp), and check_in() refuses a second
// instance while the first one's heartbeat is fresh.
//
// The rule (plan_check_in, pure; every backend runs it on the row it read under its write lock):
//  - no row: joined;
//  - the row names our instance (a restart of the same data dir, kill -9 included, or a
//    heartbeat): renewed; seen_ms never goes back;
//  - another instance whose row is stopped (a clean stop checked out), stale (seen_ms older than
//    lease_ms) or written before instances were persistent (no "i-" prefix: an older binary made
//    one per process): took_over, the row becomes ours (a replaced machine);
//  - another instance seen within lease_ms: refused, nothing written.
// Times are the nodes' clocks (keep them in sync: NTP); a skew only moves the takeover by as
// much. Nothing here comes from tenants: ids, instances, host names and addresses are the
// operator's (config, the data dir, the machine).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace tern::store {

struct NodeRecord {
  std::string node_id;
  std::string instance;  // the data dir's identity ("i-" + base32), see above
  std::string hostname;  // the machine's (gethostname)
  std::string address;   // where its API listens ("" unknown)
  std::string version;
  int64_t started_ms = 0;  // when this instance took the id
  int64_t seen_ms = 0;     // its last check-in
  int64_t stopped_ms = 0;  // its clean stop (check_out), 0 while it runs (or after kill -9)

  // Checked in within within_ms of now and not stopped since.
  bool alive(int64_t now_ms, int64_t within_ms) const {
    return stopped_ms == 0 && seen_ms >= now_ms - within_ms;
  }
};

enum class CheckInVerdict { joined, renewed, took_over, refused };

struct CheckInPlan {
  CheckInVerdict verdict = CheckInVerdict::refused;
  NodeRecord row;  // what to write (refused: the row as it is, the other instance's)
  std::optional<NodeRecord> before;  // the row as it was read
};

// The rule above. current: the id's row as stored (nullopt: none); me: this node (node_id,
// instance, hostname, address, version).
CheckInPlan plan_check_in(const std::optional<NodeRecord>& current, const NodeRecord& me,
                          int64_t now_ms, int64_t lease_ms);

// Whether an instance was made by a binary that persists it ("i-" + [a-z2-7]).
bool persistent_instance(std::string_view instance);

// What a refused node says (and logs): the id, the other instance, its host and address, when
// it was last seen, and what the operator can do. Control characters of the stored row are
// shown as '?'.
std::string refusal_message(const NodeRecord& other, int64_t now_ms, int64_t lease_ms);

class NodeRegistry {
 public:
  virtual ~NodeRegistry() = default;
  // plan_check_in on me.node_id's row, atomically (two nodes checking in at once see each
  // other), and writes the plan unless refused. The plan is returned either way; refused is an
  // outcome, not an error (errors are the storage's).
  virtual core::Result<CheckInPlan> check_in(const NodeRecord& me, int64_t now_ms,
                                             int64_t lease_ms) = 0;
  // A clean stop: marks the row stopped when it still names me.instance (a node that lost its
  // id to another instance changes nothing).
  virtual core::Result<void> check_out(const NodeRecord& me, int64_t now_ms) = 0;
  // Every node ever registered, by id.
  virtual core::Result<std::vector<NodeRecord>> list() = 0;
};

// SQLite: a connection of its own to the store's file (opened by open_sqlite_database first).
core::Result<std::unique_ptr<NodeRegistry>> open_sqlite_node_registry(const std::string& db_path);
// The memory backend's named storage (memory_backend.hpp).
core::Result<std::unique_ptr<NodeRegistry>> open_memory_node_registry(const std::string& name);

}  // namespace tern::store
