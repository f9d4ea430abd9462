// Captured mail of the sandbox route (SPEC §9, issue 13): messages of accounts on
// route=sandbox are kept here instead of being delivered, in the `captured` table (migration 8;
// open the Store first), raw bytes included (as signed and spooled).
//
// Invariants:
//  - Scoped: every read names the account; another account's id is "not found".
//  - Ids are random (128 bits, base32), so they tell nothing about other accounts' volume.
//  - add() is idempotent per (queue id, recipients): a delivery replayed after a crash (the
//    engine is at-least-once) keeps one copy.
//  - Retention is bounded: add() keeps at most max_per_account messages of the account (the
//    oldest go) and drops every message older than max_age_ms; prune() does the age part.
//  - Lists are newest first (captured_ms, id) with an opaque cursor; a page is one index range.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace tern::store {

struct CapturedMessage {
  std::string id;  // assigned by add()
  int64_t account_id = 0;
  std::string queue_id;
  std::vector<std::string> recipients;
  std::string sender;       // envelope sender
  std::string header_from;  // From header, for display
  std::string subject;      // decoded for display
  std::string message_id;   // Message-ID header
  int64_t size = 0;
  int64_t captured_ms = 0;
  std::string raw;  // only when asked for
};

struct CaptureRetention {
  size_t max_per_account = 1000;
  int64_t max_age_ms = 7LL * 24 * 3'600'000;
};

struct CapturedPage {
  std::vector<CapturedMessage> items;  // without raw
  std::string next_cursor;             // "" on the last page
};

class Captured {
 public:
  static core::Result<std::unique_ptr<Captured>> open(const std::string& db_path,
                                                      CaptureRetention retention = {});
  ~Captured();
  Captured(const Captured&) = delete;
  Captured& operator=(const Captured&) = delete;

  // Stores m (id and captured_ms 0 = now are filled in); the id of the stored copy.
  core::Result<std::string> add(CapturedMessage m, int64_t now_ms);
  // limit 1..1000; a cursor not from list() is a permanent error ("invalid cursor").
  core::Result<CapturedPage> list(int64_t account_id, size_t limit, const std::string& cursor);
  core::Result<std::optional<CapturedMessage>> get(int64_t account_id, const std::string& id,
                                                   bool with_raw);
  // Deletes what is older than max_age_ms; how many.
  core::Result<size_t> prune(int64_t now_ms);

 private:
  struct Impl;
  explicit Captured(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::store
