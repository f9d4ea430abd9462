// The operator's view of the delivery queue and its bulk actions (issue 13: the console's
// Queue page), as plain data and one small interface, so the API needs nothing of the engine
// but this and the engine exposes nothing of its internals. Pure apart from QueueControl,
// which the delivery engine implements (on its own thread; callers wait for it).
//
// Grouping and paging are pure functions here (unit-tested without an engine):
//  - group_queue(): one group per destination ("mx:example.com", "relay:7", "smarthost",
//    "sandbox:7") or per account; a message counts once in every group it has a live
//    (not final) recipient in; held messages count in `held`.
//  - page_queue(): the messages matching a filter, oldest first by (received_ms, id), after a
//    cursor, at most limit.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tern::delivery {

struct QueueRecipientView {
  std::string to;
  std::string state;  // pending, deferred (final ones are not in the queue view)
  int attempts = 0;
  int64_t next_attempt_ms = 0;
  std::string last_reply;
  std::string destination;  // the scheduler's destination key
};

struct QueueMessageView {
  std::string id;
  int64_t account_id = 0;
  std::string account_name;
  std::string sender;
  std::vector<QueueRecipientView> recipients;  // live recipients only
  int64_t received_ms = 0;
  bool held = false;
};

struct QueueGroup {
  std::string key;         // destination, or the account name (by account)
  int64_t account_id = 0;  // by account
  size_t messages = 0, recipients = 0, held = 0;
  int64_t oldest_ms = 0;
  int64_t next_attempt_ms = 0;  // earliest of a live recipient that is not held; 0 = none
};

struct QueueFilter {
  std::string destination;  // "" = any
  int64_t account_id = 0;   // 0 = any
  enum class State { any, queued, held } state = State::any;
  size_t limit = 50;
  // Cursor: the last message of the previous page.
  int64_t after_ms = -1;
  std::string after_id;
};

struct QueuePage {
  std::vector<QueueMessageView> items;
  bool more = false;  // there are messages after the last item
};

bool queue_matches(const QueueMessageView& m, const QueueFilter& f);
std::vector<QueueGroup> group_queue(const std::vector<QueueMessageView>& msgs, bool by_account);
QueuePage page_queue(std::vector<QueueMessageView> msgs, const QueueFilter& f);

// A bulk action on the messages a selector picks: ids, or every message with a live recipient
// for a destination, or every message of an account.
enum class QueueAction { retry, hold, release, remove };
struct QueueSelector {
  std::vector<std::string> ids;
  std::string destination;
  int64_t account_id = 0;
};
// A node of a region that holds messages an action picked and has not answered yet
// (app/queue_router.hpp): the command waits for it in the database until it runs or expires.
struct PendingNode {
  std::string node;
  bool alive = true;    // seen in the node registry recently (false: down, say so)
  int64_t command = 0;  // the node_commands row
};
struct QueueActionResult {
  bool ok = true;
  size_t count = 0;  // messages the action changed (on the nodes that answered)
  std::string message;
  std::vector<PendingNode> pending;  // a region: holders that have not answered in time
};

class QueueControl {
 public:
  virtual ~QueueControl() = default;
  // Every message in the queue, as views (the engine's thread copies them).
  virtual std::vector<QueueMessageView> queue_snapshot(const QueueFilter& f) = 0;
  virtual QueueActionResult queue_action(QueueAction a, const QueueSelector& s) = 0;
};

std::optional<QueueAction> parse_queue_action(const std::string& s);
const char* to_string(QueueAction a);  // retry, hold, release, delete

}  // namespace tern::delivery
