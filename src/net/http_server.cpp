#include "net/http_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "net/connection_registry.hpp"
#include "net/offload.hpp"
#include "net/smtp_server.hpp"  // split_host_port
#include "net/spawn.hpp"

namespace tern::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

namespace {
const std::string kJson = "application/json";

// A response the transport writes itself (limits, parse errors, caps), closing afterwards.
http::response<http::string_body> transport_error(http::status st, const char* code,
                                                  const char* message) {
  http::response<http::string_body> res{st, 11};
  res.set(http::field::server, "Tern");
  res.set(http::field::content_type, kJson);
  res.body() =
      std::string(R"({"error":{"code":")") + code + R"(","message":")" + message + "\"}}\n";
  res.keep_alive(false);
  res.prepare_payload();
  return res;
}

// Waits, without holding a thread, for the completion a `later` response hands out. The
// completion may run on any thread; the coroutine resumes on its own executor. A completion
// dropped without being called (a bug, or work abandoned at shutdown) answers 503.
asio::awaitable<HttpResponse> wait_later(std::function<void(HttpCompletion)> later) {
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(HttpResponse)>(
      [&later](auto handler) {
        using Handler = decltype(handler);
        auto home = asio::get_associated_executor(handler);
        struct State {
          std::optional<Handler> h;
          decltype(home) ex;
          std::mutex mu;
          State(Handler&& hh, decltype(home) e) : h(std::move(hh)), ex(std::move(e)) {}
          void finish(HttpResponse r) {
            std::optional<Handler> mine;
            {
              std::lock_guard lk(mu);
              if (!h) return;
              mine.emplace(std::move(*h));
              h.reset();
            }
            asio::post(ex, [h = std::move(*mine), r = std::move(r)]() mutable {
              std::move(h)(std::move(r));
            });
          }
          ~State() {
            if (h)
              finish({503,
                      kJson,
                      R"({"error":{"code":"unavailable","message":"no answer; try again later"}})"
                      "\n",
                      {}});
          }
        };
        auto st = std::make_shared<State>(std::move(handler), home);
        HttpCompletion done = [st](HttpResponse r) { st->finish(std::move(r)); };
        try {
          later(std::move(done));
        } catch (const std::exception& e) {
          spdlog::error("http: deferred handler: {}", e.what());
        }
      },
      asio::use_awaitable);
}

bool is_parse_error(const beast::error_code& ec) {
  static const auto& cat = http::make_error_code(http::error::bad_version).category();
  return ec.category() == cat && ec != http::error::end_of_stream &&
         ec != http::error::partial_message && ec != http::error::need_more;
}
}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  asio::io_context& ctx;
  HttpHandler handler;
  HttpServerOptions opts;
  std::unique_ptr<tcp::acceptor> acceptor;
  ConnectionRegistry registry;
  HttpCounters counters;
  std::atomic<int> lingering{0};  // closes in progress that still drain the client's bytes
  static constexpr int kMaxLingering = 256;
  Impl(asio::io_context& c, HttpHandler h, HttpServerOptions o)
      : ctx(c), handler(std::move(h)), opts(std::move(o)) {}

  HttpResponse call(const HttpRequest& r) {
    try {
      return handler(r);
    } catch (const std::exception& e) {
      spdlog::error("http {} {}: {}", r.method, r.path(), e.what());
      return {500,
              kJson,
              R"({"error":{"code":"internal","message":"internal error"}})"
              "\n",
              {}};
    }
  }

  // Writes a closing answer, then reads and drops what the client still sends (bounded in time
  // and bytes) before the close, so the answer is not lost to a reset (a "lingering close").
  asio::awaitable<void> answer_and_close(beast::tcp_stream& stream,
                                         http::response<http::string_body> res,
                                         std::chrono::milliseconds linger) {
    stream.expires_after(std::chrono::seconds(5));
    auto [wec, wn] = co_await http::async_write(stream, res, kTuple);
    beast::error_code ignored;
    if (!wec && lingering.fetch_add(1) < kMaxLingering) {
      stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
      stream.expires_after(linger);
      static thread_local char scratch[16384];
      size_t drained = 0;
      while (drained < (64u << 20)) {
        auto [ec, n] = co_await stream.async_read_some(asio::buffer(scratch), kTuple);
        if (ec) break;
        drained += n;
      }
      lingering.fetch_sub(1);
    } else if (!wec) {
      lingering.fetch_sub(1);
    }
    stream.socket().close(ignored);
  }

  // Open sessions by id, so stop() can close them and their coroutines end normally (a frame
  // destroyed mid-suspension with its io_context is a path g++ 12 gets wrong).
  std::mutex open_mu;
  std::unordered_map<uint64_t, tcp::socket*> open;
  uint64_t next_id = 0;
  bool closing = false;

  void close_all() {
    beast::error_code ignored;
    if (acceptor) acceptor->close(ignored);
    std::lock_guard lk(open_mu);
    closing = true;
    for (auto& [id, sock] : open) {
      sock->shutdown(tcp::socket::shutdown_both, ignored);
      sock->close(ignored);
    }
  }

  asio::awaitable<void> session(beast::tcp_stream stream, std::string ip, uint64_t id) {
    auto self = shared_from_this();
    {
      std::lock_guard lk(open_mu);
      if (closing) co_return;
      open[id] = &stream.socket();
    }
    beast::flat_buffer buf(8192);
    for (;;) {
      stream.expires_after(std::chrono::seconds(opts.read_timeout_s));
      http::request_parser<http::string_body> parser;
      parser.body_limit(opts.max_body);
      parser.header_limit(16384);
      auto [ec, n] = co_await http::async_read(stream, buf, parser, kTuple);
      // (the read buffer's 8 KiB cap bounds the header section first: buffer_overflow)
      if (ec == http::error::body_limit || ec == http::error::header_limit ||
          ec == http::error::buffer_overflow) {
        // (no temporaries of a conditional inside co_await: g++ 12 destroys them twice)
        http::response<http::string_body> res;
        if (ec == http::error::body_limit)
          res = transport_error(http::status::payload_too_large, "payload_too_large",
                                "request body too large");
        else
          res = transport_error(http::status::request_header_fields_too_large, "bad_request",
                                "request header too large");
        co_await answer_and_close(stream, std::move(res), std::chrono::seconds(2));
        co_return;
      }
      if (is_parse_error(ec)) {
        spdlog::debug("http {}: malformed request: {}", ip, ec.message());
        auto res =
            transport_error(http::status::bad_request, "bad_request", "malformed HTTP request");
        co_await answer_and_close(stream, std::move(res), std::chrono::seconds(2));
        co_return;
      }
      if (ec) break;
      auto& req = parser.get();
      HttpRequest r{std::string(req.method_string()),
                    std::string(req.target()),
                    std::move(req.body()),
                    {},
                    ip};
      for (const auto& f : req) {
        std::string name(f.name_string());
        for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        r.headers.emplace_back(std::move(name), std::string(f.value()));
      }
      HttpResponse out;
      asio::thread_pool* pool = opts.pool;
      if (opts.slow_pool && opts.is_slow && opts.is_slow(r)) pool = opts.slow_pool;
      if (pool) {
        // A named callable, not a temporary lambda with captures inside the co_await
        // expression: g++ 12 destroys such temporaries twice.
        auto job = [self, &r] { return self->call(r); };
        out = co_await offload(*pool, std::move(job));
      } else
        out = call(r);
      if (out.later) {
        auto later = std::move(out.later);
        out = co_await wait_later(std::move(later));
      }
      http::response<http::string_body> res{static_cast<http::status>(out.status), req.version()};
      res.set(http::field::server, "Tern");
      res.set(http::field::content_type, out.content_type);
      for (const auto& [k, v] : out.headers) res.set(k, v);
      res.keep_alive(req.keep_alive());
      res.body() = std::move(out.body);
      res.prepare_payload();
      // HEAD: the headers of the GET (Content-Length included), no body.
      if (req.method() == http::verb::head) res.body().clear();
      stream.expires_after(std::chrono::seconds(opts.read_timeout_s));
      auto [wec, wn] = co_await http::async_write(stream, res, kTuple);
      if (wec || !res.keep_alive()) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  asio::awaitable<void> reject(beast::tcp_stream stream, ConnectionRegistry::Admit why,
                               uint64_t id) {
    auto self = shared_from_this();
    {
      std::lock_guard lk(open_mu);
      if (closing) co_return;
      open[id] = &stream.socket();
    }
    http::response<http::string_body> res;
    if (why == ConnectionRegistry::Admit::total_full)
      res = transport_error(http::status::service_unavailable, "unavailable",
                            "server busy: too many connections; try again later");
    else
      res = transport_error(http::status::service_unavailable, "too_many_connections",
                            "too many connections from your address");
    co_await answer_and_close(stream, std::move(res), std::chrono::seconds(1));
  }

  // Called when a session (admitted) or a refusal ends: gives the slot back. The slot is given
  // back here, not by a guard in the coroutine frame: a frame destroyed with its io_context at
  // shutdown gives nothing back and must touch nothing.
  struct Done {
    std::shared_ptr<Impl> self;
    std::string ip;
    uint64_t id = 0;
    bool admitted = false;
    void operator()(std::exception_ptr e) {
      {
        std::lock_guard lk(self->open_mu);
        self->open.erase(id);
      }
      if (admitted) {
        self->registry.leave(ip);
        --self->counters.active;
      }
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::error("http connection {}: {}", ip, ex.what());
        }
      }
    }
  };

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    auto last_warn = std::chrono::steady_clock::time_point{};
    for (;;) {
      auto [ec, sock] = co_await acceptor->async_accept(kTuple);
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
        // EMFILE/ENFILE/ENOBUFS: the pending connection stays in the backlog; retrying at once
        // would spin a core. Wait, then try again.
        ++counters.accept_errors;
        const auto now = std::chrono::steady_clock::now();
        if (now - last_warn > std::chrono::seconds(10)) {
          spdlog::warn("http accept: {} (backing off)", ec.message());
          last_warn = now;
        }
        asio::steady_timer t(ctx, std::chrono::milliseconds(100));
        co_await t.async_wait(kTuple);
        continue;
      }
      beast::error_code ep_ec;
      auto ep = sock.remote_endpoint(ep_ec);
      std::string ip;
      if (!ep_ec) ip = ep.address().to_string();
      const auto admit = registry.enter(ip, opts.max_connections_per_ip, opts.max_connections);
      // Completion handlers are named locals (see session()).
      Done done{self, ip, next_id++, admit == ConnectionRegistry::Admit::ok};
      if (!done.admitted) {
        ++counters.rejected_connections;
        asio::co_spawn(ctx, reject(beast::tcp_stream(std::move(sock)), admit, done.id),
                       std::move(done));
        continue;
      }
      ++counters.active;
      const uint64_t id = done.id;
      asio::co_spawn(ctx, session(beast::tcp_stream(std::move(sock)), std::move(ip), id),
                     std::move(done));
    }
  }
};

HttpServer::HttpServer(asio::io_context& ctx, HttpHandler handler, HttpServerOptions opts)
    : impl_(std::make_shared<Impl>(ctx, std::move(handler), std::move(opts))) {}
HttpServer::~HttpServer() {
  if (impl_->ctx.stopped())
    impl_->close_all();  // nothing runs on it any more: safe from this thread
  else
    stop();
}

const HttpCounters& HttpServer::counters() const { return impl_->counters; }

size_t HttpServer::open_connections() const {
  std::lock_guard lk(impl_->open_mu);
  return impl_->open.size();
}

void HttpServer::listen(const std::string& address) {
  auto [host, port] = split_host_port(address);
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) throw std::runtime_error("http: bad address " + address);
  tcp::endpoint ep(addr, port);
  impl_->acceptor = std::make_unique<tcp::acceptor>(impl_->ctx);
  impl_->acceptor->open(ep.protocol(), ec);
  if (!ec) impl_->acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl_->acceptor->bind(ep, ec);
  if (!ec) impl_->acceptor->listen(1024, ec);
  if (ec) throw std::runtime_error("http: cannot listen on " + address + ": " + ec.message());
  spawn(impl_->ctx, impl_->accept_loop(), "http accept loop");
  spdlog::info("http listening on {}", address);
}

void HttpServer::stop() {
  if (!impl_) return;
  // On the listener's thread: the acceptor and the sockets belong to it.
  asio::post(impl_->ctx, [impl = impl_] { impl->close_all(); });
}

}  // namespace tern::net
