// The SQLite backend's entry points (the embedded default; open_backend("sqlite:PATH") in
// backend.hpp is how the composition root uses them). One file, <data>/tern.db, in WAL mode:
// the Store's connection creates it (mode 0600) and migrates it (sqlite_schema.hpp); the message
// log and the outbox open their own connections to it ("companions"), so their writes never
// queue behind each other's in this process, and other processes (the CLI next to a running
// server) open theirs.
#pragma once
#include <memory>
#include <string>

#include "core/result.hpp"
#include "store/message_log.hpp"
#include "store/outbox.hpp"
#include "store/repositories.hpp"

namespace tern::store {

struct SqliteOptions {
  // Open although store/db_guard says the WAL of an unclean stop is missing (the operator
  // accepts the loss: `tern serve --force`).
  bool force = false;
};

// The repositories on path (created 0600 and migrated when needed). Refuses (corrupt) a
// database that looks truncated (store/db_guard.hpp), and (conflict) one whose schema is newer
// than this program.
core::Result<std::unique_ptr<Database>> open_sqlite_database(const std::string& path,
                                                             SqliteOptions opt = {});

// Permanent error "...(open the store first)" when the file or its table does not exist.
core::Result<std::unique_ptr<MessageLog>> open_sqlite_message_log(const std::string& db_path);
core::Result<std::unique_ptr<Outbox>> open_sqlite_outbox(const std::string& db_path,
                                                         OutboxOptions opt = {});

// The SQL SqliteMessageLog::search runs for q (placeholders unbound), for query-plan tests:
// every filter the API offers must be an index range (migration 7), never a scan.
std::string message_search_sql(const MessageQuery& q);

}  // namespace tern::store
