// Captured mail of the sandbox route (SPEC §9, issue 13): messages of accounts on
// route=sandbox are kept instead of being delivered, raw bytes included (as signed and
// spooled). The backend-neutral rules over CaptureRepo. Store::captured.
//
// Invariants:
//  - Scoped: every read names the account; another account's id is "not found".
//  - Ids are random (128 bits, base32), so they tell nothing about other accounts' volume.
//  - add() is idempotent per (queue id, recipients): a delivery replayed after a crash (the
//    engine is at-least-once) keeps one copy.
//  - Retention is bounded: add() keeps at most max_per_account messages of the account (the
//    oldest go) and drops every message older than max_age_ms, in its transaction; prune()
//    does the age part.
//  - Lists are newest first (captured_ms, id) with an opaque cursor; a page is one index range.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "store/model.hpp"
#include "store/repositories.hpp"

namespace tern::store {

struct CaptureRetention {
  size_t max_per_account = 1000;  // at least 1
  int64_t max_age_ms = 7LL * 24 * 3'600'000;
};

struct CapturedPage {
  std::vector<CapturedMessage> items;  // without raw
  std::string next_cursor;             // "" on the last page
};

class CaptureService {
 public:
  explicit CaptureService(Database& db) : db_(db) {}

  // Set by the composition root before the service is used.
  void set_retention(const CaptureRetention& r);
  const CaptureRetention& retention() const { return retention_; }

  // Stores m (id, size and captured_ms 0 = now are filled in); the id of the stored copy.
  // invalid without an account; not_found when the account does not exist.
  core::Result<std::string> add(CapturedMessage m, int64_t now_ms);
  // limit 1..1000; a cursor not from list() is invalid ("invalid cursor").
  core::Result<CapturedPage> list(int64_t account_id, size_t limit, const std::string& cursor);
  core::Result<std::optional<CapturedMessage>> get(int64_t account_id, const std::string& id,
                                                   bool with_raw);
  // Deletes what is older than max_age_ms; how many.
  core::Result<size_t> prune(int64_t now_ms);

 private:
  Database& db_;
  CaptureRetention retention_;
};

}  // namespace tern::store
