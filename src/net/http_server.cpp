#include "net/http_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "net/smtp_server.hpp"  // split_host_port

namespace tern::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  asio::io_context& ctx;
  HttpHandler handler;
  asio::thread_pool* pool;
  size_t max_body;
  std::unique_ptr<tcp::acceptor> acceptor;
  Impl(asio::io_context& c, HttpHandler h, asio::thread_pool* p, size_t mb)
      : ctx(c), handler(std::move(h)), pool(p), max_body(mb) {}

  HttpResponse call(const HttpRequest& r) {
    try {
      return handler(r);
    } catch (const std::exception& e) {
      spdlog::error("http {} {}: {}", r.method, r.path(), e.what());
      return {500, "application/json",
              R"({"error":{"code":"internal","message":"internal error"}})" "\n", {}};
    }
  }

  asio::awaitable<void> session(beast::tcp_stream stream) {
    beast::flat_buffer buf(8192);
    for (;;) {
      stream.expires_after(std::chrono::seconds(30));
      http::request_parser<http::string_body> parser;
      parser.body_limit(max_body);
      parser.header_limit(16384);
      auto [ec, n] = co_await http::async_read(stream, buf, parser, kTuple);
      // (the read buffer's 8 KiB cap bounds the header section first: buffer_overflow)
      if (ec == http::error::body_limit || ec == http::error::header_limit ||
          ec == http::error::buffer_overflow) {
        // Answer instead of dropping the connection, then close: the rest of the request is
        // not read.
        const bool body = ec == http::error::body_limit;
        http::response<http::string_body> res{
            body ? http::status::payload_too_large
                 : http::status::request_header_fields_too_large, 11};
        res.set(http::field::server, "Tern");
        res.set(http::field::content_type, "application/json");
        res.body() = body ? R"({"error":{"code":"payload_too_large","message":"request body too large"}})" "\n"
                          : R"({"error":{"code":"bad_request","message":"request header too large"}})" "\n";
        res.keep_alive(false);
        res.prepare_payload();
        co_await http::async_write(stream, res, kTuple);
        break;
      }
      if (ec) break;
      auto& req = parser.get();
      HttpRequest r{std::string(req.method_string()), std::string(req.target()),
                    std::move(req.body()), {}, {}};
      for (const auto& f : req) {
        std::string name(f.name_string());
        for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        r.headers.emplace_back(std::move(name), std::string(f.value()));
      }
      {
        beast::error_code ep_ec;
        auto ep = stream.socket().remote_endpoint(ep_ec);
        if (!ep_ec) r.remote_ip = ep.address().to_string();
      }
      HttpResponse out;
      if (pool) {
        // Run the handler on the pool and come back to this connection's executor.
        auto ex = co_await asio::this_coro::executor;
        co_await asio::post(*pool, asio::use_awaitable);
        out = call(r);
        co_await asio::post(ex, asio::use_awaitable);
      } else {
        out = call(r);
      }
      http::response<http::string_body> res{static_cast<http::status>(out.status), req.version()};
      res.set(http::field::server, "Tern");
      res.set(http::field::content_type, out.content_type);
      for (const auto& [k, v] : out.headers) res.set(k, v);
      res.keep_alive(req.keep_alive());
      res.body() = std::move(out.body);
      res.prepare_payload();
      auto [wec, wn] = co_await http::async_write(stream, res, kTuple);
      if (wec || !res.keep_alive()) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    for (;;) {
      auto [ec, sock] = co_await acceptor->async_accept(kTuple);
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
        continue;
      }
      asio::co_spawn(ctx, session(beast::tcp_stream(std::move(sock))), asio::detached);
    }
  }
};

HttpServer::HttpServer(asio::io_context& ctx, HttpHandler handler, asio::thread_pool* pool,
                       size_t max_body)
    : impl_(std::make_shared<Impl>(ctx, std::move(handler), pool, max_body)) {}
HttpServer::~HttpServer() { stop(); }

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
  asio::co_spawn(impl_->ctx, impl_->accept_loop(), asio::detached);
  spdlog::info("http listening on {}", address);
}

void HttpServer::stop() {
  if (impl_ && impl_->acceptor) {
    boost::system::error_code ec;
    impl_->acceptor->close(ec);
  }
}

}  // namespace tern::net
