// A node's identity in a region (docs/cluster.md): [cluster] node_id, or the id kept in
// <data>/node.id (a random one made on first start). The message log records it on every row,
// queue commands for a message are routed to it, and its leases carry it.
//
// Invariants:
//  - One live process per node id and data dir: claim() holds an exclusive flock on
//    <data>/node.id for the life of the returned object; a second `tern serve` on the same data
//    dir is refused (conflict) instead of sharing the spool. (Two data dirs under the same id,
//    on one machine or two, are refused by the node registry: store/node_registry.hpp.)
//  - The data dir's instance (<data>/node.instance, 0600, written once by rename and fsync'd)
//    is what the registry tells data dirs apart by. It is bound to the file's inode: a data dir
//    copied or restored file by file (another inode) gets a new instance, so a copy is never
//    taken for the original. A restart, kill -9 included, keeps it; so does a machine without
//    a host name (written as "-", one word) and the same volume under another host name (a
//    recreated container: the file is rewritten with the new name, the instance kept).
//  - Each claim draws a run (run(): "r-" + 20 base32, libsodium), this process's nonce: a
//    cloned VM or volume keeps inode and host name, hence the instance, and the registry tells
//    its process from the original's by the run (store/node_registry.hpp).
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

// This machine's host name (gethostname), one word of printable ASCII ("" when unknown).
std::string host_name();

class NodeId {
 public:
  // configured: [cluster] node_id, "" for the one in node.id (made when there is none).
  // host: what binds the instance to this machine (host_name(); a seam for tests).
  static core::Result<NodeId> claim(const std::string& data_dir, const std::string& configured,
                                    const std::string& host = host_name());
  NodeId(NodeId&& o) noexcept
      : id_(std::move(o.id_)),
        instance_(std::move(o.instance_)),
        run_(std::move(o.run_)),
        note_(std::move(o.note_)),
        fd_(o.fd_) {
    o.fd_ = -1;
  }
  NodeId& operator=(NodeId&&) = delete;
  NodeId(const NodeId&) = delete;
  ~NodeId();
  const std::string& id() const { return id_; }
  // "i-" + 20 base32 characters (store::persistent_instance).
  const std::string& instance() const { return instance_; }
  // This process's run nonce: "r-" + 20 base32, drawn anew at every claim.
  const std::string& run() const { return run_; }
  // What claim() has to tell the log about the instance ("" nothing): made anew, and why.
  const std::string& note() const { return note_; }

 private:
  NodeId(std::string id, int fd) : id_(std::move(id)), fd_(fd) {}
  core::Result<void> take_instance(const std::string& data_dir, const std::string& host);
  std::string id_, instance_, run_, note_;
  int fd_ = -1;
};

}  // namespace tern::app
