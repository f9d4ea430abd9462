// api::handle over a real SQLite store, message log and outbox in a temp dir, a real spool and
// pipeline::Submission (the sender verification email), a fake clock and a fake resolver:
// auth (none, wrong, revoked key, operator), isolation between two accounts (404), pagination,
// errors (bad JSON, 405, 413, unknown route, bad escapes), every resource group's happy path,
// sender verification end to end, and the OpenAPI document against the router.
#include <gtest/gtest.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "api/api.hpp"
#include "api/request.hpp"
#include "core/clock.hpp"
#include "dns/resolver.hpp"
#include "pipeline/submission.hpp"
#include "queue/envelope.hpp"
#include "queue/spool.hpp"
#include "store/backend.hpp"
#include "store/message_log.hpp"
#include "store/outbox.hpp"
#include "store/store.hpp"
#include "unit/store/test_dir.hpp"

namespace tern::api {
namespace {

using nlohmann::json;

constexpr const char* kAdmin = "tern_admin_abcdefghijklmnopqrstuvwxyz234567";

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string db = dir_.file("tern.db");
    auto opened = store::open_backend("sqlite:" + db);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    backend_ = std::move(opened).value();
    store_ = backend_.store.get();
    log_ = backend_.messages.get();
    outbox_ = backend_.outbox.get();
    auto sp = queue::Spool::open(dir_.file("spool"));
    ASSERT_TRUE(sp.ok()) << sp.error().message;
    spool_ = std::move(sp).value();
    pipeline::SubmissionServices ss;
    ss.spool = spool_.get();
    ss.hostname = "mx.test";
    ss.public_url = "https://tern.test";
    ss.on_accepted = [this](const queue::QueuedMessage& m) {
      std::lock_guard lk(mu_);
      accepted_.push_back(m);
    };
    submission_ = std::make_unique<pipeline::Submission>(ss);

    auto a = store_->accounts.create("acme");
    ASSERT_TRUE(a.ok());
    acme_ = a->account.id;
    auto b = store_->accounts.create("beta");
    ASSERT_TRUE(b.ok());
    beta_ = b->account.id;
    auto ka = store_->api_keys.create(acme_);
    auto kb = store_->api_keys.create(beta_);
    ASSERT_TRUE(ka.ok() && kb.ok());
    key_a_ = *ka;
    key_b_ = *kb;

    svc_.store = store_;
    svc_.messages = log_;
    svc_.outbox = outbox_;
    svc_.submission = submission_.get();
    svc_.clock = &clock_;
    svc_.admin_token = kAdmin;
    svc_.public_url = "https://tern.test";
    svc_.hostname = "mx.test";
    svc_.dkim_zone = "dkim.platform.test";
    svc_.spf_include = "spf.platform.test";
    svc_.sending_ips = {"192.0.2.10"};
    svc_.make_resolver = [this] { return dns::make_fake_resolver(zone_); };
    svc_.test_email = [this](int64_t account, const std::string& from, const std::string& to) {
      test_email_calls_.push_back({account, from, to});
      TestEmailResult r;
      r.outcome = "bounced";
      r.code = 550;
      r.enhanced = "5.1.1";
      r.reply = "No such user";
      r.host = "mx.dest.test";
      r.tls = true;
      r.route = "platform";
      return r;
    };
  }

  net::HttpResponse call(const std::string& method, const std::string& target,
                         const std::string& token = "", const std::string& body = "") {
    net::HttpRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    r.remote_ip = "127.0.0.1";
    if (!token.empty()) r.headers.emplace_back("authorization", "Bearer " + token);
    return handle(svc_, r);
  }
  json call_json(const std::string& method, const std::string& target, const std::string& token,
                 const std::string& body, int expect) {
    auto r = call(method, target, token, body);
    EXPECT_EQ(r.status, expect) << method << " " << target << ": " << r.body;
    if (r.body.empty()) return json();
    auto j = json::parse(r.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.body;
    return j;
  }
  static std::string error_code(const net::HttpResponse& r) {
    auto j = json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.contains("error")) return "(no error object)";
    return j["error"]["code"].get<std::string>();
  }
  void add_message(int64_t account, const std::string& qid, const std::string& rcpt,
                   const std::string& bulk, int64_t created) {
    store::MessageRecord m;
    m.message_id = store::make_message_id(qid, 0);
    m.queue_id = qid;
    m.account_id = account;
    m.bulk_id = bulk;
    m.sender = "s@acme.test";
    m.recipient = rcpt;
    m.subject = "hi";
    m.created_ms = created;
    m.updated_ms = created;
    ASSERT_TRUE(log_->record_accepted({m}).ok());
  }
  std::string stored_content(const std::string& id) {
    std::string out;
    auto r = spool_->read_content(id, [&](std::string_view piece) { out.append(piece); });
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return out;
  }

  test::TempDir dir_;
  store::Backend backend_;
  store::Store* store_ = nullptr;
  store::MessageLog* log_ = nullptr;
  store::Outbox* outbox_ = nullptr;
  std::unique_ptr<queue::Spool> spool_;
  std::unique_ptr<pipeline::Submission> submission_;
  std::mutex mu_;
  std::vector<queue::QueuedMessage> accepted_;
  core::FakeClock clock_{1'795'348'800'000};
  std::string zone_ = "# nothing published\n";
  ApiServices svc_;
  int64_t acme_ = 0, beta_ = 0;
  std::string key_a_, key_b_;
  struct TestCall {
    int64_t account;
    std::string from, to;
  };
  std::vector<TestCall> test_email_calls_;
};

// --- auth -----------------------------------------------------------------------------------

TEST_F(RouterTest, NoTokenWrongTokenRevokedKeyAre401) {
  auto none = call("GET", "/api/v1/domains");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(error_code(none), "unauthorized");
  EXPECT_EQ(call("GET", "/api/v1/domains", "tern_aaaaaaaaaaaaaaaaaaaaaaaaaa").status, 401);
  EXPECT_EQ(call("GET", "/api/v1/accounts", std::string(kAdmin) + "x").status, 401);
  EXPECT_EQ(call("GET", "/api/v1/accounts", "tern_admin_").status, 401);
  net::HttpRequest basic;
  basic.method = "GET";
  basic.target = "/api/v1/accounts";
  basic.headers.emplace_back("authorization", std::string("Basic ") + kAdmin);
  EXPECT_EQ(handle(svc_, basic).status, 401);
  // The token is never echoed.
  auto wrong = call("GET", "/api/v1/domains", "tern_secretsecretsecretsecret12");
  EXPECT_EQ(wrong.body.find("secretsecret"), std::string::npos);

  EXPECT_EQ(call("GET", "/api/v1/domains", key_a_).status, 200);
  ASSERT_TRUE(store_->api_keys.revoke(acme_, key_a_.substr(0, 12)).ok());
  EXPECT_EQ(call("GET", "/api/v1/domains", key_a_).status, 401);
}

TEST_F(RouterTest, OperatorReachesEveryAccountButNeedsTheLongForm) {
  auto list = call_json("GET", "/api/v1/accounts", kAdmin, "", 200);
  ASSERT_EQ(list["items"].size(), 2u);
  EXPECT_EQ(list["items"][0]["name"], "acme");
  call_json("GET", "/api/v1/accounts/beta/domains", kAdmin, "", 200);
  call_json("GET", "/api/v1/accounts/" + std::to_string(beta_) + "/senders", kAdmin, "", 200);
  auto short_form = call("GET", "/api/v1/domains", kAdmin);
  EXPECT_EQ(short_form.status, 400);
  EXPECT_NE(short_form.body.find("/api/v1/accounts/{id}/"), std::string::npos);
  EXPECT_EQ(call("GET", "/api/v1/accounts/nobody/domains", kAdmin).status, 404);
}

TEST_F(RouterTest, AccountsCreateShowDelete) {
  auto created = call_json("POST", "/api/v1/accounts", kAdmin, R"({"name":"gamma"})", 201);
  EXPECT_EQ(created["account"]["name"], "gamma");
  EXPECT_EQ(created["username"], "gamma");
  EXPECT_GE(created["password"].get<std::string>().size(), 20u);
  auto dup = call("POST", "/api/v1/accounts", kAdmin, R"({"name":"gamma"})");
  EXPECT_EQ(dup.status, 409);
  EXPECT_EQ(call("POST", "/api/v1/accounts", kAdmin, R"({"name":"Bad Name"})").status, 400);
  EXPECT_EQ(call("POST", "/api/v1/accounts", kAdmin, R"({"nom":"x"})").status, 400);
  // An API key may not create accounts, and sees only its own.
  EXPECT_EQ(call("POST", "/api/v1/accounts", key_a_, R"({"name":"delta"})").status, 403);
  auto own = call_json("GET", "/api/v1/accounts", key_a_, "", 200);
  ASSERT_EQ(own["items"].size(), 1u);
  EXPECT_EQ(own["items"][0]["name"], "acme");
  call_json("GET", "/api/v1/accounts/acme", key_a_, "", 200);
  EXPECT_EQ(call("GET", "/api/v1/accounts/beta", key_a_).status, 404);
  EXPECT_EQ(call("DELETE", "/api/v1/accounts/acme", key_a_).status, 403);
  const std::string gamma_id = std::to_string(created["account"]["id"].get<int64_t>());
  EXPECT_EQ(call("DELETE", "/api/v1/accounts/" + gamma_id, kAdmin).status, 204);
  EXPECT_EQ(call("GET", "/api/v1/accounts/gamma", kAdmin).status, 404);
  EXPECT_EQ(call("PUT", "/api/v1/accounts/acme", kAdmin).status, 405);
}

// --- isolation ------------------------------------------------------------------------------

TEST_F(RouterTest, AnotherAccountsResourcesAre404) {
  ASSERT_TRUE(store_->domains.add(beta_, "beta.test", true).ok());
  ASSERT_TRUE(store_->senders.add(beta_, "b@beta.test", true).ok());
  ASSERT_TRUE(store_->suppressions.add({beta_, "gone@x.test", "550", "Q1", 0}).ok());
  add_message(beta_, "QBETA1", "r@x.test", "bulk-b", clock_.now_ms());

  // Short form with acme's key: beta's things do not exist.
  EXPECT_EQ(call("GET", "/api/v1/domains/beta.test", key_a_).status, 404);
  EXPECT_EQ(call("DELETE", "/api/v1/domains/beta.test", key_a_).status, 404);
  EXPECT_EQ(call("POST", "/api/v1/domains/beta.test/check", key_a_).status, 404);
  EXPECT_EQ(call("POST", "/api/v1/domains/beta.test/rotate", key_a_).status, 404);
  EXPECT_EQ(call("GET", "/api/v1/senders/b@beta.test", key_a_).status, 404);
  EXPECT_EQ(call("DELETE", "/api/v1/senders/b@beta.test", key_a_).status, 404);
  EXPECT_EQ(call("DELETE", "/api/v1/suppressions/gone@x.test", key_a_).status, 404);
  EXPECT_EQ(call("GET", "/api/v1/messages/QBETA1.0", key_a_).status, 404);
  auto search = call_json("GET", "/api/v1/messages?bulkId=bulk-b", key_a_, "", 200);
  EXPECT_TRUE(search["items"].empty());
  // Long form naming beta with acme's key: 404 as for a missing account.
  EXPECT_EQ(call("GET", "/api/v1/accounts/beta/domains", key_a_).status, 404);
  EXPECT_EQ(
      call("GET", "/api/v1/accounts/" + std::to_string(beta_) + "/suppressions", key_a_).status,
      404);
  // Adding beta's domain to acme is refused (conflict) and changes nothing.
  EXPECT_EQ(call("POST", "/api/v1/domains", key_a_, R"({"domain":"beta.test"})").status, 409);
  auto d = store_->domains.find("beta.test");
  ASSERT_TRUE(d.ok() && d->has_value());
  EXPECT_EQ((*d)->account_id, beta_);
  // Everything of beta is still there for beta.
  call_json("GET", "/api/v1/domains/beta.test", key_b_, "", 200);
  call_json("GET", "/api/v1/messages/QBETA1.0", key_b_, "", 200);
  EXPECT_EQ(call_json("GET", "/api/v1/suppressions", key_b_, "", 200)["items"].size(), 1u);
}

// --- errors ---------------------------------------------------------------------------------

TEST_F(RouterTest, Errors) {
  auto bad_json = call("POST", "/api/v1/domains", key_a_, "{not json");
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_EQ(error_code(bad_json), "bad_request");
  EXPECT_EQ(call("POST", "/api/v1/domains", key_a_, "[1,2]").status, 400);
  EXPECT_EQ(call("POST", "/api/v1/domains", key_a_, R"({"domain":5})").status, 400);
  auto m405 = call("PUT", "/api/v1/domains", key_a_);
  EXPECT_EQ(m405.status, 405);
  EXPECT_EQ(error_code(m405), "method_not_allowed");
  bool has_allow = false;
  for (const auto& [k, v] : m405.headers) has_allow |= k == "Allow" && v == "GET, POST";
  EXPECT_TRUE(has_allow);
  auto big = call("POST", "/api/v1/domains", key_a_, std::string((1 << 20) + 1, ' '));
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(error_code(big), "payload_too_large");
  auto unknown = call("GET", "/api/v1/nothing", key_a_);
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(error_code(unknown), "not_found");
  EXPECT_EQ(call("GET", "/api/v2/domains", key_a_).status, 404);
  EXPECT_EQ(call("GET", "/elsewhere", key_a_).status, 404);
  EXPECT_EQ(call("GET", "/api/v1/domains/x/y/z", key_a_).status, 404);
  EXPECT_EQ(call("GET", "/api/v1/domains/%zz", key_a_).status, 400);
  EXPECT_EQ(call("GET", "/api/v1//domains", key_a_).status, 400);
  EXPECT_EQ(call("GET", "/api/v1/domains?limit=0", key_a_).status, 400);
  EXPECT_EQ(call("GET", "/api/v1/domains?limit=1001", key_a_).status, 400);
  EXPECT_EQ(call("GET", "/api/v1/domains?limit=abc", key_a_).status, 400);
  EXPECT_EQ(call("GET", "/api/v1/domains?cursor=zz", key_a_).status, 400);
  EXPECT_EQ(call("GET", "/api/v1/messages?cursor=%00%01garbage", key_a_).status, 400);
  EXPECT_EQ(call("GET", "/api/v1/messages?status=lost", key_a_).status, 400);
  EXPECT_EQ(call("GET", "/api/v1/messages?from=yesterday", key_a_).status, 400);
  // Every error is the one JSON shape.
  for (const auto& r : {bad_json, m405, big, unknown}) {
    auto j = json::parse(r.body);
    EXPECT_TRUE(j["error"]["code"].is_string());
    EXPECT_TRUE(j["error"]["message"].is_string());
    EXPECT_EQ(r.content_type, "application/json");
  }
}

TEST_F(RouterTest, HostileInputGetsClearErrors) {
  // Deeply nested JSON (just under 1 MiB): refused as a non-object or parsed and refused, never
  // a crash.
  std::string deep(400'000, '[');
  deep += std::string(400'000, ']');
  auto r = call("POST", "/api/v1/domains", key_a_, deep);
  EXPECT_EQ(r.status, 400);
  std::string deep_obj;
  for (int i = 0; i < 100'000; ++i) deep_obj += "{\"a\":";
  deep_obj += "1" + std::string(100'000, '}');
  EXPECT_EQ(call("PATCH", "/api/v1/settings", key_a_, deep_obj).status, 400);
  // NUL and control bytes in paths and bodies.
  EXPECT_EQ(call("GET", "/api/v1/domains/a%00b", key_a_).status, 404);
  EXPECT_EQ(call("DELETE", "/api/v1/senders/%0d%0a", key_a_).status, 404);
  EXPECT_EQ(
      call("POST", "/api/v1/domains", key_a_, std::string("{\"domain\":\"a\u0000.test\"}")).status,
      400);
  EXPECT_EQ(
      call("POST", "/api/v1/suppressions", key_a_, "{\"address\":\"x@y.test\\r\\nX: 1\"}").status,
      400);
  // Invalid UTF-8 in a value that an error message repeats still gives valid JSON.
  auto bad_utf8 = call("PATCH", "/api/v1/settings", key_a_, "{\"\xff\xfe\":1}");
  EXPECT_EQ(bad_utf8.status, 400);
  EXPECT_FALSE(json::parse(bad_utf8.body, nullptr, false).is_discarded());
  // Odd methods, huge numbers, long segments.
  EXPECT_EQ(call("BREW", "/api/v1/domains", key_a_).status, 405);
  EXPECT_EQ(call("GET", "/api/v1/accounts/99999999999999999999999", kAdmin).status, 404);
  EXPECT_EQ(call("GET", "/api/v1/domains/" + std::string(100'000, 'a'), key_a_).status, 404);
  EXPECT_EQ(call("GET", "/api/v1/messages?limit=99999999999999999999", key_a_).status, 400);
  EXPECT_EQ(call("GET", "/api/v1/domains?cursor=" + std::string(5000, 'a'), key_a_).status, 400);
  net::HttpRequest long_auth;
  long_auth.method = "GET";
  long_auth.target = "/api/v1/domains";
  long_auth.headers.emplace_back("authorization", "Bearer " + std::string(100'000, 'x'));
  EXPECT_EQ(handle(svc_, long_auth).status, 401);
}

TEST_F(RouterTest, PercentDecodedSegments) {
  ASSERT_TRUE(store_->senders.add(acme_, "a+b@acme.test", true).ok());
  call_json("GET", "/api/v1/senders/a%2Bb%40acme.test", key_a_, "", 200);
  EXPECT_EQ(call("DELETE", "/api/v1/senders/a%2Bb%40acme.test", key_a_).status, 204);
  EXPECT_EQ(call("GET", "/api/v1/senders/a%2Bb%40acme.test", key_a_).status, 404);
}

// --- pagination -----------------------------------------------------------------------------

TEST_F(RouterTest, PaginationWalksEveryItemOnce) {
  for (int i = 0; i < 7; ++i)
    ASSERT_TRUE(
        store_->suppressions.add({acme_, "u" + std::to_string(i) + "@x.test", "", "", 0}).ok());
  std::set<std::string> seen;
  std::string cursor;
  int pages = 0;
  for (;;) {
    std::string t = "/api/v1/suppressions?limit=3";
    if (!cursor.empty()) t += "&cursor=" + cursor;
    auto page = call_json("GET", t, key_a_, "", 200);
    ++pages;
    for (const auto& it : page["items"]) EXPECT_TRUE(seen.insert(it["address"]).second);
    if (page["nextCursor"].is_null()) break;
    cursor = page["nextCursor"].get<std::string>();
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen.size(), 7u);

  for (int i = 0; i < 5; ++i)
    add_message(acme_, "QA" + std::to_string(i), "r" + std::to_string(i) + "@x.test", "bulk-1",
                clock_.now_ms() + i);
  auto p1 = call_json("GET", "/api/v1/messages?limit=2&bulkId=bulk-1", key_a_, "", 200);
  ASSERT_EQ(p1["items"].size(), 2u);
  EXPECT_EQ(p1["items"][0]["messageId"], "QA4.0");  // newest first
  auto p2 = call_json(
      "GET", "/api/v1/messages?limit=2&bulkId=bulk-1&cursor=" + p1["nextCursor"].get<std::string>(),
      key_a_, "", 200);
  ASSERT_EQ(p2["items"].size(), 2u);
  EXPECT_EQ(p2["items"][0]["messageId"], "QA2.0");
}

// --- resources ------------------------------------------------------------------------------

TEST_F(RouterTest, CredentialsAndApiKeys) {
  auto created = call_json("POST", "/api/v1/credentials", key_a_, "", 201);
  const std::string user = created["username"];
  EXPECT_TRUE(user.starts_with("acme.")) << user;
  auto ok = store_->credentials.verify(user, created["password"]);
  ASSERT_TRUE(ok.ok() && ok->has_value());
  auto list = call_json("GET", "/api/v1/credentials", key_a_, "", 200);
  EXPECT_EQ(list["items"].size(), 2u);
  EXPECT_EQ(list.dump().find("password"), std::string::npos);
  EXPECT_EQ(call("DELETE", "/api/v1/credentials/" + user, key_b_).status, 404);
  EXPECT_EQ(call("DELETE", "/api/v1/credentials/" + user, key_a_).status, 204);
  EXPECT_EQ(call("DELETE", "/api/v1/credentials/" + user, key_a_).status, 404);
  // Chosen usernames are namespaced per account: the same name in another account is that
  // account's own login, so the answer never says another tenant uses it (issue 10 item 14).
  auto ci = call_json("POST", "/api/v1/credentials", key_a_, R"({"username":"acme-ci"})", 201);
  EXPECT_EQ(ci["username"], "acme-ci@acme");
  auto other = call_json("POST", "/api/v1/credentials", key_b_, R"({"username":"acme-ci"})", 201);
  EXPECT_NE(other["username"], "acme-ci@acme");
  EXPECT_EQ(call("POST", "/api/v1/credentials", key_a_, R"({"username":"acme-ci"})").status, 409);

  auto key = call_json("POST", "/api/v1/api-keys", key_a_, "", 201);
  const std::string k = key["key"];
  EXPECT_EQ(key["prefix"], k.substr(0, 12));
  auto keys = call_json("GET", "/api/v1/accounts/acme/api-keys", kAdmin, "", 200);
  ASSERT_EQ(keys["items"].size(), 2u);
  EXPECT_EQ(keys.dump().find(k), std::string::npos);  // never listed whole
  EXPECT_EQ(call("DELETE", "/api/v1/api-keys/" + k.substr(0, 12), key_b_).status, 404);
  EXPECT_EQ(call("DELETE", "/api/v1/api-keys/" + k.substr(0, 12), key_a_).status, 204);
  EXPECT_EQ(call("GET", "/api/v1/domains", k).status, 401);
  keys = call_json("GET", "/api/v1/api-keys", key_a_, "", 200);
  EXPECT_EQ(keys["items"][1]["active"], false);
}

TEST_F(RouterTest, DomainsAddShowCheckRotateDelete) {
  auto added = call_json("POST", "/api/v1/domains", key_a_, R"({"domain":"Send.Acme.test"})", 201);
  EXPECT_EQ(added["domain"], "send.acme.test");
  EXPECT_EQ(added["verified"], false);
  EXPECT_EQ(added["dkim"], "direct");
  ASSERT_TRUE(added["records"].is_array());
  std::map<std::string, json> recs;
  for (const auto& r : added["records"]) recs[r["id"]] = r;
  ASSERT_TRUE(recs.contains("ownership"));
  ASSERT_TRUE(recs.contains("dkim:tern1"));
  EXPECT_EQ(recs["ownership"]["status"], "pending");
  // Only the operator may skip the ownership proof.
  EXPECT_EQ(
      call("POST", "/api/v1/domains", key_a_, R"({"domain":"x.acme.test","verified":true})").status,
      403);
  EXPECT_EQ(
      call("POST", "/api/v1/domains", key_a_, R"({"domain":"x.acme.test","dkim":"odd"})").status,
      400);
  EXPECT_EQ(call("POST", "/api/v1/domains", key_a_, R"({"domain":"not a domain"})").status, 400);

  // Publish the ownership TXT and the DKIM key in the fake DNS; the check sees them.
  zone_ = "_tern.send.acme.test TXT \"" + recs["ownership"]["value"].get<std::string>() + "\"\n" +
          "tern1._domainkey.send.acme.test TXT \"" +
          recs["dkim:tern1"]["value"].get<std::string>() + "\"\n";
  auto checked = call_json("POST", "/api/v1/domains/send.acme.test/check", key_a_, "", 200);
  EXPECT_EQ(checked["verified"], true);
  EXPECT_TRUE(checked["changes"].is_array());
  EXPECT_FALSE(checked["changes"].empty());
  std::map<std::string, std::string> states;
  for (const auto& r : checked["records"]) states[r["id"]] = r["status"];
  EXPECT_EQ(states["ownership"], "ok");
  EXPECT_EQ(states["dkim:tern1"], "ok");
  EXPECT_EQ(states["dkim:tern2"], "missing");
  EXPECT_EQ(call("GET", "/api/v1/domains/send.acme.test/check", key_a_).status, 405);

  auto shown = call_json("GET", "/api/v1/domains/send.acme.test", key_a_, "", 200);
  EXPECT_EQ(shown["verified"], true);
  EXPECT_FALSE(shown["checkedAt"].is_null());
  auto rotated = call_json("POST", "/api/v1/domains/send.acme.test/rotate", key_a_, "", 200);
  EXPECT_EQ(rotated["rotationSelector"], "tern2");
  auto list = call_json("GET", "/api/v1/domains", key_a_, "", 200);
  ASSERT_EQ(list["items"].size(), 1u);
  EXPECT_EQ(list["items"][0]["domain"], "send.acme.test");
  EXPECT_EQ(call("DELETE", "/api/v1/domains/send.acme.test", key_a_).status, 204);
  EXPECT_EQ(call("GET", "/api/v1/domains/send.acme.test", key_a_).status, 404);
  // The operator may add a verified domain to any account.
  auto op = call_json("POST", "/api/v1/accounts/beta/domains", kAdmin,
                      R"({"domain":"beta.test","verified":true,"dkim":"delegated"})", 201);
  EXPECT_EQ(op["verified"], true);
  EXPECT_EQ(op["dkim"], "delegated");
}

TEST_F(RouterTest, SenderVerificationEndToEnd) {
  auto r = call_json("POST", "/api/v1/senders", key_a_, R"({"address":"Bob@Partner.test"})", 201);
  EXPECT_EQ(r["address"], "Bob@partner.test");
  EXPECT_EQ(r["verified"], false);
  EXPECT_EQ(r["verificationSent"], true);
  EXPECT_EQ(r["verificationExpiresAt"], iso_time(clock_.now_ms() + 48LL * 3600 * 1000));

  // The email went through the submission pipeline as Tern's own mail.
  std::vector<queue::QueuedMessage> got;
  {
    std::lock_guard lk(mu_);
    got = accepted_;
  }
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].sender, "noreply@mx.test");
  ASSERT_EQ(got[0].recipients.size(), 1u);
  EXPECT_EQ(got[0].recipients[0].address, "Bob@partner.test");
  const std::string content = stored_content(got[0].id);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(content, m, std::regex("https://tern\\.test/v/([a-z2-7]{26})")))
      << content;
  const std::string token = m[1];
  EXPECT_NE(content.find("Subject: Verify your sender address"), std::string::npos);

  // Forged and malformed tokens: 404 pages; nothing verified.
  EXPECT_EQ(call("GET", "/v/" + std::string(26, 'a')).status, 404);
  EXPECT_EQ(call("GET", "/v/<script>").status, 404);
  EXPECT_EQ(call("POST", "/v/" + token).status, 405);
  auto senders = call_json("GET", "/api/v1/senders", key_a_, "", 200);
  EXPECT_EQ(senders["items"][0]["verified"], false);

  auto page = call("GET", "/v/" + token);
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.content_type.find("text/html"), std::string::npos);
  EXPECT_NE(page.body.find("Bob@partner.test"), std::string::npos);
  senders = call_json("GET", "/api/v1/senders", key_a_, "", 200);
  EXPECT_EQ(senders["items"][0]["verified"], true);
  EXPECT_EQ(call("GET", "/v/" + token).status, 404);  // used up

  // Registering a verified address again sends nothing.
  call_json("POST", "/api/v1/senders", key_a_, R"({"address":"Bob@partner.test"})", 200);
  {
    std::lock_guard lk(mu_);
    EXPECT_EQ(accepted_.size(), 1u);
  }
}

TEST_F(RouterTest, SenderLinkExpiresAfter48Hours) {
  call_json("POST", "/api/v1/senders", key_a_, R"({"address":"late@partner.test"})", 201);
  std::string content;
  {
    std::lock_guard lk(mu_);
    ASSERT_EQ(accepted_.size(), 1u);
    content = stored_content(accepted_[0].id);
  }
  std::smatch m;
  ASSERT_TRUE(std::regex_search(content, m, std::regex("/v/([a-z2-7]{26})")));
  clock_.advance_ms(48LL * 3600 * 1000 + 1);
  EXPECT_EQ(call("GET", "/v/" + m[1].str()).status, 410);
  auto senders = call_json("GET", "/api/v1/senders", key_a_, "", 200);
  EXPECT_EQ(senders["items"][0]["verified"], false);
}

TEST_F(RouterTest, SendersValidationAndOperatorShortcut) {
  EXPECT_EQ(call("POST", "/api/v1/senders", key_a_, R"({"address":"no-at-sign"})").status, 400);
  EXPECT_EQ(call("POST", "/api/v1/senders", key_a_, R"({"address":"a@b.test\r\nBcc: x@y"})").status,
            400);
  EXPECT_EQ(
      call("POST", "/api/v1/senders", key_a_, R"({"address":"a@b.test","verified":true})").status,
      403);
  auto op = call_json("POST", "/api/v1/accounts/acme/senders", kAdmin,
                      R"({"address":"ops@acme.test","verified":true})", 201);
  EXPECT_EQ(op["verified"], true);
  call_json("GET", "/api/v1/senders/ops@acme.test", key_a_, "", 200);
  EXPECT_EQ(call("DELETE", "/api/v1/senders/ops@acme.test", key_a_).status, 204);
  EXPECT_EQ(call("DELETE", "/api/v1/senders/ops@acme.test", key_a_).status, 404);
  // Without a submission service the address stays unverified and the caller hears why.
  svc_.submission = nullptr;
  auto r = call("POST", "/api/v1/senders", key_a_, R"({"address":"x@partner.test"})");
  EXPECT_EQ(r.status, 503);
}

TEST_F(RouterTest, SettingsGetPatchSecretTestEmail) {
  auto s = call_json("GET", "/api/v1/settings", key_a_, "", 200);
  EXPECT_EQ(s["route"], "platform");
  EXPECT_EQ(s["webhook_secret"], "not set");
  auto p = call_json("PATCH", "/api/v1/settings", key_a_,
                     R"({"notify_url":"https://hooks.acme.test/r","report_format":"xml",
                         "intermediate_report":true,"cc":["a@acme.test","b@acme.test"]})",
                     200);
  EXPECT_EQ(p["notify_url"], "https://hooks.acme.test/r");
  EXPECT_EQ(p["report_format"], "xml");
  EXPECT_EQ(p["intermediate_report"], "on");
  EXPECT_EQ(p["cc"], "a@acme.test,b@acme.test");
  // All or nothing, and the key is named.
  auto bad = call("PATCH", "/api/v1/settings", key_a_,
                  R"({"notify_url":"https://other.test/","report_format":"yaml"})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("report_format"), std::string::npos);
  EXPECT_EQ(call_json("GET", "/api/v1/settings", key_a_, "", 200)["notify_url"],
            "https://hooks.acme.test/r");
  auto unknown = call("PATCH", "/api/v1/settings", key_a_, R"({"colour":"blue"})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.find("colour"), std::string::npos);
  // A secret is never echoed, even when refused.
  auto short_secret =
      call("PATCH", "/api/v1/settings", key_a_, R"({"relay.password":"hunter2-secret"})");
  EXPECT_EQ(short_secret.body.find("hunter2"), std::string::npos);
  // The other account is untouched.
  EXPECT_EQ(call_json("GET", "/api/v1/settings", key_b_, "", 200)["notify_url"], "");

  auto secret = call_json("POST", "/api/v1/settings/webhook-secret", key_a_, "", 200);
  const std::string ws = secret["webhookSecret"];
  EXPECT_TRUE(ws.starts_with("whsec_"));
  EXPECT_EQ(ws.size(), 58u);
  auto stored = store_->settings.get(acme_, true);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->webhook_secret, ws);
  auto after = call_json("GET", "/api/v1/settings", key_a_, "", 200);
  EXPECT_EQ(after["webhook_secret"], "set");
  EXPECT_EQ(after.dump().find(ws), std::string::npos);

  auto t = call_json("POST", "/api/v1/settings/test-email", key_a_,
                     R"({"to":"x@dest.test","from":"me@acme.test"})", 200);
  EXPECT_EQ(t["outcome"], "bounced");
  EXPECT_EQ(t["code"], 550);
  EXPECT_EQ(t["enhanced"], "5.1.1");
  EXPECT_EQ(t["reply"], "No such user");
  EXPECT_EQ(t["host"], "mx.dest.test");
  EXPECT_EQ(t["tls"], true);
  EXPECT_EQ(t["route"], "platform");
  ASSERT_EQ(test_email_calls_.size(), 1u);
  EXPECT_EQ(test_email_calls_[0].account, acme_);
  EXPECT_EQ(test_email_calls_[0].from, "me@acme.test");
  EXPECT_EQ(test_email_calls_[0].to, "x@dest.test");
  EXPECT_EQ(call("POST", "/api/v1/settings/test-email", key_a_, R"({})").status, 400);
  EXPECT_EQ(call("POST", "/api/v1/settings/test-email", key_a_, R"({"to":"bad"})").status, 400);
  EXPECT_EQ(
      call("POST", "/api/v1/settings/test-email", key_a_, R"({"to":"a@b.test\r\nX: y"})").status,
      400);
  EXPECT_EQ(test_email_calls_.size(), 1u);
  EXPECT_EQ(call("GET", "/api/v1/settings/test-email", key_a_).status, 405);
}

TEST_F(RouterTest, SuppressionsAddListRemove) {
  call_json("POST", "/api/v1/suppressions", key_a_, R"({"address":"dead@X.test","reason":"known"})",
            201);
  auto list = call_json("GET", "/api/v1/suppressions", key_a_, "", 200);
  ASSERT_EQ(list["items"].size(), 1u);
  EXPECT_EQ(list["items"][0]["address"], "dead@x.test");
  EXPECT_EQ(list["items"][0]["reason"], "known");
  EXPECT_EQ(call("POST", "/api/v1/suppressions", key_a_, R"({"address":"nope"})").status, 400);
  EXPECT_EQ(call("DELETE", "/api/v1/suppressions/alive@x.test", key_a_).status, 404);
  EXPECT_EQ(call("DELETE", "/api/v1/suppressions/dead@x.test", key_a_).status, 204);
  EXPECT_TRUE(call_json("GET", "/api/v1/suppressions", key_a_, "", 200)["items"].empty());
}

TEST_F(RouterTest, MessagesSearchAndShowWithEventsAndWebhooks) {
  const int64_t t0 = clock_.now_ms();
  add_message(acme_, "QM1", "one@dest.test", "b1", t0);
  add_message(acme_, "QM2", "two@dest.test", "b2", t0 + 60'000);
  ASSERT_TRUE(log_->update_status({{"QM2.0", core::MessageStatus::delivered, t0 + 61'000}}).ok());
  store::DeliveryEvent e;
  e.time_ms = t0 + 61'000;
  e.queue_id = "QM2";
  e.account_id = acme_;
  e.recipient = "two@dest.test";
  e.event = core::EventKind::delivered;
  e.attempt = 1;
  e.code = 250;
  e.enhanced = "2.0.0";
  e.reply = "ok queued";
  e.mx_host = "mx.dest.test";
  e.tls = true;
  store::DeliveryEvent other = e;
  other.recipient = "someone-else@dest.test";
  ASSERT_TRUE(store_->events.record({e, other}).ok());
  store::OutboxItem o;
  o.account_id = acme_;
  o.kind = store::OutboxKind::report;
  o.url = "https://hooks.acme.test/r";
  o.content_type = "application/json";
  o.message_id = "QM2.0";
  o.queue_id = "QM2";
  o.recipient = "two@dest.test";
  o.item = "{}";
  o.created_ms = t0 + 61'000;
  ASSERT_TRUE(outbox_->enqueue({o}, 1795341600000).ok());

  auto by_rcpt = call_json("GET", "/api/v1/messages?recipient=one%40dest.test", key_a_, "", 200);
  ASSERT_EQ(by_rcpt["items"].size(), 1u);
  EXPECT_EQ(by_rcpt["items"][0]["messageId"], "QM1.0");
  auto by_status = call_json("GET", "/api/v1/messages?status=delivered", key_a_, "", 200);
  ASSERT_EQ(by_status["items"].size(), 1u);
  EXPECT_EQ(by_status["items"][0]["messageId"], "QM2.0");
  auto by_time =
      call_json("GET", "/api/v1/messages?from=" + iso_time(t0 + 30'000), key_a_, "", 200);
  ASSERT_EQ(by_time["items"].size(), 1u);
  auto by_ms =
      call_json("GET", "/api/v1/messages?to=" + std::to_string(t0 + 30'000), key_a_, "", 200);
  ASSERT_EQ(by_ms["items"].size(), 1u);
  EXPECT_EQ(by_ms["items"][0]["messageId"], "QM1.0");

  auto one = call_json("GET", "/api/v1/messages/QM2.0", key_a_, "", 200);
  EXPECT_EQ(one["status"], "delivered");
  ASSERT_EQ(one["events"].size(), 1u);  // the other recipient's event is not this message's
  EXPECT_EQ(one["events"][0]["event"], "delivered");
  EXPECT_EQ(one["events"][0]["reply"], "ok queued");
  EXPECT_EQ(one["events"][0]["mxHost"], "mx.dest.test");
  ASSERT_EQ(one["webhooks"].size(), 1u);
  EXPECT_EQ(one["webhooks"][0]["state"], "pending");
  EXPECT_EQ(call("GET", "/api/v1/messages/NOPE.0", key_a_).status, 404);
  call_json("GET", "/api/v1/accounts/acme/messages/QM2.0", kAdmin, "", 200);
}

// --- OpenAPI ----------------------------------------------------------------------------------

TEST_F(RouterTest, OpenApiListsEveryRouteAndEveryListedRouteExists) {
  auto doc = call_json("GET", "/api/v1/openapi.json", "", "", 200);  // no auth
  EXPECT_EQ(doc["openapi"], "3.0.3");
  const auto& paths = doc["paths"];
  // Routes the router serves, by (method, template): each is documented.
  const std::vector<std::pair<std::string, std::string>> served = {
      {"get", "/api/v1/accounts"},
      {"post", "/api/v1/accounts"},
      {"get", "/api/v1/accounts/{accountId}"},
      {"delete", "/api/v1/accounts/{accountId}"},
      {"get", "/api/v1/domains"},
      {"post", "/api/v1/domains/{domain}/check"},
      {"patch", "/api/v1/settings"},
      {"post", "/api/v1/settings/test-email"},
      {"post", "/api/v1/messages"},
      {"get", "/api/v1/accounts/{accountId}/messages/{messageId}"},
      {"delete", "/api/v1/accounts/{accountId}/suppressions/{address}"},
      {"get", "/v/{token}"},
      {"get", "/t/c/{token}"},
      // the console's (issue 13)
      {"post", "/api/v1/session"},
      {"get", "/api/v1/session"},
      {"delete", "/api/v1/session"},
      {"get", "/api/v1/platform"},
      {"get", "/api/v1/stats"},
      {"get", "/api/v1/accounts/{accountId}/stats"},
      {"get", "/api/v1/queue"},
      {"get", "/api/v1/queue/messages"},
      {"post", "/api/v1/queue/actions"},
      {"post", "/api/v1/accounts/{accountId}/suspend"},
      {"post", "/api/v1/accounts/{accountId}/unsuspend"},
      {"get", "/api/v1/suppressions"},
      {"post", "/api/v1/suppressions/bulk"},
      {"get", "/api/v1/captured"},
      {"get", "/api/v1/captured/{capturedId}"},
      {"get", "/api/v1/captured/{capturedId}/raw"},
      {"get", "/api/v1/captured/{capturedId}/html"},
      {"get", "/api/v1/webhooks/deliveries"},
      {"post", "/api/v1/webhooks/deliveries/{deliveryId}/retry"},
      {"post", "/api/v1/webhooks/test"}};
  for (const auto& [m, p] : served) {
    ASSERT_TRUE(paths.contains(p)) << p;
    EXPECT_TRUE(paths[p].contains(m)) << m << " " << p;
  }
  // And every documented /api/v1 operation reaches a handler (not "no such endpoint").
  int checked = 0;
  for (auto& [path, ops] : paths.items()) {
    if (!path.starts_with("/api/v1/") || path == "/api/v1/openapi.json") continue;
    const bool scoped = path.starts_with("/api/v1/accounts/{accountId}/");
    std::string target = std::regex_replace(path, std::regex("\\{accountId\\}"), "acme");
    target = std::regex_replace(target, std::regex("\\{[A-Za-z]+\\}"), "x");
    const bool global = target.starts_with("/api/v1/accounts") && !scoped;
    for (auto& [method, op] : ops.items()) {
      std::string m = method;
      for (auto& ch : m) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      if (m == "POST" && (target.ends_with("/messages"))) continue;  // send.cpp's own tests
      auto r = call(m, target, scoped || global ? kAdmin : key_a_, "{}");
      EXPECT_FALSE(r.status == 404 && r.body.find("no such endpoint") != std::string::npos)
          << m << " " << target;
      EXPECT_NE(r.status, 405) << m << " " << target;
      ++checked;
    }
  }
  EXPECT_GT(checked, 50);
  // Every $ref resolves to a schema of the document.
  std::vector<const json*> todo = {&doc};
  int refs = 0;
  while (!todo.empty()) {
    const json* j = todo.back();
    todo.pop_back();
    if (j->is_object()) {
      if (auto it = j->find("$ref"); it != j->end()) {
        const std::string ref = *it;
        ASSERT_TRUE(ref.starts_with("#/components/schemas/")) << ref;
        EXPECT_TRUE(doc["components"]["schemas"].contains(ref.substr(21))) << ref;
        ++refs;
      }
      for (const auto& [k, v] : j->items()) todo.push_back(&v);
    } else if (j->is_array()) {
      for (const auto& v : *j) todo.push_back(&v);
    }
  }
  EXPECT_GT(refs, 50);
  // Every operation has a unique operationId (clients generate method names from them).
  std::set<std::string> ids;
  for (auto& [path, ops] : paths.items())
    for (auto& [method, op] : ops.items()) {
      ASSERT_TRUE(op.contains("operationId")) << method << " " << path;
      EXPECT_TRUE(ids.insert(op["operationId"].get<std::string>()).second)
          << "duplicate " << op["operationId"] << " at " << method << " " << path;
    }
}

// --- request helpers ---------------------------------------------------------------------------

TEST(RequestTest, TimesAndDecoding) {
  EXPECT_EQ(iso_time(1'795'348'800'123), "2026-11-22T12:00:00.123Z");
  EXPECT_EQ(parse_time("2026-11-22T12:00:00Z"), 1'795'348'800'000);
  EXPECT_EQ(parse_time("2026-11-22T12:00:00.5Z"), 1'795'348'800'500);
  EXPECT_EQ(parse_time("2026-11-22T14:00:00+02:00"), 1'795'348'800'000);
  EXPECT_EQ(parse_time("1795348800000"), 1'795'348'800'000);
  EXPECT_FALSE(parse_time("2026-13-01T00:00:00Z"));
  EXPECT_FALSE(parse_time("2026-11-23 08:00:00"));
  EXPECT_FALSE(parse_time("2026-11-23T08:00:00"));
  EXPECT_FALSE(parse_time(""));
  EXPECT_FALSE(parse_time("99999999999999999999"));
  EXPECT_EQ(percent_decode("a%40b%2Fc"), "a@b/c");
  EXPECT_FALSE(percent_decode("%4"));
  EXPECT_FALSE(percent_decode("%"));
  EXPECT_FALSE(percent_decode("%g0"));
  EXPECT_EQ(percent_decode("a+b", true), "a b");
  auto segs = split_path("/a/b%2Fc/");
  ASSERT_TRUE(segs);
  EXPECT_EQ(*segs, (std::vector<std::string>{"a", "b/c"}));
  EXPECT_FALSE(split_path("/a//b"));
}

}  // namespace
}  // namespace tern::api
