// The shape of a migrated store schema, the same way for SQLite and PostgreSQL, so the two can
// be compared (pg_schema_test.cpp): tables with their columns (type class, NOT NULL), primary
// keys, unique constraints and indexes (columns, uniqueness, partial predicate, and the name of
// explicitly created indexes), foreign keys (columns, target, ON DELETE). Defaults and CHECK
// constraints are not compared. schema_version is bookkeeping, different by design; a
// PostgreSQL column named rowid stands in for SQLite's implicit one.
#pragma once
#include <algorithm>
#include <cctype>
#include <set>
#include <string>
#include <vector>

#include "store/pg_db.hpp"
#include "store/sqlite_db.hpp"

namespace tern::test {

using SchemaShape = std::set<std::string>;

inline std::string shape_type(std::string t) {
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
  if (t == "integer" || t == "bigint") return "integer";
  if (t == "blob" || t == "bytea") return "blob";
  return t;
}

// "(verified = 1)" and "verified = 1" and "verified=1" are one predicate, and so are
// "(event_key <> ''::text)" (PostgreSQL's rendering) and "event_key <> ''".
inline std::string shape_pred(std::string p) {
  std::string out;
  for (char c : p)
    if (c != '(' && c != ')' && c != ' ' && c != '\n') out += static_cast<char>(std::tolower(c));
  for (size_t at; (at = out.find("::text")) != std::string::npos;) out.erase(at, 6);
  return out;
}

inline std::string shape_join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

inline SchemaShape sqlite_shape(const store::sqlite::Db& db) {
  using store::sqlite::Stmt;
  SchemaShape out;
  std::vector<std::string> tables;
  {
    Stmt s(db,
           "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
           "AND name <> 'schema_version' ORDER BY name");
    while (s.step() == SQLITE_ROW) tables.push_back(s.text(0));
  }
  for (const auto& t : tables) {
    out.insert("table " + t);
    std::vector<std::pair<int64_t, std::string>> pk;
    {
      Stmt s(db, "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?)");
      s.bind(1, t);
      while (s.step() == SQLITE_ROW) {
        const bool notnull = s.int64(2) != 0 || s.int64(3) > 0;
        out.insert("column " + t + "." + s.text(0) + " " + shape_type(s.text(1)) +
                   (notnull ? " not null" : ""));
        if (s.int64(3) > 0) pk.emplace_back(s.int64(3), s.text(0));
      }
    }
    std::sort(pk.begin(), pk.end());
    std::vector<std::string> pkcols;
    for (auto& [i, c] : pk) pkcols.push_back(c);
    if (!pkcols.empty()) out.insert("primary key " + t + "(" + shape_join(pkcols) + ")");
    std::vector<std::tuple<std::string, bool, std::string>> idx;  // name, unique, origin
    {
      Stmt s(db, "SELECT name, \"unique\", origin FROM pragma_index_list(?)");
      s.bind(1, t);
      while (s.step() == SQLITE_ROW) idx.emplace_back(s.text(0), s.int64(1) != 0, s.text(2));
    }
    for (auto& [name, unique, origin] : idx) {
      if (origin == "pk") continue;
      std::vector<std::string> cols;
      {
        Stmt s(db, "SELECT name FROM pragma_index_info(?) ORDER BY seqno");
        s.bind(1, name);
        while (s.step() == SQLITE_ROW) cols.push_back(s.text(0));
      }
      std::string pred;
      {
        Stmt s(db, "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?");
        s.bind(1, name);
        if (s.step() == SQLITE_ROW && !s.is_null(0)) {
          std::string sql = s.text(0);
          auto w = sql.find(" WHERE ");
          if (w != std::string::npos) pred = shape_pred(sql.substr(w + 7));
        }
      }
      out.insert(std::string(unique ? "unique " : "index ") + t + "(" + shape_join(cols) + ")" +
                 (pred.empty() ? "" : " where " + pred) + (origin == "c" ? " named " + name : ""));
    }
    {
      Stmt s(db,
             "SELECT id, \"table\", \"from\", \"to\", on_delete FROM pragma_foreign_key_list(?) "
             "ORDER BY id, seq");
      s.bind(1, t);
      int64_t cur = -1;
      std::string target, del;
      std::vector<std::string> from, to;
      auto flush = [&] {
        if (cur >= 0)
          out.insert("foreign key " + t + "(" + shape_join(from) + ") -> " + target + "(" +
                     shape_join(to) + ") on delete " + del);
      };
      while (s.step() == SQLITE_ROW) {
        if (s.int64(0) != cur) {
          flush();
          cur = s.int64(0);
          from.clear();
          to.clear();
          target = s.text(1);
          std::string d = s.text(4);
          std::transform(d.begin(), d.end(), d.begin(),
                         [](unsigned char c) { return std::tolower(c); });
          del = d;
        }
        from.push_back(s.text(2));
        to.push_back(s.text(3));
      }
      flush();
    }
  }
  return out;
}

inline SchemaShape pg_shape(store::pg::Conn& c) {
  SchemaShape out;
  auto must = [](auto r) {
    if (!r) throw std::runtime_error(r.error().message);
    return std::move(r).value();
  };
  auto cols = must(c.exec(
      "SELECT c.table_name, c.column_name, c.data_type, c.is_nullable FROM "
      "information_schema.columns c JOIN pg_tables t ON t.schemaname = c.table_schema AND "
      "t.tablename = c.table_name WHERE c.table_schema = current_schema() AND c.table_name <> "
      "'schema_version'",
      "columns"));
  for (int i = 0; i < cols.size(); ++i) {
    out.insert("table " + cols.text(i, 0));
    // PostgreSQL's stand-in for SQLite's implicit rowid (pg_schema.cpp).
    if (cols.view(i, 1) == "rowid") continue;
    out.insert("column " + cols.text(i, 0) + "." + cols.text(i, 1) + " " +
               shape_type(cols.text(i, 2)) + (cols.view(i, 3) == "NO" ? " not null" : ""));
  }
  // Indexes with their columns in key order; the constraint they back, if any.
  auto idx = must(c.exec(
      "SELECT t.relname, i.relname, x.indisprimary, x.indisunique, "
      "  COALESCE(pg_get_expr(x.indpred, x.indrelid), ''), "
      "  (SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(x.indkey) WITH ORDINALITY "
      "     k(attnum, ord) JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = "
      "k.attnum), "
      "  EXISTS(SELECT 1 FROM pg_constraint con WHERE con.conindid = x.indexrelid) "
      "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = "
      "x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = "
      "current_schema() AND t.relname <> 'schema_version'",
      "indexes"));
  for (int i = 0; i < idx.size(); ++i) {
    const std::string t = idx.text(i, 0), name = idx.text(i, 1), colsv = idx.text(i, 5),
                      pred = shape_pred(idx.text(i, 4));
    if (idx.view(i, 2) == "t") {
      out.insert("primary key " + t + "(" + colsv + ")");
      continue;
    }
    const bool unique = idx.view(i, 3) == "t", constraint = idx.view(i, 6) == "t";
    out.insert(std::string(unique ? "unique " : "index ") + t + "(" + colsv + ")" +
               (pred.empty() ? "" : " where " + pred) + (constraint ? "" : " named " + name));
  }
  auto fks = must(c.exec(
      "SELECT t.relname, f.relname, "
      "  (SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(con.conkey) WITH "
      "     ORDINALITY k(attnum, ord) JOIN pg_attribute a ON a.attrelid = con.conrelid AND "
      "     a.attnum = k.attnum), "
      "  (SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(con.confkey) WITH "
      "     ORDINALITY k(attnum, ord) JOIN pg_attribute a ON a.attrelid = con.confrelid AND "
      "     a.attnum = k.attnum), "
      "  CASE con.confdeltype WHEN 'c' THEN 'cascade' WHEN 'n' THEN 'set null' WHEN 'd' THEN "
      "    'set default' WHEN 'r' THEN 'restrict' ELSE 'no action' END "
      "FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid JOIN pg_class f ON f.oid = "
      "con.confrelid JOIN pg_namespace n ON n.oid = t.relnamespace WHERE con.contype = 'f' AND "
      "n.nspname = current_schema()",
      "foreign keys"));
  for (int i = 0; i < fks.size(); ++i)
    out.insert("foreign key " + fks.text(i, 0) + "(" + fks.text(i, 2) + ") -> " + fks.text(i, 1) +
               "(" + fks.text(i, 3) + ") on delete " + fks.text(i, 4));
  return out;
}

}  // namespace tern::test
