// Outbound SMTP connections for delivery: the coroutine driver of smtp::ClientSession (the only
// client code that touches sockets). One call = one destination: connect to its endpoints in
// order, run the session, and pull messages from the delegate until it has no more.
//
// Behaviour:
//  - Endpoints are tried in order: a failed connect, a timeout, or a ConnectionFailed with
//    try_next_mx before any message was handed in moves on to the next endpoint (the next MX
//    address or host). retry_plain (opportunistic STARTTLS handshake failed) reconnects to the
//    same endpoint once without STARTTLS.
//  - TLS: opportunistic STARTTLS to MX hosts does not verify the certificate (RFC 7435
//    opportunistic security; MX certificates are commonly self-signed). verify_peer (relays
//    with security starttls/tls, the smarthost) verifies the chain against the system CAs plus
//    ca_file, and the host name (verify_name) with SNI; a failed verification fails the
//    handshake (temporary outcome, never mail sent in plaintext). TLS 1.2 minimum.
//  - Deadlines: connect_timeout_s per endpoint, command_timeout_s for every reply (greeting
//    included), data_timeout_s for the final reply after the dot; a missed deadline is
//    on_timeout() to the session.
//  - Content is read from the delegate's ContentReader in pieces of at most 64 KiB and written
//    as the socket drains: a large message is never held whole in memory. (The read itself is
//    synchronous on the io thread: the spool is a local file, normally in the page cache.)
//  - A ContentReader error mid-DATA tears the connection down without the final dot (so the
//    server discards the partial message): the recipients still pending get a local 451 4.3.0
//    "cannot read message content", the others keep the server's verdict, and done() gets the
//    same failure. A message handed out without a ContentReader is settled at once (451 4.3.0).
//  - verify_peer makes STARTTLS required (an opportunistic policy is upgraded): verifying a
//    certificate and then going on in plaintext would protect nothing. It never retries plain.
//  - Every write has the command deadline too, so a server that stops reading cannot stall us.
//  - done()'s failure, when every endpoint failed, is the last endpoint's (the scheduler decides
//    on its severity); messages handed out stop the walk (their outcomes are final).
//
// Invariants: every message the delegate handed out gets exactly one message_done call; the
// delegate's done() is called exactly once, last, after which the driver touches nothing of the
// delegate. All delegate calls happen on the io_context given to start_delivery.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "queue/spool.hpp"
#include "smtp/client_session.hpp"

namespace boost::asio {
class io_context;
namespace ssl {
class context;
}
}  // namespace boost::asio

namespace tern::net {

struct ClientEndpoint {
  std::string host;  // MX or relay host name (for logs, outcomes, SNI); may be an IP literal
  std::string addr;  // IP address to connect to
  uint16_t port = 25;
};

struct ClientTarget {
  std::vector<ClientEndpoint> endpoints;  // at least one
  smtp::client::Config session;           // helo, TLS policy, implicit TLS, credentials
  bool verify_peer = false;               // verify certificate chain and verify_name
  std::string verify_name;                // host name the certificate must match
  int connect_timeout_s = 30;
  int command_timeout_s = 300;
  int data_timeout_s = 600;
};

struct ClientMessage {
  smtp::client::OutgoingMessage envelope;
  std::unique_ptr<queue::Spool::ContentReader> content;
  uint64_t tag = 0;      // the delegate's handle, given back in message_done
  std::string queue_id;  // for logs and the sandbox's capture store
};

// What the connection learned, for outcomes and logs.
struct ClientPeer {
  std::string host;  // the endpoint's host name ("" before any connect)
  std::string addr;
  bool tls = false;             // TLS was active
  std::string local_addr = {};  // our end of the connection ("" before one was made)
};

class ClientDelegate {
 public:
  virtual ~ClientDelegate() = default;
  // The next message for this connection; nullopt → QUIT.
  virtual std::optional<ClientMessage> next_message() = 0;
  // Outcomes of one handed-out message, one per recipient in order.
  virtual void message_done(uint64_t tag, std::vector<smtp::client::Outcome> outcomes,
                            const ClientPeer& peer) = 0;
  // The connection is over. failure: set when it ended other than by our QUIT after the last
  // message — before any message was handed out, this is why the destination could not be
  // reached (every endpoint tried); messages handed out already got their message_done.
  virtual void done(std::optional<smtp::client::Outcome> failure, const ClientPeer& peer) = 0;
};

// TLS client context: TLS 1.2+, system default CA paths plus ca_file (PEM, may be "").
// Throws std::runtime_error when ca_file cannot be loaded (start-up only).
std::shared_ptr<boost::asio::ssl::context> make_client_context(const std::string& ca_file);

// Starts one connection coroutine on io. tls_ctx is shared by all connections.
void start_delivery(boost::asio::io_context& io, std::shared_ptr<boost::asio::ssl::context> tls_ctx,
                    ClientTarget target, std::shared_ptr<ClientDelegate> delegate);

}  // namespace tern::net
