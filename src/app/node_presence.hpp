// This node in the region's node registry (store/node_registry.hpp, docs/cluster.md "One node
// per id"): the driver of the registry's rule for `tern serve`. check_in() runs at start, before
// the spool is recovered or anything listens, and at every heartbeat; check_out() at a clean
// stop (frees the id at once for a replacement machine).
//
// Invariants:
//  - refused is an error (conflict) carrying store::refusal_message: at start `tern serve` exits
//    non-zero with it before taking any work; a running node that finds its id taken by another
//    instance (it was paused or cut off for longer than lease_s and a replacement started)
//    stops: its listeners close first, its spool stays for when it is resolved.
//  - A storage error is returned as such (unavailable...): a database that is away does not
//    stop a node (the journal carries its writes); the next heartbeat tries again.
//  - duplicate (another process runs under this data dir's instance: a cloned VM or volume) is
//    an error (conflict) carrying store::duplicate_message, logged at error level: at start
//    `tern serve` exits non-zero; at a heartbeat the node stops as for refused.
//  - contested (only before the first check-in went through) is no error: start() waits
//    probe_ms and looks again, once, passing the row it saw; the second look says renewed (the
//    other run was this data dir's last, dead) or duplicate.
//  - The first check-in that goes through ends the start: every later one is a heartbeat
//    round (store::CheckInRound), which never takes the id back from another instance.
//  - Joining and renewing are quiet; a takeover is logged (warn: another instance had the id).
#pragma once
#include <cstdint>
#include <functional>
#include <optional>

#include "core/result.hpp"
#include "store/node_registry.hpp"

namespace tern::app {

class NodePresence {
 public:
  NodePresence(store::NodeRegistry& registry, store::NodeRecord me, int64_t lease_ms)
      : registry_(registry), me_(std::move(me)), lease_ms_(lease_ms) {}

  // One check-in (a start round until one went through, then heartbeats).
  core::Result<store::CheckInVerdict> check_in(int64_t now_ms);
  // The check-in at start: check_in(), and when contested, sleep(probe_ms) and check_in() again.
  core::Result<store::CheckInVerdict> start(const std::function<int64_t()>& now,
                                            const std::function<void(int64_t)>& sleep_ms,
                                            int64_t probe_ms);
  // Logs a failure (a stop goes on regardless).
  void check_out(int64_t now_ms);
  const store::NodeRecord& me() const { return me_; }

 private:
  store::NodeRegistry& registry_;
  const store::NodeRecord me_;
  const int64_t lease_ms_;
  bool running_ = false;                        // a check-in went through: heartbeats now
  std::optional<store::NodeRecord> contested_;  // the row a contested start saw
};

}  // namespace tern::app
