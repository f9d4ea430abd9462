#include "store/backend.hpp"

#include <atomic>

#include "store/memory_backend.hpp"
#include "store/pg_backend.hpp"
#include "store/sqlite_backend.hpp"

namespace tern::store {

namespace {

constexpr std::string_view kSqlite = "sqlite:";
constexpr std::string_view kMemory = "memory:";

core::Result<Backend> finish(std::unique_ptr<Database> db, std::unique_ptr<MessageLog> messages,
                             std::unique_ptr<Outbox> outbox,
                             std::unique_ptr<DomainChecks> domain_checks,
                             std::unique_ptr<NodeRegistry> nodes, const BackendOptions& opt,
                             std::unique_ptr<Cluster> cluster = nullptr) {
  Backend b;
  b.db = std::move(db);
  b.store = opt.clock ? std::make_unique<Store>(*b.db, *opt.clock) : std::make_unique<Store>(*b.db);
  b.store->set_master_key(opt.master_key);
  b.messages = std::move(messages);
  b.outbox = std::move(outbox);
  b.domain_checks = std::move(domain_checks);
  b.nodes = std::move(nodes);
  b.cluster = cluster ? std::move(cluster) : std::make_unique<SingleNode>(opt.node_id);
  return b;
}

OutboxOptions outbox_options(const BackendOptions& opt) {
  return OutboxOptions{.owner = opt.node_id, .lease_ms = opt.outbox_lease_ms};
}

}  // namespace

core::Result<Backend> open_backend(const std::string& url, const BackendOptions& opt) {
  if (url.starts_with(kSqlite)) {
    const std::string path = url.substr(kSqlite.size());
    if (path.empty()) return core::Error::invalid("store URL sqlite: needs a path");
    // The Database first: it creates the file (0600) and the schema the others need.
    auto db = open_sqlite_database(path, {opt.force});
    if (!db) return db.error();
    auto log = open_sqlite_message_log(path);
    if (!log) return log.error().context("message log");
    auto outbox = open_sqlite_outbox(path, outbox_options(opt));
    if (!outbox) return outbox.error().context("outbox");
    auto checks = open_sqlite_domain_checks(path);
    if (!checks) return checks.error().context("domain re-checks");
    auto nodes = open_sqlite_node_registry(path);
    if (!nodes) return nodes.error().context("node registry");
    return finish(std::move(db).value(), std::move(log).value(), std::move(outbox).value(),
                  std::move(checks).value(), std::move(nodes).value(), opt);
  }
  if (url.starts_with(kMemory)) {
    std::string name = url.substr(kMemory.size());
    if (name.empty()) {  // a private storage, shared by this bundle's parts only
      static std::atomic<uint64_t> n{0};
      name = "\x01private-" + std::to_string(++n);
    }
    auto db = open_memory_database(name);
    if (!db) return db.error();
    auto log = open_memory_message_log(name);
    if (!log) return log.error();
    auto outbox = open_memory_outbox(name, outbox_options(opt));
    if (!outbox) return outbox.error();
    auto checks = open_memory_domain_checks(name);
    if (!checks) return checks.error();
    auto nodes = open_memory_node_registry(name);
    if (!nodes) return nodes.error();
    return finish(std::move(db).value(), std::move(log).value(), std::move(outbox).value(),
                  std::move(checks).value(), std::move(nodes).value(), opt);
  }
  if (url.starts_with("postgres://") || url.starts_with("postgresql://")) {
    auto parts = open_pg_backend(
        url, PgOptions{.node_id = opt.node_id, .outbox_lease_ms = opt.outbox_lease_ms});
    if (!parts) return parts.error();
    auto migrated = std::move(parts->migrated);
    auto b = finish(std::move(parts->db), std::move(parts->messages), std::move(parts->outbox),
                    std::move(parts->domain_checks), std::move(parts->nodes), opt,
                    std::move(parts->cluster));
    if (b) {
      b->migrated = std::move(migrated);
      b->node_commands = std::move(parts->node_commands);
      b->auth_counts = std::move(parts->auth_counts);
    }
    return b;
  }
  // The URL is not echoed: a postgres URL may carry a password.
  return core::Error::invalid(
      "unknown store URL scheme (sqlite:PATH, postgres://user@host:port/db or memory:)");
}

}  // namespace tern::store
