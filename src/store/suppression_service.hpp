// The per-account suppression list (SPEC §4): addresses an account does not send to again.
// Backend-neutral rule over SuppressionRepo: addresses are kept and compared in canonical
// form (core::parse_mailbox: the domain lower-case, the local part exactly as given: local
// parts are case-sensitive by RFC 5321, and Tern produces lower-case domains everywhere), so
// "A@Example.COM" and "A@example.com" are one entry and "a@example.com" another. Something
// that is not an address is never listed (add refuses it, contains answers false).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "store/model.hpp"
#include "store/repositories.hpp"

namespace tern::store {

// The console's search (issue 13).
struct SuppressionQuery {
  int64_t account_id = 0;
  std::string q;       // substring of the address, ASCII case-insensitive ("" = any)
  std::string reason;  // substring of the reason, ASCII case-insensitive ("" = any)
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

class SuppressionService {
 public:
  static constexpr size_t kMaxBulk = 1000;

  SuppressionService(Database& db, const core::Clock& clock) : db_(db), clock_(clock) {}
  // Adds or refreshes (reason, queue_id, created_ms; 0 = now) the entry; invalid address →
  // invalid, unknown account → not_found.
  core::Result<void> add(const Suppression& s);
  // Newest first, then by address.
  core::Result<std::vector<Suppression>> list(int64_t account_id);
  // not_found when the address is not on the account's list.
  core::Result<void> remove(int64_t account_id, const std::string& address);
  core::Result<bool> contains(int64_t account_id, const std::string& address);
  // Which of addresses (as given) are on the list: one look-up for a whole message.
  core::Result<std::vector<std::string>> listed(int64_t account_id,
                                                const std::vector<std::string>& addresses);
  // Pages ordered by address; the cursor is the hex of a page's last address, so a page is one
  // range of the key (account, address). limit outside 1..1000, a search text over 320 (q) or
  // 200 (reason) bytes and a cursor not made here are invalid.
  core::Result<SuppressionPage> search(const SuppressionQuery& q);
  // Adds (reason, created_ms = now_ms, no queue id) and removes addresses in one transaction:
  // all valid changes or none. Addresses are stored in canonical form; the invalid ones are
  // reported (cut to 320 bytes) and skipped. More than kMaxBulk addresses is invalid; an
  // unknown account not_found.
  core::Result<BulkResult> bulk(int64_t account_id, const std::vector<std::string>& add,
                                const std::vector<std::string>& remove, const std::string& reason,
                                int64_t now_ms);

 private:
  Database& db_;
  const core::Clock& clock_;
};

}  // namespace tern::store
