// Suppression search and bulk changes (issue 13), over the `suppressions` table the Store owns
// (migration 3): the console's list with a substring search, and add/remove of many addresses
// in one transaction. Its own connection.
//
// Invariants:
//  - Scoped: every statement names the account.
//  - Search pages are ordered by address; the cursor is the hex of the last address (the same
//    form the plain list's pages use), so "after the cursor" is one range of the primary key
//    (account_id, address). A substring (q) or reason filter reads only that account's rows.
//  - bulk(): addresses are parsed (core::parse_mailbox) and stored in canonical form (domain
//    lower-case); the invalid ones are reported and skipped; all valid changes commit together
//    or none. At most kMaxBulk addresses per call.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "store/model.hpp"

namespace tern::store {

struct SuppressionQuery {
  int64_t account_id = 0;
  std::string q;       // substring of the address, case-insensitive ("" = any)
  std::string reason;  // substring of the reason, case-insensitive ("" = any)
  size_t limit = 50;   // 1..1000
  std::string cursor;  // "" = first page
};

struct SuppressionPage {
  std::vector<Suppression> items;
  std::string next_cursor;  // "" on the last page
};

struct BulkResult {
  size_t added = 0;    // added or refreshed
  size_t removed = 0;  // were listed and are gone
  std::vector<std::string> invalid;
};

class SuppressionList {
 public:
  static constexpr size_t kMaxBulk = 1000;

  static core::Result<std::unique_ptr<SuppressionList>> open(const std::string& db_path);
  ~SuppressionList();
  SuppressionList(const SuppressionList&) = delete;
  SuppressionList& operator=(const SuppressionList&) = delete;

  core::Result<SuppressionPage> search(const SuppressionQuery& q);
  core::Result<BulkResult> bulk(int64_t account_id, const std::vector<std::string>& add,
                                const std::vector<std::string>& remove, const std::string& reason,
                                int64_t now_ms);

 private:
  struct Impl;
  explicit SuppressionList(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::store
