// Thin RAII layer over the SQLite C API: one connection, prepared statements, transactions,
// and the mapping of SQLite result codes onto core::Error (temporary vs permanent).
// Invariants: a Stmt never outlives its Db; a Txn that was not committed rolls back when it
// goes out of scope, so an early `return error` never leaves a transaction open.
// Write transactions use BEGIN IMMEDIATE: the write lock is taken up front, so two processes
// (server + CLI) queue on busy_timeout instead of failing with SQLITE_BUSY on lock upgrade.
#pragma once
#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.hpp"

namespace tern::store::sqlite {

// The one mapping of SQLite result codes onto error codes: full → disk_full; busy, locked,
// I/O, no memory, cannot open, protocol → unavailable (temporary: a retry may succeed);
// a unique or primary key taken, a foreign key to nothing → conflict, with a fixed text of
// ours (never SQLite's, which names tables and columns: a conflict's text reaches HTTP
// clients); other constraints (NOT NULL, CHECK, RAISE) → internal; corrupt, not a database →
// corrupt; anything else → internal.
core::Error to_error(sqlite3* db, int rc, std::string_view what);

class Db {
 public:
  Db() = default;
  ~Db();
  Db(Db&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  Db& operator=(Db&& o) noexcept;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Opens (creating if missing) a database file. The caller creates the file with the mode it
  // wants first; SQLite gives -wal and -shm the same mode as the main file.
  static core::Result<Db> open(const std::string& path);
  // Durability of a commit in WAL mode: full = fsync of the WAL at every commit (survives a
  // power failure); normal = only at checkpoints (a power failure may lose the last commits,
  // a process crash never does).
  enum class Sync { full, normal };
  // A second connection to a database the Store created (MessageLog, Outbox): the file and
  // `table` must exist (else a permanent error "...(open the store first)", and no file is
  // created); busy_timeout 5 s, synchronous as given (the file is already in WAL mode).
  static core::Result<Db> open_companion(const std::string& path, std::string_view table,
                                         std::string_view what, Sync sync);

  sqlite3* get() const { return db_; }
  // Runs one or more statements without results.
  core::Result<void> exec(const char* sql, std::string_view what) const;
  int64_t changes() const { return sqlite3_changes64(db_); }
  int64_t last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

 private:
  sqlite3* db_ = nullptr;
};

// Prepared statements of one connection kept for reuse, by SQL text: a statement the hot paths
// run again and again is parsed once per connection, not once per call. Not thread-safe: used
// under the same serialization as its connection. Destroy it before the Db.
class StmtCache {
 public:
  explicit StmtCache(const Db& db) : db_(db) {}
  ~StmtCache();
  StmtCache(const StmtCache&) = delete;
  StmtCache& operator=(const StmtCache&) = delete;
  const Db& db() const { return db_; }

 private:
  friend class Stmt;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  using Slot = std::vector<sqlite3_stmt*>;  // idle statements of one SQL text
  const Db& db_;
  std::unordered_map<std::string, Slot, Hash, std::equal_to<>> idle_;
};

class Stmt {
 public:
  Stmt(const Db& db, std::string_view sql);
  // From the cache (prepared on first use); reset and given back to it on destruction.
  Stmt(StmtCache& cache, std::string_view sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  // Preparation errors are reported by the first step(), so call sites stay linear.
  Stmt& bind(int idx, int64_t v);
  Stmt& bind(int idx, std::string_view v);  // length-delimited: embedded NULs stay data
  // Without a copy: v must stay valid until the statement is reset or destroyed.
  Stmt& bind_static(int idx, std::string_view v);
  Stmt& bind_null(int idx);

  // SQLITE_ROW, SQLITE_DONE, or an error code.
  int step();
  // step() expecting SQLITE_DONE; anything else becomes an Error.
  core::Result<void> run(std::string_view what);
  // Ready for the next row of a batch: resets the statement and clears bindings and the
  // sticky bind error (a preparation error stays).
  void reset();

  int64_t int64(int col) const { return sqlite3_column_int64(st_, col); }
  bool is_null(int col) const { return sqlite3_column_type(st_, col) == SQLITE_NULL; }
  std::string text(int col) const;

  core::Error error(int rc, std::string_view what) const { return to_error(db_, rc, what); }

 private:
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
  StmtCache::Slot* slot_ = nullptr;  // where a cached statement goes back
  int prepare_rc_ = SQLITE_OK;
  int bind_rc_ = SQLITE_OK;
};

class Txn {
 public:
  explicit Txn(const Db& db) : db_(db) {}
  ~Txn();
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  core::Result<void> begin_immediate();
  core::Result<void> commit();

 private:
  const Db& db_;
  bool open_ = false;
};

// The names the SQLite backend's tables use unqualified: `using namespace sqlite::names;` in a
// translation unit's anonymous namespace, one list instead of a using-block in each file.
namespace names {
using sqlite::Db;
using sqlite::Stmt;
using sqlite::Txn;
}  // namespace names

}  // namespace tern::store::sqlite
