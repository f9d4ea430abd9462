// Truncation guard for tern.db (issue 10 item 13). In WAL mode the newest committed
// transactions live only in tern.db-wal until a checkpoint copies them into tern.db. If that
// file is lost after an unclean stop (deleted by hand, left out of a copy), SQLite opens the
// older main file without a word: accounts, API keys, suppressions and settings silently go
// back in time. This guard turns that into a refusal to open.
//
// Mechanism (two facts, both kept on disk):
//  - Every connection keeps its WAL file when it closes (SQLITE_FCNTL_PERSIST_WAL, set in
//    sqlite::Db::open), so once a database has been opened, <db>-wal exists for good unless
//    something outside Tern removes it.
//  - `tern serve` creates <db>-running (fsync'd, directory fsync'd) once the store is open and
//    removes it after a clean stop, when every connection is closed (the last close
//    checkpoints the WAL into the main file).
// At open (server and CLI alike): marker present (the server did not stop cleanly) and
// database present but WAL missing → the transactions in the WAL may be gone → refuse
// (permanent error naming the files and the recovery step) unless the operator forces it.
// Not covered: a main file replaced by an older copy while the WAL stays (SQLite then ignores
// the mismatched WAL); a backup must copy tern.db and tern.db-wal together, or use
// `sqlite3 tern.db .backup`.
#pragma once
#include <string>

#include "core/result.hpp"

namespace tern::store::db_guard {

enum class Verdict { ok, wal_lost };

// The decision alone: the WAL is lost iff the database exists, the marker says the server did
// not stop cleanly, and the WAL file is missing.
Verdict judge(bool db_exists, bool marker_exists, bool wal_exists);

std::string marker_path(const std::string& db_path);  // <db>-running

// Looks at the files beside db_path; a permanent error when judge() says wal_lost.
// In-memory and URI paths are never checked.
core::Result<void> check(const std::string& db_path);
// The server is running on db_path (durably: file and directory fsync'd).
core::Result<void> mark_running(const std::string& db_path);
// The server stopped cleanly (every connection closed).
core::Result<void> mark_clean(const std::string& db_path);

}  // namespace tern::store::db_guard
