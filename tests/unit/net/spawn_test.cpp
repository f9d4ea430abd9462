// net::spawn: a coroutine that throws is logged with its label (never dropped as with
// asio::detached) and the io_context goes on running the others.
#include "net/spawn.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <sstream>
#include <stdexcept>

namespace tern::net {
namespace {

namespace asio = boost::asio;

struct CaptureLog {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> saved = spdlog::default_logger();
  CaptureLog() {
    auto l = std::make_shared<spdlog::logger>(
        "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
    spdlog::set_default_logger(l);
  }
  ~CaptureLog() { spdlog::set_default_logger(saved); }
  std::string text() {
    spdlog::default_logger()->flush();
    return out.str();
  }
};

asio::awaitable<void> throws_after_a_hop(bool std_exception) {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  if (std_exception) throw std::runtime_error("peer vanished");
  throw 42;
}

asio::awaitable<void> marks(bool* done) {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  *done = true;
}

TEST(Spawn, AnExceptionIsLoggedWithItsLabelAndTheContextKeepsRunning) {
  CaptureLog cap;
  asio::io_context io;
  bool second = false, third = false;
  spawn(io, throws_after_a_hop(true), "smtp session");
  spawn(io, marks(&second), "second");
  spawn(io.get_executor(), throws_after_a_hop(false), "sweeper");
  spawn(io.get_executor(), marks(&third), "third");
  EXPECT_NO_THROW(io.run());
  EXPECT_TRUE(second);  // the coroutines after the failing ones ran to their end
  EXPECT_TRUE(third);
  const std::string log = cap.text();
  EXPECT_NE(log.find("smtp session: peer vanished"), std::string::npos) << log;
  EXPECT_NE(log.find("sweeper: unknown exception"), std::string::npos) << log;
  EXPECT_NE(log.find("[error]"), std::string::npos) << log;
  EXPECT_EQ(log.find("second"), std::string::npos) << log;  // a clean end logs nothing
}

}  // namespace
}  // namespace tern::net
