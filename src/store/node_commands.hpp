// Commands for one node of a region (issue 12, CLUSTER.md decision 7): the operator's queue
// actions (retry, hold, release, delete) act on the spool that holds a message, and each node's
// spool is its own. A node that receives an action for a message another node holds writes a
// command row for that node (`node_commands`); every node reads its own pending rows every
// second, applies them through its delivery engine and records the result, which the sender
// waits for (a bounded time). app/queue_router.hpp is the logic on both sides.
// Invariants:
//  - A command is addressed to exactly one node id and only that node's pending() returns it.
//  - finish() moves a command out of "pending" once; a second finish (or one of an expired
//    command) changes nothing and returns false. States: pending, done, failed, expired.
//  - Applying is idempotent (hold twice = held), so a node that dies between applying and
//    finish() simply applies it again after its restart.
//  - expire() ends this node's pending commands created before a bound: an action nobody could
//    apply for that long is dropped, not applied hours late.
//  - `args` and `result` are JSON text the router writes and reads; the store never parses them.
// Backends: memory (MemoryNodeCommands: one table shared by any number of "nodes" in a process,
// for tests) and PostgreSQL (pg_parts.hpp). A single node on SQLite has none: nothing is routed.
#pragma once
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace tern::store {

struct NodeCommand {
  int64_t id = 0;
  std::string node_id;   // the node that runs it
  std::string command;   // retry, hold, release, delete
  std::string queue_id;  // the first message it names ("" for a destination or account)
  std::string args = "{}";
  int64_t created_ms = 0;
  std::string state = "pending";  // pending, done, failed, expired
  std::string result;
  int64_t done_ms = 0;
};

class NodeCommands {
 public:
  virtual ~NodeCommands() = default;
  // Stores c (its node_id, command, queue_id, args, created_ms) as pending; returns its id.
  virtual core::Result<int64_t> enqueue(const NodeCommand& c) = 0;
  // node_id's pending commands, oldest first, at most limit.
  virtual core::Result<std::vector<NodeCommand>> pending(std::string_view node_id,
                                                         size_t limit) = 0;
  // Ends a pending command (state done or failed); false when it was no longer pending.
  virtual core::Result<bool> finish(int64_t id, std::string_view state, std::string_view result,
                                    int64_t now_ms) = 0;
  virtual core::Result<std::optional<NodeCommand>> get(int64_t id) = 0;
  // node_id's pending commands created before before_ms become "expired"; how many.
  virtual core::Result<size_t> expire(std::string_view node_id, int64_t before_ms,
                                      int64_t now_ms) = 0;
  // Forgets every command created before before_ms that is no longer pending; how many.
  virtual core::Result<size_t> trim(int64_t before_ms) = 0;
};

class MemoryNodeCommands final : public NodeCommands {
 public:
  core::Result<int64_t> enqueue(const NodeCommand& c) override;
  core::Result<std::vector<NodeCommand>> pending(std::string_view node_id, size_t limit) override;
  core::Result<bool> finish(int64_t id, std::string_view state, std::string_view result,
                            int64_t now_ms) override;
  core::Result<std::optional<NodeCommand>> get(int64_t id) override;
  core::Result<size_t> expire(std::string_view node_id, int64_t before_ms, int64_t now_ms) override;
  core::Result<size_t> trim(int64_t before_ms) override;

 private:
  std::mutex mu_;
  std::vector<NodeCommand> rows_;  // by id
  int64_t next_id_ = 1;
};

}  // namespace tern::store
