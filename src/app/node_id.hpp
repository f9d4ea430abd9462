// A node's identity in a region (docs/cluster.md): [cluster] node_id, or the id kept in
// <data>/node.id (a random one made on first start). The message log records it on every row,
// queue commands for a message are routed to it, and its leases carry it.
//
// Invariants:
//  - One live process per node id and data dir: claim() holds an exclusive flock on
//    <data>/node.id for the life of the returned object; a second `tern serve` on the same data
//    dir is refused (conflict) instead of sharing the spool. (Two machines configured with the
//    same id are refused by the node registry: store/cluster.hpp.)
//  - A data dir belongs to one node: a configured id different from the one in node.id is a
//    start-up error (its spool and its message-log rows name the old id), never silently
//    overwritten.
//  - Ids are [a-z0-9][a-z0-9-]{0,31}: they appear in logs, URLs and SQL parameters.
#pragma once
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace tern::app {

bool valid_node_id(std::string_view id);

class NodeId {
 public:
  // configured: [cluster] node_id, "" for the one in node.id (made when there is none).
  static core::Result<NodeId> claim(const std::string& data_dir, const std::string& configured);
  NodeId(NodeId&& o) noexcept : id_(std::move(o.id_)), fd_(o.fd_) { o.fd_ = -1; }
  NodeId& operator=(NodeId&&) = delete;
  NodeId(const NodeId&) = delete;
  ~NodeId();
  const std::string& id() const { return id_; }

 private:
  NodeId(std::string id, int fd) : id_(std::move(id)), fd_(fd) {}
  std::string id_;
  int fd_ = -1;
};

}  // namespace tern::app
