#include "store/store_copy.hpp"

#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include "store/pg_db.hpp"
#include "store/pg_schema.hpp"
#include "store/sqlite_schema.hpp"

namespace tern::store {

namespace {

constexpr std::string_view kSqlite = "sqlite:";
constexpr size_t kFlushBytes = size_t{1} << 20;  // COPY data sent per chunk

struct SqliteClose {
  void operator()(sqlite3* d) const { sqlite3_close_v2(d); }
};
struct StmtFinalize {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using SqliteHandle = std::unique_ptr<sqlite3, SqliteClose>;
using SqliteStmt = std::unique_ptr<sqlite3_stmt, StmtFinalize>;

core::Error source_error(sqlite3* db, int rc, std::string_view what) {
  const char* msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string m = fmt::format("store copy: source: {}: {}", what, msg);
  if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT)
    return core::Error::corrupt(std::move(m));
  if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
    return core::Error::unavailable(std::move(m));
  return core::Error::invalid(std::move(m));
}

core::Result<SqliteStmt> prepare(sqlite3* db, const std::string& sql, std::string_view what) {
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &st, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(st);
    return source_error(db, rc, what);
  }
  return SqliteStmt(st);
}

std::string quoted(std::string_view name) {
  std::string out = "\"";
  for (char ch : name) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + "\"";
}

struct SourceTable {
  std::string name;
  std::vector<std::string> columns;  // in declaration order
  std::set<std::string> references;  // tables its foreign keys point at
  bool has_rowid = true;
};

struct TargetColumn {
  std::string type;  // information_schema data_type: bigint, text, bytea
  bool identity = false;
};

// The source's tables (schema_version and SQLite's own excepted), by name.
core::Result<std::map<std::string, SourceTable>> source_tables(sqlite3* db) {
  std::map<std::string, SourceTable> out;
  auto list = prepare(db,
                      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                      "'sqlite\\_%' ESCAPE '\\' AND name <> 'schema_version' ORDER BY name",
                      "list tables");
  if (!list) return list.error();
  int rc = SQLITE_DONE;
  while ((rc = sqlite3_step(list->get())) == SQLITE_ROW) {
    SourceTable t;
    t.name = reinterpret_cast<const char*>(sqlite3_column_text(list->get(), 0));
    out.emplace(t.name, std::move(t));
  }
  if (rc != SQLITE_DONE) return source_error(db, rc, "list tables");
  for (auto& [name, t] : out) {
    auto cols = prepare(db, "SELECT name FROM pragma_table_info(?1) ORDER BY cid", "columns");
    if (!cols) return cols.error();
    sqlite3_bind_text(cols->get(), 1, name.c_str(), -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(cols->get())) == SQLITE_ROW)
      t.columns.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(cols->get(), 0)));
    if (rc != SQLITE_DONE) return source_error(db, rc, "columns of " + name);
    auto fks = prepare(db, "SELECT \"table\" FROM pragma_foreign_key_list(?1)", "foreign keys");
    if (!fks) return fks.error();
    sqlite3_bind_text(fks->get(), 1, name.c_str(), -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(fks->get())) == SQLITE_ROW) {
      std::string ref = reinterpret_cast<const char*>(sqlite3_column_text(fks->get(), 0));
      if (ref != name) t.references.insert(std::move(ref));
    }
    if (rc != SQLITE_DONE) return source_error(db, rc, "foreign keys of " + name);
    // A WITHOUT ROWID table has no rowid to select.
    sqlite3_stmt* probe = nullptr;
    const std::string sql = "SELECT rowid FROM " + quoted(name) + " LIMIT 0";
    t.has_rowid = sqlite3_prepare_v2(db, sql.c_str(), -1, &probe, nullptr) == SQLITE_OK;
    sqlite3_finalize(probe);
  }
  return out;
}

// Referenced tables before the tables that reference them (names break ties).
core::Result<std::vector<std::string>> copy_order(const std::map<std::string, SourceTable>& ts) {
  std::vector<std::string> order;
  std::set<std::string> done;
  while (order.size() < ts.size()) {
    bool progressed = false;
    for (const auto& [name, t] : ts) {
      if (done.contains(name)) continue;
      if (std::ranges::all_of(t.references, [&](const std::string& r) {
            return done.contains(r) || !ts.contains(r);
          })) {
        order.push_back(name);
        done.insert(name);
        progressed = true;
      }
    }
    if (!progressed)
      return core::Error::invalid("store copy: source: the tables' foreign keys form a cycle");
  }
  return order;
}

core::Result<std::map<std::string, std::map<std::string, TargetColumn>>> target_tables(
    pg::Conn& c) {
  auto r = c.exec(
      "SELECT c.table_name, c.column_name, c.data_type, c.is_identity FROM "
      "information_schema.columns c JOIN information_schema.tables t ON t.table_schema = "
      "c.table_schema AND t.table_name = c.table_name WHERE c.table_schema = current_schema() "
      "AND t.table_type = 'BASE TABLE' AND c.table_name <> 'schema_version'",
      "read the target's columns");
  if (!r) return r.error();
  std::map<std::string, std::map<std::string, TargetColumn>> out;
  for (int i = 0; i < r->size(); ++i)
    out[r->text(i, 0)][r->text(i, 1)] = TargetColumn{r->text(i, 2), r->view(i, 3) == "YES"};
  return out;
}

// The target column list for one table and, per column, what to select from the source.
struct Plan {
  std::string table;
  std::vector<std::string> columns;     // target columns, in source order (+ rowid)
  std::vector<std::string> select;      // source expressions, same order
  std::vector<std::string> types;       // target types, same order
  std::vector<std::string> identities;  // target identity columns
};

core::Result<Plan> plan_table(const SourceTable& s,
                              const std::map<std::string, TargetColumn>& target) {
  Plan p;
  p.table = s.name;
  for (const auto& col : s.columns) {
    auto it = target.find(col);
    if (it == target.end())
      return core::Error::invalid(fmt::format(
          "store copy: the schemas differ: column {}.{} is in the source only", s.name, col));
    p.columns.push_back(col);
    p.select.push_back(quoted(col));
    p.types.push_back(it->second.type);
    if (it->second.identity) p.identities.push_back(col);
  }
  for (const auto& [col, tc] : target) {
    if (std::ranges::find(s.columns, col) != s.columns.end()) continue;
    // PostgreSQL's stand-in for SQLite's implicit rowid (pg_schema.cpp): keep the values.
    if (col == "rowid" && s.has_rowid) {
      p.columns.push_back(col);
      p.select.push_back("rowid");
      p.types.push_back(tc.type);
      if (tc.identity) p.identities.push_back(col);
      continue;
    }
    return core::Error::invalid(fmt::format(
        "store copy: the schemas differ: column {}.{} is in the target only", s.name, col));
  }
  return p;
}

// COPY text format: backslash, newline, carriage return and tab escaped.
void append_escaped(std::string& out, std::string_view v) {
  for (char ch : v) {
    switch (ch) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += ch;
    }
  }
}

// One source value as a COPY text field of the target type; false when it cannot be one.
bool append_value(std::string& out, sqlite3_stmt* st, int col, const std::string& type) {
  const int kind = sqlite3_column_type(st, col);
  if (kind == SQLITE_NULL) {
    out += "\\N";
    return true;
  }
  if (type == "bigint" || type == "integer" || type == "smallint") {
    if (kind != SQLITE_INTEGER) return false;
    out += std::to_string(sqlite3_column_int64(st, col));
    return true;
  }
  const auto* data = static_cast<const char*>(sqlite3_column_blob(st, col));
  const std::string_view bytes(data != nullptr ? data : "",
                               static_cast<size_t>(sqlite3_column_bytes(st, col)));
  if (type == "bytea") {
    static constexpr char hex[] = "0123456789abcdef";
    out += "\\\\x";  // bytea's hex input "\x..", its backslash escaped for COPY
    for (unsigned char b : bytes) {
      out += hex[b >> 4];
      out += hex[b & 15];
    }
    return true;
  }
  // Text as the PostgreSQL backend stores it (pg_db.hpp: storable_text).
  append_escaped(out, pg::storable_text(bytes));
  return true;
}

core::Result<int64_t> copy_table(sqlite3* src, pg::Conn& dst, const Plan& p) {
  std::string cols, sel;
  for (size_t i = 0; i < p.columns.size(); ++i) {
    cols += (i ? ", " : "") + quoted(p.columns[i]);
    sel += (i ? ", " : "") + p.select[i];
  }
  auto st = prepare(src, fmt::format("SELECT {} FROM {}", sel, quoted(p.table)), "read " + p.table);
  if (!st) return st.error();
  const std::string what = "copy " + p.table;
  if (auto r = dst.copy_begin(fmt::format("COPY {} ({}) FROM STDIN", quoted(p.table), cols), what);
      !r)
    return r.error();
  std::string buf;
  int64_t rows = 0;
  std::string bad;  // why the copy is aborted
  int rc = SQLITE_DONE;
  while (bad.empty() && (rc = sqlite3_step(st->get())) == SQLITE_ROW) {
    for (size_t i = 0; i < p.columns.size(); ++i) {
      if (i) buf += '\t';
      if (!append_value(buf, st->get(), static_cast<int>(i), p.types[i])) {
        bad = fmt::format("store copy: {}.{}: a value that is not an integer (source row {})",
                          p.table, p.columns[i], rows + 1);
        break;
      }
    }
    buf += '\n';
    ++rows;
    if (bad.empty() && buf.size() >= kFlushBytes) {
      if (auto r = dst.copy_put(buf, what); !r) {
        (void)dst.copy_end(what, "store copy: send failed");
        return r.error();
      }
      buf.clear();
    }
  }
  if (bad.empty() && rc != SQLITE_DONE) bad = source_error(src, rc, "read " + p.table).message;
  if (!bad.empty()) {
    (void)dst.copy_end(what, "store copy: aborted");
    return core::Error::invalid(bad);
  }
  if (!buf.empty()) {
    if (auto r = dst.copy_put(buf, what); !r) {
      (void)dst.copy_end(what, "store copy: send failed");
      return r.error();
    }
  }
  auto n = dst.copy_end(what);
  if (!n) return n.error();
  if (*n != rows)
    return core::Error::internal(
        fmt::format("store copy: {}: sent {} rows, PostgreSQL took {}", p.table, rows, *n));
  return rows;
}

// SQLite's AUTOINCREMENT high-water mark of a table (0 without one): ids above the largest
// present one may have been used and deleted, and must not come back.
core::Result<int64_t> autoincrement_mark(sqlite3* src, const std::string& table) {
  sqlite3_stmt* probe = nullptr;
  if (sqlite3_prepare_v2(src, "SELECT seq FROM sqlite_sequence WHERE name = ?1", -1, &probe,
                         nullptr) != SQLITE_OK) {
    sqlite3_finalize(probe);
    return int64_t{0};  // no AUTOINCREMENT table in this file
  }
  SqliteStmt st(probe);
  sqlite3_bind_text(st.get(), 1, table.c_str(), -1, SQLITE_TRANSIENT);
  int rc = sqlite3_step(st.get());
  if (rc == SQLITE_ROW) return sqlite3_column_int64(st.get(), 0);
  if (rc == SQLITE_DONE) return int64_t{0};
  return source_error(src, rc, "read sqlite_sequence");
}

core::Result<void> advance_identities(sqlite3* src, pg::Conn& dst, const Plan& p) {
  for (const auto& col : p.identities) {
    auto mark = autoincrement_mark(src, p.table);
    if (!mark) return mark.error();
    // setval(seq, n, true): the next id is n + 1; on an empty table (n = 0) the next is 1.
    const std::string sql = fmt::format(
        "SELECT setval(pg_get_serial_sequence(quote_ident(current_schema()) || '.' || "
        "quote_ident($1), $2), GREATEST(COALESCE(MAX({0}), 0), $3, 1), GREATEST(COALESCE(MAX({0}), "
        "0), $3) > 0) FROM {1}",
        quoted(col), quoted(p.table));
    if (auto r = dst.exec(sql, pg::Params::of(p.table, col, *mark), "advance " + p.table + " ids");
        !r)
      return r.error();
  }
  return core::ok();
}

core::Result<SqliteHandle> open_source(const std::string& path) {
  struct stat sb {};
  if (::stat(path.c_str(), &sb) != 0 || !S_ISREG(sb.st_mode))
    return core::Error::not_found(fmt::format("store copy: source {} does not exist", path));
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  SqliteHandle db(raw);
  if (rc != SQLITE_OK) return source_error(raw, rc, "open " + path);
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, 5000);
  return db;
}

core::Result<int64_t> source_version(sqlite3* db) {
  auto has = prepare(db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'schema_version'",
                     "look for schema_version");
  if (!has) return has.error();
  int rc = sqlite3_step(has->get());
  if (rc != SQLITE_ROW) return source_error(db, rc, "look for schema_version");
  if (sqlite3_column_int64(has->get(), 0) == 0)
    return core::Error::invalid(
        "store copy: the source is not a Tern store (no schema_version table)");
  auto v = prepare(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version", "schema version");
  if (!v) return v.error();
  rc = sqlite3_step(v->get());
  if (rc != SQLITE_ROW) return source_error(db, rc, "read schema version");
  return sqlite3_column_int64(v->get(), 0);
}

}  // namespace

std::string redact_store_url(std::string_view url) {
  std::string out(url);
  // userinfo: scheme://user:secret@host
  if (auto scheme = out.find("://"); scheme != std::string::npos) {
    const size_t start = scheme + 3;
    const size_t end = out.find_first_of("/?#", start);
    const size_t at = out.rfind('@', end == std::string::npos ? out.size() : end);
    if (at != std::string::npos && at > start) {
      const size_t colon = out.find(':', start);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // password=... in the query (or a key=value connection string)
  for (size_t pos = 0; (pos = out.find("password=", pos)) != std::string::npos;) {
    const size_t v = pos + 9;
    const size_t end = out.find_first_of("& ", v);
    out.replace(v, (end == std::string::npos ? out.size() : end) - v, "***");
    pos = v + 3;
  }
  return out;
}

core::Result<CopyReport> copy_store(const std::string& from, const std::string& to) {
  if (!from.starts_with(kSqlite) || from.size() == kSqlite.size())
    return core::Error::invalid("store copy: --from must be sqlite:PATH");
  if (!to.starts_with("postgres://") && !to.starts_with("postgresql://"))
    return core::Error::invalid("store copy: --to must be a postgres:// URL");
  const std::string path = from.substr(kSqlite.size());
  const auto newest = static_cast<int64_t>(sqlite::migrations().size());

  auto src = open_source(path);
  if (!src) return src.error();
  sqlite3* s = src->get();
  // One read transaction from the first read to the last: a snapshot, whatever a running
  // node commits meanwhile (WAL readers never block the writer).
  if (int rc = sqlite3_exec(s, "BEGIN", nullptr, nullptr, nullptr); rc != SQLITE_OK)
    return source_error(s, rc, "begin read");
  auto version = source_version(s);
  if (!version) return version.error();
  if (*version != newest)
    return core::Error::invalid(fmt::format(
        "store copy: the source is at schema version {}, this program at {}: {}", *version, newest,
        *version < newest ? "start the node once with this program (it migrates), stop it, copy"
                          : "use the program that wrote it"));
  auto tables = source_tables(s);
  if (!tables) return tables.error();
  auto order = copy_order(*tables);
  if (!order) return order.error();

  auto conn = pg::Conn::connect(to);
  if (!conn) return conn.error().context("store copy: target");
  pg::Conn& c = *conn;
  // A fresh database gets this program's schema first (its own transactions, like any node).
  if (auto r = pg::migrate(c); !r) return r.error().context("store copy: target");
  auto target_version = pg::schema_version(c);
  if (!target_version) return target_version.error();
  if (*target_version != newest)
    return core::Error::invalid(
        fmt::format("store copy: the target is at schema version {}, this program and the "
                    "source at {}",
                    *target_version, newest));

  pg::Txn txn(c);
  if (auto r = txn.begin(); !r) return r.error();
  auto target = target_tables(c);
  if (!target) return target.error();
  for (const auto& [name, cols] : *target)
    if (!tables->contains(name))
      return core::Error::invalid(
          fmt::format("store copy: the schemas differ: table {} is in the target only", name));
  std::vector<Plan> plans;
  for (const auto& name : *order) {
    auto it = target->find(name);
    if (it == target->end())
      return core::Error::invalid(
          fmt::format("store copy: the schemas differ: table {} is in the source only", name));
    auto p = plan_table(tables->at(name), it->second);
    if (!p) return p.error();
    plans.push_back(std::move(p).value());
  }

  // Nobody writes while we look and fill: nodes started early wait for the commit.
  std::string all;
  for (const auto& p : plans) all += (all.empty() ? "" : ", ") + quoted(p.table);
  if (auto r = c.exec("LOCK TABLE " + all + " IN ACCESS EXCLUSIVE MODE", "lock the target"); !r)
    return r.error();
  for (const auto& p : plans) {
    auto r = c.exec(fmt::format("SELECT EXISTS (SELECT 1 FROM {})", quoted(p.table)),
                    "look into " + p.table);
    if (!r) return r.error();
    if (r->view(0, 0) == "t")
      return core::Error::conflict(
          fmt::format("store copy: the target already holds data (table {} has rows); it must "
                      "be a database no node has used",
                      p.table));
  }
  // The rows arrive as they were: the triggers that count events and log changes would
  // count them twice (stats_hourly, change_log are copied too). Foreign keys stay checked.
  for (const auto& p : plans)
    if (auto r = c.exec(fmt::format("ALTER TABLE {} DISABLE TRIGGER USER", quoted(p.table)),
                        "pause triggers on " + p.table);
        !r)
      return r.error();

  CopyReport report;
  report.schema_version = newest;
  for (const auto& p : plans) {
    auto n = copy_table(s, c, p);
    if (!n) return n.error();
    if (auto r = advance_identities(s, c, p); !r) return r.error();
    report.tables.push_back({p.table, *n});
  }
  for (const auto& p : plans)
    if (auto r = c.exec(fmt::format("ALTER TABLE {} ENABLE TRIGGER USER", quoted(p.table)),
                        "resume triggers on " + p.table);
        !r)
      return r.error();
  if (auto r = txn.commit(); !r) return r.error().context("store copy: commit");
  sqlite3_exec(s, "COMMIT", nullptr, nullptr, nullptr);
  return report;
}

}  // namespace tern::store
