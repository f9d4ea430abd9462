// The PostgreSQL backend's entry points (a region of nodes sharing one database: issue 12,
// docs/cluster.md); open_backend("postgres://...") in backend.hpp is how the composition root
// uses them. One connection pool per node (pg_pool.hpp) serves the repositories, the message
// log, the outbox and the cluster seam; the schema is migrated on open (pg_schema.hpp: the first
// node to start applies each migration, the others wait for it).
//
// Invariants (the same contract as SQLite, repositories.hpp):
//  - A write Tx takes a transaction-scoped advisory lock first: write transactions of one
//    database run one at a time across every node, as BEGIN IMMEDIATE does on SQLite, so the
//    services' read-modify-write rules (claim quotas, the settings merge) hold cluster-wide. It
//    waits at most 5 s (lock_timeout), then fails as unavailable.
//  - A read Tx is REPEATABLE READ READ ONLY: one consistent snapshot, and writing is refused
//    before anything is sent.
//  - Text is stored as PostgreSQL text can hold it (pg_db.hpp: U+FFFD for NUL and malformed
//    UTF-8); orders are byte orders (COLLATE "C").
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "store/auth_counts.hpp"
#include "store/cluster.hpp"
#include "store/domain_checks.hpp"
#include "store/message_log.hpp"
#include "store/node_commands.hpp"
#include "store/node_registry.hpp"
#include "store/outbox.hpp"
#include "store/repositories.hpp"

namespace tern::store {

struct PgOptions {
  size_t pool_size = 8;
  std::string node_id = "local";
  int64_t outbox_lease_ms = kOutboxLeaseMs;
  // Whose clock arbitrates cluster leases: the database's (every node the same, in production)
  // or the caller's now_ms (tests with fixed times).
  enum class LeaseClock { database, caller };
  LeaseClock lease_clock = LeaseClock::database;
};

struct PgParts {
  std::unique_ptr<Database> db;
  std::unique_ptr<MessageLog> messages;
  std::unique_ptr<Outbox> outbox;
  std::unique_ptr<Cluster> cluster;             // the region's leases, change feed and secrets
  std::unique_ptr<NodeRegistry> nodes;          // which node runs where (node_registry.hpp)
  std::unique_ptr<DomainChecks> domain_checks;  // the DNS re-check queue every node works
  std::vector<int64_t> migrated;  // the schema versions this open applied (pg_schema.hpp)
  std::unique_ptr<NodeCommands> node_commands;  // queue commands for the node holding a message
  std::unique_ptr<AuthCountStore> auth_counts;  // AUTH failure counts of every node
};

// Connects (unavailable when the server cannot be reached; invalid for a malformed URL),
// migrates, and opens every part over one pool.
core::Result<PgParts> open_pg_backend(const std::string& url, const PgOptions& opt = {});

}  // namespace tern::store
