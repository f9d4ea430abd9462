// Minimal HTTP/1.1 listener (Boost.Beast) for the operational endpoints (/healthz, /metrics),
// the REST API (/api/v1), tracking (/t/...) and sender verification (/v/...). Routing is a plain
// function supplied by the composition root, so this file holds only the transport: keep-alive,
// bounded request size (header section 8 KiB → 431, body max_body → 413, each answered then
// closed), read deadline.
// Handlers may block (SQLite, DNS checks, a test delivery): when a pool is given they run there,
// never on the I/O thread.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace boost::asio {
class io_context;
class thread_pool;
}

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
struct HttpResponse {
  HttpResponse() = default;
  HttpResponse(int s, std::string ct, std::string b,
               std::vector<std::pair<std::string, std::string>> h = {})
      : status(s), content_type(std::move(ct)), body(std::move(b)), headers(std::move(h)) {}
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra (Location, Cache-Control)
};
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpServer {
 public:
  // pool: where handlers run (null: on the I/O thread). max_body: request body limit.
  HttpServer(boost::asio::io_context& ctx, HttpHandler handler,
             boost::asio::thread_pool* pool = nullptr, size_t max_body = 1 << 20);
  ~HttpServer();
  void listen(const std::string& address);  // throws std::runtime_error on failure
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tern::net
