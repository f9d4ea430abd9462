// The test email (net/test_send): delivered through the route and answered asynchronously; at
// most one per account at a time (a second is refused at once while the first's connection
// lives, and allowed again once it has ended); a time limit answers a stalled relay; bad
// addresses are answered at once. Fake SMTP servers on loopback, account 0 (no store); the
// sandbox route with an in-memory store and a recording capture sink.
#include "net/test_send.hpp"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include "dns/resolver.hpp"
#include "fake_smtp_server.hpp"
#include "net/capture_delivery.hpp"
#include "store/backend.hpp"
#include "store/store.hpp"

using namespace tern;
using namespace tern::net;
using namespace tern::testing_net;
namespace asio = boost::asio;

namespace {

struct Rig {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  asio::thread_pool pool{2};
  std::unique_ptr<dns::Resolver> resolver = dns::make_fake_resolver("");
  std::thread thread{[this] { io.run(); }};
  std::unique_ptr<TestSender> sender;

  Rig(uint16_t port, int time_limit_s = 60, store::Store* st = nullptr,
      CaptureSink* capture = nullptr) {
    TestSendServices s;
    s.store = st;
    s.capture = capture;
    s.io = &io;
    s.pool = &pool;
    s.tls = make_client_context("");
    s.target.resolver = resolver.get();
    s.target.hostname = "tern.test";
    s.target.helo_name = "tern.test";
    s.smarthost.host = "127.0.0.1";
    s.smarthost.port = port;
    s.smarthost.security = store::RelaySecurity::none;
    s.time_limit_s = time_limit_s;
    sender = std::make_unique<TestSender>(std::move(s));
  }
  ~Rig() {
    guard.reset();
    io.stop();
    thread.join();
    pool.join();
  }

  std::future<TestSendResult> send(const std::string& from, const std::string& to,
                                   int64_t account = 0) {
    auto p = std::make_shared<std::promise<TestSendResult>>();
    auto f = p->get_future();
    sender->send_async(account, from, to, [p](TestSendResult r) { p->set_value(std::move(r)); });
    return f;
  }
};

TestSendResult get(std::future<TestSendResult>& f) {
  if (f.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    ADD_FAILURE() << "no answer within 30 s";
    return {};
  }
  return f.get();
}

}  // namespace

TEST(TestSend, DeliversThroughTheRouteAndAnswersAsynchronously) {
  SmtpRecord rec;
  SmtpBehavior b;
  FakeServer srv({[&](FakeConn& c) { serve_smtp(c, b, rec); }});
  Rig rig(srv.port());
  auto f = rig.send("a@acme.test", "b@dest.test");
  auto r = get(f);
  srv.join();
  EXPECT_EQ(r.outcome, "delivered") << r.reply;
  EXPECT_EQ(r.code, 250);
  EXPECT_EQ(r.route, "smarthost");
  ASSERT_EQ(rec.messages.size(), 1u);
  EXPECT_NE(rec.messages[0].content.find("Subject: Tern test email"), std::string::npos);
}

TEST(TestSend, BadAddressesAreAnsweredAtOnce) {
  ClosedPort closed;
  Rig rig(closed.port());
  auto f = rig.send("a@acme.test", "bad\r\nRCPT TO:<x@y>");
  ASSERT_EQ(f.wait_for(std::chrono::seconds(0)), std::future_status::ready) << "synchronous";
  auto r = f.get();
  EXPECT_EQ(r.outcome, "error");
  EXPECT_EQ(r.reply, "invalid to address");
  auto g = rig.send("<>", "b@dest.test");
  EXPECT_EQ(get(g).reply, "invalid from address");
}

TEST(TestSend, OneAtATimePerAccountAndTheTimeLimitAnswers) {
  SmtpRecord rec1, rec2;
  SmtpBehavior stall, normal;
  stall.stall_on = "MAIL";  // no answer after MAIL; the server closes 5 s after the last byte
  FakeServer srv({[&](FakeConn& c) { serve_smtp(c, stall, rec1); },
                  [&](FakeConn& c) { serve_smtp(c, normal, rec2); }});
  Rig rig(srv.port(), /*time_limit_s=*/1);
  auto first = rig.send("a@acme.test", "b@dest.test");
  // While the first is under way, a second for the same account is refused at once.
  bool refused_while_busy = false;
  for (int i = 0; i < 50 && !refused_while_busy; ++i) {
    auto second = rig.send("a@acme.test", "c@dest.test");
    if (second.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      auto r = second.get();
      EXPECT_EQ(r.outcome, "busy") << r.reply;
      refused_while_busy = true;
    }
  }
  EXPECT_TRUE(refused_while_busy);
  // The stalled relay: the time limit answers.
  auto r = get(first);
  EXPECT_EQ(r.outcome, "error");
  EXPECT_EQ(r.reply, "no outcome within 1 seconds");
  // Once the stalled connection is over, the account may send again (the next connection goes
  // to the second script, which delivers).
  TestSendResult again;
  for (int i = 0; i < 200; ++i) {
    auto f = rig.send("a@acme.test", "d@dest.test");
    again = get(f);
    if (again.outcome != "busy") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  srv.join();
  EXPECT_EQ(again.outcome, "delivered") << again.reply;
  ASSERT_EQ(rec2.messages.size(), 1u);
  EXPECT_EQ(rec2.messages[0].rcpts.size(), 1u);
}

namespace {
struct RecordingSink final : CaptureSink {
  std::mutex mu;
  std::vector<CaptureItem> items;
  core::Result<void> capture(CaptureItem item) override {
    std::lock_guard lk(mu);
    items.push_back(std::move(item));
    return {};
  }
};
}  // namespace

// route=sandbox: the test email goes to the capture sink (no look-up, no socket: the smarthost
// port points at nothing listening), answered "delivered" with route "sandbox"; another
// account's mail is not captured.
TEST(TestSend, SandboxAccountIsCapturedNotSent) {
  auto b = store::open_backend("memory:");
  ASSERT_TRUE(b.ok()) << b.error().message;
  auto& st = *b->store;
  const int64_t acme = st.accounts.create("acme").value().account.id;
  ASSERT_TRUE(st.settings.set(acme, {{"route", "sandbox"}}).ok());
  RecordingSink sink;
  Rig rig(/*port=*/1, 60, &st, &sink);
  auto f = rig.send("a@acme.test", "b@dest.test", acme);
  auto r = get(f);
  EXPECT_EQ(r.outcome, "delivered") << r.reply;
  EXPECT_EQ(r.route, "sandbox");
  EXPECT_EQ(r.code, 250);
  std::lock_guard lk(sink.mu);
  ASSERT_EQ(sink.items.size(), 1u);
  EXPECT_EQ(sink.items[0].account_id, acme);
  EXPECT_EQ(sink.items[0].sender, "a@acme.test");
  EXPECT_EQ(sink.items[0].recipients, std::vector<std::string>{"b@dest.test"});
  EXPECT_NE(sink.items[0].raw.find("Subject: Tern test email"), std::string::npos);
}
