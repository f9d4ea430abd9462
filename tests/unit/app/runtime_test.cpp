// app::Runtime: start order, exact reverse stop order, a failed start stopping what started,
// idempotent shutdown, and a service thread's exception reaching the log and the runtime.
#include "app/runtime.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <sstream>
#include <stdexcept>
#include <thread>

using namespace tern::app;

namespace {

// Records every call, in order, into a shared journal.
class Fake final : public Service {
 public:
  Fake(std::string name, std::vector<std::string>& log, bool fail_start = false)
      : name_(std::move(name)), log_(log), fail_start_(fail_start) {}
  std::string_view name() const override { return name_; }
  void start() override {
    log_.push_back("start " + name_);
    if (fail_start_) throw std::runtime_error(name_ + " cannot start");
  }
  void stop() override { log_.push_back("stop " + name_); }
  void join() override { log_.push_back("join " + name_); }

 private:
  std::string name_;
  std::vector<std::string>& log_;
  bool fail_start_;
};

// The default logger, writing into a string for the test's lifetime.
struct CaptureLog {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> saved = spdlog::default_logger();
  CaptureLog() {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
    auto l = std::make_shared<spdlog::logger>("capture", sink);
    l->set_level(spdlog::level::debug);
    spdlog::set_default_logger(l);
  }
  ~CaptureLog() { spdlog::set_default_logger(saved); }
  std::string text() {
    spdlog::default_logger()->flush();
    return out.str();
  }
};

}  // namespace

TEST(Runtime, StartsInOrderStopsAndJoinsInReverse) {
  std::vector<std::string> log;
  {
    Runtime rt;
    rt.emplace<Fake>("store", log);
    rt.emplace<Fake>("engine", log);
    rt.emplace<Fake>("listeners", log);
    rt.start();
    EXPECT_EQ(log, (std::vector<std::string>{"start store", "start engine", "start listeners"}));
    log.clear();
    rt.shutdown();
    EXPECT_EQ(log, (std::vector<std::string>{"stop listeners", "join listeners", "stop engine",
                                             "join engine", "stop store", "join store"}));
  }
}

TEST(Runtime, ShutdownIsIdempotentAndTheDestructorDoesNotRepeatIt) {
  std::vector<std::string> log;
  {
    Runtime rt;
    rt.emplace<Fake>("a", log);
    rt.emplace<Fake>("b", log);
    rt.start();
    rt.shutdown();
    rt.shutdown();
  }
  EXPECT_EQ(log, (std::vector<std::string>{"start a", "start b", "stop b", "join b", "stop a",
                                           "join a"}));
}

TEST(Runtime, DestructorShutsDownWhatStarted) {
  std::vector<std::string> log;
  {
    Runtime rt;
    rt.emplace<Fake>("a", log);
    rt.emplace<Fake>("b", log);
    rt.start();
  }
  EXPECT_EQ(log, (std::vector<std::string>{"start a", "start b", "stop b", "join b", "stop a",
                                           "join a"}));
}

TEST(Runtime, AFailedStartStopsTheStartedOnesInReverseAndRethrows) {
  std::vector<std::string> log;
  CaptureLog cap;
  Runtime rt;
  rt.emplace<Fake>("store", log);
  rt.emplace<Fake>("spool", log);
  rt.emplace<Fake>("smtp", log, /*fail_start=*/true);
  rt.emplace<Fake>("http", log);
  EXPECT_THROW(rt.start(), std::runtime_error);
  // The failed one is not stopped (it did not start), the one after it never started.
  EXPECT_EQ(log, (std::vector<std::string>{"start store", "start spool", "start smtp", "stop spool",
                                           "join spool", "stop store", "join store"}));
  log.clear();
  rt.shutdown();  // nothing more
  EXPECT_TRUE(log.empty());
  EXPECT_NE(cap.text().find("smtp failed to start: smtp cannot start"), std::string::npos);
}

TEST(Runtime, AStopThatThrowsIsLoggedAndTheOthersStillStop) {
  std::vector<std::string> log;
  CaptureLog cap;
  Runtime rt;
  rt.emplace<Fake>("first", log);
  rt.add(std::make_unique<FnService>(
      "bad", [] {}, [] { throw std::runtime_error("stop broke"); },
      [&log] { log.push_back("join bad"); }));
  rt.start();
  rt.shutdown();
  EXPECT_EQ(log, (std::vector<std::string>{"start first", "join bad", "stop first", "join first"}));
  EXPECT_NE(cap.text().find("bad stop failed: stop broke"), std::string::npos);
}

TEST(Runtime, RequestStopWakesWaitFromAnotherThreadAndKeepsTheFirstReason) {
  Runtime rt;
  rt.start();
  std::thread t([&] {
    rt.request_stop("signal 15");
    rt.request_stop("later");
  });
  rt.wait();
  t.join();
  EXPECT_EQ(rt.stop_reason(), "signal 15");
  EXPECT_FALSE(rt.failed());
}

TEST(Runtime, AnExceptionInAServiceThreadIsLoggedAndStopsTheRuntime) {
  std::vector<std::string> log;
  CaptureLog cap;
  Runtime rt;
  rt.emplace<Fake>("store", log);
  rt.emplace<ThreadService>(
      "janitor", [](const StopSignal&) { throw std::runtime_error("disk on fire"); },
      rt.on_failure());
  rt.emplace<Fake>("http", log);
  rt.start();
  rt.wait();  // returns only because the janitor's thread failed
  EXPECT_EQ(rt.stop_reason(), "janitor: disk on fire");
  EXPECT_TRUE(rt.failed());
  rt.shutdown();
  EXPECT_EQ(log, (std::vector<std::string>{"start store", "start http", "stop http", "join http",
                                           "stop store", "join store"}));
  EXPECT_NE(cap.text().find("janitor thread failed: disk on fire"), std::string::npos);
}

TEST(Runtime, AThreadServiceRunsUntilStopped) {
  std::atomic<int> rounds{0};
  std::atomic<bool> ended{false};
  Runtime rt;
  rt.emplace<ThreadService>(
      "ticker",
      [&](const StopSignal& stop) {
        while (!stop.wait_for(std::chrono::milliseconds(1))) ++rounds;
        ended = true;
      },
      rt.on_failure());
  rt.start();
  while (rounds < 3) std::this_thread::yield();  // it runs: a positive marker
  EXPECT_FALSE(ended);
  rt.shutdown();  // stop, then join: the body saw the signal and returned
  EXPECT_TRUE(ended);
  EXPECT_EQ(rt.stop_reason(), "");  // a clean end is no failure
}
