// Durable webhook outbox (SPEC §5, issue 5): delivery reports and tracking events waiting to be
// POSTed to customers' URLs. Rows live in the `webhook_outbox` table of the store's SQLite file
// (migration 4; open the Store first so the schema exists); this class has its own connection,
// so the sender's writes never queue behind the API's or the SMTP path's.
//
// Invariants:
//  - enqueue() returns only once the rows are committed: a report handed over survives kill -9.
//  - due() never returns an item twice while it is pending unless mark_failed() rescheduled it
//    (one sender per process; it marks every batch it took before asking again). due() leases
//    what it returns (next_attempt_ms = now + 2 min), so an item taken by a process that died
//    is sent again after the lease: delivery is at least once.
//  - A batch holds items of one account, kind, url and content_type, oldest first.
//  - States: "pending" → "sent", or "pending" → (retries) → "failed" when give_up.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace tern::store {

struct OutboxItem {
  int64_t id = 0;  // assigned by enqueue
  int64_t account_id = 0;
  std::string kind;  // "report" (notify URL) or "tracking" (tracking URL)
  std::string url;
  std::string content_type;  // "application/json" or "application/xml" (reports only)
  std::string message_id;    // per-recipient message id ("<queue_id>.<index>")
  std::string queue_id;      // for the message's event log
  std::string recipient;
  std::string item;  // one report result or tracking event, as a JSON object
  int64_t created_ms = 0;
  int64_t next_attempt_ms = 0;  // 0 at enqueue = now
  int attempts = 0;
  std::string last_error;
  std::string state = "pending";
  int last_code = 0;  // HTTP status of the last attempt, 0 = none
};

struct OutboxPage {
  std::vector<OutboxItem> items;
  std::string next_cursor;  // "" on the last page
};

class Outbox {
 public:
  static core::Result<std::unique_ptr<Outbox>> open(const std::string& db_path);
  ~Outbox();
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // All rows in one transaction. Thread-safe.
  core::Result<void> enqueue(const std::vector<OutboxItem>& items);
  // Pending items with next_attempt_ms <= now_ms, grouped into batches (see invariants).
  core::Result<std::vector<std::vector<OutboxItem>>> due(int64_t now_ms, size_t max_batches,
                                                         size_t max_per_batch);
  // code: the HTTP status the attempt got (kept as last_code).
  core::Result<void> mark_sent(const std::vector<int64_t>& ids, int64_t now_ms, int code = 0);
  // attempts+1, last_error = error; state "failed" when give_up, else next_attempt_ms.
  core::Result<void> mark_failed(const std::vector<int64_t>& ids, int64_t next_attempt_ms,
                                 const std::string& error, bool give_up, int code = 0);
  core::Result<uint64_t> backlog();  // pending items
  // Earliest next_attempt_ms of a pending item, 0 when none (the sender's sleep).
  core::Result<int64_t> next_due_ms();
  // Every item of a message (any state), oldest first: the message log shows webhook attempts.
  core::Result<std::vector<OutboxItem>> for_message(const std::string& message_id);

  // --- The account's webhook history (console, issue 13) ---
  // Newest first (by id); limit 1..1000; a cursor not from this list is "invalid cursor".
  core::Result<OutboxPage> list(int64_t account_id, size_t limit, const std::string& cursor);
  core::Result<std::optional<OutboxItem>> find(int64_t account_id, int64_t id);
  // Sends the item again now: a pending item becomes due at once, a given-up ("failed") one
  // pending again with its attempts kept. false when the account has no such item or it was
  // already sent.
  core::Result<bool> retry_now(int64_t account_id, int64_t id, int64_t now_ms);

 private:
  struct Impl;
  explicit Outbox(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::store
