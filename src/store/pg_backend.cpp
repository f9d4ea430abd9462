#include "store/pg_backend.hpp"

#include "store/pg_parts.hpp"
#include "store/pg_schema.hpp"
#include "store/secrets.hpp"

namespace tern::store {

core::Result<PgParts> open_pg_backend(const std::string& url, const PgOptions& opt) {
  if (!secrets::init())
    return core::Error::unavailable("store: libsodium could not be initialized");
  auto pool = pg::Pool::open(url, pg::Pool::Options{.size = opt.pool_size});
  if (!pool) return pool.error();
  std::shared_ptr<pg::Pool> shared = std::move(pool).value();
  PgParts parts;
  {
    auto lease = shared->acquire();
    if (!lease) return lease.error();
    if (auto r = pg::migrate(lease->conn(), &parts.migrated); !r) return r.error();
  }
  parts.db = pg::make_database(shared);
  parts.messages = pg::make_message_log(shared);
  parts.outbox =
      pg::make_outbox(shared, OutboxOptions{.owner = opt.node_id, .lease_ms = opt.outbox_lease_ms});
  parts.cluster =
      pg::make_cluster(shared, opt.node_id, opt.lease_clock == PgOptions::LeaseClock::database);
  parts.nodes = pg::make_node_registry(shared);
  parts.domain_checks = pg::make_domain_checks(shared);
  parts.node_commands = pg::make_node_commands(shared);
  parts.auth_counts = pg::make_auth_counts(shared);
  return parts;
}

}  // namespace tern::store
