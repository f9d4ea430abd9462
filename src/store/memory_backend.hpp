// The in-memory backend: every store contract (repositories.hpp, message_log.hpp, outbox.hpp)
// kept in process memory. It is the fake the conformance suite runs next to SQLite (so it must
// behave exactly alike), and what unit tests of the upper floors may open instead of a file
// (open_backend("memory:")).
//
// Storages are named: opening the same non-empty name again in one process gives a second
// instance over the same storage (as two connections to one database file), which is how the
// conformance suite tests two instances claiming outbox items concurrently. An empty name is a
// fresh private storage. A storage lives while an instance of it does.
// Each storage is serialized by one mutex per part (database, message log, outbox); a write
// transaction works on a copy of the tables and swaps it in at commit, so a failed or
// abandoned transaction leaves nothing behind.
#pragma once
#include <memory>
#include <string>

#include "core/result.hpp"
#include "store/message_log.hpp"
#include "store/outbox.hpp"
#include "store/repositories.hpp"

namespace tern::store {

core::Result<std::unique_ptr<Database>> open_memory_database(const std::string& name);
core::Result<std::unique_ptr<MessageLog>> open_memory_message_log(const std::string& name);
core::Result<std::unique_ptr<Outbox>> open_memory_outbox(const std::string& name,
                                                         OutboxOptions opt = {});

}  // namespace tern::store
