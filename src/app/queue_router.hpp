// The operator's queue actions in a region (issue 12; docs/cluster.md "Queue commands"): each
// node's spool is its own, so retry, hold, release and delete must run on the node that holds
// the message. The router stands in front of this node's delivery engine (the same
// delivery::QueueControl the API and the control socket use on one node):
//  - ids: each queue id's holder comes from the message log (`node_id` of its rows). Ids held
//    here, unknown to the log, or logged before nodes had ids run here; the others become one
//    `node_commands` row per holder (store/node_commands.hpp).
//  - a destination or an account: every message of it, on every node: here, and one command
//    for each other node seen alive in the registry (nodes not seen are not asked: their queue
//    waits for them as their mail does).
//  - The caller waits at most wait_ms (3 s) for the holders' answers and sums their counts.
//    A holder that has not answered by then (or is not alive: not waited for) is reported in
//    `pending`; its command stays queued and runs when it comes back, unless expire_ms (15
//    min) passed first: then it is dropped, not applied late.
//  - run_pending() is the holder's side, called every second (the cluster upkeep thread): it
//    expires its stale commands, applies the others through the local engine exactly as a
//    local action, and records {"count"} or {"error"} as the result.
//  - Scope: a selector with ids and an account (a caller limited to one account) reaches only
//    that account's messages: ids the message log gives another account are dropped here, and
//    the holder applies the command only to the ids its own queue holds for that account. The
//    operator's selectors have no scope (every account).
// On SQLite (one node) there is no router: the engine answers directly, as before.
// Thread-safe (the NodeCommands store is; the router keeps no state of its own).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "delivery/engine_io.hpp"
#include "delivery/queue_view.hpp"
#include "store/message_log.hpp"
#include "store/node_commands.hpp"

namespace tern::app {

class QueueRouter final : public delivery::QueueControl {
 public:
  struct Options {
    std::string node_id;          // this node
    int64_t wait_ms = 3'000;      // how long an action waits for the holders
    int64_t poll_ms = 100;        // how often it looks at their answers meanwhile
    int64_t expire_ms = 900'000;  // a command no one ran by then is dropped
    size_t batch = 50;            // commands run per run_pending()
  };
  struct Seams {
    // Node ids seen alive recently (the registry); this node may or may not be among them.
    std::function<std::vector<std::string>()> live_nodes;
    // Waits ms between looks at the answers (default: this thread sleeps).
    std::function<void(int64_t ms)> sleep;
    // Whether the local queue is loaded (after a restart the engine reads the spool's index
    // first): commands wait in the database until then, or they would find nothing. Null: yes.
    std::function<bool()> ready;
  };

  QueueRouter(delivery::QueueControl& local, store::MessageLog& log, store::NodeCommands& commands,
              const core::Clock& clock, Options opt, Seams seams);

  // This node's queue only (a region has one per node).
  std::vector<delivery::QueueMessageView> queue_snapshot(const delivery::QueueFilter& f) override;
  delivery::QueueActionResult queue_action(delivery::QueueAction a,
                                           const delivery::QueueSelector& s) override;

  // The control socket's single-message command (`tern queue hold ID`): local (the engine's
  // own reply, "no such message" included) when this node holds it or the log does not know
  // it; else routed, with a note while the holder has not answered. id "" (--all) is local.
  delivery::ControlReply control(const std::string& cmd, const std::string& id,
                                 const std::function<delivery::ControlReply()>& local);

  // The node the message log names for queue_id: "" when unknown or unrecorded.
  std::string holder(const std::string& queue_id, int64_t* account_id = nullptr);

  // The holder's side: runs this node's pending commands; how many ran.
  size_t run_pending();

  // "node n1 has not answered within 3 s; ..." for a result's pending nodes ("" when none).
  std::string pending_note(const delivery::QueueActionResult& r) const;

 private:
  delivery::QueueActionResult apply_local(delivery::QueueAction a, delivery::QueueSelector s);

  delivery::QueueControl& local_;
  store::MessageLog& log_;
  store::NodeCommands& commands_;
  const core::Clock& clock_;
  const Options opt_;
  Seams seams_;
};

}  // namespace tern::app
