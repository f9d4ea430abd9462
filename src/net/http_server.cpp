#include "net/http_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
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
  std::unique_ptr<tcp::acceptor> acceptor;
  Impl(asio::io_context& c, HttpHandler h) : ctx(c), handler(std::move(h)) {}

  asio::awaitable<void> session(beast::tcp_stream stream) {
    beast::flat_buffer buf(8192);
    for (;;) {
      stream.expires_after(std::chrono::seconds(30));
      http::request_parser<http::string_body> parser;
      parser.body_limit(1 << 20);
      parser.header_limit(16384);
      auto [ec, n] = co_await http::async_read(stream, buf, parser, kTuple);
      if (ec) break;
      auto& req = parser.get();
      HttpRequest r{std::string(req.method_string()), std::string(req.target()), req.body()};
      HttpResponse out;
      try {
        out = handler(r);
      } catch (const std::exception& e) {
        out = {500, "text/plain", std::string("internal error: ") + e.what() + "\n"};
      }
      http::response<http::string_body> res{static_cast<http::status>(out.status), req.version()};
      res.set(http::field::server, "Tern");
      res.set(http::field::content_type, out.content_type);
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

HttpServer::HttpServer(asio::io_context& ctx, HttpHandler handler)
    : impl_(std::make_shared<Impl>(ctx, std::move(handler))) {}
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
