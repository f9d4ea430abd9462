// The outbound SMTP driver: one coroutine per destination carries out the actions of
// smtp::ClientSession over TCP (and TLS), walks the destination's endpoints, and pulls messages
// from the delegate. No protocol decision is made here; see smtp_client.hpp for the contract.
//
// Invariants:
//  - One ClientSession per TCP connection (a retry or the next endpoint gets a fresh one).
//  - Every wait (connect, TLS handshake, each write, each reply) runs under the connection's
//    single deadline timer; a missed deadline cancels the socket and is reported to the session
//    (on_timeout) or, while connecting, as a connect failure.
//  - A message is taken from the delegate only while the session is open (a NeedMessage queued
//    ahead of ConnectionFailed/Close is skipped), so a message handed out always belongs to a
//    live transaction and gets exactly one message_done; done() is called exactly once, last.
//  - The final dot is written only after the content reader said "end": a reader error tears
//    the connection down mid-DATA so the server discards the partial message.
#include "net/smtp_client.hpp"

#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <deque>
#include <stdexcept>

namespace tern::net {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::awaitable;
using asio::ip::tcp;
using smtp::client::Outcome;
using smtp::client::Phase;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

std::shared_ptr<ssl::context> make_client_context(const std::string& ca_file) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx->native_handle(), SSL_MODE_RELEASE_BUFFERS);
  boost::system::error_code ec;
  ctx->set_default_verify_paths(ec);  // no system CA store is not fatal: ca_file may suffice
  if (!ca_file.empty()) {
    ctx->load_verify_file(ca_file, ec);
    if (ec) throw std::runtime_error("tls: cannot load CA file " + ca_file + ": " + ec.message());
  }
  // Verification is chosen per connection (ClientTarget::verify_peer); the default is none.
  ctx->set_verify_mode(ssl::verify_none);
  return ctx;
}

namespace {

constexpr size_t kReadBuf = 4096;        // replies are small
constexpr size_t kContentPiece = 65536;  // at most this much content is read at a time

bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// An endpoint address for an outcome text or a log line: control bytes replaced, length capped
// (the text may end up in a bounce or a webhook).
std::string printable(std::string_view s) {
  std::string r(s.substr(0, 64));
  for (char& ch : r)
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';
  if (s.size() > 64) r += "...";
  return r;
}

bool same_outcome(const Outcome& a, const Outcome& b) {
  return a.code == b.code && a.enhanced == b.enhanced && a.text == b.text && a.phase == b.phase &&
         a.remote == b.remote;
}

Outcome local_failure(int code, std::string enhanced, std::string text, Phase phase, bool tls) {
  Outcome o;
  o.code = code;
  o.enhanced = std::move(enhanced);
  o.text = std::move(text);
  o.phase = phase;
  o.severity = code >= 500 ? core::Severity::permanent : core::Severity::temporary;
  o.remote = false;
  o.tls = tls;
  return o;
}

// One TCP connection, its optional TLS layer, and the deadline of the current wait.
struct Conn : std::enable_shared_from_this<Conn> {
  explicit Conn(asio::io_context& io) : sock(io), timer(io) {}
  tcp::socket sock;
  std::unique_ptr<ssl::stream<tcp::socket&>> tls;
  asio::steady_timer timer;
  uint64_t generation = 0;  // a timer completion from an older arm() is ignored
  bool timed_out = false;
  std::string out;

  void arm(int seconds) {
    timed_out = false;
    const uint64_t gen = ++generation;
    timer.expires_after(std::chrono::seconds(seconds));
    timer.async_wait([self = shared_from_this(), gen](boost::system::error_code ec) {
      if (ec || gen != self->generation) return;
      self->timed_out = true;
      boost::system::error_code ignored;
      self->sock.cancel(ignored);
    });
  }
  void disarm() {
    ++generation;
    timer.cancel();
  }

  awaitable<std::pair<boost::system::error_code, size_t>> read_some(asio::mutable_buffer b) {
    if (tls) {
      auto [ec, n] = co_await tls->async_read_some(b, kTuple);
      co_return std::pair{ec, n};
    }
    auto [ec, n] = co_await sock.async_read_some(b, kTuple);
    co_return std::pair{ec, n};
  }
  awaitable<boost::system::error_code> flush() {
    if (out.empty()) co_return boost::system::error_code{};
    boost::system::error_code ec;
    if (tls) {
      std::tie(ec, std::ignore) = co_await asio::async_write(*tls, asio::buffer(out), kTuple);
    } else {
      std::tie(ec, std::ignore) = co_await asio::async_write(sock, asio::buffer(out), kTuple);
    }
    out.clear();
    co_return ec;
  }
  // flush() under a deadline of its own.
  awaitable<boost::system::error_code> flush_within(int seconds) {
    arm(seconds);
    auto ec = co_await flush();
    disarm();
    co_return ec;
  }
  void close() {
    disarm();
    boost::system::error_code ec;
    sock.shutdown(tcp::socket::shutdown_both, ec);
    sock.close(ec);
  }
};

// How one connection attempt ended.
struct Attempt {
  std::optional<smtp::client::ConnectionFailed> failed;  // nullopt: ended by our QUIT
};

struct Delivery {
  asio::io_context& io;
  std::shared_ptr<ssl::context> tls_ctx;
  ClientTarget target;
  std::shared_ptr<ClientDelegate> delegate;

  ClientPeer peer;
  bool handed_out = false;               // a message was taken from the delegate
  std::optional<ClientMessage> current;  // the message in the session, until message_done
  std::unique_ptr<char[]> content_buf;

  void message_done(std::vector<Outcome> outcomes) {
    ClientMessage m = std::move(*current);
    current.reset();
    delegate->message_done(m.tag, std::move(outcomes), peer);
  }

  // TLS on an open connection; false when the handshake (or verification) failed.
  awaitable<bool> handshake(Conn& c, const ClientEndpoint& ep) {
    if (!tls_ctx) {
      spdlog::error("smtp client {} [{}]: TLS needed but no client context", printable(ep.host),
                    printable(ep.addr));
      co_return false;
    }
    c.tls = std::make_unique<ssl::stream<tcp::socket&>>(c.sock, *tls_ctx);
    const std::string& name = target.verify_name.empty() ? ep.host : target.verify_name;
    if (target.verify_peer) {
      c.tls->set_verify_mode(ssl::verify_peer);
      c.tls->set_verify_callback(ssl::host_name_verification(name));
    } else {
      c.tls->set_verify_mode(ssl::verify_none);
    }
    // SNI carries a host name only (RFC 6066 §3: literal IP addresses are not permitted).
    if (!name.empty() && !is_ip_literal(name))
      SSL_set_tlsext_host_name(c.tls->native_handle(), name.c_str());
    c.arm(target.command_timeout_s);
    auto [ec] = co_await c.tls->async_handshake(ssl::stream_base::client, kTuple);
    c.disarm();
    if (!ec) peer.tls = true;
    if (ec) {
      spdlog::info("smtp client {} [{}]: TLS handshake failed: {}{}", printable(ep.host),
                   printable(ep.addr), c.timed_out ? "timeout" : ec.message(),
                   target.verify_peer ? " (certificate verified for " + name + ")" : "");
    }
    co_return !ec;
  }

  // One connection to one endpoint with one session; returns how it ended.
  awaitable<Attempt> attempt(const ClientEndpoint& ep, smtp::client::Config cfg) {
    using namespace smtp::client;
    Attempt result;
    peer = ClientPeer{ep.host, ep.addr, false, {}};
    smtp::ClientSession session(cfg);
    std::deque<Action> todo;
    auto add = [&](std::vector<Action> v) {
      for (auto& a : v) todo.push_back(std::move(a));
    };
    auto conn = std::make_shared<Conn>(io);
    Conn& c = *conn;
    // A write or read failed: a missed deadline or the server went away.
    auto broken = [&] { return c.timed_out ? session.on_timeout() : session.on_closed(); };

    // Connect (and the implicit TLS handshake) under the connect deadline.
    boost::system::error_code ec;
    const auto addr = asio::ip::make_address(ep.addr, ec);
    if (ec) {
      add(session.on_connect_failed("bad address '" + printable(ep.addr) + "'"));
    } else {
      c.arm(target.connect_timeout_s);
      std::tie(ec) = co_await c.sock.async_connect(tcp::endpoint(addr, ep.port), kTuple);
      c.disarm();
      if (ec) {
        add(session.on_connect_failed(
            c.timed_out ? "timeout after " + std::to_string(target.connect_timeout_s) + " s"
                        : ec.message()));
      } else {
        c.sock.set_option(tcp::no_delay(true), ec);
        if (auto local = c.sock.local_endpoint(ec); !ec)
          peer.local_addr = local.address().to_string();
        if (cfg.implicit_tls && !co_await handshake(c, ep)) {
          add(session.on_connect_failed("TLS handshake failed"));
        } else {
          add(session.on_connected());
        }
      }
    }

    std::unique_ptr<char[]> rbuf;
    std::optional<Outcome> content_error;  // the reader failed: overrides the teardown outcome
    for (;;) {
      while (!todo.empty()) {
        Action a = std::move(todo.front());
        todo.pop_front();
        if (auto* s = std::get_if<Send>(&a)) {
          if (c.out.empty())
            c.out = std::move(s->bytes);
          else
            c.out += s->bytes;
        } else if (std::holds_alternative<StartTls>(a)) {
          if (co_await c.flush_within(target.command_timeout_s)) {
            add(broken());
            continue;
          }
          bool ok = co_await handshake(c, ep);
          add(session.on_tls(ok));
        } else if (std::holds_alternative<NeedMessage>(a)) {
          // A NeedMessage queued ahead of the connection's end is not answered: the message
          // stays with the delegate (and the destination may still be tried elsewhere).
          if (session.closed()) continue;
          std::optional<ClientMessage> m = delegate->next_message();
          // A message without a content reader cannot be sent: settle it, ask for another.
          while (m && !m->content) {
            current = std::move(m);
            message_done(
                std::vector<Outcome>(current->envelope.recipients.size(),
                                     local_failure(451, "4.3.0", "message content unavailable",
                                                   Phase::mail, session.tls_active())));
            m = delegate->next_message();
          }
          if (!m) {
            add(session.on_no_more_messages());
            continue;
          }
          handed_out = true;
          current = std::move(m);
          OutgoingMessage env = current->envelope;
          add(session.on_message(std::move(env)));
        } else if (std::holds_alternative<NeedContent>(a)) {
          // Write what is pending before reading more, so memory stays at one piece.
          if (co_await c.flush_within(target.command_timeout_s)) {
            add(broken());
            continue;
          }
          if (!content_buf) content_buf = std::make_unique_for_overwrite<char[]>(kContentPiece);
          auto r = current->content->read(content_buf.get(), kContentPiece);
          if (!r) {
            // The session has no "abort DATA": end the connection without the final dot (the
            // server then discards the partial message) and report the reader's error instead
            // of the teardown's "connection closed" outcome.
            spdlog::warn("smtp client {} [{}]: content read failed: {}", printable(ep.host),
                         printable(ep.addr), r.error().message);
            content_error =
                local_failure(451, "4.3.0", "cannot read message content: " + r.error().message,
                              Phase::data, session.tls_active());
            c.out.clear();
            c.close();
            add(session.on_closed());
            continue;
          }
          const size_t n = r.value();
          add(session.on_content(std::string_view(content_buf.get(), n), n == 0));
        } else if (auto* mr = std::get_if<MessageResult>(&a)) {
          if (!current) {
            spdlog::error("smtp client {} [{}]: a result without a message", printable(ep.host),
                          printable(ep.addr));
            continue;
          }
          if (content_error) {
            // The recipients the teardown settled get the reader's error; others keep theirs.
            Outcome teardown;
            for (auto& t : todo)
              if (auto* f = std::get_if<ConnectionFailed>(&t)) teardown = f->outcome;
            for (auto& o : mr->recipients)
              if (same_outcome(o, teardown)) o = *content_error;
          }
          message_done(std::move(mr->recipients));
        } else if (auto* f = std::get_if<ConnectionFailed>(&a)) {
          result.failed = std::move(*f);
          if (content_error) {
            result.failed->outcome = *content_error;
            result.failed->try_next_mx = result.failed->retry_plain = false;
          }
        } else if (std::holds_alternative<Close>(a)) {
          if (c.sock.is_open()) {
            c.arm(target.command_timeout_s);
            co_await c.flush();
          }
          c.close();
          co_return result;
        }
      }
      if (session.closed()) {  // Close is always the session's last action; be safe anyway
        c.close();
        co_return result;
      }

      if (co_await c.flush_within(target.command_timeout_s)) {
        add(broken());
        continue;
      }
      if (!rbuf) rbuf = std::make_unique_for_overwrite<char[]>(kReadBuf);
      c.arm(session.phase() == Phase::dot ? target.data_timeout_s : target.command_timeout_s);
      auto [rec, n] = co_await c.read_some(asio::buffer(rbuf.get(), kReadBuf));
      c.disarm();
      if (rec) {
        add(broken());
        continue;
      }
      add(session.feed(std::string_view(rbuf.get(), n)));
    }
  }

  // Walks the endpoints; returns the failure for done() (nullopt: ended by our QUIT).
  awaitable<std::optional<Outcome>> run() {
    using smtp::client::TlsPolicy;
    if (target.endpoints.empty())
      co_return local_failure(451, "4.4.1", "no endpoints to deliver to", Phase::connect, false);
    smtp::client::Config base = target.session;
    // Verifying a certificate only to go on in plaintext when STARTTLS is missing or fails
    // would protect nothing: verify_peer makes STARTTLS required (and never retries plain).
    if (target.verify_peer && base.tls == TlsPolicy::opportunistic) base.tls = TlsPolicy::required;

    std::optional<Outcome> failure;
    for (const auto& ep : target.endpoints) {
      smtp::client::Config cfg = base;
      bool plain_retried = false;
      for (;;) {
        Attempt at = co_await attempt(ep, cfg);
        if (!at.failed) co_return std::nullopt;
        failure = at.failed->outcome;
        spdlog::info("smtp client {} [{}]:{}: {} {} ({})", printable(ep.host), printable(ep.addr),
                     ep.port, failure->code, failure->enhanced, failure->text);
        if (handed_out) co_return failure;  // messages were tried here: the delegate decides
        if (at.failed->retry_plain && !plain_retried && !target.verify_peer) {
          plain_retried = true;
          cfg.tls = TlsPolicy::none;
          continue;
        }
        if (!at.failed->try_next_mx) co_return failure;
        break;  // next endpoint
      }
    }
    co_return failure;  // the last endpoint's failure
  }
};

awaitable<void> deliver(std::shared_ptr<Delivery> d) {
  std::optional<Outcome> failure;
  try {
    failure = co_await d->run();
  } catch (const std::exception& e) {
    spdlog::error("smtp client: {}", e.what());
    failure = local_failure(451, "4.3.0", std::string("internal error: ") + e.what(),
                            Phase::connect, d->peer.tls);
    if (d->current) {
      try {
        d->message_done(std::vector<Outcome>(d->current->envelope.recipients.size(), *failure));
      } catch (const std::exception& e2) {
        spdlog::error("smtp client: message_done: {}", e2.what());
      }
    }
  }
  d->delegate->done(std::move(failure), d->peer);
}

}  // namespace

void start_delivery(asio::io_context& io, std::shared_ptr<ssl::context> tls_ctx,
                    ClientTarget target, std::shared_ptr<ClientDelegate> delegate) {
  auto d = std::make_shared<Delivery>(Delivery{io,
                                               std::move(tls_ctx),
                                               std::move(target),
                                               std::move(delegate),
                                               {},
                                               false,
                                               std::nullopt,
                                               nullptr});
  asio::co_spawn(io, deliver(std::move(d)), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("smtp client: delegate failed: {}", ex.what());
    }
  });
}

}  // namespace tern::net
