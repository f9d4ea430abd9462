// The parts of the PostgreSQL backend (pg_backend.hpp) over one shared connection pool, for
// pg_backend.cpp to assemble; and small helpers they share. Not for other callers.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "store/auth_counts.hpp"
#include "store/cluster.hpp"
#include "store/domain_checks.hpp"
#include "store/message_log.hpp"
#include "store/node_commands.hpp"
#include "store/outbox.hpp"
#include "store/pg_pool.hpp"
#include "store/repositories.hpp"

namespace tern::store::pg {

std::unique_ptr<Database> make_database(std::shared_ptr<Pool> pool);
std::unique_ptr<MessageLog> make_message_log(std::shared_ptr<Pool> pool);
std::unique_ptr<Outbox> make_outbox(std::shared_ptr<Pool> pool, OutboxOptions opt);
std::unique_ptr<Cluster> make_cluster(std::shared_ptr<Pool> pool, std::string node_id,
                                      bool database_clock);
std::unique_ptr<DomainChecks> make_domain_checks(std::shared_ptr<Pool> pool);
std::unique_ptr<NodeCommands> make_node_commands(std::shared_ptr<Pool> pool);
std::unique_ptr<AuthCountStore> make_auth_counts(std::shared_ptr<Pool> pool);

// A bigint[] literal ("{1,2,3}") for `= ANY($n::bigint[])`: one statement for a set of ids.
std::string int_array(const std::vector<int64_t>& v);
// A text[] literal: every element double-quoted, '"' and '\\' escaped (any text is one element).
std::string text_array(const std::vector<std::string>& v);

}  // namespace tern::store::pg
