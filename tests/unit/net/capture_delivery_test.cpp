// The sandbox route's driver (net/capture_delivery): every message a delegate hands out goes to
// the capture sink on the pool (never the io thread) with the account of the route, each
// recipient gets 250 2.0.0 "captured (sandbox)" or, when the sink fails, 451 4.3.0; done() comes
// once, last; a null sink defers.
#include "net/capture_delivery.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstring>
#include <mutex>
#include <thread>

#include "queue/string_content.hpp"

namespace tern::net {
namespace {

namespace asio = boost::asio;

using StringReader = queue::StringContent;

struct Delegate final : ClientDelegate {
  std::vector<ClientMessage> todo;
  std::vector<std::pair<uint64_t, std::vector<smtp::client::Outcome>>> outcomes;
  int done_calls = 0;
  std::thread::id io_thread;
  bool wrong_thread = false;
  ClientPeer last_peer;
  asio::io_context* io = nullptr;  // stopped when done
  std::optional<ClientMessage> next_message() override {
    if (std::this_thread::get_id() != io_thread) wrong_thread = true;
    if (todo.empty()) return std::nullopt;
    auto m = std::move(todo.front());
    todo.erase(todo.begin());
    return m;
  }
  void message_done(uint64_t tag, std::vector<smtp::client::Outcome> o,
                    const ClientPeer& peer) override {
    if (std::this_thread::get_id() != io_thread) wrong_thread = true;
    EXPECT_EQ(done_calls, 0);
    outcomes.emplace_back(tag, std::move(o));
    last_peer = peer;
  }
  void done(std::optional<smtp::client::Outcome> failure, const ClientPeer&) override {
    if (std::this_thread::get_id() != io_thread) wrong_thread = true;
    EXPECT_FALSE(failure);
    ++done_calls;
    if (io) io->stop();
  }
};

struct Sink final : CaptureSink {
  std::mutex mu;
  std::vector<CaptureItem> items;
  std::thread::id io_thread;
  bool on_io = false;
  bool fail_second = false;
  core::Result<void> capture(CaptureItem item) override {
    std::lock_guard lk(mu);
    if (std::this_thread::get_id() == io_thread) on_io = true;
    items.push_back(std::move(item));
    if (fail_second && items.size() == 2) return core::Error::temp("disk full");
    return core::ok();
  }
};

ClientMessage message(uint64_t tag, std::string qid, std::vector<std::string> rcpts,
                      std::string raw) {
  ClientMessage m;
  m.tag = tag;
  m.queue_id = std::move(qid);
  m.envelope.sender = "from@acme.test";
  m.envelope.recipients = std::move(rcpts);
  m.content = std::make_unique<StringReader>(std::move(raw));
  return m;
}

void run(asio::io_context& io, Delegate& d) {
  d.io = &io;
  std::thread t([&] {
    d.io_thread = std::this_thread::get_id();
    auto guard = asio::make_work_guard(io);
    io.run_for(std::chrono::seconds(10));
  });
  t.join();
}

TEST(CaptureDelivery, EveryMessageGoesToTheSinkAndIsDelivered) {
  asio::io_context io;
  asio::thread_pool pool(2);
  auto d = std::make_shared<Delegate>();
  Sink sink;
  const std::string big(200'000, 'x');  // more than one read
  d->todo.push_back(message(1, "Q1", {"a@x.test", "b@x.test"}, "Subject: one\r\n\r\n" + big));
  d->todo.push_back(message(2, "Q2", {"c@x.test"}, "Subject: two\r\n\r\nbody"));
  d->todo.push_back(message(3, "Q3", {"d@x.test"}, ""));
  sink.fail_second = true;
  d->io = &io;
  start_capture(io, pool, &sink, 42, d);
  std::thread t([&] {
    d->io_thread = std::this_thread::get_id();
    sink.io_thread = d->io_thread;
    auto guard = asio::make_work_guard(io);
    io.run_for(std::chrono::seconds(10));
  });
  t.join();
  pool.join();
  EXPECT_FALSE(d->wrong_thread);
  EXPECT_FALSE(sink.on_io);
  EXPECT_EQ(d->done_calls, 1);
  ASSERT_EQ(sink.items.size(), 3u);
  EXPECT_EQ(sink.items[0].account_id, 42);
  EXPECT_EQ(sink.items[0].queue_id, "Q1");
  EXPECT_EQ(sink.items[0].recipients, (std::vector<std::string>{"a@x.test", "b@x.test"}));
  EXPECT_EQ(sink.items[0].raw, "Subject: one\r\n\r\n" + big);
  EXPECT_EQ(sink.items[0].sender, "from@acme.test");
  ASSERT_EQ(d->outcomes.size(), 3u);
  ASSERT_EQ(d->outcomes[0].second.size(), 2u);
  const auto& ok = d->outcomes[0].second[0];
  EXPECT_EQ(ok.code, 250);
  EXPECT_EQ(ok.enhanced, "2.0.0");
  EXPECT_EQ(ok.severity, core::Severity::ok);
  EXPECT_NE(ok.text.find("captured (sandbox)"), std::string::npos);
  const auto& failed = d->outcomes[1].second.at(0);
  EXPECT_EQ(failed.code, 451);
  EXPECT_EQ(failed.severity, core::Severity::temporary);
  EXPECT_NE(failed.text.find("disk full"), std::string::npos);
  EXPECT_EQ(d->outcomes[2].second.at(0).code, 250);
  EXPECT_EQ(d->last_peer.host, "sandbox");
}

TEST(CaptureDelivery, WithoutASinkMailIsDeferred) {
  asio::io_context io;
  asio::thread_pool pool(1);
  auto d = std::make_shared<Delegate>();
  d->todo.push_back(message(9, "Q9", {"a@x.test"}, "x"));
  start_capture(io, pool, nullptr, 1, d);
  run(io, *d);
  pool.join();
  ASSERT_EQ(d->outcomes.size(), 1u);
  EXPECT_EQ(d->outcomes[0].second.at(0).code, 451);
  EXPECT_EQ(d->done_calls, 1);
}

}  // namespace
}  // namespace tern::net
