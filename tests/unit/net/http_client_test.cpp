// The webhook HTTP(S) POST driver against a scripted server on 127.0.0.1, names from a fake
// resolver: exact request (method, path, Host, headers, body), 2xx / 500 outcomes, SSRF
// refusals (loopback literal, a name resolving to 127.0.0.1, only allowed addresses of a
// mixed answer connected), 307/308 followed with the same POST and re-checked (refused
// redirect target, too many redirects), 302 not followed, https verified against a test CA
// with SNI (untrusted and wrong-name certificates refused), the overall deadline on a server
// that never answers, a bounded response body, and malformed input refused up front.
#include "net/http_client.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <filesystem>
#include <optional>

#include "dns/resolver.hpp"
#include "net/smtp_client.hpp"
#include "net/tls.hpp"
#include "unit/net/fake_http_server.hpp"
#include "unit/net/fake_smtp_server.hpp"
#include "unit/run_dir.hpp"

namespace tern::net {
namespace {

namespace asio = boost::asio;
using testing_http::FakeHttpServer;
using testing_http::HttpConn;
using testing_http::Request;

struct Tls {
  TlsFiles files;
  std::shared_ptr<asio::ssl::context> server;
};
const Tls& tls() {
  static const Tls t = [] {
    const std::string dir = (tern::test::run_dir() / "http_client_tls").string();
    Tls x;
    x.files = ensure_self_signed(dir, "hooks.test");
    x.server = make_server_context(x.files);
    return x;
  }();
  return t;
}

class HttpClientTest : public ::testing::Test {
 protected:
  HttpClientTest() {
    resolver_ = dns::make_fake_resolver(
        "hooks.test A 127.0.0.1\n"
        "other.test A 127.0.0.1\n"
        "evil.test A 127.0.0.1\n"
        "metadata.test A 169.254.169.254\n"
        "mixed.test A 10.1.2.3\n"
        "mixed.test A 127.0.0.1\n"
        "broken.test SERVFAIL\n");
    svc_.resolver = resolver_.get();
    svc_.blocking = &pool_;
    svc_.tls = make_client_context("");
    svc_.policy.allow_loopback = true;
  }
  ~HttpClientTest() override { pool_.join(); }

  HttpPostResult post(std::string url, std::string body = R"({"results":[]})", int timeout_s = 5) {
    HttpPost req;
    req.url = std::move(url);
    req.content_type = "application/json";
    req.body = std::move(body);
    req.timeout_s = timeout_s;
    req.headers.emplace_back("X-Tern-Timestamp", "1795341600");
    return run(std::move(req));
  }
  HttpPostResult run(HttpPost req) {
    std::optional<HttpPostResult> out;
    io_.restart();  // a previous run() may have left it stopped (out of work)
    start_http_post(io_, svc_, std::move(req), [&](HttpPostResult r) { out = std::move(r); });
    auto work = asio::make_work_guard(io_);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!out && std::chrono::steady_clock::now() < until)
      io_.run_one_for(std::chrono::milliseconds(100));
    EXPECT_TRUE(out.has_value()) << "no outcome within 30 s";
    return out.value_or(HttpPostResult{});
  }

  asio::io_context io_;
  asio::thread_pool pool_{1};
  std::unique_ptr<dns::Resolver> resolver_;
  HttpClientServices svc_;
};

// Reads one request into *seen and answers with the given status.
FakeHttpServer::Script answer(int status, std::string reason, Request* seen = nullptr,
                              std::vector<std::pair<std::string, std::string>> headers = {},
                              std::string body = "") {
  return [=](HttpConn& c) {
    auto r = c.read_request();
    if (!r) return;
    if (seen) *seen = *r;
    c.respond(status, reason, body, headers);
  };
}

TEST_F(HttpClientTest, PostsExactlyTheRequestAndReports200) {
  Request seen;
  FakeHttpServer srv({answer(200, "OK", &seen)});
  auto r = post(srv.url("/hook?x=1"), R"({"results":[{"a":1}]})");
  srv.join();
  EXPECT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.reason, "OK");
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.target, "/hook?x=1");
  EXPECT_EQ(seen.header("host"), "127.0.0.1:" + std::to_string(srv.port()));
  EXPECT_EQ(seen.header("content-type"), "application/json");
  EXPECT_EQ(seen.header("user-agent"), "Tern-Webhooks/1");
  EXPECT_EQ(seen.header("x-tern-timestamp"), "1795341600");
  EXPECT_EQ(seen.header("content-length"), "21");
  EXPECT_EQ(seen.body, R"({"results":[{"a":1}]})");
}

TEST_F(HttpClientTest, ServerErrorIsATemporaryFailureWithTheStatus) {
  FakeHttpServer srv({answer(500, "Internal Server Error")});
  auto r = post(srv.url());
  srv.join();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.error, "HTTP 500 Internal Server Error");
  EXPECT_FALSE(r.permanent);
}

TEST_F(HttpClientTest, LoopbackLiteralRefusedUnlessAllowed) {
  svc_.policy.allow_loopback = false;
  FakeHttpServer srv({answer(200, "OK")});
  auto r = post(srv.url());
  srv.join();
  EXPECT_EQ(srv.accepted(), 0u);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.permanent);
  EXPECT_NE(r.error.find("127.0.0.1"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("loopback"), std::string::npos) << r.error;
}

TEST_F(HttpClientTest, NameResolvingToLoopbackRefused) {
  svc_.policy.allow_loopback = false;
  FakeHttpServer srv({answer(200, "OK")});
  auto r = post(srv.url("/hook", "evil.test"));
  srv.join();
  EXPECT_EQ(srv.accepted(), 0u);
  EXPECT_TRUE(r.permanent);
  EXPECT_NE(r.error.find("127.0.0.1: loopback"), std::string::npos) << r.error;
}

TEST_F(HttpClientTest, OperatorAllowListLetsAPrefixThrough) {
  svc_.policy.allow_loopback = false;
  svc_.policy.allow.emplace_back(*dns::IpAddr::parse("127.0.0.0"), 8);
  FakeHttpServer srv({answer(204, "No Content")});
  auto r = post(srv.url("/hook", "hooks.test"));
  srv.join();
  EXPECT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.status, 204);
}

TEST_F(HttpClientTest, OnlyAllowedAddressesOfAMixedAnswerAreConnected) {
  // 10.1.2.3 is private: never connected (it would time out); 127.0.0.1 is allowed in tests.
  FakeHttpServer srv({answer(200, "OK")});
  auto start = std::chrono::steady_clock::now();
  auto r = post(srv.url("/hook", "mixed.test"));
  srv.join();
  EXPECT_TRUE(r.ok()) << r.error;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST_F(HttpClientTest, Redirect307IsFollowedWithTheSamePost) {
  Request first, second;
  FakeHttpServer target({answer(200, "OK", &second)});
  FakeHttpServer srv({answer(307, "Temporary Redirect", &first,
                             {{"Location", target.url("/moved", "hooks.test")}})});
  auto r = post(srv.url(), R"({"x":1})");
  srv.join();
  target.join();
  EXPECT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.redirects, 1);
  EXPECT_EQ(r.url, target.url("/moved", "hooks.test"));
  EXPECT_EQ(second.method, "POST");
  EXPECT_EQ(second.target, "/moved");
  EXPECT_EQ(second.body, R"({"x":1})");
  EXPECT_EQ(second.header("host"), "hooks.test:" + std::to_string(target.port()));
  EXPECT_EQ(second.header("x-tern-timestamp"), "1795341600");
}

TEST_F(HttpClientTest, Redirect308ToAPathOnTheSameOrigin) {
  Request second;
  FakeHttpServer srv({answer(308, "Permanent Redirect", nullptr, {{"Location", "/v2/hook"}}),
                      answer(200, "OK", &second)});
  auto r = post(srv.url());
  srv.join();
  EXPECT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(second.target, "/v2/hook");
}

TEST_F(HttpClientTest, RedirectToARefusedAddressIsRefused) {
  FakeHttpServer srv({answer(307, "Temporary Redirect", nullptr,
                             {{"Location", "http://metadata.test/latest/meta-data/"}})});
  auto r = post(srv.url());
  srv.join();
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.permanent);
  EXPECT_NE(r.error.find("169.254.169.254: link-local"), std::string::npos) << r.error;

  FakeHttpServer srv2(
      {answer(308, "Permanent Redirect", nullptr, {{"Location", "http://[::1]:9/x"}})});
  svc_.policy.allow_loopback = false;
  svc_.policy.allow.emplace_back(*dns::IpAddr::parse("127.0.0.1"), 32);  // the first hop only
  auto r2 = post(srv2.url());
  srv2.join();
  EXPECT_TRUE(r2.permanent);
  EXPECT_NE(r2.error.find("::1"), std::string::npos) << r2.error;
}

TEST_F(HttpClientTest, AtMostThreeRedirects) {
  std::vector<FakeHttpServer::Script> hops;
  for (int i = 0; i < 4; ++i)
    hops.push_back(answer(307, "Temporary Redirect", nullptr, {{"Location", "/again"}}));
  FakeHttpServer srv(hops);
  auto r = post(srv.url());
  srv.join();
  EXPECT_EQ(srv.accepted(), 4u);  // the first request and three redirects
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error.find("more than 3 redirects"), std::string::npos) << r.error;
}

TEST_F(HttpClientTest, Redirect302IsNotFollowed) {
  FakeHttpServer srv({answer(302, "Found", nullptr, {{"Location", "/elsewhere"}})});
  auto r = post(srv.url());
  srv.join();
  EXPECT_EQ(srv.accepted(), 1u);
  EXPECT_EQ(r.status, 302);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error.find("not followed"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("/elsewhere"), std::string::npos) << r.error;
}

TEST_F(HttpClientTest, HttpsVerifiedAgainstTheTestCaWithSni) {
  svc_.tls = make_client_context(tls().files.cert);
  std::string sni;
  Request seen;
  FakeHttpServer srv({[&](HttpConn& c) {
                       sni = c.sni;
                       answer(200, "OK", &seen)(c);
                     }},
                     tls().server->native_handle());
  auto r = post(srv.url("/secure", "hooks.test"));
  srv.join();
  EXPECT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(sni, "hooks.test");
  EXPECT_EQ(seen.target, "/secure");
}

TEST_F(HttpClientTest, HttpsWithAnUntrustedCertificateFails) {
  // svc_.tls trusts only the system CAs: the self-signed test certificate is not among them.
  FakeHttpServer srv({[](HttpConn& c) { c.read_request(); }}, tls().server->native_handle());
  auto r = post(srv.url("/secure", "hooks.test"));
  srv.join();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.error.find("TLS handshake with hooks.test failed"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("certificate"), std::string::npos) << r.error;
}

TEST_F(HttpClientTest, HttpsWithTheWrongHostNameFails) {
  svc_.tls = make_client_context(tls().files.cert);
  FakeHttpServer srv({[](HttpConn& c) { c.read_request(); }}, tls().server->native_handle());
  auto r = post(srv.url("/secure", "other.test"));
  srv.join();
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error.find("TLS handshake with other.test failed"), std::string::npos) << r.error;
}

TEST_F(HttpClientTest, ServerThatNeverAnswersHitsTheDeadline) {
  FakeHttpServer srv({[](HttpConn& c) { c.hang(4000); }});
  auto start = std::chrono::steady_clock::now();
  auto r = post(srv.url(), "{}", 1);
  auto took = std::chrono::steady_clock::now() - start;
  srv.join();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.error.find("timeout after 1 s"), std::string::npos) << r.error;
  EXPECT_FALSE(r.permanent);
  EXPECT_LT(took, std::chrono::milliseconds(2500));
  EXPECT_GE(took, std::chrono::milliseconds(900));
}

TEST_F(HttpClientTest, ResponseBodyIsReadUpTo64KiB) {
  FakeHttpServer srv({answer(200, "OK", nullptr, {}, std::string(300 * 1024, 'z'))});
  auto r = post(srv.url());
  srv.join();
  EXPECT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.body.size(), kHttpMaxResponseBody);
}

TEST_F(HttpClientTest, ConnectionRefusedAndDnsFailuresAreTemporary) {
  testing_net::ClosedPort closed;
  auto r = post("http://127.0.0.1:" + std::to_string(closed.port()) + "/hook");
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.permanent);
  EXPECT_NE(r.error.find("connect to 127.0.0.1:" + std::to_string(closed.port())),
            std::string::npos)
      << r.error;

  auto n = post("http://nowhere.test/hook");
  EXPECT_EQ(n.error, "no such host nowhere.test");
  EXPECT_FALSE(n.permanent);
  auto s = post("http://broken.test/hook");
  EXPECT_NE(s.error.find("DNS look-up of broken.test failed"), std::string::npos) << s.error;
}

TEST_F(HttpClientTest, MalformedInputIsRefusedBeforeAnyConnection) {
  for (const char* u : {"ftp://hooks.test/", "http://user@hooks.test/", "http://2130706433/",
                        "http://hooks.test/a b", ""}) {
    auto r = post(u);
    EXPECT_TRUE(r.permanent) << u;
    EXPECT_EQ(r.error.rfind("bad URL", 0), 0u) << u << ": " << r.error;
  }
  HttpPost req;
  req.url = "http://hooks.test/";
  req.content_type = "application/json";
  req.headers.emplace_back("X-Evil", "a\r\nInjected: 1");
  auto r = run(req);
  EXPECT_TRUE(r.permanent);
  EXPECT_NE(r.error.find("bad request header"), std::string::npos) << r.error;
}

}  // namespace
}  // namespace tern::net
