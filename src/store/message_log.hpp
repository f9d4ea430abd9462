// The message log (SPEC §5 "every message keeps a log", issue 5): one row per recipient of every
// accepted message, with its per-recipient message id, bulk id, callback data and latest
// status. Reports, the API's message search and tracking read it; the delivery events
// themselves stay in the event log (Store::events).
//
// Message ids: "<queue_id>.<rcpt_index>" — stable, unique, and the queue id is recoverable.
//
// Invariants:
//  - record_accepted() is idempotent per message_id (a replayed spool entry after a crash adds
//    nothing twice).
//  - Searches are scoped: account_id 0 means every account (operator), otherwise only that
//    account's rows are ever returned.
//  - Pagination is by an opaque cursor (newest first: created_ms DESC, message_id DESC); a
//    cursor from one query used with another filter gives no row of another account.
//  - Recipients are kept and searched in canonical form (domain lower-case; local part as
//    given), so a recipient search is exact on the local part and case-blind on the domain.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/events.hpp"
#include "core/result.hpp"

namespace tern::store {

struct MessageRecord {
  std::string message_id;  // "<queue_id>.<rcpt_index>"
  std::string queue_id;
  int rcpt_index = 0;
  int64_t account_id = 0;
  std::string bulk_id;
  std::string sender;  // envelope sender
  std::string recipient;
  std::string header_from;
  std::string subject;
  core::MessageStatus status = core::MessageStatus::accepted;
  std::string callback_data;
  std::string options_json = "{}";  // the message's X-IB options (notify URL, format, ...)
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  // The node that accepted it and holds it in its spool (issue 12: queue commands go there);
  // as recorded, "" for rows from before nodes had ids.
  std::string node_id;
};

std::string make_message_id(const std::string& queue_id, int rcpt_index);

struct MessageQuery {
  int64_t account_id = 0;  // 0 = all accounts (operator only)
  std::string recipient;   // exact (domain case-insensitive)
  std::string bulk_id;
  std::optional<core::MessageStatus> status;
  std::string queue_id;
  int64_t from_ms = 0;  // created_ms >= from_ms (0 = no bound)
  int64_t to_ms = 0;    // created_ms < to_ms (0 = no bound)
  size_t limit = 50;    // 1..1000
  std::string cursor;   // from a previous page's next_cursor; "" = first page
};

struct MessagePage {
  std::vector<MessageRecord> items;
  std::string next_cursor;  // "" when this is the last page
};

// The message log's contract; backends: SQLite (sqlite_backend.hpp), memory (memory_backend.hpp).
// Every method is thread-safe and is one atomic step (a batch is all or nothing).
class MessageLog {
 public:
  virtual ~MessageLog() = default;

  // All in one transaction; existing message ids are left as they are (a replay adds nothing).
  // A row with an empty or overlong message id (message_log_rules.hpp) is invalid and fails
  // the batch.
  virtual core::Result<void> record_accepted(const std::vector<MessageRecord>& records) = 0;
  struct StatusUpdate {
    std::string message_id;
    core::MessageStatus status = core::MessageStatus::accepted;
    int64_t time_ms = 0;
  };
  // In order, in one transaction. A final status is never replaced and "accepted" never
  // replaces "deferred" (status_may_move); updated_ms only grows; unknown ids are skipped.
  virtual core::Result<void> update_status(const std::vector<StatusUpdate>& updates) = 0;
  virtual core::Result<std::optional<MessageRecord>> find(const std::string& message_id) = 0;
  // Every recipient row of a queue id, by rcpt_index.
  virtual core::Result<std::vector<MessageRecord>> for_queue(const std::string& queue_id) = 0;
  // Every recipient row of each queue id, grouped by queue id as for_queue orders them (the
  // report pipeline's batch: one query on PostgreSQL). An unknown id has an empty entry.
  virtual core::Result<std::unordered_map<std::string, std::vector<MessageRecord>>> for_queues(
      const std::vector<std::string>& queue_ids) {
    std::unordered_map<std::string, std::vector<MessageRecord>> out;
    for (const auto& q : queue_ids) {
      if (out.count(q)) continue;
      auto r = for_queue(q);
      if (!r) return r.error();
      out.emplace(q, std::move(r).value());
    }
    return out;
  }
  // Newest first (created_ms DESC, message_id DESC), limit rows, next_cursor when more. A
  // limit outside 1..1000 or a cursor that is not one of ours is invalid.
  virtual core::Result<MessagePage> search(const MessageQuery& q) = 0;
};

}  // namespace tern::store
