// One call opens everything persistent, by URL, for the composition root (`tern serve`, the
// CLI) and for tests:
//   sqlite:PATH    the embedded default (<data>/tern.db): repositories, message log and outbox
//                  on one file (sqlite_backend.hpp)
//   memory:[NAME]  the in-memory backend (memory_backend.hpp); the same NAME in one process is
//                  one storage (two bundles over it act like two processes on one file)
//   postgres://user@host:port/db?...  (or postgresql://) PostgreSQL, a libpq URI: several
//                  nodes share one database (pg_backend.hpp, docs/cluster.md)
// The bundle owns the parts; `store` (the services) refers to `db`, so keep the bundle whole
// while the store is in use.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "store/auth_counts.hpp"
#include "store/cluster.hpp"
#include "store/domain_checks.hpp"
#include "store/message_log.hpp"
#include "store/node_commands.hpp"
#include "store/node_registry.hpp"
#include "store/outbox.hpp"
#include "store/repositories.hpp"
#include "store/store.hpp"

namespace tern::store {

struct BackendOptions {
  bool force = false;             // sqlite: open although the WAL looks lost (`tern serve --force`)
  std::string master_key;         // 32 bytes or "": seals secrets at rest (Store::set_master_key)
  std::string node_id = "local";  // also the outbox's lease owner
  int64_t outbox_lease_ms = kOutboxLeaseMs;  // how long a claimed webhook item stays claimed
  const core::Clock* clock = nullptr;        // the services' clock; null = the system clock
};

struct Backend {
  std::unique_ptr<Database> db;
  std::unique_ptr<Store> store;  // the services over db
  std::unique_ptr<MessageLog> messages;
  std::unique_ptr<Outbox> outbox;
  std::unique_ptr<Cluster> cluster;
  std::unique_ptr<NodeRegistry> nodes;  // which node runs from which data dir (node_registry.hpp)
  std::unique_ptr<DomainChecks> domain_checks;  // the DNS re-check queue (domain_checks.hpp)
  std::vector<int64_t> migrated;  // PostgreSQL: schema versions this open applied (for the log)
  // A region only (PostgreSQL): queue commands for the node that holds a message, and the AUTH
  // failure counts every node shares. Null on SQLite and memory: one node routes nothing and
  // counts AUTH failures in its own memory.
  std::unique_ptr<NodeCommands> node_commands;
  std::unique_ptr<AuthCountStore> auth_counts;
};

// An unknown scheme is invalid; the backend's own errors as they come (a truncated SQLite file
// is corrupt, a schema newer than this program a conflict).
core::Result<Backend> open_backend(const std::string& url, const BackendOptions& opt = {});

}  // namespace tern::store
