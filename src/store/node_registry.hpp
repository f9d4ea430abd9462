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
//  - the row names our instance and our run (a heartbeat): renewed; seen_ms never goes back;
//  - the row names our instance under another run (the run: a random nonce each process draws
//    at start, written at every check-in):
//     - at a heartbeat: duplicate. Another process runs from a copy of this data dir (a cloned
//       VM or volume keeps the inode and the host name, hence the instance) and checked in
//       since our last beat: the running node stops, nothing is written;
//     - at start, when that run stopped cleanly, is stale, or has no nonce (an older binary):
//       renewed, the row becomes this run's;
//     - at start, when that run was seen within lease_ms: contested, nothing is written. It is
//       either this data dir's last run (killed, it left no mark) or a copy running now; the
//       caller looks again a while later (longer than a heartbeat) passing the row it saw:
//       unchanged (same run, same seen_ms: nobody beat) → renewed; changed → duplicate;
//  - another instance whose row is stopped (a clean stop checked out), stale (seen_ms older than
//    lease_ms) or written before instances were persistent (no "i-" prefix: an older binary made
//    one per process): took_over at start, the row becomes ours (a replaced machine);
//  - another instance seen within lease_ms: refused, nothing written;
//  - another instance at a heartbeat, whatever its state: refused (this node lost its id while
//    it was paused or cut off; it never takes it back, so two nodes never trade the row).
// Times are the nodes' clocks (keep them in sync: NTP); a skew only moves the takeover by as
// much. A seen_ms more than lease_ms ahead of now (a clock that jumped ahead, then came back)
// says nothing about when that run was last alive: it counts as stale (else the row would look
// alive until that future time), our own row's is brought back to now, and node_state() shows
// it as ahead, not alive. Nothing here comes from tenants: ids, instances, runs, host names and
// addresses are the operator's (config, the data dir, the machine) or random.
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
  std::string run = {};  // the running process's nonce ("r-" + base32, random at each start)
  std::string hostname;  // the machine's (gethostname)
  std::string address;   // where its API listens ("" unknown)
  std::string version;
  int64_t started_ms = 0;  // when this instance took the id
  int64_t seen_ms = 0;     // its last check-in
  int64_t stopped_ms = 0;  // its clean stop (check_out), 0 while it runs (or after kill -9)

  // Checked in within within_ms of now and not stopped since; a seen_ms more than within_ms
  // ahead of now is not taken for alive (a clock that jumped ahead, see above).
  bool alive(int64_t now_ms, int64_t within_ms) const {
    return stopped_ms == 0 && seen_ms >= now_ms - within_ms && seen_ms <= now_ms + within_ms;
  }
};

// What `tern node list` shows: alive (as above), stopped (a clean stop), ahead (seen_ms more
// than lease_ms in the future: its clock was or is ahead; not taken for alive), silent.
enum class NodeState { alive, stopped, ahead, silent };
NodeState node_state(const NodeRecord& n, int64_t now_ms, int64_t lease_ms);
const char* to_string(NodeState s);

enum class CheckInVerdict { joined, renewed, took_over, refused, contested, duplicate };

// Which check-in of a run this is (the rule above): a start (first look, or second look with
// the row the first found contested) or a heartbeat of a running node.
struct CheckInRound {
  bool heartbeat = false;
  std::optional<NodeRecord> contested = std::nullopt;  // a start's second look: the row seen
};

struct CheckInPlan {
  CheckInVerdict verdict = CheckInVerdict::refused;
  NodeRecord row;  // what to write (refused, contested, duplicate: the row as it is)
  std::optional<NodeRecord> before;  // the row as it was read
};

// The rule above. current: the id's row as stored (nullopt: none); me: this node (node_id,
// instance, run, hostname, address, version). Only joined, renewed and took_over write.
CheckInPlan plan_check_in(const std::optional<NodeRecord>& current, const NodeRecord& me,
                          int64_t now_ms, int64_t lease_ms, const CheckInRound& round = {});

// Whether the verdict lets the row be written.
inline bool writes(CheckInVerdict v) {
  return v == CheckInVerdict::joined || v == CheckInVerdict::renewed ||
         v == CheckInVerdict::took_over;
}

// Whether an instance was made by a binary that persists it ("i-" + [a-z2-7]).
bool persistent_instance(std::string_view instance);

// What a refused node says (and logs): the id, the other instance, its host and address, when
// it was last seen, and what the operator can do. Control characters of the stored row are
// shown as '?'.
std::string refusal_message(const NodeRecord& other, int64_t now_ms, int64_t lease_ms);
// What a node says when another process runs under its own instance (duplicate): the id, the
// instance, the other run, when it checked in, and what the operator can do.
std::string duplicate_message(const NodeRecord& other, const NodeRecord& me, int64_t now_ms);
// What a contested start says (info) before it looks again: the other run, its host, when it
// checked in.
std::string contested_message(const NodeRecord& other, const NodeRecord& me, int64_t now_ms);
// What a node logs (warning) when it took its id over from another instance (`was`, the row
// before): that instance, its host, why it could be taken, when it was last seen.
std::string takeover_message(const NodeRecord& was, const NodeRecord& me, int64_t now_ms);

class NodeRegistry {
 public:
  virtual ~NodeRegistry() = default;
  // plan_check_in on me.node_id's row, atomically (two nodes checking in at once see each
  // other), and writes the plan when writes(verdict). The plan is returned either way; refused,
  // contested and duplicate are outcomes, not errors (errors are the storage's).
  virtual core::Result<CheckInPlan> check_in(const NodeRecord& me, int64_t now_ms, int64_t lease_ms,
                                             const CheckInRound& round = {}) = 0;
  // A clean stop: marks the row stopped when it still names me.instance and me.run (a node that
  // lost its id to another instance, or to another run of its instance, changes nothing).
  virtual core::Result<void> check_out(const NodeRecord& me, int64_t now_ms) = 0;
  // Every node ever registered, by id.
  virtual core::Result<std::vector<NodeRecord>> list() = 0;
};

// SQLite: a connection of its own to the store's file (opened by open_sqlite_database first).
core::Result<std::unique_ptr<NodeRegistry>> open_sqlite_node_registry(const std::string& db_path);
// The memory backend's named storage (memory_backend.hpp).
core::Result<std::unique_ptr<NodeRegistry>> open_memory_node_registry(const std::string& name);

}  // namespace tern::store
