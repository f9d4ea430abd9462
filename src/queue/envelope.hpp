// A queued message's envelope and per-recipient delivery state, as stored in the spool.
// The envelope is written once at commit; recipient state changes are appended later as
// updates, so delivery can record progress atomically without rewriting content.
#pragma once
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/events.hpp"

namespace tern::queue {

enum class RcptState { pending, delivered, deferred, bounced, expired, rejected };
const char* to_string(RcptState s);
bool is_final(RcptState s);  // delivered, bounced, expired, rejected
// Inverse of to_string; false for an unknown name.
bool parse_rcpt_state(std::string_view s, RcptState& out);
// The event an attempt that left a recipient in state s records (pending: deferred, the
// recipient waits for another attempt).
core::EventKind event_of(RcptState s);

struct Recipient {
  std::string address;
  RcptState state = RcptState::pending;
  int attempts = 0;
  int64_t next_attempt_ms = 0;   // when a deferred recipient is due
  std::string last_reply;        // remote reply or local reason of the last attempt
  int64_t first_attempt_ms = 0;  // when the first attempt's outcome arrived (0 = none yet):
                                 // the report's timeToFirstAttempt
};

struct QueuedMessage {
  std::string id;  // queue id (core::new_queue_id)
  int64_t account_id = 0;
  std::string account_name;
  std::string sender;  // envelope sender, "" for <>
  std::vector<Recipient> recipients;
  int64_t received_ms = 0;
  std::string client_ip;
  std::string helo;
  std::string message_id;  // Message-ID header value
  std::string header_from;
  std::string subject;  // Subject for display (RFC 2047 decoded, valid UTF-8), message log
  bool smtputf8 = false;
  bool eightbit = false;  // BODY=8BITMIME at submission: sent on with BODY=8BITMIME
  bool held = false;
  // Per-message options (X-IB-*), kept as JSON so later features add fields freely.
  std::string options_json = "{}";
  // Header fields put before the streamed content at commit (DKIM-Signature: computed only
  // once the whole body has passed). The stored message is prepend + content.
  std::string prepend;
  uint64_t content_size = 0;  // octets of streamed content (DATA records), without prepend
};

// What the delivery engine keeps of a queued message while it waits (tens of bytes): the
// envelope itself stays in the spool and is loaded when the message is due.
struct QueueEntry {
  std::string id;
  int64_t account_id = 0;
  int64_t received_ms = 0;
  int64_t due_ms = 0;  // earliest next attempt of a recipient that is not final (0 = now)
  bool held = false;
};
// The entry of a message; due_ms is INT64_MAX when every recipient is final.
QueueEntry summarize(const QueuedMessage& m);

// Reads a whole-number field of a stored JSON object strictly: absent → fallback; present but
// not an integer within [lo, hi] (a fraction, 1e10 for an int, a string, a negative count)
// → throws a nlohmann::json exception (a corrupt record, refused like any other), never a
// silently converted number.
int64_t int_field(const nlohmann::json& j, const char* key, int64_t lo, int64_t hi,
                  int64_t fallback);

void to_json(nlohmann::json& j, const Recipient& r);
void to_json(nlohmann::json& j, const std::vector<Recipient>& rcpts);
void from_json(const nlohmann::json& j, Recipient& r);
void to_json(nlohmann::json& j, const QueuedMessage& m);
void from_json(const nlohmann::json& j, QueuedMessage& m);

}  // namespace tern::queue
