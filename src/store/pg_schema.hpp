// Schema of the PostgreSQL store as numbered migrations, in step with the SQLite list
// (sqlite_schema.hpp): after migration i both backends have the same tables, columns, keys and
// indexes (tests/unit/store/pg_schema_test.cpp compares them), so a migration added to one list
// only fails the build's tests. Migrations 1-7 predate this backend and are folded into 1.
//
// Invariants:
//  - Each migration runs in its own transaction behind pg_advisory_xact_lock (keyed on the
//    schema), together with its schema_version row: nodes that start at once apply each exactly
//    once, and nobody ever sees half of one.
//  - Rolling upgrades are expand-then-contract: a migration that only adds (tables, nullable or
//    defaulted columns, indexes) keeps `compatible_from`, so binaries of the previous version
//    keep running against the new schema; one that removes or changes what older binaries use
//    raises it to its own number. A binary refuses a database whose version it does not know
//    unless that version's compatible_from is at most the binary's newest migration.
//  - Append new migrations at the end (and the same one to the SQLite list); never edit one
//    that has shipped.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "core/result.hpp"
#include "store/pg_db.hpp"

namespace tern::store::pg {

struct Migration {
  const char* sql;
  // The oldest schema version a binary must know to use a database at this version.
  int64_t compatible_from;
};

std::span<const Migration> migrations();

// Brings the connection's schema (the first of its search_path) up to the newest version.
// Permanent error when the database is newer than this program and not compatible with it.
// applied (when given) gets the versions this call applied, in order (nodes starting together
// each apply some: every version is applied by exactly one of them).
core::Result<void> migrate(Conn& c, std::vector<int64_t>* applied = nullptr);
// The version of the connection's schema (0 when it was never migrated).
core::Result<int64_t> schema_version(Conn& c);

}  // namespace tern::store::pg
