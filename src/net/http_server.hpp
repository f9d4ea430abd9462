// Minimal HTTP/1.1 listener (Boost.Beast) for operational endpoints (/healthz, /metrics) now and
// the REST API later. Routing is a plain function supplied by the composition root, so this file
// holds only the transport: keep-alive, bounded request size, read deadline.
#pragma once
#include <functional>
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}

namespace tern::net {

struct HttpRequest {
  std::string method;
  std::string target;
  std::string body;
};
struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& ctx, HttpHandler handler);
  ~HttpServer();
  void listen(const std::string& address);  // throws std::runtime_error on failure
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tern::net
