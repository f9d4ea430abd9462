// Schema of the SQLite store as numbered migrations. Migration i (1-based) moves the file from
// version i-1 to i; each runs in its own BEGIN IMMEDIATE transaction together with the bump
// of schema_version, so a crash or a second process opening the file at the same moment never
// sees half a migration, and a migration is applied exactly once.
// Append new migrations at the end; never edit one that has shipped.
#pragma once
#include <span>

#include "core/result.hpp"
#include "store/sqlite_db.hpp"

namespace tern::store::sqlite {

std::span<const char* const> migrations();

// Brings the database up to the newest version; permanent error when the file is newer than
// this program.
core::Result<void> migrate(const Db& db);

}  // namespace tern::store::sqlite
