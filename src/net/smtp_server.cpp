#include "net/smtp_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <deque>
#include <list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <unordered_map>

#include "core/histogram.hpp"
#include "net/connection_registry.hpp"
#include "net/offload.hpp"
#include "net/spawn.hpp"
#include "pipeline/key_cache.hpp"
#include "pipeline/message_signer.hpp"
#include "pipeline/submission.hpp"
#include "policy/auth_limiter.hpp"
#include "policy/options.hpp"
#include "queue/spool.hpp"
#include "store/store.hpp"

namespace tern::net {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::awaitable;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

std::pair<std::string, uint16_t> split_host_port(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos)
    throw std::invalid_argument("address needs host:port: " + address);
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  const std::string port = address.substr(colon + 1);
  int p = 0;
  try {
    size_t used = 0;
    p = std::stoi(port, &used);
    if (used != port.size()) throw std::invalid_argument("");
  } catch (...) {
    throw std::invalid_argument("bad port in " + address);
  }
  if (p < 0 || p > 65535) throw std::invalid_argument("bad port in " + address);
  return {host, static_cast<uint16_t>(p)};
}

namespace {

// A message that could not be kept was not refused: the client hears 452 4.3.1 when the disk
// is full, else 451 4.3.0 (smtp::reply_for), whatever the spool or submission said.
core::ErrorCode commit_error(const core::Error& e) {
  return e.is(core::ErrorCode::disk_full) ? core::ErrorCode::disk_full
                                          : core::ErrorCode::unavailable;
}

// One client connection: the socket, optional TLS layer and its current read deadline.
struct Conn {
  explicit Conn(tcp::socket s) : sock(std::move(s)) {}
  tcp::socket sock;
  std::unique_ptr<ssl::stream<tcp::socket&>> tls;
  Clock::time_point deadline = Clock::time_point::max();
  // Applies only while the listeners are under stress (near max_connections).
  Clock::time_point stress_deadline = Clock::time_point::max();
  bool timed_out = false;
  bool stress_cut =
      false;              // cut by the stress timeout (counted in Impl::stress_cuts until it ends)
  bool in_data = false;   // receiving message content: a shutdown waits for its end
  bool shutdown = false;  // the server is stopping: the cancelled read means 421 4.3.2
  std::string out;

  void set_deadline(Clock::time_point t, Clock::time_point stress) {
    deadline = t;
    stress_deadline = stress;
    timed_out = false;
  }
  awaitable<std::pair<boost::system::error_code, size_t>> read_some(asio::mutable_buffer b) {
    if (tls) {
      auto [ec, n] = co_await tls->async_read_some(b, kTuple);
      co_return std::pair{ec, n};
    }
    auto [ec, n] = co_await sock.async_read_some(b, kTuple);
    co_return std::pair{ec, n};
  }
  awaitable<bool> flush() {
    if (out.empty()) co_return true;
    boost::system::error_code ec;
    if (tls) {
      std::tie(ec, std::ignore) = co_await asio::async_write(*tls, asio::buffer(out), kTuple);
    } else {
      std::tie(ec, std::ignore) = co_await asio::async_write(sock, asio::buffer(out), kTuple);
    }
    out.clear();
    co_return !ec;
  }
  void close() {
    boost::system::error_code ec;
    sock.close(ec);
  }
};

// 64 KiB DATA buffers are taken from a per-thread free list, so a connection holds one only
// while it receives content and the allocator is not asked for one per message.
class DataBufferPool {
 public:
  static constexpr size_t kSize = 65536;
  static std::unique_ptr<char[]> take() {
    auto& f = free_list();
    if (f.empty()) return std::make_unique_for_overwrite<char[]>(kSize);
    auto b = std::move(f.back());
    f.pop_back();
    return b;
  }
  static void give(std::unique_ptr<char[]> b) {
    auto& f = free_list();
    if (b && f.size() < 64) f.push_back(std::move(b));
  }

 private:
  static std::vector<std::unique_ptr<char[]>>& free_list() {
    thread_local std::vector<std::unique_ptr<char[]>> f;
    return f;
  }
};

// Deadlines without a timer per connection: each I/O thread has one sweeper that wakes every
// kSweepInterval and cancels the pending read of every connection past its deadline (the driver
// then reports the timeout to the session). Re-arming a deadline is a plain store, so reads cost
// no timer syscalls, and an idle connection costs no timer memory. Timeouts fire up to one
// interval late, which is fine for limits measured in seconds.
constexpr auto kSweepInterval = std::chrono::milliseconds(250);

class Sweeper {
 public:
  using Handle = std::list<Conn*>::iterator;
  Handle add(Conn* c) { return conns_.insert(conns_.end(), c); }
  void remove(Handle h) { conns_.erase(h); }

  // Runs until its io_context stops (after the server's shutdown grace). claim_stress_cut():
  // whether one more connection past its stress deadline may be cut now (true while the load,
  // less the cuts not yet ended, is still at the stress threshold), so stress cuts the oldest
  // idle connections until the load is below the threshold, not every idle one at once.
  awaitable<void> run(std::function<bool()> claim_stress_cut) {
    asio::steady_timer t(co_await asio::this_coro::executor);
    for (;;) {
      t.expires_after(kSweepInterval);
      auto [ec] = co_await t.async_wait(kTuple);
      if (ec) co_return;
      const auto now = Clock::now();
      for (Conn* c : conns_) {  // oldest first
        bool cut = c->deadline <= now;
        if (!cut && c->stress_deadline <= now && claim_stress_cut()) cut = c->stress_cut = true;
        if (cut) {
          c->timed_out = true;
          c->deadline = c->stress_deadline = Clock::time_point::max();
          boost::system::error_code ignored;
          c->sock.cancel(ignored);
        }
      }
    }
  }

  // Server stopping: wake every connection that waits for a command (421 4.3.2); those in
  // DATA are told when their message is done. Call on this sweeper's thread.
  void shutdown_idle() {
    for (Conn* c : conns_) {
      c->shutdown = true;
      if (!c->in_data) {
        boost::system::error_code ignored;
        c->sock.cancel(ignored);
      }
    }
  }

 private:
  std::list<Conn*> conns_;  // touched only from this sweeper's I/O thread
};

// Bridges the spool's commit callback (sync thread) back onto the connection's executor.
template <class Executor>
awaitable<queue::CommitOutcome> async_commit(queue::Spool& spool,
                                             std::unique_ptr<queue::Spool::Writer> w,
                                             queue::QueuedMessage msg, Executor ex) {
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable),
                                          void(queue::CommitOutcome)>(
      [&](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        spool.commit(std::move(w), std::move(msg), [h, ex](queue::CommitOutcome o) {
          asio::post(ex, [h, o = std::move(o)]() mutable { (*h)(std::move(o)); });
        });
      },
      asio::use_awaitable);
}

}  // namespace

struct SmtpServer::Impl : std::enable_shared_from_this<SmtpServer::Impl> {
  std::vector<asio::io_context*> workers;
  SmtpServerConfig cfg;
  SmtpServices svc;
  SmtpCounters counters;
  std::atomic<uint64_t> stress_cuts{0};  // stress cuts whose sessions have not ended yet
  ConnectionRegistry registry;
  // Shared with each acceptor's accept loop, which holds its own: ~SmtpServer drops these, so an
  // acceptor is destroyed with its loop's frame, on its own io_context (never after it).
  std::vector<std::shared_ptr<tcp::acceptor>> acceptors;
  std::atomic<size_t> next_worker{0};
  std::vector<std::shared_ptr<Sweeper>> sweepers;  // one per worker, same index
  std::atomic<bool> stopping{false};
  std::atomic<int> rejecting_tls{0};  // handshakes in progress only to say 421 over TLS

  // Trusted-network account snapshot, refreshed at most every few seconds.
  std::mutex trusted_mu;
  std::shared_ptr<const policy::AccountContext> trusted_ctx;
  Clock::time_point trusted_loaded{};

  // The last context loaded per account: while the database is away (a temporary error, issue
  // 12) a login the verify cache still knows keeps its context, so mail from it keeps flowing;
  // a login the cache does not know cannot be checked and gets 454 4.7.0.
  std::mutex last_ctx_mu;
  std::unordered_map<int64_t, std::shared_ptr<const policy::AccountContext>> last_ctx;

  std::shared_ptr<const policy::AccountContext> load_context(int64_t account_id) {
    auto r = svc.store->account_context(account_id);
    if (!r) {
      spdlog::warn("account {}: cannot load context: {}", account_id, r.error().message);
      if (!r.error().temporary) return nullptr;
      std::lock_guard lk(last_ctx_mu);
      auto it = last_ctx.find(account_id);
      return it == last_ctx.end() ? nullptr : it->second;
    }
    auto ctx = std::make_shared<policy::AccountContext>(std::move(r.value()));
    for (const auto& d : cfg.platform_domains) ctx->platform_domains.push_back(d);
    if (!cfg.session.require_header_rcpts) ctx->require_header_rcpts = false;
    std::lock_guard lk(last_ctx_mu);
    last_ctx[account_id] = ctx;
    return ctx;
  }

  // The trusted-network account's context while it is fresh (≤ 5 s old), else nullptr: no
  // store call, so the I/O thread asks this first and goes to the blocking pool only on a miss
  // (one pool round trip per 5 s instead of one per connection).
  std::shared_ptr<const policy::AccountContext> fresh_trusted_context() {
    std::lock_guard lk(trusted_mu);
    if (trusted_ctx && Clock::now() - trusted_loaded < std::chrono::seconds(5)) return trusted_ctx;
    return nullptr;
  }

  // Blocking (store reads): on the blocking pool only. trusted_mu is never held across the
  // store reads, so fresh_trusted_context() on an I/O thread never waits on SQLite (a busy
  // database can take seconds); two misses at once may both read, the later one wins.
  std::shared_ptr<const policy::AccountContext> trusted_account_context() {
    if (auto fresh = fresh_trusted_context()) return fresh;
    auto acc = svc.store->accounts.find(cfg.trusted_account);
    if (!acc || !acc.value()) {
      spdlog::warn("trusted_account '{}' not found", cfg.trusted_account);
      std::lock_guard lk(trusted_mu);
      return trusted_ctx;
    }
    auto ctx = load_context(acc.value()->id);
    std::lock_guard lk(trusted_mu);
    trusted_ctx = std::move(ctx);  // null when it could not be loaded: asked again next time
    trusted_loaded = Clock::now();
    return trusted_ctx;
  }

  bool is_trusted(const std::string& ip) const {
    if (cfg.trusted_account.empty()) return false;
    for (const auto& n : cfg.trusted_networks)
      if (n.contains(ip)) return true;
    return false;
  }

  // A sweeper's coroutine holds what it uses: its Sweeper (shared with the Impl), and the
  // server's load only through claim_stress_cut, which holds a weak_ptr to the Impl. So it may
  // outlive the SmtpServer object (destroyed while its workers still run), and a frame destroyed
  // with its io_context never destroys the Impl and, with it, I/O objects of another
  // io_context.
  static awaitable<void> sweep(std::shared_ptr<Sweeper> sweeper,
                               std::function<bool()> claim_stress_cut) {
    co_await sweeper->run(std::move(claim_stress_cut));
  }

  awaitable<void> accept_loop(std::shared_ptr<tcp::acceptor> held, bool implicit_tls) {
    auto self = shared_from_this();
    tcp::acceptor& acc = *held;
    boost::system::error_code lec;
    const tcp::endpoint listen_ep = acc.local_endpoint(lec);
    while (!stopping) {
      const size_t w = next_worker++ % workers.size();
      asio::io_context& ctx = *workers[w];
      tcp::endpoint peer;
      auto [ec, sock] = co_await acc.async_accept(ctx.get_executor(), peer, kTuple);
      if (ec) {
        if (stopping || ec == asio::error::operation_aborted) break;
        spdlog::warn("accept: {}", ec.message());
        // EMFILE and friends: back off briefly instead of spinning.
        asio::steady_timer t(acc.get_executor(), std::chrono::milliseconds(50));
        co_await t.async_wait(kTuple);
        continue;
      }
      auto conn = std::make_shared<Conn>(std::move(sock));
      spawn(ctx, self->connection(conn, implicit_tls, *sweepers[w], peer, listen_ep),
            "smtp session");
    }
  }

  awaitable<smtp::AuthResult> authenticate(const smtp::Authenticate& a, const std::string& ip) {
    smtp::AuthResult r;
    if (!svc.limiter->allowed(ip, a.username)) {
      r.kind = smtp::AuthResult::Kind::rate_limited;
      co_return r;
    }
    // Argon2, the store and the limiter's counts (in a region: the shared database) off the
    // I/O threads.
    auto v = co_await offload(*svc.blocking, [&] {
      auto got = svc.store->credentials.verify(a.username, a.password);
      if (got && !got.value())
        svc.limiter->record_failure(ip, a.username);
      else if (got)
        svc.limiter->record_success(ip, a.username);
      return got;
    });
    if (!v) {
      r.kind = smtp::AuthResult::Kind::temp_error;
      spdlog::error("auth: store error: {}", v.error().message);
    } else if (!v.value()) {
      r.kind = smtp::AuthResult::Kind::bad_credentials;
      ++counters.auth_failures;
    } else {
      const int64_t id = *v.value();
      r.account = co_await offload(*svc.blocking, [&] { return load_context(id); });
      r.kind = r.account ? smtp::AuthResult::Kind::ok : smtp::AuthResult::Kind::temp_error;
    }
    co_return r;
  }

  // Keys to sign a message from `domain` with: from the cache, or loaded on the blocking pool.
  awaitable<core::Result<std::vector<pipeline::SignerKey>>> signing_keys(int64_t account_id,
                                                                         std::string domain) {
    if (domain.empty()) co_return std::vector<pipeline::SignerKey>{};
    if (auto c = svc.dkim_keys->cached(account_id, domain)) co_return std::move(*c);
    co_return co_await offload(*svc.blocking,
                               [&] { return svc.dkim_keys->get(account_id, domain); });
  }

  // A tracked message at the end of DATA: Submission stores a rewritten, signed copy per
  // recipient (blocking until every copy is durable, so it runs on the submission pool) and calls
  // on_accepted itself. The 250 is sent only after that.
  awaitable<smtp::CommitResult> submit_whole(const smtp::Envelope& e, std::string content,
                                             std::shared_ptr<const policy::AccountContext> acc,
                                             std::string ip) {
    pipeline::SubmitRequest req;
    req.account = std::move(acc);
    req.sender = e.sender;
    req.recipients = e.recipients;
    req.message = std::move(content);
    req.options = e.options;
    req.client_ip = std::move(ip);
    req.via = "SMTP";
    req.smtputf8 = e.smtputf8;
    req.eightbit = e.eightbit;
    req.header_final = true;
    req.queue_id = e.queue_id;
    auto r = co_await offload(svc.submission_pool ? *svc.submission_pool : *svc.blocking,
                              [&] { return svc.submission->submit(std::move(req)); });
    smtp::CommitResult cr;
    cr.queue_id = e.queue_id;
    if (r) {
      cr.ok = true;  // counted by Submission, one per stored copy
    } else {
      cr.error = commit_error(r.error());
      spdlog::error("tracked message {}: {}", e.queue_id, r.error().message);
    }
    co_return cr;
  }

  // Over a connection cap: 421 naming the cap that refused (only the per-client one names the
  // client's address). On the implicit-TLS port the 421 goes over TLS (RFC 8314 §3.3: nothing
  // is sent in the clear there); the handshakes this costs are bounded, past that the
  // connection is closed without a word.
  awaitable<void> reject(Conn& c, ConnectionRegistry::Admit why, const std::string& ip,
                         bool implicit_tls) {
    if (why == ConnectionRegistry::Admit::total_full)
      c.out = "421 4.3.2 " + cfg.session.hostname +
              " Error: server busy (too many connections), try again later\r\n";
    else
      c.out =
          "421 4.7.0 " + cfg.session.hostname + " Error: too many connections from " + ip + "\r\n";
    if (implicit_tls) {
      struct Count {
        std::atomic<int>& n;
        ~Count() { --n; }
      } count{rejecting_tls};
      if (++rejecting_tls > 64 || !svc.tls) co_return c.close();
      c.tls = std::make_unique<ssl::stream<tcp::socket&>>(c.sock, *svc.tls);
      asio::steady_timer t(c.sock.get_executor(), std::chrono::seconds(5));
      t.async_wait([&c](const boost::system::error_code& ec) {
        if (!ec) {
          boost::system::error_code ignored;
          c.sock.cancel(ignored);
        }
      });
      auto [ec] = co_await c.tls->async_handshake(ssl::stream_base::server, kTuple);
      t.cancel();
      if (ec) co_return c.close();
    }
    co_await c.flush();
    c.close();
  }

  awaitable<bool> handshake(Conn& c) {
    c.tls = std::make_unique<ssl::stream<tcp::socket&>>(c.sock, *svc.tls);
    const auto until = Clock::now() + std::chrono::seconds(cfg.tls_handshake_timeout_s);
    c.set_deadline(until, until);
    auto [ec] = co_await c.tls->async_handshake(ssl::stream_base::server, kTuple);
    if (ec) spdlog::debug("tls handshake: {}", ec.message());
    co_return !ec;
  }

  // No exception ends a session silently: it is logged here (net::spawn would log it too, but
  // the client must hear something) and the client gets 421 4.3.0 before the connection closes
  // (issue 14.1).
  awaitable<void> connection(std::shared_ptr<Conn> c, bool implicit_tls, Sweeper& sweeper,
                             tcp::endpoint remote, tcp::endpoint local) {
    auto self = shared_from_this();
    std::string what;
    try {
      co_await run_connection(c, implicit_tls, sweeper, remote, local);
      co_return;
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
      what = "unknown exception";
    }
    spdlog::error("smtp session from {}: {}; closing with 421", remote.address().to_string(), what);
    c->out +=
        "421 4.3.0 " + cfg.session.hostname + " Error: internal error, closing connection\r\n";
    asio::steady_timer bound(c->sock.get_executor(), std::chrono::seconds(cfg.command_timeout_s));
    bound.async_wait([c](boost::system::error_code) { c->close(); });  // a peer that never reads
    co_await c->flush();
    bound.cancel();
    c->close();
  }

  awaitable<void> run_connection(std::shared_ptr<Conn> c, bool implicit_tls, Sweeper& sweeper,
                                 tcp::endpoint remote, tcp::endpoint local) {
    auto self = shared_from_this();  // the sweepers and counters outlive every connection
    boost::system::error_code ec;
    if (local.address().is_unspecified()) local = c->sock.local_endpoint(ec);  // wildcard listener
    const std::string ip = remote.address().to_string();
    ++counters.connections;
    const auto admit = registry.enter(ip, cfg.max_connections_per_ip, cfg.max_connections);
    if (admit != ConnectionRegistry::Admit::ok) {
      ++counters.rejected_connections;
      co_await reject(*c, admit, ip, implicit_tls);
      co_return;
    }
    ++counters.active;
    struct Leave {
      Impl* self;
      std::string ip;
      Sweeper& sweeper;
      Sweeper::Handle h;
      ~Leave() {
        if ((*h)->stress_cut) --self->stress_cuts;
        sweeper.remove(h);
        self->registry.leave(ip);
        --self->counters.active;
      }
    } leave{this, ip, sweeper, sweeper.add(c.get())};
    if (stopping) c->shutdown = true;  // accepted while stop() was telling the others
    c->sock.set_option(tcp::no_delay(true), ec);

    if (implicit_tls && !co_await handshake(*c)) {
      c->close();
      co_return;
    }

    smtp::SessionConfig scfg = cfg.session;
    scfg.implicit_tls = implicit_tls;
    scfg.tls_available = svc.tls != nullptr;
    smtp::ConnectionInfo info{ip, remote.port(), local.address().to_string(), local.port(),
                              nullptr};
    if (is_trusted(ip)) {
      info.trusted_account = fresh_trusted_context();
      if (!info.trusted_account)
        info.trusted_account =
            co_await offload(*svc.blocking, [&] { return trusted_account_context(); });
    }
    const auto now_s = [] {
      return std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
    // The account this connection acts for: the trusted-network account, or whoever
    // authenticated (the session refuses MAIL until one of the two holds).
    std::shared_ptr<const policy::AccountContext> account = info.trusted_account;
    smtp::ServerSession session(std::move(scfg), std::move(info), now_s());

    std::deque<smtp::Action> todo;
    auto add = [&](std::vector<smtp::Action> v) {
      for (auto& a : v) todo.push_back(std::move(a));
    };

    // Pre-greeting talk (RFC 5321 §4.3.1: the client waits for the greeting).
    if (!implicit_tls) {
      if (cfg.greet_pause_ms > 0) {
        asio::steady_timer pause(c->sock.get_executor(),
                                 std::chrono::milliseconds(cfg.greet_pause_ms));
        co_await pause.async_wait(kTuple);
        if (c->sock.available(ec) > 0) add(session.early_talker());
      }
    }
    if (todo.empty()) add(session.start());

    std::unique_ptr<queue::Spool::Writer> writer;
    std::unique_ptr<pipeline::MessageSigner> signer;
    // Tracked message (whole-message path): its content, kept in memory instead of streamed.
    std::optional<std::string> whole;
    bool write_failed = false, keys_failed = false;
    core::ErrorCode write_error = core::ErrorCode::unavailable;
    Clock::time_point data_started{};
    uint64_t data_bytes = 0;
    bool was_in_data = false;
    bool replied = false;  // a reply went out since the last read: a new command may begin
    Clock::time_point cmd_started = Clock::now();
    const Clock::time_point session_deadline =
        Clock::now() + std::chrono::seconds(cfg.max_session_s);
    // A small buffer while idle (memory per connection), a pooled 64 KiB one while receiving
    // content; neither is zero-filled since reads overwrite them.
    constexpr size_t kIdleBuf = 4096;
    std::unique_ptr<char[]> idle_buf = std::make_unique_for_overwrite<char[]>(kIdleBuf);
    struct DataBuf {
      std::unique_ptr<char[]> p;
      ~DataBuf() { DataBufferPool::give(std::move(p)); }
    } data_buf;

    for (;;) {
      while (!todo.empty()) {
        smtp::Action a = std::move(todo.front());
        todo.pop_front();
        if (auto* r = std::get_if<smtp::SendReply>(&a)) {
          c->out += r->bytes;
          replied = true;
        } else if (std::holds_alternative<smtp::StartTls>(a)) {
          if (!co_await c->flush()) co_return c->close();
          bool ok = co_await handshake(*c);
          if (!ok) co_return c->close();
          add(session.on_tls(true));
        } else if (auto* au = std::get_if<smtp::Authenticate>(&a)) {
          smtp::AuthResult ar = co_await authenticate(*au, ip);
          if (ar.kind == smtp::AuthResult::Kind::ok) account = ar.account;
          add(session.on_auth(ar));
        } else if (auto* b = std::get_if<smtp::BeginMessage>(&a)) {
          writer = svc.spool->begin(b->queue_id);
          write_failed = keys_failed = false;
          whole.reset();
          signer.reset();
          if (svc.dkim_keys && account) signer = std::make_unique<pipeline::MessageSigner>();
          session.set_now(now_s());
        } else if (auto* d = std::get_if<smtp::MessageData>(&a)) {
          if (d->options && svc.submission && svc.submission->tracks(*d->options)) {
            // Open/click tracking rewrites each recipient's copy, so the message is needed
            // whole: nothing is streamed (the empty writer is dropped), Submission stores it.
            whole.emplace();
            writer.reset();
            signer.reset();
          }
          if (whole) {
            whole->append(d->bytes);
            continue;
          }
          if (signer) {
            const bool first = !signer->headers_seen();
            signer->add(d->bytes);
            if (first) {
              auto keys = co_await signing_keys(account->id, signer->from_domain());
              if (keys) {
                signer->enable(std::move(keys.value()));
              } else {
                // Never unsigned: without the keys the message is deferred (451 4.3.0), and
                // nothing more of it is written (the spooled part is given back at once).
                keys_failed = true;
                writer.reset();
                signer.reset();
              }
            }
          }
          if (writer && !write_failed) {
            auto r = writer->append(d->bytes);
            if (!r) {
              write_failed = true;
              write_error = commit_error(r.error());
              spdlog::error("spool write: {}", r.error().message);
            }
          }
        } else if (std::holds_alternative<smtp::AbortMessage>(a)) {
          writer.reset();
          signer.reset();
          whole.reset();
        } else if (auto* cm = std::get_if<smtp::CommitMessage>(&a)) {
          const auto data_end = std::chrono::steady_clock::now();  // accept latency starts
          smtp::CommitResult cr;
          if (whole) {
            cr = co_await submit_whole(cm->envelope, std::move(*whole), account, ip);
            whole.reset();
            if (cr.ok)
              core::accept_latency().observe(
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - data_end)
                      .count());
          } else if (!writer || write_failed) {
            writer.reset();
            cr.error = write_error;
            if (keys_failed) cr.defer_text = "Temporary failure: DKIM signing keys unavailable";
          } else {
            queue::QueuedMessage m = to_queued(cm->envelope, account, ip);
            if (signer) m.prepend = signer->finish(now_s());
            signer.reset();
            std::optional<queue::QueuedMessage> copy;
            if (svc.on_accepted) copy = m;
            auto outcome = co_await async_commit(*svc.spool, std::move(writer), std::move(m),
                                                 co_await asio::this_coro::executor);
            if (outcome.ok && copy) {
              svc.on_accepted(*copy);
            }
            cr.ok = outcome.ok;
            if (outcome.disk_full) cr.error = core::ErrorCode::disk_full;
            cr.queue_id = cm->envelope.queue_id;
            if (outcome.ok) {
              ++counters.accepted_messages;
              core::accept_latency().observe(
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - data_end)
                      .count());
            } else {
              spdlog::error("spool commit {}: {}", cm->envelope.queue_id, outcome.error);
            }
          }
          add(session.on_commit(cr));
        } else if (std::holds_alternative<smtp::Close>(a)) {
          co_await c->flush();
          c->close();
          co_return;
        }
      }
      if (!co_await c->flush()) co_return c->close();
      if (session.closed()) co_return c->close();

      // Deadline for the next read. Between commands: the command timeout counted from the last
      // reply, so a client trickling a byte at a time cannot stretch it (slowloris); during
      // DATA: bytes must keep coming (command timeout per read) at the minimum average rate.
      // Always: the session's total time. Under stress the shorter stress timeout applies too.
      const auto now = Clock::now();
      if (replied) {
        cmd_started = now;
        replied = false;
      }
      const bool in_data = session.in_data();
      c->in_data = in_data;
      if (c->shutdown && !in_data) {
        add(session.on_shutdown());
        continue;
      }
      if (in_data && !was_in_data) {
        data_started = now;
        data_bytes = 0;
      }
      was_in_data = in_data;
      const auto base = in_data ? now : cmd_started;
      auto deadline = base + std::chrono::seconds(cfg.command_timeout_s);
      if (in_data && cfg.min_data_rate > 0) {
        auto rate_deadline =
            data_started + std::chrono::seconds(cfg.data_grace_s) +
            std::chrono::milliseconds(data_bytes * 1000 / static_cast<uint64_t>(cfg.min_data_rate));
        deadline = std::min(deadline, rate_deadline);
      }
      deadline = std::min(deadline, session_deadline);
      c->set_deadline(deadline, base + std::chrono::seconds(cfg.stress_command_timeout_s));

      if (in_data && !data_buf.p) data_buf.p = DataBufferPool::take();
      if (!in_data && data_buf.p) DataBufferPool::give(std::move(data_buf.p));
      char* rbuf = in_data ? data_buf.p.get() : idle_buf.get();
      auto [rec, n] =
          co_await c->read_some(asio::buffer(rbuf, in_data ? DataBufferPool::kSize : kIdleBuf));
      if (rec) {
        if (c->timed_out) {
          ++counters.timeouts;
          if (Clock::now() >= session_deadline)
            add(session.on_session_limit());
          else
            add(session.on_timeout());
          continue;
        }
        if (c->shutdown && !c->in_data) {
          add(session.on_shutdown());
          continue;
        }
        co_return c->close();  // client went away
      }
      if (in_data) data_bytes += n;
      add(session.feed(std::string_view(rbuf, n)));
    }
  }

  static queue::QueuedMessage to_queued(const smtp::Envelope& e,
                                        const std::shared_ptr<const policy::AccountContext>& acc,
                                        const std::string& ip) {
    queue::QueuedMessage m;
    m.id = e.queue_id;
    if (acc) {
      m.account_id = acc->id;
      m.account_name = acc->name;
    }
    m.sender = e.sender;
    m.recipients.reserve(e.recipients.size());
    for (const auto& r : e.recipients) {
      queue::Recipient rc;
      rc.address = r;
      m.recipients.push_back(std::move(rc));
    }
    m.received_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    m.client_ip = ip;
    m.helo = e.helo;
    m.message_id = e.message_id;
    m.header_from = e.header_from;
    m.subject = e.subject;
    m.smtputf8 = e.smtputf8;
    m.eightbit = e.eightbit;
    // bulkId defaults to the submission's queue id (as on the HTTP path).
    policy::MessageOptions opts = e.options;
    if (opts.bulk_id.empty()) opts.bulk_id = e.queue_id;
    m.options_json = policy::to_json(opts);
    m.content_size = e.content_size;
    return m;
  }
};

SmtpServer::SmtpServer(std::vector<asio::io_context*> workers, SmtpServerConfig cfg,
                       SmtpServices svc)
    : impl_(std::make_shared<Impl>()) {
  impl_->workers = std::move(workers);
  impl_->cfg = std::move(cfg);
  impl_->svc = std::move(svc);
  for (auto* w : impl_->workers) {
    impl_->sweepers.push_back(std::make_shared<Sweeper>());
    // The stress test reads the live connection count, through a weak_ptr: the sweeper may
    // outlive the server (sweep()); then there is no load left to cut. (A named std::function,
    // not a temporary lambda as the coroutine's argument: g++ 12 mishandles those.)
    std::weak_ptr<Impl> weak = impl_;
    std::function<bool()> claim_stress_cut = [weak] {
      const auto raw = weak.lock();
      if (!raw) return false;
      const uint64_t threshold =
          raw->cfg.max_connections * static_cast<uint64_t>(raw->cfg.stress_pct);
      uint64_t pending = raw->stress_cuts.load();
      for (;;) {
        const uint64_t active = raw->counters.active.load();
        if ((active - std::min(pending, active)) * 100 < threshold) return false;
        if (raw->stress_cuts.compare_exchange_weak(pending, pending + 1)) return true;
      }
    };
    std::shared_ptr<Sweeper> sweeper = impl_->sweepers.back();
    spawn(*w, Impl::sweep(std::move(sweeper), std::move(claim_stress_cut)), "smtp sweeper");
  }
}

SmtpServer::~SmtpServer() {
  stop();
  // Each acceptor now belongs to its accept loop alone (see Impl::acceptors).
  if (impl_) impl_->acceptors.clear();
}

void SmtpServer::listen(const std::string& name, const std::string& address, bool implicit_tls) {
  auto [host, port] = split_host_port(address);
  auto& ctx = *impl_->workers.front();
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) throw std::runtime_error(name + ": bad address " + address);
  tcp::endpoint ep(addr, port);
  auto acc = std::make_shared<tcp::acceptor>(ctx);
  acc->open(ep.protocol(), ec);
  if (!ec) acc->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acc->bind(ep, ec);
  if (!ec) acc->listen(4096, ec);
  if (ec) throw std::runtime_error(name + ": cannot listen on " + address + ": " + ec.message());
  spawn(ctx, impl_->accept_loop(acc, implicit_tls), "smtp accept loop");
  spdlog::info("{} listening on {}{}", name, address, implicit_tls ? " (implicit TLS)" : "");
  impl_->acceptors.push_back(std::move(acc));
}

void SmtpServer::stop() {
  if (!impl_ || impl_->stopping.exchange(true)) return;
  for (auto& a : impl_->acceptors) {
    boost::system::error_code ec;
    a->close(ec);
  }
  // Every session between commands answers 421 4.3.2 now; one in DATA after its message.
  for (size_t i = 0; i < impl_->workers.size(); ++i)
    asio::post(*impl_->workers[i], [self = impl_, i] { self->sweepers[i]->shutdown_idle(); });
}

const SmtpCounters& SmtpServer::counters() const { return impl_->counters; }

}  // namespace tern::net
