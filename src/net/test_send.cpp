#include "net/test_send.hpp"

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstring>
#include <future>
#include <mutex>
#include <optional>
#include <set>

#include "core/address.hpp"
#include "core/ids.hpp"
#include "message/date.hpp"
#include "net/capture_delivery.hpp"
#include "queue/string_content.hpp"
#include "store/store.hpp"

namespace tern::net {

namespace asio = boost::asio;

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string domain_of(const std::string& addr) {
  auto at = addr.rfind('@');
  return core::to_lower(at == std::string::npos ? std::string_view{}
                                                : std::string_view(addr).substr(at + 1));
}

// The test message, held in memory: it never enters the spool.
using queue::StringContent;

std::string test_message(const std::string& from, const std::string& to,
                         const std::string& hostname, int64_t now) {
  const std::string id = core::new_queue_id();
  std::string m;
  m += "From: <" + from + ">\r\n";
  m += "To: <" + to + ">\r\n";
  m += "Subject: Tern test email\r\n";
  m += "Date: " + message::rfc5322_date(now / 1000) + "\r\n";
  m += "Message-ID: <" + id + ".test@" + hostname + ">\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: text/plain; charset=us-ascii\r\n";
  m += "\r\n";
  m += "This is a test email sent by Tern through your account's configured route.\r\n";
  return m;
}

TestSendResult result_of(const core::DeliveryOutcome& o, std::string route) {
  TestSendResult r;
  r.outcome = o.is_delivered() ? "delivered" : o.is_temp() ? "deferred" : "bounced";
  r.code = o.code;
  r.enhanced = o.enhanced;
  r.reply = o.text;
  r.host = o.mx_host;
  r.tls = o.tls;
  r.route = std::move(route);
  return r;
}

TestSendResult error_result(std::string reply) {
  TestSendResult r;
  r.outcome = "error";
  r.reply = std::move(reply);
  return r;
}

// One answer, given once, by whichever comes first: the outcome or the time limit.
struct Answer {
  std::atomic<bool> given{false};
  std::function<void(TestSendResult)> done;
  void operator()(TestSendResult r) {
    if (given.exchange(true)) return;
    auto f = std::move(done);
    if (f) f(std::move(r));
  }
};

}  // namespace

struct TestSender::Impl : std::enable_shared_from_this<Impl> {
  TestSendServices svc;
  std::mutex mu;
  std::set<int64_t> busy;  // accounts with a test email under way

  explicit Impl(TestSendServices s) : svc(std::move(s)) {}

  bool claim(int64_t account) {
    std::lock_guard lk(mu);
    return busy.insert(account).second;
  }
  void release(int64_t account) {
    std::lock_guard lk(mu);
    busy.erase(account);
  }
};

namespace {

// One message on one connection; the first outcome (message_done, else done's failure) is the
// answer. The account's slot is given back just before the answer (so the caller may send the
// next one at once; the per-minute limit still bounds them), or when the connection is over,
// once: never a slot that a later test email of the account has claimed since.
struct TestConn final : ClientDelegate {
  std::shared_ptr<TestSender::Impl> owner;
  int64_t account = 0;
  std::shared_ptr<Answer> answer;
  std::shared_ptr<asio::steady_timer> limit;
  std::optional<ClientMessage> msg;
  std::string route;
  bool answered = false;
  bool released = false;

  void give_back() {
    if (released) return;
    released = true;
    owner->release(account);
  }
  std::optional<ClientMessage> next_message() override {
    if (!msg) return std::nullopt;
    auto m = std::move(msg);
    msg.reset();
    return m;
  }
  void message_done(uint64_t, std::vector<smtp::client::Outcome> outs,
                    const ClientPeer& peer) override {
    if (answered || outs.empty()) return;
    answered = true;
    give_back();
    (*answer)(result_of(to_outcome(outs.front(), peer), route));
  }
  void done(std::optional<smtp::client::Outcome> failure, const ClientPeer& peer) override {
    limit->cancel();
    give_back();
    if (answered) return;
    answered = true;
    if (failure) return (*answer)(result_of(to_outcome(*failure, peer), route));
    TestSendResult r = error_result("the connection ended without an answer");
    r.host = peer.host;
    r.route = route;
    (*answer)(std::move(r));
  }
};

}  // namespace

TestSender::TestSender(TestSendServices svc) : impl_(std::make_shared<Impl>(std::move(svc))) {}
TestSender::~TestSender() = default;

void TestSender::send_async(int64_t account_id, const std::string& from, const std::string& to,
                            std::function<void(TestSendResult)> done) {
  auto from_mb = core::parse_mailbox(from);
  auto to_mb = core::parse_mailbox(to);
  if (!from_mb || !to_mb)
    return done(error_result(!from_mb ? "invalid from address" : "invalid to address"));
  if (!impl_->claim(account_id)) {
    TestSendResult r;
    r.outcome = "busy";
    r.reply = "a test email of this account is still being sent; wait for its outcome";
    return done(std::move(r));
  }
  auto answer = std::make_shared<Answer>();
  answer->done = std::move(done);
  // The time limit runs from now; the timer is only touched on the io thread.
  auto limit = std::make_shared<asio::steady_timer>(*impl_->svc.io);
  asio::post(*impl_->svc.io, [limit, answer, secs = impl_->svc.time_limit_s] {
    limit->expires_after(std::chrono::seconds(secs));
    limit->async_wait([answer, secs](const boost::system::error_code& ec) {
      if (ec) return;
      (*answer)(error_result("no outcome within " + std::to_string(secs) + " seconds"));
    });
  });
  // Settings (with the relay password) and the route's look-up on the pool; the connection on
  // the io.
  asio::post(*impl_->svc.pool, [self = impl_, answer, limit, account_id, from = from_mb->str(),
                                to = to_mb->str(), seed = now_ms()] {
    auto fail = [&](TestSendResult r) {
      asio::post(*self->svc.io, [limit] { limit->cancel(); });
      self->release(account_id);
      (*answer)(std::move(r));
    };
    store::AccountSettings s;
    if (account_id != 0) {
      auto got = self->svc.store->settings.get(account_id, true);
      if (!got) return fail(error_result("account settings: " + got.error().message));
      s = std::move(got).value();
    }
    delivery::Route rt =
        delivery::route_for(account_id, s, self->svc.smarthost, domain_of(to), self->svc.mx_port);
    const std::string route = rt.kind == delivery::Route::Kind::sandbox ? "sandbox"
                              : rt.kind == delivery::Route::Kind::mx    ? "platform"
                              : rt.dest == "smarthost"                  ? "smarthost"
                                                                        : "custom";
    auto conn = std::make_shared<TestConn>();
    conn->owner = self;
    conn->account = account_id;
    conn->answer = answer;
    conn->limit = limit;
    conn->route = route;
    ClientMessage cm;
    cm.envelope.sender = from;
    cm.envelope.recipients.push_back(to);
    auto content = std::make_unique<StringContent>(
        test_message(from, to, self->svc.target.hostname, now_ms()));
    cm.envelope.size = content->size();
    cm.content = std::move(content);
    cm.tag = 1;
    cm.queue_id = core::new_queue_id();
    conn->msg = std::move(cm);
    if (rt.kind == delivery::Route::Kind::sandbox) {
      // No look-up, no socket: the capture store takes it (on the capture pool).
      asio::post(*self->svc.io, [self, conn, account_id] {
        auto& pool = self->svc.capture_pool ? *self->svc.capture_pool : *self->svc.pool;
        start_capture(*self->svc.io, pool, self->svc.capture, account_id, conn);
      });
      return;
    }
    auto target = resolve_target(self->svc.target, rt, static_cast<uint64_t>(seed));
    if (auto* o = std::get_if<core::DeliveryOutcome>(&target)) return fail(result_of(*o, route));
    ClientTarget t = std::get<ClientTarget>(std::move(target));
    // A person is waiting: shorter deadlines than queued mail gets.
    t.connect_timeout_s = std::min(t.connect_timeout_s, 15);
    t.command_timeout_s = std::min(t.command_timeout_s, 30);
    t.data_timeout_s = std::min(t.data_timeout_s, 30);
    asio::post(*self->svc.io, [self, t = std::move(t), conn]() mutable {
      start_delivery(*self->svc.io, self->svc.tls, std::move(t), conn);
    });
  });
}

TestSendResult TestSender::send(int64_t account_id, const std::string& from,
                                const std::string& to) {
  auto p = std::make_shared<std::promise<TestSendResult>>();
  auto fut = p->get_future();
  send_async(account_id, from, to, [p](TestSendResult r) { p->set_value(std::move(r)); });
  // The time limit answers on the io thread; should that thread be gone (shutdown), the
  // caller still gets its thread back.
  if (fut.wait_for(std::chrono::seconds(impl_->svc.time_limit_s + 5)) != std::future_status::ready)
    return error_result("no outcome within " + std::to_string(impl_->svc.time_limit_s) +
                        " seconds");
  return fut.get();
}

}  // namespace tern::net
