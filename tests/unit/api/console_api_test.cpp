// The console's API (issue 13) through api::handle over real SQLite stores and a fake clock,
// without a browser: the cookie and CSRF rules as pure functions and through the router
// (login with the operator token, an API key or a one-time code; cookie attributes; CSRF on
// every state change; bearer auth untouched; fixation; logout; a revoked key ends its
// session; login rate limit), suspension (403 for the account's keys and sessions, the
// operator still reaches it), the platform view without secrets, statistics, suppression
// search and bulk, captured sandbox mail (CSP, raw as a download), webhook history, retry and
// test, the operator's queue (a fake QueueControl), the test email answered later with one at
// a time per account, and the isolation of every new resource between two accounts (404).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/api.hpp"
#include "api/console_auth.hpp"
#include "api/slow_calls.hpp"
#include "core/clock.hpp"
#include "delivery/queue_view.hpp"
#include "policy/auth_limiter.hpp"
#include "store/backend.hpp"
#include "store/captured.hpp"
#include "store/outbox.hpp"
#include "store/sessions.hpp"
#include "store/stats.hpp"
#include "store/store.hpp"
#include "store/suspensions.hpp"
#include "unit/store/test_dir.hpp"

namespace tern::api {
namespace {

using nlohmann::json;

constexpr const char* kAdmin = "tern_admin_abcdefghijklmnopqrstuvwxyz234567";
constexpr const char* kOrigin = "https://console.tern.test";

net::HttpRequest request(const std::string& method, const std::string& target,
                         std::vector<std::pair<std::string, std::string>> headers = {},
                         const std::string& body = "") {
  net::HttpRequest r;
  r.method = method;
  r.target = target;
  r.body = body;
  r.remote_ip = "192.0.2.7";
  r.headers = std::move(headers);
  return r;
}

// --- pure rules -------------------------------------------------------------------------------

TEST(ConsoleAuthRules, CookieParsing) {
  auto r = request("GET", "/", {{"cookie", "a=1; __Host-tern_session=abc ;b=2"}});
  EXPECT_EQ(cookie_value(r, kSessionCookie), "abc");
  EXPECT_EQ(cookie_value(r, "b"), "2");
  EXPECT_FALSE(cookie_value(r, "c"));
  // A cookie whose name only ends like ours is not ours.
  auto evil = request("GET", "/", {{"cookie", "x__Host-tern_session=evil"}});
  EXPECT_FALSE(cookie_value(evil, kSessionCookie));
  auto quoted = request("GET", "/", {{"cookie", "__Host-tern_session=\"q\""}});
  EXPECT_EQ(cookie_value(quoted, kSessionCookie), "q");
  auto two = request("GET", "/", {{"cookie", "x=1"}, {"cookie", "__Host-tern_session=z"}});
  EXPECT_EQ(cookie_value(two, kSessionCookie), "z");
  for (const char* junk : {"", ";", "=", "==;;=", "__Host-tern_session"})
    EXPECT_FALSE(cookie_value(request("GET", "/", {{"cookie", junk}}), kSessionCookie)) << junk;
}

TEST(ConsoleAuthRules, SetCookieAttributes) {
  const std::string c = session_cookie("s3cr3t", 43200);
  EXPECT_TRUE(c.starts_with("__Host-tern_session=s3cr3t;"));
  for (const char* a : {"; Path=/", "; HttpOnly", "; Secure", "; SameSite=Strict", "Max-Age=43200"})
    EXPECT_NE(c.find(a), std::string::npos) << a;
  EXPECT_EQ(c.find("Domain"), std::string::npos);  // __Host- forbids it
  const std::string gone = cleared_session_cookie();
  EXPECT_NE(gone.find("Max-Age=0"), std::string::npos);
  EXPECT_NE(gone.find("Secure"), std::string::npos);
}

TEST(ConsoleAuthRules, Origins) {
  EXPECT_EQ(origin_of("https://Console.Tern.test:443/x?y"), "https://console.tern.test");
  EXPECT_EQ(origin_of("http://127.0.0.1:8025"), "http://127.0.0.1:8025");
  EXPECT_EQ(origin_of("http://h:80/"), "http://h");
  EXPECT_EQ(origin_of("null"), "");
  EXPECT_EQ(origin_of("ftp://h"), "");
  EXPECT_EQ(origin_of("https://user@h"), "");
  EXPECT_EQ(origin_of("https://"), "");
}

TEST(ConsoleAuthRules, CsrfNeedsTheTokenAndTheOwnOrigin) {
  const std::string csrf = csrf_token("secret");
  EXPECT_EQ(csrf.size(), 43u);
  EXPECT_NE(csrf, csrf_token("secreT"));
  // Reads are never refused.
  EXPECT_FALSE(csrf_refusal(request("GET", "/"), csrf, kOrigin));
  EXPECT_FALSE(csrf_refusal(request("HEAD", "/"), csrf, kOrigin));
  // Writes: token and same origin, both.
  for (const char* m : {"POST", "PATCH", "PUT", "DELETE"}) {
    EXPECT_TRUE(csrf_refusal(request(m, "/"), csrf, kOrigin)) << m;
    EXPECT_TRUE(csrf_refusal(request(m, "/", {{"sec-fetch-site", "same-origin"}}), csrf, kOrigin));
    EXPECT_TRUE(csrf_refusal(
        request(m, "/", {{"x-tern-csrf", csrf_token("other")}, {"sec-fetch-site", "same-origin"}}),
        csrf, kOrigin));
    EXPECT_FALSE(
        csrf_refusal(request(m, "/", {{"x-tern-csrf", csrf}, {"sec-fetch-site", "same-origin"}}),
                     csrf, kOrigin));
    for (const char* site : {"cross-site", "same-site", "none"})
      EXPECT_TRUE(csrf_refusal(
          request(m, "/", {{"x-tern-csrf", csrf}, {"sec-fetch-site", site}, {"origin", kOrigin}}),
          csrf, kOrigin))
          << site;
    // No Sec-Fetch-Site (older browsers): Origin must be ours (public URL or Host).
    EXPECT_TRUE(csrf_refusal(request(m, "/", {{"x-tern-csrf", csrf}}), csrf, kOrigin));
    EXPECT_TRUE(csrf_refusal(
        request(m, "/", {{"x-tern-csrf", csrf}, {"origin", "https://evil.test"}}), csrf, kOrigin));
    EXPECT_TRUE(
        csrf_refusal(request(m, "/", {{"x-tern-csrf", csrf}, {"origin", "null"}}), csrf, kOrigin));
    EXPECT_FALSE(
        csrf_refusal(request(m, "/", {{"x-tern-csrf", csrf}, {"origin", kOrigin}}), csrf, kOrigin));
    EXPECT_FALSE(csrf_refusal(request(m, "/",
                                      {{"x-tern-csrf", csrf},
                                       {"origin", "http://127.0.0.1:8025"},
                                       {"host", "127.0.0.1:8025"}}),
                              csrf, kOrigin));
    EXPECT_TRUE(csrf_refusal(
        request(
            m, "/",
            {{"x-tern-csrf", csrf}, {"origin", "http://evil.test"}, {"host", "127.0.0.1:8025"}}),
        csrf, kOrigin));
  }
  // An empty expected token never matches an empty header.
  EXPECT_TRUE(csrf_refusal(
      request("POST", "/", {{"x-tern-csrf", ""}, {"sec-fetch-site", "same-origin"}}), "", kOrigin));
}

TEST(ConsoleAuthRules, LoginCsrf) {
  EXPECT_FALSE(login_refusal(request("POST", "/"), kOrigin));  // curl
  EXPECT_FALSE(login_refusal(request("POST", "/", {{"sec-fetch-site", "same-origin"}}), kOrigin));
  EXPECT_FALSE(login_refusal(request("POST", "/", {{"sec-fetch-site", "none"}}), kOrigin));
  EXPECT_TRUE(login_refusal(request("POST", "/", {{"sec-fetch-site", "cross-site"}}), kOrigin));
  EXPECT_TRUE(login_refusal(request("POST", "/", {{"sec-fetch-site", "same-site"}}), kOrigin));
  EXPECT_TRUE(login_refusal(request("POST", "/", {{"origin", "https://evil.test"}}), kOrigin));
  EXPECT_FALSE(login_refusal(request("POST", "/", {{"origin", kOrigin}}), kOrigin));
}

// --- through the router -----------------------------------------------------------------------

class FakeQueue final : public delivery::QueueControl {
 public:
  std::vector<delivery::QueueMessageView> msgs;
  std::vector<std::pair<delivery::QueueAction, delivery::QueueSelector>> actions;
  std::vector<delivery::QueueMessageView> queue_snapshot(const delivery::QueueFilter& f) override {
    std::vector<delivery::QueueMessageView> out;
    for (const auto& m : msgs)
      if (delivery::queue_matches(m, f)) out.push_back(m);
    return out;
  }
  delivery::QueueActionResult queue_action(delivery::QueueAction a,
                                           const delivery::QueueSelector& s) override {
    actions.emplace_back(a, s);
    return {true, s.ids.size() + (s.destination.empty() ? 0 : 7) + (s.account_id ? 3 : 0), "",
            pending};
  }
  std::vector<delivery::PendingNode> pending;  // a region's holders that did not answer
};

class ConsoleApiTest : public ::testing::Test {
 protected:
  template <class T>
  static T must(core::Result<T> r) {
    if (!r) throw std::runtime_error(r.error().message);
    return std::move(r).value();
  }
  void SetUp() override {
    const std::string db = dir_.file("tern.db");
    backend_ = must(store::open_backend("sqlite:" + db));
    store_ = backend_.store.get();
    outbox_ = backend_.outbox.get();
    sessions_ = &store_->sessions;
    stats_ = &store_->stats;
    captured_ = &store_->captured;
    acme_ = must(store_->accounts.create("acme")).account.id;
    beta_ = must(store_->accounts.create("beta")).account.id;
    key_a_ = must(store_->api_keys.create(acme_));
    key_b_ = must(store_->api_keys.create(beta_));

    svc_.store = store_;
    svc_.outbox = outbox_;
    svc_.clock = &clock_;
    svc_.admin_token = kAdmin;
    svc_.public_url = kOrigin;
    svc_.hostname = "mx.test";
    svc_.dkim_zone = "dkim.platform.test";
    svc_.platform_domains = {"platform.test"};
    svc_.sessions = sessions_;
    svc_.suspensions = &store_->suspensions;
    svc_.stats = stats_;
    svc_.captured = captured_;
    svc_.suppression_list = &store_->suppressions;
    svc_.login_limiter = &limiter_;
    svc_.queue = &queue_;
    svc_.webhook_test_gate = &webhook_gate_;
    svc_.suspension_changed = [this](int64_t id, const std::optional<std::string>& why) {
      changes_.emplace_back(id, why.value_or("(lifted)"));
    };
    svc_.platform.version = "0.1.0";
    svc_.platform.listeners = {{"submission", "127.0.0.1", 2587, "starttls"},
                               {"submissions", "127.0.0.1", 2465, "implicit"}};
    svc_.platform.auth_methods = {"PLAIN", "LOGIN"};
    svc_.platform.route_kind = "smarthost";
    svc_.platform.route_host = "relay.isp.test";
    svc_.platform.route_port = 587;
    svc_.platform.route_security = "starttls";
    svc_.test_email_async = [this](int64_t account, const std::string& from, const std::string& to,
                                   std::function<void(TestEmailResult)> done) {
      pending_tests_.push_back({account, from + ">" + to, std::move(done)});
    };
    svc_.webhook_test = [this](int64_t account, const std::string& kind,
                               std::function<void(WebhookTestResult)> done) {
      webhook_tests_.emplace_back(account, kind);
      WebhookTestResult r;
      r.ok = true;
      r.status = 204;
      r.url = "https://hooks.example.com/" + kind;
      done(r);
    };
  }

  // A request with a bearer token, a cookie session (with or without the CSRF header), or
  // nothing.
  struct Who {
    std::string bearer;
    std::string cookie;
    std::string csrf;
  };
  net::HttpResponse call(const std::string& method, const std::string& target, const Who& who,
                         const std::string& body = "",
                         std::vector<std::pair<std::string, std::string>> extra = {}) {
    auto r = request(method, target, std::move(extra), body);
    if (!who.bearer.empty()) r.headers.emplace_back("authorization", "Bearer " + who.bearer);
    if (!who.cookie.empty())
      r.headers.emplace_back("cookie", std::string(kSessionCookie) + "=" + who.cookie);
    if (!who.csrf.empty()) {
      r.headers.emplace_back("x-tern-csrf", who.csrf);
      r.headers.emplace_back("sec-fetch-site", "same-origin");
    }
    auto out = handle(svc_, r);
    // A deferred answer is completed right here (the fakes answer at once or when told).
    if (out.later) {
      auto got = std::make_shared<std::optional<net::HttpResponse>>();
      auto later = std::move(out.later);
      later([got](net::HttpResponse x) { *got = std::move(x); });
      if (*got) return **got;
      out = net::HttpResponse{0, "", "(pending)"};
    }
    return out;
  }
  json ok(const std::string& method, const std::string& target, const Who& who,
          const std::string& body = "", int expect = 200) {
    auto r = call(method, target, who, body);
    EXPECT_EQ(r.status, expect) << method << " " << target << ": " << r.body;
    auto j = json::parse(r.body, nullptr, false);
    return j.is_discarded() ? json() : j;
  }
  static std::string code(const net::HttpResponse& r) {
    auto j = json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.contains("error")) return "(none)";
    return j["error"]["code"];
  }
  static std::string header(const net::HttpResponse& r, const std::string& name) {
    for (const auto& [k, v] : r.headers)
      if (k == name) return v;
    return "";
  }
  // Logs in and returns the cookie value and csrf.
  Who login(const std::string& field, const std::string& secret) {
    auto r = call("POST", "/api/v1/session", {}, json{{field, secret}}.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    const std::string set = header(r, "Set-Cookie");
    const size_t eq = set.find('='), semi = set.find(';');
    Who w;
    w.cookie = set.substr(eq + 1, semi - eq - 1);
    w.csrf = json::parse(r.body)["csrf"];
    return w;
  }

  test::TempDir dir_;
  core::FakeClock clock_{1'795'348'800'000};
  store::Backend backend_;
  store::Store* store_ = nullptr;
  store::Outbox* outbox_ = nullptr;
  store::SessionService* sessions_ = nullptr;
  store::StatsService* stats_ = nullptr;
  store::CaptureService* captured_ = nullptr;
  policy::AuthLimiter limiter_{clock_, {3, 3, 300'000, 300'000}};
  FakeQueue queue_;
  SlowGate webhook_gate_{1};
  ApiServices svc_;
  int64_t acme_ = 0, beta_ = 0;
  std::string key_a_, key_b_;
  struct PendingTest {
    int64_t account;
    std::string what;
    std::function<void(TestEmailResult)> done;
  };
  std::vector<PendingTest> pending_tests_;
  std::vector<std::pair<int64_t, std::string>> webhook_tests_;
  std::vector<std::pair<int64_t, std::string>> changes_;
};

TEST_F(ConsoleApiTest, LoginWithTheOperatorTokenSetsAHostCookie) {
  auto r = call("POST", "/api/v1/session", {}, json{{"token", kAdmin}}.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string set = header(r, "Set-Cookie");
  EXPECT_TRUE(set.starts_with("__Host-tern_session=")) << set;
  for (const char* a : {"HttpOnly", "Secure", "SameSite=Strict", "Path=/"})
    EXPECT_NE(set.find(a), std::string::npos) << a;
  EXPECT_EQ(header(r, "Cache-Control"), "no-store");
  auto body = json::parse(r.body);
  EXPECT_EQ(body["kind"], "operator");
  EXPECT_TRUE(body["account"].is_null());
  EXPECT_EQ(body["idleExpiresAt"], "2026-11-22T12:30:00.000Z");
  EXPECT_EQ(body["expiresAt"], "2026-11-23T00:00:00.000Z");
  // The cookie never contains the token, and the answer never echoes it.
  EXPECT_EQ(set.find(kAdmin), std::string::npos);
  EXPECT_EQ(r.body.find(kAdmin), std::string::npos);

  Who op = login("token", kAdmin);
  auto who = ok("GET", "/api/v1/session", {"", op.cookie, ""});
  EXPECT_EQ(who["kind"], "operator");
  EXPECT_EQ(who["csrf"], op.csrf);  // a reload recovers it
  // The cookie reaches operator routes; reads need no CSRF header.
  EXPECT_EQ(ok("GET", "/api/v1/accounts", {"", op.cookie, ""})["items"].size(), 2u);
}

TEST_F(ConsoleApiTest, CookieWritesNeedCsrfBearerWritesDoNot) {
  Who op = login("token", kAdmin);
  const std::string body = R"({"name":"gamma"})";
  // Without the header, with a wrong one, or cross-site: 403 csrf, nothing created.
  auto bare = call("POST", "/api/v1/accounts", {"", op.cookie, ""}, body);
  EXPECT_EQ(bare.status, 403);
  EXPECT_EQ(code(bare), "csrf");
  auto wrong = call("POST", "/api/v1/accounts", {"", op.cookie, ""}, body,
                    {{"x-tern-csrf", csrf_token("guess")}, {"sec-fetch-site", "same-origin"}});
  EXPECT_EQ(code(wrong), "csrf");
  auto cross = call("POST", "/api/v1/accounts", {"", op.cookie, ""}, body,
                    {{"x-tern-csrf", op.csrf}, {"sec-fetch-site", "cross-site"}});
  EXPECT_EQ(code(cross), "csrf");
  EXPECT_FALSE(must(store_->accounts.find("gamma")));
  // With both: done.
  ok("POST", "/api/v1/accounts", op, body, 201);
  // Bearer auth is unchanged: no CSRF rules (no ambient credential).
  ok("POST", "/api/v1/accounts", {kAdmin, "", ""}, R"({"name":"delta"})", 201);
  // A request with both a bearer token and a cookie is the bearer's.
  ok("POST", "/api/v1/accounts", {kAdmin, op.cookie, ""}, R"({"name":"epsilon"})", 201);
  // DELETE through the cookie needs it too.
  EXPECT_EQ(code(call("DELETE", "/api/v1/accounts/gamma", {"", op.cookie, ""})), "csrf");
  EXPECT_EQ(call("DELETE", "/api/v1/accounts/gamma", op).status, 204);
}

TEST_F(ConsoleApiTest, AccountSessionIsScopedAndEndsWithItsKey) {
  Who a = login("token", key_a_);
  auto who = ok("GET", "/api/v1/session", {"", a.cookie, ""});
  EXPECT_EQ(who["kind"], "account");
  EXPECT_EQ(who["account"]["name"], "acme");
  EXPECT_EQ(who["account"]["suspended"], false);
  ok("GET", "/api/v1/domains", {"", a.cookie, ""});
  // Another account through the session: 404 like through the key.
  EXPECT_EQ(call("GET", "/api/v1/accounts/beta/domains", {"", a.cookie, ""}).status, 404);
  EXPECT_EQ(call("POST", "/api/v1/accounts", a, R"({"name":"x"})").status, 403);
  // Revoking the key (through the session itself) ends the session at once.
  EXPECT_EQ(call("DELETE", "/api/v1/api-keys/" + key_a_.substr(0, 12), a).status, 204);
  auto after = call("GET", "/api/v1/domains", {"", a.cookie, ""});
  EXPECT_EQ(after.status, 401);
  EXPECT_EQ(call("GET", "/api/v1/session", {"", a.cookie, ""}).status, 401);
}

TEST_F(ConsoleApiTest, SessionsExpireIdleAndAbsolute) {
  Who op = login("token", kAdmin);
  clock_.advance_ms(29 * 60'000);
  ok("GET", "/api/v1/session", {"", op.cookie, ""});
  clock_.advance_ms(29 * 60'000);
  ok("GET", "/api/v1/session", {"", op.cookie, ""});  // used within 30 min: alive
  clock_.advance_ms(31 * 60'000);
  EXPECT_EQ(call("GET", "/api/v1/accounts", {"", op.cookie, ""}).status, 401);
}

TEST_F(ConsoleApiTest, LogoutAndFixation) {
  Who op = login("token", kAdmin);
  // Logging in again with the old cookie in the request ends that old session (a session id
  // planted in a browser before login is never the one that logs in).
  auto r = request("POST", "/api/v1/session",
                   {{"cookie", std::string(kSessionCookie) + "=" + op.cookie}},
                   json{{"token", kAdmin}}.dump());
  auto again = handle(svc_, r);
  ASSERT_EQ(again.status, 201);
  EXPECT_EQ(header(again, "Set-Cookie").find(op.cookie), std::string::npos);
  EXPECT_EQ(call("GET", "/api/v1/session", {"", op.cookie, ""}).status, 401);
  // A made-up cookie is just not a session.
  EXPECT_EQ(call("GET", "/api/v1/accounts", {"", std::string(52, 'a'), ""}).status, 401);

  Who two = login("token", kAdmin);
  EXPECT_EQ(code(call("DELETE", "/api/v1/session", {"", two.cookie, ""})), "csrf");
  auto out = call("DELETE", "/api/v1/session", two);
  EXPECT_EQ(out.status, 204);
  EXPECT_NE(header(out, "Set-Cookie").find("Max-Age=0"), std::string::npos);
  EXPECT_EQ(call("GET", "/api/v1/session", {"", two.cookie, ""}).status, 401);
  // Logging out without a session is harmless.
  EXPECT_EQ(call("DELETE", "/api/v1/session", {}).status, 204);
}

TEST_F(ConsoleApiTest, LoginsAreRateLimitedPerAddressAndCrossSiteLoginRefused) {
  // Malformed bodies (not counted as failed logins).
  EXPECT_EQ(call("POST", "/api/v1/session", {}, "{}").status, 400);
  EXPECT_EQ(call("POST", "/api/v1/session", {}, json{{"token", "a"}, {"code", "b"}}.dump()).status,
            400);
  for (int i = 0; i < 3; ++i) {
    auto r = call("POST", "/api/v1/session", {},
                  json{{"token", "tern_admin_wrong" + std::to_string(i)}}.dump());
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.body.find("wrong0"), std::string::npos);
  }
  // Blocked now, even with the right token (no oracle for a guesser).
  auto blocked = call("POST", "/api/v1/session", {}, json{{"token", kAdmin}}.dump());
  EXPECT_EQ(blocked.status, 429);
  EXPECT_FALSE(header(blocked, "Retry-After").empty());
  // Another address is not blocked.
  auto other = request("POST", "/api/v1/session", {}, json{{"token", kAdmin}}.dump());
  other.remote_ip = "198.51.100.9";
  EXPECT_EQ(handle(svc_, other).status, 201);
  // Login CSRF: a browser's cross-site form post does not log anyone in.
  auto cross = request("POST", "/api/v1/session", {{"sec-fetch-site", "cross-site"}},
                       json{{"token", kAdmin}}.dump());
  cross.remote_ip = "198.51.100.10";
  EXPECT_EQ(code(handle(svc_, cross)), "csrf");
}

TEST_F(ConsoleApiTest, OneTimeLoginCode) {
  const std::string code_ = must(sessions_->create_login_code(clock_.now_ms(), 10 * 60'000));
  Who op = login("code", code_);
  EXPECT_EQ(ok("GET", "/api/v1/session", {"", op.cookie, ""})["kind"], "operator");
  auto twice = call("POST", "/api/v1/session", {}, json{{"code", code_}}.dump());
  EXPECT_EQ(twice.status, 401);
  const std::string late = must(sessions_->create_login_code(clock_.now_ms(), 10 * 60'000));
  clock_.advance_ms(10 * 60'000);
  EXPECT_EQ(call("POST", "/api/v1/session", {}, json{{"code", late}}.dump()).status, 401);
}

TEST_F(ConsoleApiTest, SuspensionStopsTheAccountButNotTheOperator) {
  Who a = login("token", key_a_);
  // Only the operator suspends.
  EXPECT_EQ(call("POST", "/api/v1/accounts/acme/suspend", {key_a_, "", ""}, R"({"reason":"nope"})")
                .status,
            403);
  EXPECT_EQ(call("POST", "/api/v1/accounts/acme/suspend", {kAdmin, "", ""}, "{}").status, 400);
  EXPECT_EQ(
      call("POST", "/api/v1/accounts/acme/suspend", {kAdmin, "", ""}, R"({"reason":"a\r\nb"})")
          .status,
      400);
  auto acc = ok("POST", "/api/v1/accounts/acme/suspend", {kAdmin, "", ""},
                R"({"reason":"unpaid invoice"})");
  EXPECT_EQ(acc["suspended"], true);
  EXPECT_EQ(acc["suspendedReason"], "unpaid invoice");
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0], std::make_pair(acme_, std::string("unpaid invoice")));
  for (const Who& w : {Who{key_a_, "", ""}, Who{"", a.cookie, ""}}) {
    auto r = call("GET", "/api/v1/domains", w);
    EXPECT_EQ(r.status, 403);
    EXPECT_EQ(code(r), "suspended");
    EXPECT_NE(r.body.find("Account suspended: unpaid invoice"), std::string::npos);
  }
  // A new login with its key is refused with the reason; its session still says who it is.
  auto login_r = call("POST", "/api/v1/session", {}, json{{"token", key_a_}}.dump());
  EXPECT_EQ(code(login_r), "suspended");
  EXPECT_EQ(ok("GET", "/api/v1/session", {"", a.cookie, ""})["account"]["suspended"], true);
  // Beta is not affected; the operator still reaches acme.
  ok("GET", "/api/v1/domains", {key_b_, "", ""});
  ok("GET", "/api/v1/accounts/acme/domains", {kAdmin, "", ""});
  EXPECT_EQ(ok("GET", "/api/v1/accounts/acme", {kAdmin, "", ""})["suspended"], true);
  ok("POST", "/api/v1/accounts/acme/unsuspend", {kAdmin, "", ""});
  EXPECT_EQ(changes_.back().second, "(lifted)");
  ok("GET", "/api/v1/domains", {key_a_, "", ""});
}

TEST_F(ConsoleApiTest, PlatformShowsHowToConnectWithoutSecrets) {
  svc_.platform.route_host = "relay.isp.test";
  auto p = ok("GET", "/api/v1/platform", {key_a_, "", ""});
  EXPECT_EQ(p["hostname"], "mx.test");
  EXPECT_EQ(p["listeners"][0]["port"], 2587);
  EXPECT_EQ(p["listeners"][1]["tls"], "implicit");
  EXPECT_EQ(p["authMethods"], json::array({"PLAIN", "LOGIN"}));
  EXPECT_EQ(p["platformDomains"], json::array({"platform.test"}));
  EXPECT_EQ(p["platformRoute"]["host"], "relay.isp.test");
  EXPECT_FALSE(p["platformRoute"].contains("password"));
  EXPECT_FALSE(p["platformRoute"].contains("username"));
  EXPECT_EQ(p["dkimZone"], "dkim.platform.test");
  EXPECT_EQ(call("GET", "/api/v1/platform", {}).status, 401);
  EXPECT_EQ(call("POST", "/api/v1/platform", {kAdmin, "", ""}).status, 405);
}

TEST_F(ConsoleApiTest, StatsPerAccountAndForTheOperator) {
  const int64_t t = clock_.now_ms() - 3'600'000;  // the previous hour
  auto ev = [](int64_t account, int64_t time, core::EventKind what) {
    store::DeliveryEvent e;
    e.time_ms = time;
    e.queue_id = "Q";
    e.account_id = account;
    e.recipient = "r@x.test";
    e.event = what;
    return e;
  };
  ASSERT_TRUE(store_->events
                  .record({ev(acme_, t, core::EventKind::accepted),
                           ev(acme_, t, core::EventKind::delivered),
                           ev(acme_, t + 1, core::EventKind::delivered),
                           ev(acme_, t + 2, core::EventKind::bounced),
                           ev(acme_, t + 3, core::EventKind::webhook),
                           ev(beta_, t, core::EventKind::bounced)})
                  .ok());
  auto s = ok("GET", "/api/v1/stats", {key_a_, "", ""});
  EXPECT_EQ(s["step"], "hour");
  ASSERT_EQ(s["series"].size(), 24u);  // every bucket, zeros included
  EXPECT_EQ(s["totals"]["delivered"], 2);
  EXPECT_EQ(s["totals"]["bounced"], 1);
  EXPECT_EQ(s["totals"]["accepted"], 1);
  EXPECT_FALSE(s["totals"].contains("webhook"));
  EXPECT_NEAR(s["bounceRate"].get<double>(), 1.0 / 3.0, 1e-9);
  const auto& last = s["series"][22];
  EXPECT_EQ(last["delivered"], 2);
  // Beta's own view, the operator's view of beta and of everyone.
  EXPECT_EQ(ok("GET", "/api/v1/stats", {key_b_, "", ""})["totals"]["delivered"], 0);
  EXPECT_EQ(ok("GET", "/api/v1/accounts/beta/stats", {kAdmin, "", ""})["totals"]["bounced"], 1);
  EXPECT_EQ(ok("GET", "/api/v1/stats", {kAdmin, "", ""})["totals"]["bounced"], 2);
  // An API key cannot name another account.
  EXPECT_EQ(call("GET", "/api/v1/accounts/beta/stats", {key_a_, "", ""}).status, 404);
  // Day steps and explicit ranges; bad ones are 400.
  auto days = ok("GET", "/api/v1/stats?step=day&from=2026-11-01T00:00:00Z&to=2026-11-23T00:00:00Z",
                 {key_a_, "", ""});
  EXPECT_EQ(days["series"].size(), 22u);
  EXPECT_EQ(days["totals"]["delivered"], 2);
  EXPECT_EQ(call("GET", "/api/v1/stats?step=minute", {key_a_, "", ""}).status, 400);
  EXPECT_EQ(call("GET", "/api/v1/stats?from=yesterday", {key_a_, "", ""}).status, 400);
  EXPECT_EQ(call("GET", "/api/v1/stats?from=2020-01-01T00:00:00Z", {key_a_, "", ""}).status, 400);
  EXPECT_EQ(call("GET", "/api/v1/stats?from=2026-11-23T00:00:00Z&to=2026-11-22T00:00:00Z",
                 {key_a_, "", ""})
                .status,
            400);
}

TEST_F(ConsoleApiTest, SuppressionSearchAndBulkAreScoped) {
  auto r = ok("POST", "/api/v1/suppressions/bulk", {key_a_, "", ""},
              R"({"add":["a@x.test","b@x.test","c@y.test","bad"],"reason":"imported"})");
  EXPECT_EQ(r["added"], 3);
  EXPECT_EQ(r["invalid"], json::array({"bad"}));
  ok("POST", "/api/v1/suppressions/bulk", {key_b_, "", ""}, R"({"add":["beta@x.test"]})");
  auto found = ok("GET", "/api/v1/suppressions?q=x.test", {key_a_, "", ""});
  ASSERT_EQ(found["items"].size(), 2u);
  EXPECT_EQ(found["items"][0]["address"], "a@x.test");
  EXPECT_EQ(found["items"][0]["reason"], "imported");
  auto page = ok("GET", "/api/v1/suppressions?limit=2", {key_a_, "", ""});
  ASSERT_EQ(page["items"].size(), 2u);
  auto next =
      ok("GET", "/api/v1/suppressions?limit=2&cursor=" + page["nextCursor"].get<std::string>(),
         {key_a_, "", ""});
  ASSERT_EQ(next["items"].size(), 1u);
  EXPECT_EQ(next["items"][0]["address"], "c@y.test");
  EXPECT_TRUE(next["nextCursor"].is_null());
  auto rm = ok("POST", "/api/v1/suppressions/bulk", {key_a_, "", ""},
               R"({"remove":["a@x.test","beta@x.test"]})");
  EXPECT_EQ(rm["removed"], 1);  // beta's address is not acme's to remove
  EXPECT_TRUE(must(store_->suppressions.contains(beta_, "beta@x.test")));
  EXPECT_EQ(call("POST", "/api/v1/suppressions/bulk", {key_a_, "", ""}, "{}").status, 400);
  EXPECT_EQ(call("POST", "/api/v1/suppressions/bulk", {key_a_, "", ""}, R"({"add":"a@x"})").status,
            400);
  json many = json::array();
  for (int i = 0; i < 1001; ++i) many.push_back("u" + std::to_string(i) + "@x.test");
  EXPECT_EQ(call("POST", "/api/v1/suppressions/bulk", {key_a_, "", ""}, json{{"add", many}}.dump())
                .status,
            400);
  EXPECT_EQ(call("GET", "/api/v1/suppressions/bulk", {key_a_, "", ""}).status, 405);
}

TEST_F(ConsoleApiTest, CapturedMailIsScopedAndItsHtmlSandboxed) {
  store::CapturedMessage m;
  m.account_id = acme_;
  m.queue_id = "QCAP";
  m.recipients = {"you@example.com"};
  m.sender = "hello@acme.test";
  m.header_from = "Hello <hello@acme.test>";
  m.subject = "Hi";
  m.raw =
      "From: Hello <hello@acme.test>\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
      "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n"
      "--b\r\nContent-Type: text/plain\r\n\r\nplain text\r\n"
      "--b\r\nContent-Type: text/html\r\n\r\n<p>hi<script>alert(1)</script></p>\r\n--b--\r\n";
  const std::string id = must(captured_->add(m, clock_.now_ms()));
  auto list = ok("GET", "/api/v1/captured", {key_a_, "", ""});
  ASSERT_EQ(list["items"].size(), 1u);
  EXPECT_EQ(list["items"][0]["id"], id);
  EXPECT_EQ(list["items"][0]["to"], json::array({"you@example.com"}));
  auto one = ok("GET", "/api/v1/captured/" + id, {key_a_, "", ""});
  EXPECT_EQ(one["text"], "plain text");
  EXPECT_EQ(one["html"], "<p>hi<script>alert(1)</script></p>");
  bool subject = false;
  for (const auto& h : one["headers"])
    if (h["name"] == "Subject") subject = h["value"] == "Grüße";
  EXPECT_TRUE(subject) << one["headers"].dump();
  auto html = call("GET", "/api/v1/captured/" + id + "/html", {key_a_, "", ""});
  EXPECT_EQ(html.status, 200);
  EXPECT_EQ(html.content_type, "text/html; charset=utf-8");
  const std::string csp = header(html, "Content-Security-Policy");
  EXPECT_TRUE(csp.starts_with("sandbox;")) << csp;
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos);
  EXPECT_EQ(csp.find("allow-scripts"), std::string::npos);
  EXPECT_EQ(csp.find("allow-same-origin"), std::string::npos);
  EXPECT_EQ(header(html, "X-Content-Type-Options"), "nosniff");
  auto raw = call("GET", "/api/v1/captured/" + id + "/raw", {key_a_, "", ""});
  EXPECT_EQ(raw.content_type, "message/rfc822");
  EXPECT_EQ(raw.body, m.raw);
  EXPECT_TRUE(header(raw, "Content-Disposition").starts_with("attachment"));
  // Another account: not found, in every form; the operator reaches it by the long form.
  for (const char* sfx : {"", "/raw", "/html"})
    EXPECT_EQ(call("GET", "/api/v1/captured/" + id + sfx, {key_b_, "", ""}).status, 404) << sfx;
  EXPECT_TRUE(ok("GET", "/api/v1/captured", {key_b_, "", ""})["items"].empty());
  ok("GET", "/api/v1/accounts/acme/captured/" + id, {kAdmin, "", ""});
  EXPECT_EQ(call("GET", "/api/v1/accounts/beta/captured/" + id, {kAdmin, "", ""}).status, 404);
  EXPECT_EQ(call("GET", "/api/v1/captured/" + id + "/other", {key_a_, "", ""}).status, 404);
  EXPECT_EQ(call("DELETE", "/api/v1/captured/" + id, {key_a_, "", ""}).status, 405);
}

TEST_F(ConsoleApiTest, WebhookHistoryRetryAndTest) {
  store::OutboxItem it;
  it.account_id = acme_;
  it.kind = store::OutboxKind::report;
  it.url = "https://hooks.example.com/r";
  it.content_type = "application/json";
  it.message_id = "Q.0";
  it.item = "{}";
  ASSERT_TRUE(outbox_->enqueue({it}, clock_.now_ms()).ok());
  it.account_id = beta_;
  ASSERT_TRUE(outbox_->enqueue({it}, clock_.now_ms()).ok());
  auto mine = ok("GET", "/api/v1/webhooks/deliveries", {key_a_, "", ""});
  ASSERT_EQ(mine["items"].size(), 1u);
  const std::string id = mine["items"][0]["id"];
  EXPECT_EQ(mine["items"][0]["status"], "pending");
  EXPECT_TRUE(mine["items"][0]["lastCode"].is_null());
  const std::string beta_id =
      ok("GET", "/api/v1/webhooks/deliveries", {key_b_, "", ""})["items"][0]["id"];
  {  // the sender claims the items and gives this one up (marks are fenced by the claim)
    auto claimed = outbox_->due(clock_.now_ms(), 10, 10);
    ASSERT_TRUE(claimed.ok());
    std::vector<store::OutboxClaim> c;
    for (const auto& b : *claimed)
      for (const auto& i : b)
        if (i.id == std::stoll(id)) c.push_back({i.id, i.lease_token});
    ASSERT_EQ(c.size(), 1u);
    ASSERT_EQ(outbox_->mark_failed(c, 1, "POST x: 500 Oops", true, 500).value(), 1u);
  }
  auto gave = ok("GET", "/api/v1/webhooks/deliveries/" + id, {key_a_, "", ""});
  EXPECT_EQ(gave["status"], "given_up");
  EXPECT_EQ(gave["lastCode"], 500);
  int pokes = 0;
  svc_.webhooks_enqueued = [&pokes] { ++pokes; };
  auto retried =
      ok("POST", "/api/v1/webhooks/deliveries/" + id + "/retry", {key_a_, "", ""}, "", 202);
  EXPECT_EQ(retried["status"], "failed");  // pending again, with its failed attempt counted
  EXPECT_EQ(pokes, 1);
  // Another account's delivery: 404 to read and to retry.
  EXPECT_EQ(call("GET", "/api/v1/webhooks/deliveries/" + beta_id, {key_a_, "", ""}).status, 404);
  EXPECT_EQ(
      call("POST", "/api/v1/webhooks/deliveries/" + beta_id + "/retry", {key_a_, "", ""}).status,
      404);
  EXPECT_EQ(call("POST", "/api/v1/webhooks/deliveries/abc/retry", {key_a_, "", ""}).status, 404);
  auto t = ok("POST", "/api/v1/webhooks/test", {key_a_, "", ""}, R"({"kind":"tracking"})");
  EXPECT_EQ(t["ok"], true);
  EXPECT_EQ(t["status"], 204);
  ASSERT_EQ(webhook_tests_.size(), 1u);
  EXPECT_EQ(webhook_tests_[0], std::make_pair(acme_, std::string("tracking")));
  EXPECT_EQ(call("POST", "/api/v1/webhooks/test", {key_a_, "", ""}, R"({"kind":"x"})").status, 400);
}

// One at a time per account is the engine's bound (net/test_send.hpp, TestSend unit tests and
// test_console_api.py end to end); here: its "busy" answer becomes 429 with Retry-After, and
// no answer is written before the engine's callback.
TEST_F(ConsoleApiTest, TestEmailIsAnsweredLaterAndBusyIs429) {
  auto first =
      call("POST", "/api/v1/settings/test-email", {key_a_, "", ""}, R"({"to":"me@x.test"})");
  EXPECT_EQ(first.body, "(pending)");  // no answer until the engine's callback
  ASSERT_EQ(pending_tests_.size(), 1u);
  EXPECT_EQ(pending_tests_[0].account, acme_);
  std::optional<net::HttpResponse> got;
  auto r = request("POST", "/api/v1/settings/test-email", {{"authorization", "Bearer " + key_a_}},
                   R"({"to":"me@x.test"})");
  auto out = handle(svc_, r);
  ASSERT_TRUE(out.later);
  out.later([&got](net::HttpResponse x) { got = std::move(x); });
  ASSERT_EQ(pending_tests_.size(), 2u);
  TestEmailResult busy;
  busy.outcome = "busy";
  busy.reply = "a test email of this account is still being sent; wait for its outcome";
  pending_tests_[1].done(busy);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 429);
  EXPECT_EQ(code(*got), "too_many_requests");
  EXPECT_EQ(header(*got, "Retry-After"), "5");
  EXPECT_NE(got->body.find("still being sent"), std::string::npos) << got->body;
}

TEST_F(ConsoleApiTest, TestEmailAnswerThroughTheCompletion) {
  auto r = request("POST", "/api/v1/settings/test-email", {{"authorization", "Bearer " + key_a_}},
                   R"({"to":"me@x.test"})");
  auto out = handle(svc_, r);
  ASSERT_TRUE(out.later);
  std::optional<net::HttpResponse> got;
  out.later([&got](net::HttpResponse x) { got = std::move(x); });
  ASSERT_FALSE(got);
  TestEmailResult res;
  res.outcome = "bounced";
  res.code = 550;
  res.reply = "No such user";
  pending_tests_.at(0).done(res);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(json::parse(got->body)["reply"], "No such user");
  // A refusal comes back as the HTTP error it always was.
  out = handle(svc_, r);
  out.later([&got](net::HttpResponse x) { got = std::move(x); });
  res.outcome = "refused";
  pending_tests_.at(1).done(res);
  EXPECT_EQ(got->status, 400);
}

TEST_F(ConsoleApiTest, QueueIsTheOperatorsOnly) {
  delivery::QueueMessageView m;
  m.id = "Q1";
  m.account_id = acme_;
  m.account_name = "acme";
  m.received_ms = 1000;
  m.recipients = {{"a@x.test", "deferred", 2, 5000, "451 try later", "mx:x.test"}};
  queue_.msgs.push_back(m);
  m.id = "Q2";
  m.received_ms = 2000;
  m.held = true;
  queue_.msgs.push_back(m);
  for (const Who& w : {Who{key_a_, "", ""}, login("token", key_a_)}) {
    EXPECT_EQ(call("GET", "/api/v1/queue", w).status, 403);
    EXPECT_EQ(
        call("POST", "/api/v1/queue/actions", w, R"({"action":"delete","ids":["Q1"]})").status,
        403);
  }
  auto g = ok("GET", "/api/v1/queue", {kAdmin, "", ""});
  ASSERT_EQ(g["groups"].size(), 1u);
  EXPECT_EQ(g["groups"][0]["key"], "mx:x.test");
  EXPECT_EQ(g["groups"][0]["messages"], 2);
  EXPECT_EQ(g["groups"][0]["held"], 1);
  auto by_acc = ok("GET", "/api/v1/queue?by=account", {kAdmin, "", ""});
  EXPECT_EQ(by_acc["groups"][0]["key"], "acme");
  auto page = ok("GET", "/api/v1/queue/messages?limit=1", {kAdmin, "", ""});
  ASSERT_EQ(page["items"].size(), 1u);
  EXPECT_EQ(page["items"][0]["id"], "Q1");
  auto next =
      ok("GET", "/api/v1/queue/messages?limit=1&cursor=" + page["nextCursor"].get<std::string>(),
         {kAdmin, "", ""});
  EXPECT_EQ(next["items"][0]["id"], "Q2");
  EXPECT_EQ(ok("GET", "/api/v1/queue/messages?state=held", {kAdmin, "", ""})["items"].size(), 1u);
  EXPECT_EQ(call("GET", "/api/v1/queue/messages?account=nobody", {kAdmin, "", ""}).status, 400);
  EXPECT_EQ(ok("POST", "/api/v1/queue/actions", {kAdmin, "", ""},
               R"({"action":"hold","destination":"mx:x.test"})")["count"],
            7);
  EXPECT_EQ(ok("POST", "/api/v1/queue/actions", {kAdmin, "", ""},
               R"({"action":"retry","account":"acme"})")["count"],
            3);
  ASSERT_EQ(queue_.actions.size(), 2u);
  EXPECT_EQ(queue_.actions[1].second.account_id, acme_);
  EXPECT_EQ(call("POST", "/api/v1/queue/actions", {kAdmin, "", ""},
                 R"({"action":"hold","ids":["Q1"],"account":"acme"})")
                .status,
            400);
  EXPECT_EQ(
      call("POST", "/api/v1/queue/actions", {kAdmin, "", ""}, R"({"action":"zap","ids":["Q1"]})")
          .status,
      400);
  // A region: a holder that has not answered (or is down) makes it 202, saying which.
  queue_.pending = {{"n1", true, 5}, {"n2", false, 6}};
  auto r =
      call("POST", "/api/v1/queue/actions", {kAdmin, "", ""}, R"({"action":"hold","ids":["Q1"]})");
  EXPECT_EQ(r.status, 202);
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["status"], "queued");
  EXPECT_EQ(j["count"], 1);
  ASSERT_EQ(j["pending"].size(), 2u);
  EXPECT_EQ(j["pending"][0], (nlohmann::json{{"node", "n1"}, {"alive", true}}));
  EXPECT_EQ(j["pending"][1]["alive"], false);
  EXPECT_NE(j["message"].get<std::string>().find("node n2 is down"), std::string::npos);
}

TEST_F(ConsoleApiTest, SandboxIsARouteSetting) {
  auto s = ok("PATCH", "/api/v1/settings", {key_a_, "", ""}, R"({"route":"sandbox"})");
  EXPECT_EQ(s["route"], "sandbox");
  EXPECT_EQ(call("PATCH", "/api/v1/settings", {key_a_, "", ""}, R"({"route":"moon"})").status, 400);
}

}  // namespace
}  // namespace tern::api
