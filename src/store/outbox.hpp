// Durable webhook outbox (SPEC §5, issue 5): delivery reports and tracking events waiting to be
// POSTed to customers' URLs. The contract every backend keeps (SQLite: sqlite_backend.hpp,
// memory: memory_backend.hpp); several instances may share one outbox (the CLI and a server,
// later several nodes).
//
// Invariants:
//  - enqueue() returns only once the rows are durable: a report handed over survives kill -9.
//  - due() claims what it returns: a lease (next_attempt_ms = now + kOutboxLeaseMs) set in the
//    same atomic step, so no item is handed to two claimers (two instances, two threads) while
//    the lease runs; an item claimed by a process that died is handed out again after the
//    lease: delivery is at least once. mark_sent/mark_failed overwrite the lease.
//  - A batch holds items of one account, kind, url and content_type, oldest (lowest id) first;
//    batches come oldest group first (the group whose oldest due item is oldest).
//  - States: pending → sent, or pending → (retries) → failed when give_up. mark_* only change
//    pending items (a late mark of a settled item changes nothing).
//  - ids grow: a later enqueue gets higher ids (for_message and due order by id).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace tern::store {

enum class OutboxKind : uint8_t { report, tracking };  // notify URL / tracking URL
enum class OutboxState : uint8_t { pending, sent, failed };

constexpr std::string_view to_string(OutboxKind k) {
  return k == OutboxKind::tracking ? "tracking" : "report";
}
constexpr std::optional<OutboxKind> parse_outbox_kind(std::string_view s) {
  if (s == "report") return OutboxKind::report;
  if (s == "tracking") return OutboxKind::tracking;
  return std::nullopt;
}
constexpr std::string_view to_string(OutboxState s) {
  return s == OutboxState::sent ? "sent" : s == OutboxState::failed ? "failed" : "pending";
}
constexpr std::optional<OutboxState> parse_outbox_state(std::string_view s) {
  if (s == "pending") return OutboxState::pending;
  if (s == "sent") return OutboxState::sent;
  if (s == "failed") return OutboxState::failed;
  return std::nullopt;
}

// Longer than one POST may take ([webhooks] timeout_s covers redirects too); if a POST ever
// outlives it, the item may be sent twice, never lost.
constexpr int64_t kOutboxLeaseMs = 120'000;

struct OutboxItem {
  int64_t id = 0;  // assigned by enqueue
  int64_t account_id = 0;
  OutboxKind kind = OutboxKind::report;
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
  OutboxState state = OutboxState::pending;
  int last_code = 0;  // HTTP status of the last attempt, 0 = none
};

struct OutboxPage {
  std::vector<OutboxItem> items;
  std::string next_cursor;  // "" on the last page
};

class Outbox {
 public:
  virtual ~Outbox() = default;

  // All rows in one atomic step; an item without a URL is invalid and fails the batch.
  // created_ms / next_attempt_ms 0 mean now_ms.
  virtual core::Result<void> enqueue(const std::vector<OutboxItem>& items, int64_t now_ms) = 0;
  // Claims pending items with next_attempt_ms <= now_ms, grouped into at most max_batches
  // batches of at most max_per_batch (see invariants).
  virtual core::Result<std::vector<std::vector<OutboxItem>>> due(int64_t now_ms, size_t max_batches,
                                                                 size_t max_per_batch) = 0;
  // attempts+1, last_error cleared, next_attempt_ms = now_ms (the time it went out);
  // code: the HTTP status the attempt got (kept as last_code).
  virtual core::Result<void> mark_sent(const std::vector<int64_t>& ids, int64_t now_ms,
                                       int code = 0) = 0;
  // attempts+1, last_error = error, last_code = code; state failed when give_up, else due at
  // next_attempt_ms.
  virtual core::Result<void> mark_failed(const std::vector<int64_t>& ids, int64_t next_attempt_ms,
                                         const std::string& error, bool give_up, int code = 0) = 0;
  virtual core::Result<uint64_t> backlog() = 0;  // pending items
  // Earliest next_attempt_ms of a pending item, 0 when none (the sender's sleep).
  virtual core::Result<int64_t> next_due_ms() = 0;
  // Every item of a message (any state), by id: the message log shows webhook attempts.
  virtual core::Result<std::vector<OutboxItem>> for_message(const std::string& message_id) = 0;

  // --- The account's webhook history (console, issue 13) ---
  // Newest first (by id); limit 1..1000 else invalid; a cursor not from this list is invalid
  // ("invalid cursor"). Only the account's own items.
  virtual core::Result<OutboxPage> list(int64_t account_id, size_t limit,
                                        const std::string& cursor) = 0;
  virtual core::Result<std::optional<OutboxItem>> find(int64_t account_id, int64_t id) = 0;
  // Sends the item again now: a pending item becomes due at once, a given-up (failed) one
  // pending again with its attempts kept. false when the account has no such item or it was
  // already sent.
  virtual core::Result<bool> retry_now(int64_t account_id, int64_t id, int64_t now_ms) = 0;
};

}  // namespace tern::store
