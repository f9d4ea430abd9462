// Durable webhook outbox (SPEC §5, issue 5): delivery reports and tracking events waiting to be
// POSTed to customers' URLs. The contract every backend keeps (SQLite: sqlite_backend.hpp,
// memory: memory_backend.hpp); several instances may share one outbox (the CLI and a server,
// later several nodes).
//
// Invariants:
//  - enqueue() returns only once the rows are durable: a report handed over survives kill -9.
//  - due() claims what it returns: a lease (next_attempt_ms = now + lease_ms, lease_owner = this
//    instance's owner, lease_token = a fresh fencing token) set in the same atomic step, so no
//    item is handed to two claimers (two instances, two threads, two nodes) while the lease
//    runs; an item claimed by a process or node that died is handed out again after the lease:
//    delivery is at least once.
//  - Fencing: mark_sent/mark_failed take the claims due() returned and change only rows whose
//    lease_owner and lease_token still match (compare-and-set), then end the lease. A holder
//    whose lease ran out and whose items were claimed again cannot overwrite the new holder's
//    result: its marks change nothing (they return how many rows they changed). The token is
//    63 random bits drawn per claim (unguessable, never 0) and never leaves the node: API and
//    console output do not show it, and no tenant input reaches a mark.
//  - A batch holds items of one account, kind, url and content_type: the group's max_per_batch
//    items due earliest (ties: lowest id), in id order. A claim reads one range of the partial
//    index webhook_outbox_claim (pending items by group and due time): items in back-off and
//    items already sent are never scanned, however many the group has (before migration 15 a
//    claim walked every sent and leased item of the account in id order: 4 ms a batch with
//    20,000 in the bench, and without bound with a sent history or a dead receiver's
//    back-off). Batches come oldest group first (the group whose oldest due item is oldest). The
//    SQL backends choose the groups among the kDueWindow items due earliest, so a claim costs one
//    bounded index range whatever the backlog; a group with nothing among them waits for a
//    later claim (the window moves on as items are sent).
//  - States: pending → sent, or pending → (retries) → failed when give_up. mark_* only change
//    pending items (a late mark of a settled item changes nothing).
//  - ids grow: a later enqueue gets higher ids (for_message and a batch are in id order).
//  - mark_and_claim() is the marks then due(). On SQLite one atomic step (one transaction, one
//    commit): all of it or, on an error, none of it. The base class's default (memory,
//    PostgreSQL: one transaction there measured slower, docs/performance.md) runs the calls in
//    turn: an error may leave earlier marks stored; a mark resent after that changes nothing
//    (the mark ended the lease).
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

// How many of the earliest-due items due() chooses its groups among (at least max_batches x
// max_per_batch).
constexpr size_t kDueWindow = 2'000;

// Per instance: who claims (the node id; several instances of one node are told apart by their
// tokens) and for how long.
struct OutboxOptions {
  std::string owner = "local";
  int64_t lease_ms = kOutboxLeaseMs;
};

// A fresh fencing token: 63 random bits, never 0 (0 = never claimed). libsodium initialized.
int64_t new_lease_token();

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
  // The claim this item was handed out under (filled by due(); internal, never shown).
  std::string lease_owner;
  int64_t lease_token = 0;
  // The idempotency key (issue 12, the node-local journal): enqueue() skips an item whose
  // non-empty key is stored already (webhook_outbox.item_key is unique). "" = none. Written,
  // not read back.
  std::string item_key = {};
};

// Puts a claimed batch (its items due earliest) in id order, as the contract hands it out.
void sort_by_id(std::vector<OutboxItem>& batch);

// The longest URL an item may have: what every way in accepts (report/target_policy,
// policy/options); the claim index (webhook_outbox_claim) keys on it, and a PostgreSQL btree
// entry holds at most ~2.7 kB.
constexpr size_t kMaxOutboxUrl = 2048;
// Every backend's enqueue check: invalid when an item has no URL or a longer one.
core::Result<void> check_item(const OutboxItem& item);
core::Result<void> check_items(const std::vector<OutboxItem>& items);

// What a mark names: an item and the token of the claim it came from.
struct OutboxClaim {
  int64_t id = 0;
  int64_t token = 0;
};

// One mark call of a round (mark_and_claim): mark_sent(claims, at_ms, code) when sent, else
// mark_failed(claims, at_ms = next attempt, error, give_up, code).
struct OutboxMark {
  bool sent = false;
  bool give_up = false;
  int64_t at_ms = 0;
  int code = 0;
  std::string error;
  std::vector<OutboxClaim> claims;
};

// What mark_and_claim did: per mark, how many rows it changed (as mark_sent/mark_failed
// return), and the batches it claimed (as due() returns).
struct OutboxRound {
  std::vector<size_t> marked;
  std::vector<std::vector<OutboxItem>> claimed;
};

struct OutboxPage {
  std::vector<OutboxItem> items;
  std::string next_cursor;  // "" on the last page
};

class Outbox {
 public:
  virtual ~Outbox() = default;

  // All rows in one atomic step; an item without a URL, or with one longer than kMaxOutboxUrl,
  // is invalid and fails the batch (check_items).
  // created_ms / next_attempt_ms 0 mean now_ms. An item whose item_key is stored already is
  // skipped (a replayed journal entry adds nothing twice).
  virtual core::Result<void> enqueue(const std::vector<OutboxItem>& items, int64_t now_ms) = 0;
  // Claims pending items with next_attempt_ms <= now_ms, grouped into at most max_batches
  // batches of at most max_per_batch (see invariants). Items whose url is in skip_urls are
  // neither claimed nor counted (the sender's hosts that cannot take a batch now); they stay
  // due for the next call.
  virtual core::Result<std::vector<std::vector<OutboxItem>>> due(
      int64_t now_ms, size_t max_batches, size_t max_per_batch,
      const std::vector<std::string>& skip_urls) = 0;
  core::Result<std::vector<std::vector<OutboxItem>>> due(int64_t now_ms, size_t max_batches,
                                                         size_t max_per_batch) {
    return due(now_ms, max_batches, max_per_batch, {});
  }
  // attempts+1, last_error cleared, next_attempt_ms = now_ms (the time it went out);
  // code: the HTTP status the attempt got (kept as last_code). Only pending items still held
  // under the claim (this owner, this token); returns how many it changed.
  virtual core::Result<size_t> mark_sent(const std::vector<OutboxClaim>& claims, int64_t now_ms,
                                         int code = 0) = 0;
  // attempts+1, last_error = error, last_code = code; state failed when give_up, else due at
  // next_attempt_ms. Fenced as mark_sent; returns how many it changed.
  virtual core::Result<size_t> mark_failed(const std::vector<OutboxClaim>& claims,
                                           int64_t next_attempt_ms, const std::string& error,
                                           bool give_up, int code = 0) = 0;
  // The webhook sender's store round: every mark in order (fenced exactly as mark_sent /
  // mark_failed), then due(now_ms, max_batches, max_per_batch, skip_urls) (max_batches 0: no
  // claim); atomic where the backend says so (see invariants).
  virtual core::Result<OutboxRound> mark_and_claim(const std::vector<OutboxMark>& marks,
                                                   int64_t now_ms, size_t max_batches,
                                                   size_t max_per_batch,
                                                   const std::vector<std::string>& skip_urls);
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
