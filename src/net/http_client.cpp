// The webhook HTTP(S) POST driver (see http_client.hpp for the contract). One coroutine per
// request: parse → resolve (blocking pool) → check every address → connect → TLS → write →
// read, then follow a 307/308 with the same steps. Beast's templates stay in this file.
//
// Invariants:
//  - Asio never resolves a name: connections go to an address that report::check_address
//    allowed, and the TLS name check / SNI use the URL's host.
//  - Every socket operation runs under the request's one absolute deadline (tcp_stream
//    expires_at), so a server that accepts and never answers costs at most timeout_s.
//  - done is called exactly once, on the io_context, unless the io_context is destroyed first.
#include "net/http_client.hpp"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>

#include "dns/resolver.hpp"

namespace tern::net {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using asio::awaitable;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr size_t kHeaderLimit = 8 * 1024;

// Remote text for an error message or a log: printable ASCII only, capped.
std::string printable(std::string_view s, size_t cap = 200) {
  std::string r;
  for (char ch : s.substr(0, cap)) {
    auto u = static_cast<unsigned char>(ch);
    r += (u < 0x20 || u >= 0x7f) ? '?' : ch;
  }
  if (s.size() > cap) r += "...";
  return r;
}

std::string host_for_url(const report::TargetUrl& t) {
  return t.host.find(':') != std::string::npos ? "[" + t.host + "]" : t.host;
}

std::string authority(const report::TargetUrl& t) {
  const uint16_t def = t.scheme == "https" ? 443 : 80;
  std::string a = host_for_url(t);
  if (t.port != def) a += ":" + std::to_string(t.port);
  return a;
}

std::string endpoint_text(const dns::IpAddr& a, uint16_t port) {
  return (a.v6 ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(port);
}

struct Resolved {
  std::vector<dns::IpAddr> addrs;
  std::string error;
};

// Blocking: A then AAAA. An error only when neither gave an address.
Resolved resolve(dns::Resolver& r, const std::string& host) {
  Resolved out;
  std::string temp_error;
  bool nxdomain = false;
  for (auto type : {dns::RType::A, dns::RType::AAAA}) {
    auto ans = r.query(host, type);
    if (ans.status == dns::Answer::Status::temp_error) temp_error = ans.error;
    if (ans.status == dns::Answer::Status::nxdomain) nxdomain = true;
    for (const auto& s : ans.addrs)
      if (auto ip = dns::IpAddr::parse(s)) out.addrs.push_back(*ip);
  }
  if (out.addrs.empty()) {
    if (!temp_error.empty())
      out.error = "DNS look-up of " + host + " failed: " + printable(temp_error);
    else if (nxdomain)
      out.error = "no such host " + host;
    else
      out.error = "host " + host + " has no address";
  }
  return out;
}

// Runs f() on the pool; the awaiting coroutine resumes on io with the value. Not a coroutine
// itself (GCC 12 mishandles lambdas copied into coroutine frames), so f is moved straight into
// the posted job.
template <class T, class F>
auto on_pool(asio::thread_pool& pool, asio::io_context& io, F f) {
  return asio::async_initiate<decltype(asio::use_awaitable), void(T)>(
      [&pool, &io](auto handler, F fn) {
        // The io_context counts the job as work: run() does not return while it runs.
        auto back = asio::prefer(io.get_executor(), asio::execution::outstanding_work.tracked);
        asio::post(pool, [back, fn = std::move(fn), h = std::move(handler)]() mutable {
          T v = fn();
          asio::post(
              back, [h = std::move(h), v = std::move(v)]() mutable { std::move(h)(std::move(v)); });
        });
      },
      asio::use_awaitable, std::move(f));
}

struct Exchange {
  error_code ec;        // the first error, if any
  bool header = false;  // a response header was read
  int status = 0;
  std::string reason;
  std::string location;
  std::string body;
};

// Writes the request and reads the response header and up to kHttpMaxResponseBody of its
// body, all before `deadline`.
template <class Stream>
awaitable<Exchange> exchange(Stream& s, beast::tcp_stream& tcp, Clock::time_point deadline,
                             const http::request<http::string_body>& rq) {
  Exchange x;
  beast::flat_buffer buf;
  tcp.expires_at(deadline);
  std::tie(x.ec, std::ignore) = co_await http::async_write(s, rq, kTuple);
  if (x.ec) co_return x;
  http::response_parser<http::buffer_body> p;
  p.header_limit(kHeaderLimit);
  p.body_limit(boost::none);  // we stop reading at our own limit instead
  tcp.expires_at(deadline);
  std::tie(x.ec, std::ignore) = co_await http::async_read_header(s, buf, p, kTuple);
  if (x.ec) co_return x;
  x.header = true;
  x.status = static_cast<int>(p.get().result_int());
  x.reason = printable(p.get().reason(), 100);
  if (auto it = p.get().find(http::field::location); it != p.get().end())
    x.location = std::string(it->value());
  char tmp[16384];
  while (!p.is_done() && x.body.size() < kHttpMaxResponseBody) {
    p.get().body().data = tmp;
    p.get().body().size = sizeof tmp;
    tcp.expires_at(deadline);
    error_code ec;
    std::tie(ec, std::ignore) = co_await http::async_read(s, buf, p, kTuple);
    const size_t got = sizeof tmp - p.get().body().size;
    x.body.append(tmp, std::min(got, kHttpMaxResponseBody - x.body.size()));
    if (ec == http::error::need_buffer) continue;
    // A body cut short still leaves us the status: keep it, note nothing.
    break;
  }
  co_return x;
}

std::string describe(const error_code& ec, int timeout_s) {
  if (ec == beast::error::timeout || ec == asio::error::operation_aborted)
    return "timeout after " + std::to_string(timeout_s) + " s";
  return ec.message();
}

bool bad_header_text(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

awaitable<HttpPostResult> run(asio::io_context& io, const HttpClientServices& svc, HttpPost req) {
  HttpPostResult res;
  const auto deadline = Clock::now() + std::chrono::seconds(req.timeout_s);
  auto expired = [&] { return Clock::now() >= deadline; };
  auto fail = [&](std::string why, bool permanent = false) {
    res.error = std::move(why);
    res.permanent = permanent;
    return res;
  };
  if (bad_header_text(req.content_type)) co_return fail("bad Content-Type value", true);
  for (const auto& [k, v] : req.headers)
    if (k.empty() || bad_header_text(k) || bad_header_text(v) || k.find(':') != std::string::npos)
      co_return fail("bad request header " + printable(k, 40), true);

  std::string url = req.url;
  for (int hop = 0;; ++hop) {
    res = HttpPostResult{};
    res.url = url;
    res.redirects = hop;
    auto t = report::parse_url(url);
    if (!t) co_return fail("bad URL: " + t.error().message, true);

    std::vector<dns::IpAddr> candidates;
    if (t->ip) {
      candidates.push_back(*t->ip);
    } else {
      if (!svc.resolver || !svc.blocking) co_return fail("no resolver for " + t->host);
      auto job = [r = svc.resolver, h = t->host] { return resolve(*r, h); };
      Resolved r = co_await on_pool<Resolved>(*svc.blocking, io, std::move(job));
      if (!r.error.empty()) co_return fail(std::move(r.error));
      candidates = std::move(r.addrs);
    }
    if (expired()) co_return fail("timeout after " + std::to_string(req.timeout_s) + " s");

    std::vector<dns::IpAddr> allowed;
    std::string refusal;
    for (const auto& a : candidates) {
      auto c = report::check_address(a, svc.policy);
      if (c)
        allowed.push_back(a);
      else if (refusal.empty())
        refusal = c.error().message;
    }
    if (allowed.empty()) co_return fail(refusal, true);

    beast::tcp_stream stream(io);
    std::string connect_error;
    bool connected = false;
    for (const auto& a : allowed) {
      error_code ec;
      auto addr = asio::ip::make_address(a.to_string(), ec);
      if (ec) continue;
      stream.expires_at(deadline);
      std::tie(ec) = co_await stream.async_connect(tcp::endpoint(addr, t->port), kTuple);
      if (!ec) {
        connected = true;
        break;
      }
      connect_error =
          "connect to " + endpoint_text(a, t->port) + ": " + describe(ec, req.timeout_s);
      error_code ignored;
      stream.socket().close(ignored);
      if (expired()) break;
    }
    if (!connected) co_return fail(connect_error.empty() ? "no usable address" : connect_error);

    http::request<http::string_body> rq{http::verb::post, t->path, 11};
    rq.set(http::field::host, authority(*t));
    rq.set(http::field::user_agent, "Tern-Webhooks/1");
    rq.set(http::field::content_type, req.content_type);
    rq.set(http::field::connection, "close");
    for (const auto& [k, v] : req.headers) rq.set(k, v);
    rq.body() = req.body;
    rq.prepare_payload();

    Exchange x;
    if (t->scheme == "https") {
      if (!svc.tls) co_return fail("https needs a TLS client context", true);
      beast::ssl_stream<beast::tcp_stream> tls(std::move(stream), *svc.tls);
      tls.set_verify_mode(ssl::verify_peer);
      tls.set_verify_callback(ssl::host_name_verification(t->host));
      if (!t->ip) SSL_set_tlsext_host_name(tls.native_handle(), t->host.c_str());
      tls.next_layer().expires_at(deadline);
      auto [ec] = co_await tls.async_handshake(ssl::stream_base::client, kTuple);
      if (ec) {
        std::string why = describe(ec, req.timeout_s);
        long v = SSL_get_verify_result(tls.native_handle());
        if (v != X509_V_OK) why += std::string(" (") + X509_verify_cert_error_string(v) + ")";
        co_return fail("TLS handshake with " + t->host + " failed: " + why);
      }
      x = co_await exchange(tls, tls.next_layer(), deadline, rq);
    } else {
      x = co_await exchange(stream, stream, deadline, rq);
    }
    if (!x.header) {
      co_return fail((x.ec ? describe(x.ec, req.timeout_s) : std::string("no response")) +
                     " (POST " + printable(url) + ")");
    }
    res.status = x.status;
    res.reason = std::move(x.reason);
    res.body = std::move(x.body);
    if (res.ok()) co_return res;
    if (x.status == 307 || x.status == 308) {
      if (x.location.empty())
        co_return fail("redirect (" + std::to_string(x.status) + ") without Location");
      if (hop >= kHttpMaxRedirects)
        co_return fail("more than " + std::to_string(kHttpMaxRedirects) + " redirects");
      std::string next = x.location;
      if (next.starts_with("/") && !next.starts_with("//"))
        next = t->scheme + "://" + authority(*t) + next;
      else if (next.find("://") == std::string::npos)
        co_return fail("redirect to an unsupported Location " + printable(next, 100));
      url = std::move(next);
      continue;
    }
    if (x.status >= 300 && x.status < 400)
      co_return fail("redirected (" + std::to_string(x.status) + ") to " +
                     printable(x.location, 200) + ", not followed (only 307/308 keep the POST)");
    res.status_error = true;
    co_return fail("HTTP " + std::to_string(x.status) + (res.reason.empty() ? "" : " ") +
                   res.reason);
  }
}

}  // namespace

void start_http_post(asio::io_context& io, const HttpClientServices& svc, HttpPost req,
                     std::function<void(HttpPostResult)> done) {
  const std::string url = req.url;
  asio::co_spawn(io, run(io, svc, std::move(req)),
                 [done = std::move(done), url](std::exception_ptr e, HttpPostResult r) {
                   if (e) {
                     r = HttpPostResult{};
                     r.url = url;
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       r.error = std::string("internal error: ") + ex.what();
                     } catch (...) {
                       r.error = "internal error";
                     }
                   }
                   done(std::move(r));
                 });
}

}  // namespace tern::net
