// Sans-IO SMTP submission server session (RFC 5321, 3207, 4954, 1870, 6152, 2920, 2034, 6531).
//
// The session owns the protocol: command parsing, order, replies, limits, the DATA decoder and
// the header section of each message. It does no I/O and keeps no clock: the driver feeds it
// bytes and events and carries out the actions it returns, in order.
//
// Invariants:
//  - Replies are produced only in answer to input; pipelined commands are answered in order.
//    An action that needs the outside world (Authenticate, CommitMessage, StartTls) suspends
//    input processing until its on_* result arrives; bytes fed meanwhile are buffered.
//  - Input buffered outside DATA never exceeds the command line limit (+ one read chunk).
//  - Message content is handed out as MessageData chunks as it arrives (never held whole).
//    The first chunk is the final header section (Received added, X-IB-* and the fields
//    policy::apply_header_rules removes dropped, Message-ID/Date added); body chunks
//    follow. AbortMessage discards what was handed out.
//  - After StartTls, bytes that arrived in the same read as STARTTLS are discarded
//    (RFC 3207 §4.2 injection defence) and the session returns to the pre-EHLO state.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/result.hpp"
#include "policy/account_context.hpp"
#include "policy/suspended_accounts.hpp"

namespace tern::smtp {

struct SessionConfig {
  std::string hostname = "localhost";
  size_t max_message_size = 20971520;  // SIZE; data beyond it is read and discarded → 552
  size_t max_recipients = 1000;        // → 452 4.5.3
  size_t max_command_line = 512;       // octets including CRLF → 500 5.5.2
  size_t max_text_line = 998;          // octets excluding CRLF; longer → 550 5.6.0 at end
  size_t max_header_bytes = 262144;    // header section size cap
  size_t max_header_count = 1000;      // header field count cap
  int max_auth_failures = 3;           // then 421 4.7.0 and close
  int max_bad_commands = 20;           // unknown/bad commands before 421 and close
  bool tls_available = true;           // STARTTLS offered when not yet in TLS
  bool implicit_tls = false;           // connection is already TLS (port 465)
  bool allow_plaintext_auth = false;   // AUTH before TLS (operator opt-in, e.g. loopback)
  bool require_header_rcpts = true;    // operator switch for the To/Cc-in-RCPT rule
  // Suspended accounts (issue 13): AUTH as one, or MAIL from one, is answered
  // 550 5.7.1 "Account suspended: <reason>". null: none is.
  const policy::SuspendedAccounts* suspended = nullptr;
};

struct ConnectionInfo {
  std::string remote_ip;
  uint16_t remote_port = 0;
  std::string local_ip;
  uint16_t local_port = 0;
  // Set when the client is in a trusted network mapped to an account (no AUTH needed).
  std::shared_ptr<const policy::AccountContext> trusted_account;
};

// --- Actions the driver carries out ---------------------------------------------------------
struct SendReply {
  std::string bytes;
};                        // one or more complete CRLF-terminated reply lines
struct StartTls {};       // the 220 was already sent: handshake, then on_tls()
struct Authenticate {     // verify, then on_auth()
  std::string mechanism;  // "PLAIN" or "LOGIN"
  std::string authzid, username, password;
};
struct BeginMessage {
  std::string queue_id;
};                    // DATA accepted: open a spool writer
struct MessageData {  // next piece of the final message content
  std::string bytes;
  // On the first piece only (the final header section): the message's X-IB-* options merged
  // over the account defaults, so the driver can choose the whole-message path (open/click
  // tracking) before any content is stored.
  std::optional<policy::MessageOptions> options;
};
struct AbortMessage {};  // drop the content handed out so far
struct Envelope {
  std::string queue_id;                 // chosen at DATA; also in Received and Message-ID
  std::string sender;                   // reverse-path, "" for <>
  std::vector<std::string> recipients;  // forward-paths in RCPT order, deduplicated
  bool smtputf8 = false;
  bool eightbit = false;
  std::string helo;
  policy::MessageOptions options;  // X-IB-* values merged over account defaults
  std::string message_id;          // Message-ID header value (as found or added)
  std::string header_from;         // address in the From header
  std::string subject;             // Subject, decoded for display (message log)
  uint64_t content_size = 0;       // bytes handed out in MessageData
};
struct CommitMessage {
  Envelope envelope;
};                // make durable, then on_commit()
struct Close {};  // after flushing replies, close the connection

using Action = std::variant<SendReply, StartTls, Authenticate, BeginMessage, MessageData,
                            AbortMessage, CommitMessage, Close>;

// --- Results of outside work ------------------------------------------------------------------
struct AuthResult {
  enum class Kind { ok, bad_credentials, rate_limited, temp_error } kind = Kind::bad_credentials;
  std::shared_ptr<const policy::AccountContext> account;  // set when ok
};
struct CommitResult {
  bool ok = false;
  std::string queue_id;  // when ok
  // When !ok: why, answered through smtp::reply_for (disk_full: 452 4.3.1, else 451 4.3.0).
  core::ErrorCode error = core::ErrorCode::unavailable;
  std::string defer_text;  // when !ok and not disk_full: the reply's text ("" = write error)
};

// The 552 text for a message over the size limit: the limit, and what it leaves for attachments
// after base64 (57 octets per 78 on the wire: 20 MiB allow about 14.6 MiB).
std::string size_limit_text(size_t max_message_size);

class ServerSession {
 public:
  ServerSession(SessionConfig cfg, ConnectionInfo conn, int64_t now_unix_seconds);
  ~ServerSession();
  ServerSession(const ServerSession&) = delete;
  ServerSession& operator=(const ServerSession&) = delete;

  // The greeting (220). Call once, first.
  std::vector<Action> start();
  // Bytes from the client. Returns the actions they cause (possibly none).
  std::vector<Action> feed(std::string_view bytes);
  // Bytes arrived before the greeting was sent (pre-greeting talk): 554 and close.
  std::vector<Action> early_talker();

  std::vector<Action> on_tls(bool ok);
  std::vector<Action> on_auth(const AuthResult& r);
  std::vector<Action> on_commit(const CommitResult& r);
  // The driver's deadline for the current command or data rate expired: 421 4.4.2 and close.
  std::vector<Action> on_timeout();
  // The server is stopping (SIGTERM): 421 4.3.2 and Close. Only between commands: the driver
  // lets a message in DATA finish first (an open transaction is aborted).
  std::vector<Action> on_shutdown();
  // The session took too long in total (slow clients): 421 4.4.2 and Close.
  std::vector<Action> on_session_limit();
  // Wall clock for Date/Received headers (seconds since epoch); driver sets it per message.
  void set_now(int64_t unix_seconds);

  // State the driver needs for deadlines: true while receiving DATA content.
  bool in_data() const;
  bool closed() const;
  bool tls_active() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::smtp
