// The cluster seam (docs/cluster.md, ../shared/CLUSTER.md): what several Tern nodes sharing one
// database need from each other, behind one interface so a single node and a region run the
// same code. Its primitives:
// - leases: a named lease (a singleton job: retention, change-log trim, a DNS re-check round)
//   is held by one node at a time until it expires; acquire() renews the caller's own lease.
//   Each grant carries a fencing token that grows with every new holder, so a stale holder's
//   writes can be refused. Times are the caller's clock (the PostgreSQL backend will use the
//   database's).
// - change feed: a config-writing change is published with a subject ("account:7",
//   "domain:example.com"); every node reads the feed from its cursor and drops the cache
//   entries it names, so a change made on one node is seen on all within the poll interval.
// - shared secrets: one value per name for the whole region (first writer wins).
// (The node registry, who runs under which id from which data dir, is node_registry.hpp.)
// SingleNode is the whole cluster of one process (SQLite, the CLI): leases are granted to it
// (still with expiry and tokens, so callers are written for the real thing), the feed and the
// secrets live in memory. Thread-safe.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace tern::store {

struct Lease {
  std::string name;
  std::string holder;  // node id
  int64_t token = 0;   // fencing token: grows with every new holder
  int64_t expires_ms = 0;
};

struct Change {
  int64_t seq = 0;  // position in the feed (assigned by publish)
  std::string subject;
  int64_t time_ms = 0;
};

// The lease rules in memory (SingleNode's; also a shared table for tests of several holders):
// a name is held by one holder until it expires; the holder's acquire renews it (same token);
// anyone else gets it once it expired or was released, under a higher token. Not thread-safe.
class LeaseTable {
 public:
  std::optional<Lease> acquire(std::string_view name, std::string_view holder, int64_t now_ms,
                               int64_t ttl_ms);
  // Ends the holding early when holder still holds name under token.
  void release(std::string_view name, std::string_view holder, int64_t token);

 private:
  std::vector<Lease> leases_;
  int64_t next_token_ = 1;
};

class Cluster {
 public:
  virtual ~Cluster() = default;
  virtual const std::string& node_id() const = 0;

  // The lease for this node until now_ms + ttl_ms, when it is free, expired or already ours
  // (a renewal keeps the token); nullopt while another node holds it.
  virtual core::Result<std::optional<Lease>> acquire(std::string_view name, int64_t now_ms,
                                                     int64_t ttl_ms) = 0;
  // Gives the lease up early; nothing when we no longer hold it under this token.
  virtual core::Result<void> release(std::string_view name, int64_t token) = 0;

  // Appends a change (seq assigned, growing).
  virtual core::Result<int64_t> publish(std::string_view subject, int64_t now_ms) = 0;
  // Changes with seq > after, oldest first, at most limit.
  virtual core::Result<std::vector<Change>> changes_since(int64_t after, size_t limit) = 0;
  // Forgets changes published before before_ms (a singleton job: nodes read the feed every
  // second, so an hour of it is plenty); returns how many went.
  virtual core::Result<size_t> trim_changes(int64_t before_ms) = 0;

  // The region's secret called name (the operator token, the tracking key: one value for
  // every node): candidate when none is stored yet (first writer wins, atomically), else the
  // stored one. Values are opaque text (the caller seals them with the master key).
  virtual core::Result<std::string> shared_secret(std::string_view name,
                                                  const std::string& candidate, int64_t now_ms) = 0;
};

class SingleNode final : public Cluster {
 public:
  explicit SingleNode(std::string node_id = "local") : id_(std::move(node_id)) {}
  const std::string& node_id() const override { return id_; }
  core::Result<std::optional<Lease>> acquire(std::string_view name, int64_t now_ms,
                                             int64_t ttl_ms) override;
  core::Result<void> release(std::string_view name, int64_t token) override;
  core::Result<int64_t> publish(std::string_view subject, int64_t now_ms) override;
  core::Result<std::vector<Change>> changes_since(int64_t after, size_t limit) override;
  core::Result<size_t> trim_changes(int64_t before_ms) override;
  core::Result<std::string> shared_secret(std::string_view name, const std::string& candidate,
                                          int64_t now_ms) override;

 private:
  static constexpr size_t kFeedKept = 10'000;  // older changes are trimmed
  const std::string id_;
  std::mutex mu_;
  LeaseTable leases_;
  std::vector<Change> feed_;
  int64_t next_seq_ = 1;
  std::vector<std::pair<std::string, std::string>> secrets_;
};

}  // namespace tern::store
