// One outbound HTTP(S) POST for webhooks (SPEC §5, issue 5), SSRF-safe. The only HTTP client
// code that touches sockets; a coroutine on the caller's io_context, outcome as a value.
//
// Behaviour:
//  - The URL is parsed by report::parse_url (strict). A host name is resolved here, through
//    the given dns::Resolver (A and AAAA, on the blocking pool), never by Asio; every address
//    is judged by report::check_address and only allowed ones are connected to, in the order
//    A then AAAA (a failed connect moves on to the next). No allowed address → a permanent
//    error naming the refusal ("refused target address 127.0.0.1: loopback").
//  - https: the certificate chain is verified against the client context's CAs (system CAs
//    plus the operator's ca_file; see make_client_context) and the URL's host name, with SNI
//    for names (not for IP literals).
//  - Redirects: 307 and 308 are followed (the POST is sent again, same body and headers) at
//    most 3 times; every new target is parsed, resolved and checked like the first. 301, 302
//    and 303 are not followed (turning the POST into a GET would drop the report): they are a
//    failure "redirected (302) to <Location>, not followed", retried like any other status.
//  - One deadline (timeout_s) covers the whole request: look-ups, connects, TLS, redirects,
//    reading the response. (A DNS look-up in progress cannot be interrupted; the deadline is
//    checked when it returns.)
//  - The response body is read up to 64 KiB; the rest is not read. Response headers above
//    8 KiB are an error.
//
// Outcome: status (the final HTTP status, 0 when none was received), error ("" for 2xx, else
// why), permanent (retrying the same URL cannot help: malformed URL, refused target).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "report/target_policy.hpp"

namespace boost::asio {
class io_context;
class thread_pool;
namespace ssl {
class context;
}
}  // namespace boost::asio
namespace tern::dns {
class Resolver;
}

namespace tern::net {

struct HttpPost {
  std::string url;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;  // extra request headers
  std::string body;
  int timeout_s = 10;
};

struct HttpPostResult {
  int status = 0;             // final HTTP status; 0 = no response
  std::string reason;         // the status line's reason phrase (remote text, printable)
  std::string error;          // "" when 2xx
  bool status_error = false;  // the error is the final status itself ("HTTP 500 reason")
  bool permanent = false;     // retrying cannot help (bad URL, refused target)
  std::string url;            // the URL that answered (after redirects)
  std::string body;           // at most the first 64 KiB of the response body
  int redirects = 0;
  bool ok() const { return status >= 200 && status < 300; }
};

struct HttpClientServices {
  dns::Resolver* resolver = nullptr;               // blocking, thread-safe
  boost::asio::thread_pool* blocking = nullptr;    // where look-ups run
  std::shared_ptr<boost::asio::ssl::context> tls;  // make_client_context(ca_file)
  report::TargetPolicy policy;
};

constexpr size_t kHttpMaxResponseBody = 64 * 1024;
constexpr int kHttpMaxRedirects = 3;

// Starts the POST on io; done runs on io exactly once with the outcome. svc must outlive it.
void start_http_post(boost::asio::io_context& io, const HttpClientServices& svc, HttpPost req,
                     std::function<void(HttpPostResult)> done);

}  // namespace tern::net
