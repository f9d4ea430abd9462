// api::handle_tracking over a real SQLite store, message log and outbox: valid click and open
// tokens record an event and enqueue a tracking webhook; forged, cross-kind or foreign-secret
// tokens are 404 and record nothing.
#include "api/tracking_endpoint.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/clock.hpp"
#include "store/backend.hpp"
#include "store/message_log.hpp"
#include "store/outbox.hpp"
#include "store/store.hpp"
#include "tracking/token.hpp"
#include "unit/store/test_dir.hpp"

namespace tern::api {
namespace {

using nlohmann::json;

const std::string kSecret = "tracking-secret-0123456789";

class TrackingEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string db = dir_.file("tern.db");
    auto opened = store::open_backend("sqlite:" + db);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    backend_ = std::move(opened).value();
    store_ = backend_.store.get();
    log_ = backend_.messages.get();
    outbox_ = backend_.outbox.get();
    auto a = store_->accounts.create("acme");
    ASSERT_TRUE(a.ok());
    acme_ = a->account.id;

    store::MessageRecord m;
    m.message_id = store::make_message_id("QTRACK", 0);
    m.queue_id = "QTRACK";
    m.rcpt_index = 0;
    m.account_id = acme_;
    m.bulk_id = "bulk-1";
    m.sender = "news@acme.test";
    m.recipient = "bob@dest.test";
    m.options_json =
        R"({"bulkId":"bulk-1","trackingUrl":"https://hooks.acme.test/t","callbackData":"cb-9","intermediateReport":false})";
    m.created_ms = clock_.now_ms();
    m.updated_ms = m.created_ms;
    ASSERT_TRUE(log_->record_accepted({m}).ok());
    m.message_id = store::make_message_id("QQUIET", 0);
    m.queue_id = "QQUIET";
    m.options_json = R"({"bulkId":"bulk-2","intermediateReport":false})";
    ASSERT_TRUE(log_->record_accepted({m}).ok());

    svc_.store = store_;
    svc_.messages = log_;
    svc_.outbox = outbox_;
    svc_.clock = &clock_;
    svc_.tracking_secret = kSecret;
    svc_.webhooks_enqueued = [this] { ++wakeups_; };
  }

  static std::string token(tracking::TokenKind kind, const std::string& qid, std::string url = "",
                           const std::string& secret = kSecret) {
    tracking::TokenFields f;
    f.kind = kind;
    f.message_id = qid;
    f.recipient = 0;
    f.link = kind == tracking::TokenKind::click ? 2 : 0;
    f.url = std::move(url);
    auto t = tracking::sign_token(f, secret);
    EXPECT_TRUE(t.ok());
    return t.ok() ? t.value() : "";
  }

  net::HttpResponse get(const std::string& target, const std::string& method = "GET") {
    net::HttpRequest r;
    r.method = method;
    r.target = target;
    r.remote_ip = "203.0.113.5";
    r.headers = {{"user-agent", "Mozilla/5.0 (Test)"}};
    return handle_tracking(svc_, r);
  }

  std::string header(const net::HttpResponse& r, const std::string& name) {
    for (const auto& [k, v] : r.headers)
      if (k == name) return v;
    return "<none>";
  }

  std::vector<store::DeliveryEvent> events(const std::string& qid) {
    auto e = store_->events.for_queue(qid);
    EXPECT_TRUE(e.ok());
    return e.ok() ? e.value() : std::vector<store::DeliveryEvent>{};
  }

  std::vector<store::OutboxItem> outbox(const std::string& mid) {
    auto o = outbox_->for_message(mid);
    EXPECT_TRUE(o.ok());
    return o.ok() ? o.value() : std::vector<store::OutboxItem>{};
  }

  test::TempDir dir_;
  store::Backend backend_;
  store::Store* store_ = nullptr;
  store::MessageLog* log_ = nullptr;
  store::Outbox* outbox_ = nullptr;
  core::FakeClock clock_{1795348800000};
  ApiServices svc_;
  int64_t acme_ = 0;
  int wakeups_ = 0;
};

TEST_F(TrackingEndpointTest, ClickRedirectsRecordsAndEnqueues) {
  const std::string url = "https://acme.test/offer?x=1&y=2";
  auto r = get("/t/c/" + token(tracking::TokenKind::click, "QTRACK", url));
  EXPECT_EQ(r.status, 302);
  EXPECT_EQ(header(r, "Location"), url);
  EXPECT_EQ(header(r, "Cache-Control"), "no-store");

  auto ev = events("QTRACK");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].event, core::EventKind::clicked);
  EXPECT_EQ(ev[0].recipient, "bob@dest.test");
  EXPECT_EQ(ev[0].reply, url);
  EXPECT_EQ(ev[0].account_id, acme_);

  auto items = outbox("QTRACK.0");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].kind, store::OutboxKind::tracking);
  EXPECT_EQ(items[0].url, "https://hooks.acme.test/t");
  EXPECT_EQ(items[0].account_id, acme_);
  EXPECT_EQ(items[0].recipient, "bob@dest.test");
  auto item = json::parse(items[0].item);
  EXPECT_EQ(item, json({{"type", "CLICKED"},
                        {"messageId", "QTRACK.0"},
                        {"bulkId", "bulk-1"},
                        {"recipient", "bob@dest.test"},
                        {"url", url},
                        {"time", "2026-11-22T12:00:00.000+0000"},
                        {"userAgent", "Mozilla/5.0 (Test)"},
                        {"ip", "203.0.113.5"},
                        {"callbackData", "cb-9"}}));
  EXPECT_EQ(wakeups_, 1);
}

TEST_F(TrackingEndpointTest, OpenServesPixelRecordsAndEnqueues) {
  auto r = get("/t/o/" + token(tracking::TokenKind::open, "QTRACK"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "image/gif");
  EXPECT_EQ(r.body.size(), 43u);
  EXPECT_EQ(r.body.substr(0, 6), "GIF89a");
  EXPECT_NE(header(r, "Cache-Control").find("no-store"), std::string::npos);
  auto ev = events("QTRACK");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].event, core::EventKind::opened);
  EXPECT_EQ(ev[0].reply, "Mozilla/5.0 (Test)");
  auto items = outbox("QTRACK.0");
  ASSERT_EQ(items.size(), 1u);
  auto item = json::parse(items[0].item);
  EXPECT_EQ(item["type"], "OPENED");
  EXPECT_EQ(item["url"], "");
  EXPECT_EQ(item["ip"], "203.0.113.5");
}

TEST_F(TrackingEndpointTest, ForgedTokensAre404AndRecordNothing) {
  const std::string good = token(tracking::TokenKind::click, "QTRACK", "https://acme.test/");
  std::string forged = good;
  forged[forged.size() / 2] = forged[forged.size() / 2] == 'A' ? 'B' : 'A';
  const std::vector<std::string> targets = {
      "/t/c/" + forged,
      "/t/c/" + good.substr(0, good.size() - 1),
      "/t/c/" + good + "A",
      std::string("/t/c/"),
      std::string("/t/c/%00"),
      "/t/o/" + good,  // a click token on the open path
      "/t/c/" + token(tracking::TokenKind::open, "QTRACK"),
      "/t/c/" + token(tracking::TokenKind::click, "QTRACK", "https://evil.test/",
                      "another-secret-0123456789"),
      std::string("/t/x/") + good};
  for (const std::string& target : targets) {
    auto r = get(target);
    EXPECT_EQ(r.status, 404) << target;
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(header(r, "Location"), "<none>");
    EXPECT_EQ(json::parse(r.body)["error"]["code"], "not_found");
  }
  EXPECT_TRUE(events("QTRACK").empty());
  EXPECT_TRUE(outbox("QTRACK.0").empty());
  EXPECT_EQ(wakeups_, 0);
}

// Issue 14.15: a click 67 ms after delivery came before the log's batch had written the row and
// was dropped ("not in the message log"). A token that carries the event's context is recorded
// and reported with no log row at all.
TEST_F(TrackingEndpointTest, ClickWithContextTokenCountsWithoutALogRow) {
  ASSERT_FALSE(log_->find("QFRESH.0").value().has_value());
  const std::string url = "https://acme.test/new";
  tracking::TokenFields f;
  f.kind = tracking::TokenKind::click;
  f.message_id = "QFRESH";
  f.link = 1;
  f.url = url;
  f.context = tracking::TokenContext{acme_, "carol@dest.test", "bulk-7",
                                     "https://hooks.acme.test/t", "cb-7"};
  auto r = get("/t/c/" + tracking::sign_token(f, kSecret).value());
  EXPECT_EQ(r.status, 302);
  auto ev = events("QFRESH");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].event, core::EventKind::clicked);
  EXPECT_EQ(ev[0].recipient, "carol@dest.test");
  EXPECT_EQ(ev[0].account_id, acme_);
  auto items = outbox("QFRESH.0");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].url, "https://hooks.acme.test/t");
  EXPECT_EQ(items[0].account_id, acme_);
  auto item = json::parse(items[0].item);
  EXPECT_EQ(item["type"], "CLICKED");
  EXPECT_EQ(item["messageId"], "QFRESH.0");
  EXPECT_EQ(item["bulkId"], "bulk-7");
  EXPECT_EQ(item["recipient"], "carol@dest.test");
  EXPECT_EQ(item["callbackData"], "cb-7");
  EXPECT_EQ(item["url"], url);
  EXPECT_EQ(wakeups_, 1);

  // The open pixel likewise.
  f.kind = tracking::TokenKind::open;
  f.url.clear();
  f.link = 0;
  EXPECT_EQ(get("/t/o/" + tracking::sign_token(f, kSecret).value()).status, 200);
  EXPECT_EQ(events("QFRESH").size(), 2u);
  EXPECT_EQ(outbox("QFRESH.0").size(), 2u);
}

TEST_F(TrackingEndpointTest, UnknownMessageStillRedirectsButRecordsNothing) {
  auto r = get("/t/c/" + token(tracking::TokenKind::click, "QGONE", "https://acme.test/"));
  EXPECT_EQ(r.status, 302);
  EXPECT_TRUE(events("QGONE").empty());
  EXPECT_EQ(wakeups_, 0);
}

TEST_F(TrackingEndpointTest, NoTrackingUrlRecordsEventOnly) {
  auto r = get("/t/o/" + token(tracking::TokenKind::open, "QQUIET"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(events("QQUIET").size(), 1u);
  EXPECT_TRUE(outbox("QQUIET.0").empty());
  EXPECT_EQ(wakeups_, 0);
}

TEST_F(TrackingEndpointTest, HeadDoesNotCountAndOtherMethodsRefused) {
  auto r = get("/t/o/" + token(tracking::TokenKind::open, "QTRACK"), "HEAD");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(events("QTRACK").empty());
  EXPECT_EQ(get("/t/o/" + token(tracking::TokenKind::open, "QTRACK"), "POST").status, 405);
}

TEST_F(TrackingEndpointTest, NoSecretConfiguredIs404) {
  svc_.tracking_secret.clear();
  EXPECT_EQ(get("/t/o/" + token(tracking::TokenKind::open, "QTRACK")).status, 404);
}

}  // namespace
}  // namespace tern::api
