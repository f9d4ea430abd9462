// The message log (SPEC §5 "every message keeps a log", issue 5): one row per recipient of every
// accepted message in the `messages` table (migration 4; open the Store first), with its
// per-recipient message id, bulk id, callback data and latest status. Reports, the API's
// message search and tracking read it; the delivery events themselves stay in
// `delivery_events` (Store::record_events / events_for).
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
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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
  std::string status = "accepted";  // accepted deferred delivered bounced expired rejected
  std::string callback_data;
  std::string options_json = "{}";  // the message's X-IB options (notify URL, format, ...)
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
};

std::string make_message_id(const std::string& queue_id, int rcpt_index);

struct MessageQuery {
  int64_t account_id = 0;  // 0 = all accounts (operator only)
  std::string recipient;   // exact (domain case-insensitive)
  std::string bulk_id;
  std::string status;
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

// The SQL MessageLog::search runs for q (placeholders unbound), for query-plan tests: every
// filter the API offers must be an index range (migration 7), never a scan.
std::string message_search_sql(const MessageQuery& q);

class MessageLog {
 public:
  static core::Result<std::unique_ptr<MessageLog>> open(const std::string& db_path);
  ~MessageLog();
  MessageLog(const MessageLog&) = delete;
  MessageLog& operator=(const MessageLog&) = delete;

  // All in one transaction; existing message ids are left as they are. Thread-safe.
  core::Result<void> record_accepted(const std::vector<MessageRecord>& records);
  struct StatusUpdate {
    std::string message_id;
    std::string status;
    int64_t time_ms = 0;
  };
  core::Result<void> update_status(const std::vector<StatusUpdate>& updates);
  core::Result<std::optional<MessageRecord>> find(const std::string& message_id);
  // Every recipient row of a queue id, by rcpt_index.
  core::Result<std::vector<MessageRecord>> for_queue(const std::string& queue_id);
  // A cursor that is not one of ours is a permanent error ("invalid cursor").
  core::Result<MessagePage> search(const MessageQuery& q);

 private:
  struct Impl;
  explicit MessageLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::store
