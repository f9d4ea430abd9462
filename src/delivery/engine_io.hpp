// The delivery engine's vocabulary (SPEC §4): what it is told (inputs, beside the Engine
// methods that take them) and what it asks its driver to do (actions). Values only: an
// action names the work; the driver (net/delivery_engine) does it on a pool and reports back
// through the matching input. Every action that has an answer names the input it answers with.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/outcome.hpp"
#include "delivery/bounce.hpp"
#include "delivery/route.hpp"
#include "queue/envelope.hpp"
#include "queue/spool.hpp"
#include "store/store.hpp"

namespace tern::delivery {

using ContentSource = queue::Spool::ContentSource;
using DeliveryEvent = store::DeliveryEvent;

// ---------------------------------------------------------------- actions

// Read these envelopes from the spool (and where their bytes lie) → Engine::envelopes_loaded.
struct LoadEnvelopes {
  std::vector<std::string> ids;
};
// Read the account's settings (with secrets) → Engine::settings_loaded.
struct LoadSettings {
  int64_t account_id = 0;
};
// One recipient to look up on its account's suppression list.
struct SuppressionQuery {
  std::string queue_id;
  uint32_t rcpt = 0;  // index in the message's recipients
  int64_t account_id = 0;
  std::string address;
  bool suppressed = false;  // the driver's answer
};
// Look every query up → Engine::suppression_checked with the answers. All of one message's
// queries are answered in the same call (the engine moves the message on then); one call may
// answer the queries of several CheckSuppression actions.
struct CheckSuppression {
  std::vector<SuppressionQuery> queries;
};
// Find the endpoints of a destination and keep them for Connect → Engine::resolved.
struct Resolve {
  Route route;  // route.dest names the destination
  uint64_t seed = 0;
};
// Open one delivery connection to dest with the endpoints its last Resolve found; the
// connection pulls with Engine::next_message(conn) and ends with connection_done(conn).
struct Connect {
  uint64_t conn = 0;
  std::string dest;
};
// Record these delivery events (store) and hand them to the reports, in the order given.
struct RecordEvents {
  std::vector<DeliveryEvent> events;
};
// Put an address on its account's suppression list (a hard bounce).
struct AddSuppression {
  int64_t account_id = 0;
  std::string address, reason, queue_id;
  int64_t time_ms = 0;
};
// Write a STATE record (recipients and held flag; msg carries id, recipients, held).
struct PersistState {
  queue::QueuedMessage msg;
};
// A message whose envelope is not in memory was held or released: read it, set held, write.
struct PersistHeld {
  std::string id;
  bool held = false;
};
// Write the DONE record: every recipient is final, or the operator deleted the message.
struct Finish {
  std::string id;
};
// Build and spool an RFC 3464 notice: in lacks only original_headers (the driver reads them
// from the original, which is still live: its Finish comes after this action), notice is the
// notice's envelope (id = the notice's queue id); once committed → Engine::submitted.
struct SpoolBounce {
  std::string original_id;
  BounceInput in;
  queue::QueuedMessage notice;
};

using Action =
    std::variant<LoadEnvelopes, LoadSettings, CheckSuppression, Resolve, Connect, RecordEvents,
                 AddSuppression, PersistState, PersistHeld, Finish, SpoolBounce>;

// ---------------------------------------------------------------- inputs' payloads

// One answer to LoadEnvelopes: the envelope and its bytes, or nothing (no longer in the spool).
struct LoadedEnvelope {
  std::string id;
  std::optional<queue::QueuedMessage> msg;
  std::shared_ptr<const ContentSource> content;  // null when it could not be had
  std::string error;                             // why content is null
};

// A message handed to a connection (Engine::next_message): the envelope to send and its bytes.
struct Handout {
  uint64_t handle = 0;   // give it back in message_done
  std::string queue_id;  // for logs and the sandbox's capture store
  std::string sender;
  std::vector<std::string> recipients;
  bool smtputf8 = false;
  bool eightbit = false;
  std::shared_ptr<const ContentSource> content;
};

// Operator commands (tern queue retry|hold|release|delete); id "" = every message.
struct Command {
  enum class Kind { retry, hold, release, remove } kind = Kind::retry;
  std::string id;
};
struct ControlReply {
  bool ok = false;
  size_t count = 0;     // messages affected
  std::string message;  // error text when !ok
  // ok, but not finished: in a region, the node holding the message has not answered yet.
  std::string note;
};

struct Counters {
  uint64_t delivered = 0, deferred = 0, bounced = 0, expired = 0, rejected = 0;
  uint64_t connections = 0, bounce_notices = 0;
  uint64_t queued_messages = 0;  // live messages the engine knows
  uint64_t active_messages = 0;  // of which the envelope is in memory (loaded or loading)
};

}  // namespace tern::delivery
