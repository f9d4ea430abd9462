// Minimal HTTP/1.1 listener (Boost.Beast) for the operational endpoints (/healthz, /metrics),
// the REST API (/api/v1), tracking (/t/...) and sender verification (/v/...). Routing is a plain
// function supplied by the composition root, so this file holds only the transport.
// Invariants:
// - Handlers may block (SQLite, DNS checks): they run on `pool` (or `slow_pool` for the
//   requests `is_slow` picks), never on the I/O thread (net::offload). A handler that waits on
//   the outside world for long (a test email) answers with HttpResponse::later instead, so no
//   thread waits with it.
// - Every request that gets a reply gets a readable one: a header section over 8 KiB → 431, a
//   body over max_body → 413, a request Beast cannot parse (Content-Length with
//   Transfer-Encoding, a bad Content-Length, HTTP/0.9, bare LF, ...) → 400; each is answered,
//   then the connection is closed after reading (and dropping) what the client still sends for a
//   short while, so the answer is not destroyed by a TCP reset.
// - Connections are capped in total and per client (IPv4 address, IPv6 /64); over a cap the
//   client gets 503 and the connection is closed. accept() failures (EMFILE) back off.
// - Each read has a deadline (idle keep-alive and slow requests alike).
// - HEAD gets the headers the handler's answer would have for GET (Content-Length included)
//   and no body; handlers answer HEAD like GET.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace boost::asio {
class io_context;
class thread_pool;
}  // namespace boost::asio

namespace tern::net {

struct HttpRequest {
  std::string method;
  std::string target;  // as sent: path and query
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case, in order
  std::string remote_ip;
  // First header with this (lower-case) name, "" when absent.
  std::string_view header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return v;
    return {};
  }
  std::string_view path() const {
    std::string_view t = target;
    return t.substr(0, t.find('?'));
  }
  std::string_view query() const {
    std::string_view t = target;
    auto q = t.find('?');
    return q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
  }
};
struct HttpResponse;
using HttpCompletion = std::function<void(HttpResponse)>;
struct HttpResponse {
  HttpResponse() = default;
  HttpResponse(int s, std::string ct, std::string b,
               std::vector<std::pair<std::string, std::string>> h = {})
      : status(s), content_type(std::move(ct)), body(std::move(b)), headers(std::move(h)) {}
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra (Location, Cache-Control)
  // Set by a handler that answers later (a test email waits on a remote server): the
  // transport calls it once (on its I/O thread: it must only start work, never block) with a
  // completion, and writes the response the completion is given (from any thread, once). No
  // thread is held meanwhile. A completion destroyed without being called answers 503.
  std::function<void(HttpCompletion)> later;
};
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  boost::asio::thread_pool* pool = nullptr;       // where handlers run (null: the I/O thread)
  boost::asio::thread_pool* slow_pool = nullptr;  // requests is_slow() picks (null: pool)
  std::function<bool(const HttpRequest&)> is_slow;
  size_t max_body = 1 << 20;
  size_t max_connections = 2000;
  size_t max_connections_per_ip = 100;
  int read_timeout_s = 30;
};

struct HttpCounters {
  std::atomic<uint64_t> active{0};
  std::atomic<uint64_t> rejected_connections{0};  // over a connection cap
  std::atomic<uint64_t> accept_errors{0};         // EMFILE and friends
};

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& ctx, HttpHandler handler, HttpServerOptions opts = {});
  ~HttpServer();
  void listen(const std::string& address);  // throws std::runtime_error on failure
  // Closes the listener and every open connection (asynchronously, on the listener's thread).
  void stop();
  const HttpCounters& counters() const;
  size_t open_connections() const;  // sessions and refusals still running

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tern::net
