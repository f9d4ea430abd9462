// The store's records: what the repositories (repositories.hpp) keep and the services
// (store.hpp) hand to callers. Plain values, no behaviour; the same for every backend.
// Secrets never appear here in clear except where a field says so (shown once, or decrypted on
// request).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/events.hpp"
#include "core/outcome.hpp"
#include "dkim/algorithm.hpp"

namespace tern::store {

struct Account {
  int64_t id = 0;
  std::string name;  // unique, [a-z0-9][a-z0-9._-]{0,63}
  std::string code;  // short stable code used in DNS names (delegated DKIM)
  int64_t created_ms = 0;
};

struct CreatedAccount {
  Account account;
  std::string username;  // SMTP username (the account name)
  std::string password;  // shown once
};

struct ApiKey {
  int64_t account_id = 0;
  std::string prefix;  // first 12 characters of the key: "tern_" + 7; enough to name it
  int64_t created_ms = 0;
  int64_t revoked_ms = 0;  // 0 while active
};

struct Domain {
  int64_t account_id = 0;
  std::string domain;
  bool verified = false;
};

// --- Sending domains and DKIM keys (SPEC §3) ---
// A key set is two selector slots (1 and 2) of RSA keys, plus Ed25519 keys on the same slots
// when the domain asks for a second signature. Direct domains own their key set (owner = the
// domain); delegated domains share their account's set (owner = ""), published by the platform.
struct DkimKey {
  int64_t account_id = 0;
  std::string owner;     // domain (direct) or "" (the account's delegated set)
  int slot = 1;          // 1 or 2
  std::string selector;  // "tern1", "tern2"; Ed25519: "tern1e", "tern2e"
  dkim::Algorithm algorithm = dkim::Algorithm::rsa_sha256;
  std::string public_b64;   // p= value
  std::string private_pem;  // filled only when asked for (decrypted), else empty
  int64_t version = 0;      // unique per key ever stored; a new key gets a new version
  int64_t created_ms = 0;
};

// The last definitive DNS check of one record ("ownership", "spf", "dkim:tern1", "dmarc").
// A DNS record's check result, by name only at the edges (stored rows, JSON, the CLI):
// parse_record_status(to_string(v)) == v; anything else is nullopt. error (DNS failed for now:
// no verdict) is a check's answer only, never stored.
enum class RecordStatus : uint8_t { pending, ok, missing, wrong, error };

constexpr std::string_view to_string(RecordStatus s) {
  switch (s) {
    case RecordStatus::pending:
      return "pending";
    case RecordStatus::ok:
      return "ok";
    case RecordStatus::missing:
      return "missing";
    case RecordStatus::wrong:
      return "wrong";
    case RecordStatus::error:
      return "error";
  }
  return "pending";
}
constexpr std::optional<RecordStatus> parse_record_status(std::string_view s) {
  for (RecordStatus v : {RecordStatus::pending, RecordStatus::ok, RecordStatus::missing,
                         RecordStatus::wrong, RecordStatus::error})
    if (to_string(v) == s) return v;
  return std::nullopt;
}

struct RecordState {
  std::string id;
  RecordStatus status = RecordStatus::pending;  // pending, ok, missing, wrong (never error)
  std::string found;                            // what DNS held when not ok
  int64_t checked_ms = 0;
};

struct DomainDetail {
  int64_t account_id = 0;
  std::string domain;
  bool verified = false;
  std::string dkim_mode = "direct";  // "direct" or "delegated"
  bool ed25519 = false;              // also sign with Ed25519 (second signature)
  std::string token;                 // ownership token: TXT "tern-verification=<token>"
  int active_slot = 1;               // selector slot signing uses
  int next_slot = 0;                 // slot a rotation waits on (0: none)
  int64_t checked_ms = 0;            // last check, 0 = never
  int64_t created_ms = 0;            // when the claim was made (older claims come first)
  std::vector<RecordState> records;  // by id, sorted
  const RecordState* record(std::string_view id) const {
    for (const auto& r : records)
      if (r.id == id) return &r;
    return nullptr;
  }
};

// What a check writes back. verified only ever goes false -> true here (ownership, once shown,
// stays proven; the operator override is add_domain(..., verified)).
struct DomainCheckUpdate {
  std::string domain;
  int64_t account_id = 0;  // whose claim (0: the verified one, else the oldest)
  bool verified = false;
  int active_slot = 1;
  int next_slot = 0;
  int64_t checked_ms = 0;
  std::vector<RecordState> records;  // definitive results only; others keep their state
  // What the check saw, so a rotation or key change committed meanwhile (the CLI next to the
  // server) is not overwritten: slots change only if next_slot is still seen_next_slot (-1:
  // unconditionally), and a "dkim:<selector>" state is saved only if that selector's key is
  // still the version the check compared DNS against.
  int seen_next_slot = -1;
  std::vector<std::pair<std::string, int64_t>> key_versions;  // selector -> version
};

struct Sender {
  int64_t account_id = 0;
  std::string address;
  bool verified = false;
};

// One recipient's outcome of one delivery attempt (or a local decision, or a tracking or
// webhook event), kept for reports and the message's history.
struct DeliveryEvent {
  int64_t time_ms = 0;
  std::string queue_id;
  int64_t account_id = 0;
  std::string recipient;
  core::EventKind event = core::EventKind::accepted;
  int attempt = 0;       // the recipient's attempt count after this outcome
  int code = 0;          // remote reply code, 0 = none
  std::string enhanced;  // "5.1.1"
  std::string reply;     // remote reply text or local reason
  std::string mx_host;
  bool tls = false;
  core::Phase phase = core::Phase::none;  // where it happened
  // For reports only (carried in memory from the engine to the report pipeline; not stored
  // in delivery_events): our address on the delivery connection ("" without one) and when
  // the recipient's first attempt ended (0 = none).
  std::string sending_ip = {};
  int64_t first_attempt_ms = 0;
  // The idempotency key (issue 12, the node-local journal): a second event with the same
  // non-empty key is not stored (delivery_events.event_key is unique). "" = none. Written,
  // not read back.
  std::string key = {};
};

// An SMTP login of an account (the account name is the first; more can be made for the API).
struct Credential {
  int64_t account_id = 0;
  std::string username;
  int64_t created_ms = 0;
};

struct CreatedCredential {
  std::string username;
  std::string password;  // shown once
};

// What opening a registered-sender verification link did.
struct SenderVerification {
  enum class Status { verified, unknown, expired } status = Status::unknown;
  Sender sender;  // set when verified or expired
};

// An account's suspension (issue 13): while it exists the account cannot send or use the API
// with its own keys; the reason is shown to it.
struct Suspension {
  int64_t account_id = 0;
  std::string reason;
  int64_t since_ms = 0;  // when the suspension began (a new reason keeps it)
};

// A console cookie session as stored (issue 13): the SHA-256 of its secret, never the secret.
struct SessionRow {
  std::string id_hash;        // SHA-256 (hex) of the cookie value
  int64_t account_id = 0;     // 0: an operator session
  std::string api_key_hash;   // an account's session: SHA-256 of the API key that made it
  std::string operator_hash;  // an operator session: SHA-256 of the operator token then
  int64_t created_ms = 0;
  int64_t last_seen_ms = 0;
  int64_t expires_ms = 0;  // the absolute end
};

// A one-time operator login code as stored (its SHA-256, never the code).
struct LoginCodeRow {
  std::string code_hash;
  int64_t created_ms = 0;
  int64_t expires_ms = 0;
};

// One hourly delivery counter (issue 13): how many events of a kind an account had in an hour.
struct StatsCount {
  int64_t hour_ms = 0;  // start of the UTC hour
  std::string event;    // the event kind as core::to_string(EventKind) spells it
  int64_t n = 0;
};

// A message of the sandbox route, kept instead of delivered (SPEC §9, issue 13).
struct CapturedMessage {
  std::string id;  // random (128 bits, base32), assigned when stored
  int64_t account_id = 0;
  std::string queue_id;
  std::vector<std::string> recipients;
  std::string sender;       // envelope sender
  std::string header_from;  // From header, for display
  std::string subject;      // decoded for display
  std::string message_id;   // Message-ID header
  int64_t size = 0;
  int64_t captured_ms = 0;
  std::string raw;  // only when asked for
};

// An address an account will not send to again (a hard bounce, or added by the customer).
struct Suppression {
  int64_t account_id = 0;
  std::string address;   // as the recipient was given (domain lower-case)
  std::string reason;    // the bounce's summary ("550 5.1.1 ... (mx.example.com)")
  std::string queue_id;  // the message that bounced
  int64_t created_ms = 0;
};

// A key to sign with (DomainService::signing_keys): decrypted, ready for
// dkim::PrivateKey::from_pem; callers cache parsed keys by (domain, selector, version).
struct SigningKey {
  std::string domain;    // d=
  std::string selector;  // s=
  dkim::Algorithm algorithm = dkim::Algorithm::rsa_sha256;
  std::string private_pem;
  int64_t version = 0;  // changes whenever the key or selector changes (cache key)
};

}  // namespace tern::store
