// The webhook sender with a real SQLite store and outbox (temporary directory) and a scripted
// HTTP receiver on 127.0.0.1: a batch of report results POSTed as exactly to_json / to_xml of
// the stored results with a signature that report::verify accepts; tracking events as
// {"events":[...]}; items marked sent and one "webhook" event per item in the message log;
// a 500 schedules a retry after 30 s; an item older than max_age is given up; a refused
// (loopback) target is given up at once; a damaged item is given up while the rest is sent;
// the backoff schedule; poke() wakes a sender that had nothing to do; a POST ends on the I/O
// thread while the store thread is stuck in a mark (issue 12: store work off the I/O thread);
// a mark the store fails is stored by a later round and its item is not sent again (W1);
// drain() stores what ended before a stop (W2).
#include "net/webhook_sender.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/clock.hpp"
#include "dns/resolver.hpp"
#include "report/report.hpp"
#include "report/signature.hpp"
#include "store/backend.hpp"
#include "store/outbox.hpp"
#include "store/store.hpp"
#include "unit/net/fake_http_server.hpp"
#include "unit/net/forwarding_outbox.hpp"
#include "unit/store/test_dir.hpp"

namespace tern::net {
namespace {

namespace asio = boost::asio;
using testing_http::FakeHttpServer;
using testing_http::HttpConn;
using testing_http::Request;

constexpr const char* kSecret = "whsec-0123456789abcdef";

// An outbox whose mark_sent waits (at most 5 s) until opened: the store thread stuck in a commit;
// and fails (fail_marks times) once open: a database blip.
class GatedOutbox final : public test::ForwardingOutbox {
 public:
  using ForwardingOutbox::ForwardingOutbox;
  std::atomic<int> marks_waiting{0};
  std::atomic<bool> open{false};
  std::atomic<int> fail_marks{0};
  std::atomic<int> marks_failed{0};

  core::Result<size_t> mark_sent(const std::vector<store::OutboxClaim>& c, int64_t n,
                                 int code) override {
    ++marks_waiting;
    for (int i = 0; i < 500 && !open; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    --marks_waiting;
    if (fail_marks > 0) {
      --fail_marks;
      ++marks_failed;
      return core::Error::unavailable("injected: the database blinked");
    }
    return in_.mark_sent(c, n, code);
  }
};

class WebhookSenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::open_backend("sqlite:" + dir_.file("tern.db"));
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    backend_ = std::move(opened).value();
    store_ = backend_.store.get();
    auto a = store_->accounts.create("acme");
    ASSERT_TRUE(a.ok());
    acme_ = a->account.id;
    outbox_ = backend_.outbox.get();
    resolver_ = dns::make_fake_resolver("hooks.test A 127.0.0.1\n");
    cfg_.timeout_s = 5;
    cfg_.policy.allow_loopback = true;
  }
  void TearDown() override { pool_.join(); }

  void make_sender() {
    sender_ = std::make_unique<WebhookSender>(
        io_, cfg_, WebhookServices{outbox_, store_, resolver_.get(), &pool_, nullptr});
    sender_->start();
  }
  // Runs the sender's io_context until pred() holds (or 20 s pass).
  bool run_until(const std::function<bool()>& pred) {
    io_.restart();  // an earlier run may have left it stopped (out of work)
    auto work = asio::make_work_guard(io_);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!pred() && std::chrono::steady_clock::now() < until)
      io_.run_one_for(std::chrono::milliseconds(50));
    return pred();
  }

  static report::ReportResult result(const std::string& mid, const std::string& event) {
    report::ReportInput in;
    in.bulk_id = "bulk-7";
    in.message_id = mid;
    in.to = mid + "@example.org";
    in.sent_at_ms = 1795341600000;
    in.done_at_ms = 1795341661234;
    in.event = *core::parse_event_kind(event);
    in.code = event == "delivered" ? 250 : 550;
    in.enhanced = event == "delivered" ? "2.0.0" : "5.1.1";
    in.reply = "ok <&>";
    in.callback_data = "cb-" + mid;
    return report::make_result(in).value();
  }
  store::OutboxItem report_item(const std::string& url, const report::ReportResult& r,
                                const std::string& ct = "application/json") {
    store::OutboxItem i;
    i.account_id = acme_;
    i.kind = store::OutboxKind::report;
    i.url = url;
    i.content_type = ct;
    i.message_id = r.message_id;
    i.queue_id = "Q" + r.message_id;
    i.recipient = r.to;
    i.item = report::result_to_json_item(r);
    return i;
  }
  void enqueue(const std::vector<store::OutboxItem>& items) {
    auto r = outbox_->enqueue(items, core::SystemClock().now_ms());
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  store::OutboxItem stored(const std::string& mid) {
    auto r = outbox_->for_message(mid);
    EXPECT_TRUE(r.ok() && r->size() == 1);
    return r.ok() && !r->empty() ? r->front() : store::OutboxItem{};
  }
  std::vector<store::DeliveryEvent> events(const std::string& queue_id) {
    auto r = store_->events.for_queue(queue_id);
    EXPECT_TRUE(r.ok());
    return r.ok() ? r.value() : std::vector<store::DeliveryEvent>{};
  }
  static FakeHttpServer::Script answer(int status, std::string reason, Request* seen) {
    return [=](HttpConn& c) {
      auto r = c.read_request();
      if (!r) return;
      if (seen) *seen = *r;
      c.respond(status, reason);
    };
  }
  static int64_t now_ms() { return core::SystemClock().now_ms(); }

  test::TempDir dir_;
  store::Backend backend_;
  store::Store* store_ = nullptr;
  store::Outbox* outbox_ = nullptr;
  std::unique_ptr<dns::Resolver> resolver_;
  int64_t acme_ = 0;
  asio::io_context io_;
  asio::thread_pool pool_{1};
  WebhookConfig cfg_;
  std::unique_ptr<WebhookSender> sender_;
};

TEST_F(WebhookSenderTest, ReportBatchIsPostedSignedAndMarkedSent) {
  ASSERT_TRUE(store_->settings.set(acme_, {{"webhook_secret", kSecret}}).ok());
  Request seen;
  FakeHttpServer srv({answer(200, "OK", &seen)});
  auto r1 = result("m1", "delivered"), r2 = result("m2", "bounced");
  enqueue({report_item(srv.url("/hook", "hooks.test"), r1),
           report_item(srv.url("/hook", "hooks.test"), r2)});
  make_sender();
  ASSERT_TRUE(run_until([&] { return sender_->counters().sent == 2; }));
  srv.join();

  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.header("content-type"), "application/json");
  EXPECT_EQ(seen.header("user-agent"), "Tern-Webhooks/1");
  EXPECT_EQ(seen.body, report::to_json({r1, r2}));
  const std::string ts = seen.header("x-tern-timestamp");
  ASSERT_FALSE(ts.empty());
  EXPECT_NEAR(std::stoll(ts), now_ms() / 1000, 30);
  const std::string sig = seen.header("x-tern-signature");
  EXPECT_EQ(sig.rfind("t=" + ts + ",v1=", 0), 0u) << sig;
  auto ok = report::verify(sig, kSecret, seen.body, now_ms() / 1000);
  EXPECT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_FALSE(report::verify(sig, "another-secret-0123456", seen.body, now_ms() / 1000).ok());
  EXPECT_FALSE(report::verify(sig, kSecret, seen.body + " ", now_ms() / 1000).ok());

  EXPECT_EQ(stored("m1").state, store::OutboxState::sent);
  EXPECT_EQ(stored("m2").state, store::OutboxState::sent);
  auto ev = events("Qm1");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].event, core::EventKind::webhook);
  EXPECT_EQ(ev[0].code, 200);
  EXPECT_EQ(ev[0].attempt, 1);
  EXPECT_EQ(ev[0].recipient, "m1@example.org");
  EXPECT_EQ(ev[0].reply, "POST " + srv.url("/hook", "hooks.test") + ": 200 OK");
  auto c = sender_->counters();
  EXPECT_EQ(c.failed_attempts, 0u);
  EXPECT_EQ(c.backlog, 0u);
}

TEST_F(WebhookSenderTest, XmlReportIsUnsignedWithoutASecret) {
  Request seen;
  FakeHttpServer srv({answer(202, "Accepted", &seen)});
  auto r1 = result("m1", "expired");
  enqueue({report_item(srv.url(), r1, "application/xml")});
  make_sender();
  ASSERT_TRUE(run_until([&] { return sender_->counters().sent == 1; }));
  srv.join();
  EXPECT_EQ(seen.header("content-type"), "application/xml");
  EXPECT_EQ(seen.body, report::to_xml({r1}));
  EXPECT_EQ(seen.header("x-tern-signature"), "");
  EXPECT_FALSE(seen.header("x-tern-timestamp").empty());
}

// Issue 14: a secret set or rotated signs the very next report (no settings cache), and during
// the rotation window the report carries a v1 for the new secret and one for the old.
TEST_F(WebhookSenderTest, ASecretChangeSignsTheNextReport) {
  Request seen1, seen2, seen3;
  FakeHttpServer srv(
      {answer(200, "OK", &seen1), answer(200, "OK", &seen2), answer(200, "OK", &seen3)});
  make_sender();
  enqueue({report_item(srv.url(), result("m1", "delivered"))});
  sender_->poke();
  ASSERT_TRUE(run_until([&] { return sender_->counters().sent == 1; }));
  EXPECT_EQ(seen1.header("x-tern-signature"), "");  // no secret yet

  ASSERT_TRUE(store_->settings.set(acme_, {{"webhook_secret", kSecret}}).ok());
  enqueue({report_item(srv.url(), result("m2", "delivered"))});
  sender_->poke();
  ASSERT_TRUE(run_until([&] { return sender_->counters().sent == 2; }));
  const std::string sig2 = seen2.header("x-tern-signature");
  ASSERT_FALSE(sig2.empty()) << "the first secret must sign the next report at once";
  EXPECT_TRUE(report::verify(sig2, kSecret, seen2.body, now_ms() / 1000).ok());
  EXPECT_EQ(sig2.find(",v1=", sig2.find(",v1=") + 1), std::string::npos);  // one v1: no old one

  const std::string rotated = "whsec-rotated-fedcba9876543210";
  ASSERT_TRUE(store_->settings.set(acme_, {{"webhook_secret", rotated}}).ok());
  enqueue({report_item(srv.url(), result("m3", "delivered"))});
  sender_->poke();
  ASSERT_TRUE(run_until([&] { return sender_->counters().sent == 3; }));
  srv.join();
  const std::string sig3 = seen3.header("x-tern-signature");
  const std::string ts = seen3.header("x-tern-timestamp");
  EXPECT_EQ(sig3, "t=" + ts + ",v1=" + report::sign(rotated, std::stoll(ts), seen3.body).value() +
                      ",v1=" + report::sign(kSecret, std::stoll(ts), seen3.body).value());
  EXPECT_TRUE(report::verify(sig3, rotated, seen3.body, now_ms() / 1000).ok());
  EXPECT_TRUE(report::verify(sig3, kSecret, seen3.body, now_ms() / 1000).ok());
}

TEST_F(WebhookSenderTest, AfterTheGracePeriodOnlyTheNewSecretSigns) {
  cfg_.secret_grace_ms = 0;  // the window is already over
  Request seen;
  FakeHttpServer srv({answer(200, "OK", &seen)});
  ASSERT_TRUE(store_->settings.set(acme_, {{"webhook_secret", kSecret}}).ok());
  const std::string rotated = "whsec-rotated-fedcba9876543210";
  ASSERT_TRUE(store_->settings.set(acme_, {{"webhook_secret", rotated}}).ok());
  enqueue({report_item(srv.url(), result("m1", "delivered"))});
  make_sender();
  ASSERT_TRUE(run_until([&] { return sender_->counters().sent == 1; }));
  srv.join();
  const std::string sig = seen.header("x-tern-signature");
  EXPECT_TRUE(report::verify(sig, rotated, seen.body, now_ms() / 1000).ok());
  EXPECT_FALSE(report::verify(sig, kSecret, seen.body, now_ms() / 1000).ok());
}

TEST_F(WebhookSenderTest, TrackingEventsGoOutAsAnEventsArray) {
  Request seen;
  FakeHttpServer srv({answer(200, "OK", &seen)});
  store::OutboxItem i;
  i.account_id = acme_;
  i.kind = store::OutboxKind::tracking;
  i.url = srv.url("/events");
  i.content_type = "application/json";
  i.message_id = "m1";
  i.queue_id = "Qm1";
  i.recipient = "a@example.org";
  i.item = R"({"type":"opened","messageId":"m1","recipient":"a@example.org"})";
  auto j = i;
  j.message_id = "m2";
  j.item = R"({"type":"clicked","messageId":"m2","url":"https://example.org/"})";
  enqueue({i, j});
  make_sender();
  ASSERT_TRUE(run_until([&] { return sender_->counters().sent == 2; }));
  srv.join();
  auto body = nlohmann::json::parse(seen.body);
  ASSERT_TRUE(body["events"].is_array());
  ASSERT_EQ(body["events"].size(), 2u);
  EXPECT_EQ(body["events"][0]["type"], "opened");
  EXPECT_EQ(body["events"][1]["url"], "https://example.org/");
  EXPECT_EQ(seen.header("content-type"), "application/json");
}

TEST_F(WebhookSenderTest, ServerErrorSchedulesARetryAfter30Seconds) {
  FakeHttpServer srv({answer(500, "Internal Server Error", nullptr)});
  enqueue({report_item(srv.url(), result("m1", "delivered"))});
  make_sender();
  const int64_t before = now_ms();
  ASSERT_TRUE(run_until([&] { return sender_->counters().failed_attempts == 1; }));
  srv.join();
  auto it = stored("m1");
  EXPECT_EQ(it.state, store::OutboxState::pending);
  EXPECT_EQ(it.attempts, 1);
  EXPECT_GE(it.next_attempt_ms, before + 30'000);
  EXPECT_LE(it.next_attempt_ms, now_ms() + 30'000);
  EXPECT_EQ(it.last_error, "POST " + srv.url() + ": 500 Internal Server Error");
  auto ev = events("Qm1");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].code, 500);
  EXPECT_EQ(ev[0].reply, "POST " + srv.url() + ": 500 Internal Server Error");
  auto c = sender_->counters();
  EXPECT_EQ(c.sent, 0u);
  EXPECT_EQ(c.given_up, 0u);
  EXPECT_EQ(c.backlog, 1u);
}

TEST_F(WebhookSenderTest, ItemOlderThanMaxAgeIsGivenUpAfterAFailure) {
  cfg_.max_age_ms = 86'400'000;
  FakeHttpServer srv({answer(503, "Service Unavailable", nullptr)});
  auto old = report_item(srv.url(), result("m1", "delivered"));
  old.created_ms = now_ms() - 86'400'001;
  enqueue({old});
  make_sender();
  ASSERT_TRUE(run_until([&] { return sender_->counters().given_up == 1; }));
  srv.join();
  auto it = stored("m1");
  EXPECT_EQ(it.state, store::OutboxState::failed);
  EXPECT_EQ(it.attempts, 1);
  auto ev = events("Qm1");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_NE(ev[0].reply.find("503 Service Unavailable (given up)"), std::string::npos)
      << ev[0].reply;
  EXPECT_EQ(sender_->counters().backlog, 0u);
}

TEST_F(WebhookSenderTest, RefusedTargetIsGivenUpAtOnce) {
  cfg_.policy.allow_loopback = false;
  FakeHttpServer srv({answer(200, "OK", nullptr)});
  enqueue({report_item(srv.url("/hook", "hooks.test"), result("m1", "delivered"))});
  make_sender();
  ASSERT_TRUE(run_until([&] { return sender_->counters().given_up == 1; }));
  srv.join();
  EXPECT_EQ(srv.accepted(), 0u);
  auto it = stored("m1");
  EXPECT_EQ(it.state, store::OutboxState::failed);
  EXPECT_NE(it.last_error.find("127.0.0.1: loopback"), std::string::npos) << it.last_error;
  auto ev = events("Qm1");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].code, 0);
}

TEST_F(WebhookSenderTest, DamagedItemIsGivenUpAndTheRestIsSent) {
  Request seen;
  FakeHttpServer srv({answer(200, "OK", &seen)});
  auto good = result("m1", "delivered");
  auto bad = report_item(srv.url(), result("m2", "delivered"));
  bad.item = R"({"messageId":"m2"})";
  enqueue({report_item(srv.url(), good), bad});
  make_sender();
  ASSERT_TRUE(run_until([&] {
    auto c = sender_->counters();
    return c.sent == 1 && c.given_up == 1;
  }));
  srv.join();
  EXPECT_EQ(seen.body, report::to_json({good}));
  EXPECT_EQ(stored("m2").state, store::OutboxState::failed);
  EXPECT_NE(stored("m2").last_error.find("not sent: report result:"), std::string::npos)
      << stored("m2").last_error;
}

TEST_F(WebhookSenderTest, PokeWakesAnIdleSender) {
  Request seen;
  FakeHttpServer srv({answer(200, "OK", &seen)});
  make_sender();
  // Nothing due: the sender arms no timer, so its io_context runs out of work and stops.
  io_.restart();
  io_.run_for(std::chrono::seconds(20));
  ASSERT_TRUE(io_.stopped()) << "an idle sender keeps work (a timer) on its io_context";
  enqueue({report_item(srv.url(), result("m1", "delivered"))});
  // Nobody told it: not one handler is pending, so nothing can send the item.
  io_.restart();
  EXPECT_EQ(io_.poll(), 0u);
  EXPECT_EQ(sender_->counters().sent, 0u);
  sender_->poke();
  ASSERT_TRUE(run_until([&] { return sender_->counters().sent == 1; }));
  srv.join();
  EXPECT_EQ(seen.method, "POST");
}

TEST_F(WebhookSenderTest, AnItemInFlightIsNotSentAgainWhenItsLeaseRunsOut) {
  core::FakeClock clock(now_ms());
  std::atomic<bool> got{false};
  std::atomic<bool> lease_ran_out{false};
  Request second;
  FakeHttpServer srv({[&](HttpConn& c) {
                        if (!c.read_request()) return;
                        got = true;
                        // Answers only once the lease ran out and the sender was poked.
                        for (int i = 0; i < 2000 && !lease_ran_out; ++i)
                          std::this_thread::sleep_for(std::chrono::milliseconds(10));
                        c.respond(200, "OK");
                      },
                      answer(200, "OK", &second)});
  auto item = report_item(srv.url(), result("m1", "delivered"));
  item.created_ms = item.next_attempt_ms = clock.now_ms();
  enqueue({item});
  sender_ = std::make_unique<WebhookSender>(
      io_, cfg_, WebhookServices{outbox_, store_, resolver_.get(), &pool_, &clock});
  sender_->start();
  ASSERT_TRUE(run_until([&] { return got.load(); }));
  clock.advance_ms(180'000);  // the outbox lease (2 min) runs out while the POST is in flight
  sender_->poke();
  io_.restart();
  io_.poll();  // runs the poke: pump() finds m1 due again in the outbox while it is in flight
  lease_ran_out = true;
  ASSERT_TRUE(run_until([&] { return sender_->counters().sent == 1; }));
  // Positive marker: an item enqueued now is the next POST the receiver gets; m1 is not.
  auto marker = report_item(srv.url(), result("m2", "delivered"));
  marker.created_ms = marker.next_attempt_ms = clock.now_ms();
  enqueue({marker});
  sender_->poke();
  ASSERT_TRUE(run_until([&] { return sender_->counters().sent == 2; }));
  srv.join();
  EXPECT_EQ(srv.accepted(), 2u);
  EXPECT_NE(second.body.find("\"m2\""), std::string::npos) << second.body;
  EXPECT_EQ(second.body.find("\"m1\""), std::string::npos) << second.body;
  EXPECT_EQ(stored("m1").state, store::OutboxState::sent);
  EXPECT_EQ(stored("m2").state, store::OutboxState::sent);
}

TEST_F(WebhookSenderTest, ASlowReceiverDoesNotHoldUpAnotherHost) {
  // Host A answers only once host B got its POST (or after 3 s): B must not wait for A.
  std::atomic<bool> b_got{false};
  bool a_saw_b = false;
  FakeHttpServer b({[&](HttpConn& c) {
    if (!c.read_request()) return;
    b_got = true;
    c.respond(200, "OK");
  }});
  FakeHttpServer a({[&](HttpConn& c) {
    if (!c.read_request()) return;
    for (int i = 0; i < 300 && !b_got; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    a_saw_b = b_got;
    c.respond(200, "OK");
  }});
  enqueue({report_item(a.url(), result("m1", "delivered"))});  // older: taken first
  enqueue({report_item(b.url("/hook", "hooks.test"), result("m2", "delivered"))});
  make_sender();
  ASSERT_TRUE(run_until([&] { return sender_->counters().sent == 2; }));
  a.join();
  b.join();
  EXPECT_TRUE(a_saw_b);
}

TEST_F(WebhookSenderTest, APostEndsOnTheIoThreadWhileTheStoreThreadIsStuckInAMark) {
  // Host A answers at once; its mark then waits in the store thread. Host B answers only once
  // A's mark is waiting: B's POST must end (in_flight 0) while A's mark has not returned. With
  // store calls on the I/O thread, B's answer could not be handled until the mark returned.
  GatedOutbox gated(*outbox_);
  std::atomic<bool> b_may_answer{false};
  FakeHttpServer a({answer(200, "OK", nullptr)});
  FakeHttpServer b({[&](HttpConn& c) {
    if (!c.read_request()) return;
    for (int i = 0; i < 1000 && !b_may_answer; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    c.respond(200, "OK");
  }});
  enqueue({report_item(a.url(), result("m1", "delivered"))});
  enqueue({report_item(b.url("/hook", "hooks.test"), result("m2", "delivered"))});
  sender_ = std::make_unique<WebhookSender>(
      io_, cfg_, WebhookServices{&gated, store_, resolver_.get(), &pool_, nullptr});
  sender_->start();
  ASSERT_TRUE(run_until([&] { return gated.marks_waiting.load() == 1; }));
  EXPECT_EQ(sender_->counters().in_flight, 1u) << "B's POST runs";
  b_may_answer = true;
  ASSERT_TRUE(run_until([&] { return sender_->counters().in_flight == 0; }));
  EXPECT_EQ(gated.marks_waiting.load(), 1) << "A's mark is still in the store thread";
  EXPECT_EQ(sender_->counters().sent, 0u);
  gated.open = true;
  ASSERT_TRUE(run_until([&] { return sender_->counters().sent == 2; }));
  a.join();
  b.join();
  EXPECT_EQ(stored("m1").state, store::OutboxState::sent);
  EXPECT_EQ(stored("m2").state, store::OutboxState::sent);
  EXPECT_EQ(events("Qm1").size(), 1u);
  EXPECT_EQ(events("Qm2").size(), 1u);
  sender_.reset();  // joins the store thread before `gated` goes
}

TEST_F(WebhookSenderTest, AMarkTheStoreFailsIsStoredLaterAndItsItemIsNotSentAgain) {
  // W1: the store fails m1's mark once (a database blip). The mark must be stored by a later
  // round under the same claim; m1 stays held meanwhile, even after its lease ran out (the fake
  // clock jumps past it), so it is not POSTed again; it is counted once, when stored.
  core::FakeClock clock(now_ms());
  GatedOutbox flaky(*outbox_);
  flaky.open = true;
  flaky.fail_marks = 1;
  Request first, second;
  FakeHttpServer srv({answer(200, "OK", &first), answer(200, "OK", &second)});
  auto m1 = report_item(srv.url(), result("m1", "delivered"));
  m1.created_ms = m1.next_attempt_ms = clock.now_ms();
  enqueue({m1});
  sender_ = std::make_unique<WebhookSender>(
      io_, cfg_, WebhookServices{&flaky, store_, resolver_.get(), &pool_, &clock});
  sender_->start();
  ASSERT_TRUE(run_until([&] { return flaky.marks_failed.load() == 1; }));
  EXPECT_EQ(sender_->counters().sent, 0u) << "counted before its mark was stored";
  clock.advance_ms(180'000);  // m1's lease (2 min) runs out before its mark is stored
  // Positive marker: m2, enqueued now, is the next POST the receiver gets; m1 must not be in it.
  auto m2 = report_item(srv.url(), result("m2", "delivered"));
  m2.created_ms = m2.next_attempt_ms = clock.now_ms();
  enqueue({m2});
  sender_->poke();
  ASSERT_TRUE(run_until([&] { return sender_->counters().sent >= 2; }));
  srv.join();
  EXPECT_EQ(srv.accepted(), 2u);
  EXPECT_NE(first.body.find("\"m1\""), std::string::npos) << first.body;
  EXPECT_NE(second.body.find("\"m2\""), std::string::npos) << second.body;
  EXPECT_EQ(second.body.find("\"m1\""), std::string::npos) << "m1 was POSTed again";
  EXPECT_EQ(sender_->counters().sent, 2u);
  EXPECT_EQ(sender_->counters().failed_attempts, 0u);
  EXPECT_EQ(flaky.marks_failed.load(), 1);
  const auto s1 = stored("m1");
  EXPECT_EQ(s1.state, store::OutboxState::sent);
  EXPECT_EQ(s1.attempts, 1);
  EXPECT_EQ(stored("m2").state, store::OutboxState::sent);
  EXPECT_EQ(events("Qm1").size(), 1u);
  EXPECT_EQ(events("Qm2").size(), 1u);
  sender_.reset();  // joins the store thread before `flaky` goes
}

TEST_F(WebhookSenderTest, DrainStoresWhatEndedBeforeTheStop) {
  // W2: at the stop, A's mark is in the store thread (its round runs) and B's POST has ended
  // (its mark waits for the next round). drain() waits for the running round and stores B's
  // mark and attempt event in one last round: when it returns, both are stored, although the
  // io_context is stopped right after it (as the server's stop does).
  GatedOutbox gated(*outbox_);
  FakeHttpServer a({answer(200, "OK", nullptr)});
  FakeHttpServer b({[&](HttpConn& c) {
    if (!c.read_request()) return;
    for (int i = 0; i < 1000 && gated.marks_waiting.load() == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    c.respond(200, "OK");
  }});
  enqueue({report_item(a.url(), result("m1", "delivered"))});
  enqueue({report_item(b.url("/hook", "hooks.test"), result("m2", "delivered"))});
  sender_ = std::make_unique<WebhookSender>(
      io_, cfg_, WebhookServices{&gated, store_, resolver_.get(), &pool_, nullptr});
  sender_->start();
  ASSERT_TRUE(run_until(
      [&] { return gated.marks_waiting.load() == 1 && sender_->counters().in_flight == 0; }));
  a.join();
  b.join();
  io_.restart();
  std::thread io_thread([&] {
    auto work = asio::make_work_guard(io_);
    io_.run();
  });
  sender_->stop();
  // The store is stuck: drain gives up after its timeout and says so.
  EXPECT_FALSE(sender_->drain(std::chrono::milliseconds(100)));
  gated.open = true;
  const bool drained = sender_->drain(std::chrono::seconds(5));
  io_.stop();
  io_thread.join();
  EXPECT_TRUE(drained);
  EXPECT_EQ(stored("m1").state, store::OutboxState::sent);
  EXPECT_EQ(stored("m2").state, store::OutboxState::sent);
  EXPECT_EQ(events("Qm1").size(), 1u);
  EXPECT_EQ(events("Qm2").size(), 1u);
  EXPECT_EQ(sender_->counters().sent, 2u);
  sender_.reset();  // joins the store thread before `gated` goes
}

TEST(WebhookPolicy, ParsesAllowEntriesAndRefusesMalformedOnes) {
  auto p = webhook_policy(true, {"10.1.0.0/16", "fd00::/8", "192.0.2.7"});
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_TRUE(p->allow_loopback);
  ASSERT_EQ(p->allow.size(), 3u);
  EXPECT_EQ(p->allow[0].second, 16u);
  EXPECT_EQ(p->allow[1].second, 8u);
  EXPECT_EQ(p->allow[2].second, 32u);
  EXPECT_TRUE(report::check_address(*dns::IpAddr::parse("10.1.200.3"), *p).ok());
  EXPECT_FALSE(report::check_address(*dns::IpAddr::parse("10.2.0.1"), *p).ok());
  for (const char* bad :
       {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/8x", "example.com/8", "", "::/129", "10.0.0.0/-1"}) {
    auto r = webhook_policy(false, {bad});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message.find("[webhooks] allow"), std::string::npos);
  }
}

TEST(WebhookBackoff, Schedule) {
  EXPECT_EQ(webhook_backoff_ms(1), 30'000);
  EXPECT_EQ(webhook_backoff_ms(2), 60'000);
  EXPECT_EQ(webhook_backoff_ms(3), 120'000);
  EXPECT_EQ(webhook_backoff_ms(4), 300'000);
  EXPECT_EQ(webhook_backoff_ms(5), 600'000);
  EXPECT_EQ(webhook_backoff_ms(6), 1'200'000);
  EXPECT_EQ(webhook_backoff_ms(7), 1'800'000);
  EXPECT_EQ(webhook_backoff_ms(8), 3'600'000);
  EXPECT_EQ(webhook_backoff_ms(1000), 3'600'000);
  EXPECT_EQ(webhook_backoff_ms(0), 30'000);
}

}  // namespace
}  // namespace tern::net
