// `tern store copy`: moves a single node's SQLite store into an empty PostgreSQL database, so
// the installation can become a region (docs/cluster.md, "Moving a single node into a region").
//
// Invariants:
//  - Schema-driven: the tables and columns are read from both schemas (sqlite_master /
//    information_schema), never listed here; both must hold the same tables with the same
//    columns (PostgreSQL's domains.rowid stands for SQLite's implicit rowid), else nothing is
//    copied. Every row of every table moves with its values as they are: ids, versions,
//    sealed secrets (still sealed with the same master key), counters.
//  - The source is opened read-only and read in one read transaction: a consistent snapshot,
//    even while a node still writes to it. A file that is missing, not SQLite, not migrated by
//    Tern, or at another schema version than this program is refused.
//  - The target is migrated to this program's schema if it is fresh, must be at exactly that
//    version, and must hold no rows in any table. The whole copy is one PostgreSQL
//    transaction (tables locked, user triggers off while rows arrive, identity sequences set
//    past the copied ids and past SQLite's AUTOINCREMENT high-water marks): any error rolls it
//    back and the target is as it was.
//  - Errors and the report never carry the target URL's password (redact_store_url).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace tern::store {

struct CopiedTable {
  std::string table;
  int64_t rows = 0;
};

struct CopyReport {
  int64_t schema_version = 0;
  std::vector<CopiedTable> tables;  // in the order copied (referenced tables first)
};

// from: "sqlite:PATH"; to: "postgres://..." or "postgresql://...".
core::Result<CopyReport> copy_store(const std::string& from, const std::string& to);

// url without its password: the userinfo's ":secret@" and a "password=" parameter become
// "***". Other text is kept.
std::string redact_store_url(std::string_view url);

}  // namespace tern::store
