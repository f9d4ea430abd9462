// Sans-IO SMTP client session for delivery (RFC 5321; 3207 STARTTLS; 4954 AUTH PLAIN/LOGIN;
// 1870 SIZE; 6152 8BITMIME; 2920 PIPELINING; 2034 enhanced codes; 6531 SMTPUTF8).
//
// One session = one connection to one destination, carrying one or more messages. The driver
// feeds server bytes and events and carries out the returned actions in order; the session
// owns every protocol decision and yields an Outcome for every recipient it was handed.
//
// Flow: on_connected() → greeting → EHLO (HELO on 500/502) → STARTTLS per policy → EHLO again
// → AUTH when credentials are configured → NeedMessage. The driver answers with on_message()
// or on_no_more_messages() (→ QUIT). A message is MAIL, RCPTs, DATA (in one write when the
// server offers PIPELINING, replies matched in order), then NeedContent pulls the content in
// pieces (on_content) — the session never needs the whole message — then the final reply,
// MessageResult, and NeedMessage again. RSET precedes MAIL when the previous transaction did
// not end with the final-dot reply.
//
// Invariants:
//  - Every message handed in gets exactly one MessageResult with one Outcome per recipient,
//    in order; every connection that ends other than by our QUIT after on_no_more_messages
//    yields one ConnectionFailed (its Outcome applies to messages the driver still holds).
//    Close is the last action; afterwards only on_message answers (at once, a MessageResult
//    with the connection's failure), so a message handed in after the connection ended —
//    NeedMessage may precede ConnectionFailed/Close in one batch — is still settled.
//  - AUTH is never sent before TLS is active unless the policy is `none`.
//  - Wire form: only CRLF line ends (bare LF and bare CR in content are normalized to CRLF —
//    the spool already holds CRLF, so this only guards against a bug upstream and keeps the
//    promise "never a bare CR/LF on the wire"; rejecting would bounce mail we accepted), a
//    '.' at a line start is doubled (RFC 5321 §4.5.2), and content ends with CRLF before the
//    final ".\r\n" (added when the content does not end with a line end).
//  - Addresses with control characters, space, '<' or '>' never reach the wire (a local
//    permanent outcome instead): nothing handed in can inject a command.
//  - Server replies are bounded (ReplyParser limits); garbage, over-long lines or replies,
//    or a reply nobody asked for → protocol error: temporary outcome, Close without QUIT.
//  - A 421 reply, at any point, ends the connection (RFC 5321 §3.8) with that reply as the
//    outcome of everything unfinished. An error reply out of turn (while content streams)
//    ends it too, as a temporary outcome.
//  - While NeedMessage is outstanding, server bytes are only buffered (at most one reply
//    line; more is a protocol error) and read once the driver answers, so what they mean
//    depends on the command they answer. A server that closes an idle connection is seen
//    through on_closed (or its 421 is read as the answer to the next MAIL).
//  - Bytes that arrive after "220" to STARTTLS, before the handshake, are discarded
//    (RFC 3207 §4.2). After TLS everything learned from the plaintext EHLO is forgotten.
//  - Local outcomes (remote == false) use 451/55x codes chosen here; remote ones carry the
//    server's reply verbatim (code, enhanced code, all lines).
//  - No clock: timeouts are the driver's (on_timeout), reported as "timeout in phase X".
//
// Decisions (why):
//  - 4xx and 5xx at the greeting both set try_next_mx (another MX may take the mail; the
//    outcome keeps the server's severity for when no MX is left — the scheduler decides).
//  - 8-bit content to a server without 8BITMIME (RFC 6152 §3: convert or return it): 554 5.6.3
//    for every recipient, without a transaction; never sent as is. No 7-bit conversion: the
//    message is DKIM-signed over its 8-bit form at submission, and converting it (what
//    Postfix does by default) breaks that signature (Postfix advises turning conversion off
//    when signing: disable_mime_output_conversion). SMTPUTF8 cannot be faked: 550 5.6.7.
//  - A known SIZE limit smaller than the message → 552 5.3.4 without sending it.
//  - Credentials configured but no usable AUTH (not offered, only other mechanisms, or no TLS
//    where TLS is required for AUTH) → temporary failure, never mail sent unauthenticated.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/outcome.hpp"
#include "core/status.hpp"

namespace tern::smtp {

namespace client {

enum class TlsPolicy {
  none,           // never STARTTLS; AUTH in plaintext allowed (relay.security=none)
  opportunistic,  // STARTTLS when offered; a failed handshake says retry_plain (MX delivery)
  required,       // no STARTTLS offered / refused → temporary failure (relay.security=starttls)
};

struct Config {
  std::string helo_name = "localhost";
  TlsPolicy tls = TlsPolicy::opportunistic;
  bool implicit_tls = false;  // the connection is TLS from the start (relay.security=tls)
  std::string username;       // AUTH when non-empty
  std::string password;
  // 5xx to AUTH (535 bad credentials): a relay misconfiguration is fixed by the customer or
  // operator, so by default the queue retries (and finally expires) instead of bouncing.
  bool auth_failure_temporary = true;
  size_t max_reply_line = 4096;
  size_t max_reply_lines = 100;
  // Tern's own host name(s): a greeting or EHLO reply naming one of them (first word, any
  // case) means the connection reached Tern itself, so mail would loop (Postfix: "mail for
  // X loops back to myself"): permanent failure 554 5.4.6 before any transaction.
  std::vector<std::string> loop_names;
};

enum class Phase { connect, greeting, ehlo, starttls, auth, mail, rcpt, data, dot, quit };
const char* phase_name(Phase p);
// The phase as a delivery outcome names it (dot: data_end, the reply to the final dot).
core::Phase core_phase(Phase p);

struct Outcome {
  int code = 0;
  std::string enhanced;  // "2.0.0"; "" when the server gave none
  std::string text;      // remote: the full reply (Reply::full); local: our explanation
  Phase phase = Phase::connect;
  core::Severity severity = core::Severity::temporary;  // ok = delivered
  bool remote = false;                                  // the text is the server's reply
  bool tls = false;  // TLS was active when this outcome was decided
};

struct Capabilities {
  bool esmtp = false;  // EHLO succeeded (false after HELO fallback)
  bool pipelining = false, eightbitmime = false, smtputf8 = false, starttls = false;
  bool enhanced_status = false;
  bool size_advertised = false;
  uint64_t size = 0;  // SIZE limit; 0 = none given
  bool auth_plain = false, auth_login = false;
};
// EHLO reply lines after the first (keywords are case-insensitive; "AUTH=" old form too).
Capabilities parse_capabilities(const std::vector<std::string>& ehlo_lines);

struct OutgoingMessage {
  std::string sender;                   // reverse-path, "" for <>
  std::vector<std::string> recipients;  // forward-paths
  uint64_t size = 0;                    // content octets for SIZE= (0: not sent)
  bool eightbit = false;                // BODY=8BITMIME; not offered → 554 5.6.3 for all
  bool smtputf8 = false;                // needs SMTPUTF8: not offered → 550 5.6.7 for all
};

// Streaming dot-stuffer and line-end normalizer (see the wire-form invariant above).
class ContentEncoder {
 public:
  // Appends the wire form of `bytes` to `out`.
  void encode(std::string_view bytes, std::string& out);
  // Appends the end: CRLF if the content did not end with a line end, then ".\r\n".
  void finish(std::string& out);

 private:
  bool line_start_ = true;
  bool pending_cr_ = false;
};

// --- Actions the driver carries out -------------------------------------------------------
struct Send {
  std::string bytes;
};                      // write (complete CRLF lines, or content)
struct StartTls {};     // handshake, then on_tls(ok)
struct NeedMessage {};  // call on_message() or on_no_more_messages()
struct NeedContent {};  // call on_content(next piece, last?)
struct MessageResult {
  std::vector<Outcome> recipients;
};  // the message handed in last
struct ConnectionFailed {
  Outcome outcome;
  bool try_next_mx = false;  // failed before any transaction (connect/greeting/EHLO/STARTTLS)
  bool retry_plain = false;  // opportunistic TLS handshake failed: plaintext may work
};
struct Close {};  // after flushing Sends, close the connection

using Action =
    std::variant<Send, StartTls, NeedMessage, NeedContent, MessageResult, ConnectionFailed, Close>;

}  // namespace client

class ClientSession {
 public:
  explicit ClientSession(client::Config cfg);
  ~ClientSession();
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  std::vector<client::Action> on_connected();
  std::vector<client::Action> on_connect_failed(std::string_view reason);
  std::vector<client::Action> feed(std::string_view bytes);
  std::vector<client::Action> on_tls(bool ok);
  std::vector<client::Action> on_message(client::OutgoingMessage m);
  std::vector<client::Action> on_no_more_messages();
  std::vector<client::Action> on_content(std::string_view bytes, bool last);
  // The driver's deadline for the current phase expired.
  std::vector<client::Action> on_timeout();
  // The server closed the connection (EOF or reset).
  std::vector<client::Action> on_closed();

  client::Phase phase() const;
  bool closed() const;
  bool tls_active() const;
  const client::Capabilities& capabilities() const;

 private:
  std::vector<client::Action> end_connection(const char* why);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::smtp
