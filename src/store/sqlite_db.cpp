#include "store/sqlite_db.hpp"

#include <fmt/format.h>
#include <unistd.h>

namespace tern::store::sqlite {

core::Error to_error(sqlite3* db, int rc, std::string_view what) {
  const char* msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string m = fmt::format("store: {}: {}", what, msg != nullptr ? msg : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return core::Error::disk_full(std::move(m));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_NOMEM:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
      return core::Error::unavailable(std::move(m));
    case SQLITE_CONSTRAINT:
      return core::Error::conflict(std::move(m));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return core::Error::corrupt(std::move(m));
    default:
      return core::Error::internal(std::move(m));
  }
}

Db::~Db() {
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

Db& Db::operator=(Db&& o) noexcept {
  if (this != &o) {
    if (db_ != nullptr) sqlite3_close_v2(db_);
    db_ = o.db_;
    o.db_ = nullptr;
  }
  return *this;
}

core::Result<Db> Db::open(const std::string& path) {
  Db d;
  // NOMUTEX: the owner serializes access with its own mutex.
  int rc = sqlite3_open_v2(
      path.c_str(), &d.db_,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI, nullptr);
  if (rc != SQLITE_OK) {
    core::Error e = to_error(d.db_, rc, fmt::format("open {}", path));
    return e;
  }
  sqlite3_extended_result_codes(d.db_, 1);
  // Keep <db>-wal when the last connection closes: its absence then means someone removed it
  // (see store/db_guard.hpp). No effect on in-memory databases.
  int persist = 1;
  (void)sqlite3_file_control(d.db_, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
  return d;
}

core::Result<void> Db::exec(const char* sql, std::string_view what) const {
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return to_error(db_, rc, what);
  return core::ok();
}

Stmt::Stmt(const Db& db, std::string_view sql) : db_(db.get()) {
  prepare_rc_ = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &st_, nullptr);
}

Stmt::Stmt(StmtCache& cache, std::string_view sql) : db_(cache.db_.get()) {
  auto it = cache.idle_.find(sql);
  if (it == cache.idle_.end()) it = cache.idle_.emplace(std::string(sql), StmtCache::Slot{}).first;
  slot_ = &it->second;
  if (!slot_->empty()) {
    st_ = slot_->back();
    slot_->pop_back();
    return;
  }
  prepare_rc_ = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                   SQLITE_PREPARE_PERSISTENT, &st_, nullptr);
  if (prepare_rc_ != SQLITE_OK) {
    sqlite3_finalize(st_);
    st_ = nullptr;
    slot_ = nullptr;
  }
}

Stmt::~Stmt() {
  if (slot_ != nullptr && st_ != nullptr) {
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
    slot_->push_back(st_);
    return;
  }
  sqlite3_finalize(st_);
}

StmtCache::~StmtCache() {
  for (auto& [sql, slot] : idle_)
    for (sqlite3_stmt* st : slot) sqlite3_finalize(st);
}

Stmt& Stmt::bind(int idx, int64_t v) {
  if (st_ != nullptr && bind_rc_ == SQLITE_OK) bind_rc_ = sqlite3_bind_int64(st_, idx, v);
  return *this;
}

Stmt& Stmt::bind(int idx, std::string_view v) {
  if (st_ != nullptr && bind_rc_ == SQLITE_OK)
    bind_rc_ = sqlite3_bind_text64(st_, idx, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}

Stmt& Stmt::bind_static(int idx, std::string_view v) {
  if (st_ != nullptr && bind_rc_ == SQLITE_OK)
    bind_rc_ = sqlite3_bind_text64(st_, idx, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8);
  return *this;
}

Stmt& Stmt::bind_null(int idx) {
  if (st_ != nullptr && bind_rc_ == SQLITE_OK) bind_rc_ = sqlite3_bind_null(st_, idx);
  return *this;
}

core::Result<Db> Db::open_companion(const std::string& path, std::string_view table,
                                    std::string_view what, Sync sync) {
  // The Store creates the file (0600) and the schema; creating it here would give it the
  // process umask and no tables.
  if (path != ":memory:" && !path.starts_with("file:") && ::access(path.c_str(), F_OK) != 0)
    return core::Error::perm(std::string(what) + ": " + path + " does not exist (the Store " +
                             "creates it with the " + std::string(table) +
                             " table: open the store first)");
  auto db = Db::open(path);
  if (!db) return db.error();
  if (auto r =
          db->exec(sync == Sync::full ? "PRAGMA busy_timeout = 5000; PRAGMA synchronous = FULL"
                                      : "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL",
                   "set pragmas");
      !r)
    return r.error();
  Stmt s(*db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
  s.bind(1, table);
  const int rc = s.step();
  if (rc == SQLITE_DONE)
    return core::Error::perm(std::string(what) + ": " + path + " has no " + std::string(table) +
                             " table (open the store first)");
  if (rc != SQLITE_ROW) return s.error(rc, "schema check");
  return db;
}

void Stmt::reset() {
  if (st_ == nullptr) return;
  sqlite3_reset(st_);
  sqlite3_clear_bindings(st_);
  bind_rc_ = SQLITE_OK;
}

int Stmt::step() {
  if (prepare_rc_ != SQLITE_OK) return prepare_rc_;
  if (st_ == nullptr) return SQLITE_MISUSE;
  if (bind_rc_ != SQLITE_OK) return bind_rc_;
  return sqlite3_step(st_);
}

core::Result<void> Stmt::run(std::string_view what) {
  int rc = step();
  if (rc != SQLITE_DONE) return error(rc, what);
  return core::ok();
}

std::string Stmt::text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st_, col));
  if (p == nullptr) return {};
  return std::string(p, static_cast<size_t>(sqlite3_column_bytes(st_, col)));
}

Txn::~Txn() {
  if (open_) sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
}

core::Result<void> Txn::begin_immediate() {
  auto r = db_.exec("BEGIN IMMEDIATE", "begin transaction");
  if (r) open_ = true;
  return r;
}

core::Result<void> Txn::commit() {
  auto r = db_.exec("COMMIT", "commit");
  // A failed COMMIT (e.g. SQLITE_BUSY) leaves the transaction open; the destructor rolls back.
  if (r) open_ = false;
  return r;
}

}  // namespace tern::store::sqlite
