// The server's runtime: the services serve() composes (store, spool, report pipeline, delivery
// engine, webhook sender, I/O threads, listeners, periodic jobs), started in the order they were
// added and stopped in exactly the reverse order. The shutdown order is stated once, by the
// order serve() adds the services, not by the declaration order of locals.
// Invariants:
// - start() starts the services in the order added, logging each. If one throws, the services
//   already started are stopped and joined in reverse order (the failed one is not: it did not
//   start) and the exception propagates: nothing is left running.
// - shutdown() takes every started service, last first: stop(), then join(), each step logged.
//   A service's stop()/join() that throws is logged and the shutdown goes on with the next one.
//   Idempotent (a second call does nothing); the destructor calls it.
// - request_stop(why) may be called from any thread, any number of times (a signal, a service
//   thread that failed); wait() returns once it was called. The first reason is kept.
// - ThreadService runs a body on a thread of its own; an exception escaping the body is logged
//   with the service's name and handed to its on_failure (serve(): the runtime's request_stop),
//   never lost and never std::terminate.
#pragma once
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace tern::app {

class Service {
 public:
  virtual ~Service() = default;
  virtual std::string_view name() const = 0;
  // Acquires what the service needs and begins its work; throws when it cannot.
  virtual void start() = 0;
  // Asks the service to end: no new work is taken. Called once, only after start() succeeded.
  virtual void stop() = 0;
  // Returns when the service's work has ended (threads joined, in-flight work handed on).
  // Called once, after stop().
  virtual void join() = 0;
};

// A service made of functions, for the composition root's small parts. Empty functions do
// nothing.
class FnService final : public Service {
 public:
  FnService(std::string name, std::function<void()> start, std::function<void()> stop,
            std::function<void()> join = {})
      : name_(std::move(name)),
        start_(std::move(start)),
        stop_(std::move(stop)),
        join_(std::move(join)) {}
  std::string_view name() const override { return name_; }
  void start() override {
    if (start_) start_();
  }
  void stop() override {
    if (stop_) stop_();
  }
  void join() override {
    if (join_) join_();
  }

 private:
  std::string name_;
  std::function<void()> start_, stop_, join_;
};

// What a ThreadService's body waits on: true from the moment stop() was called.
class StopSignal {
 public:
  bool stopping() const {
    std::lock_guard lk(mu_);
    return stop_;
  }
  // Waits until `t` or until stop; true when stopping.
  bool wait_until(std::chrono::steady_clock::time_point t) const {
    std::unique_lock lk(mu_);
    return cv_.wait_until(lk, t, [this] { return stop_; });
  }
  bool wait_for(std::chrono::steady_clock::duration d) const {
    return wait_until(std::chrono::steady_clock::now() + d);
  }
  void request() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool stop_ = false;
};

// A body on a thread of its own until it returns or stop() is called (the body watches the
// StopSignal). An exception escaping the body is logged and given to on_failure (the what()).
class ThreadService final : public Service {
 public:
  using Body = std::function<void(const StopSignal&)>;
  ThreadService(std::string name, Body body, std::function<void(const std::string&)> on_failure);
  ~ThreadService() override;
  std::string_view name() const override { return name_; }
  void start() override;
  void stop() override { stop_.request(); }
  void join() override;

 private:
  std::string name_;
  Body body_;
  std::function<void(const std::string&)> on_failure_;
  StopSignal stop_;
  std::thread thread_;
};

class Runtime {
 public:
  Runtime() = default;
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Adds a service, started after those added before it and stopped before them. Only
  // before start().
  Service& add(std::unique_ptr<Service> s);
  template <class S, class... A>
  S& emplace(A&&... a) {
    auto p = std::make_unique<S>(std::forward<A>(a)...);
    S& r = *p;
    add(std::move(p));
    return r;
  }

  void start();
  void shutdown();

  // From any thread: wakes wait(). The first request's reason (and whether it was a failure)
  // is kept.
  void request_stop(const std::string& why, bool failure = false);
  void wait();
  std::string stop_reason() const;
  bool failed() const;  // the stop was asked for by a failure (serve() then exits non-zero)
  // request_stop(why, failure = true), for ThreadService's on_failure.
  std::function<void(const std::string&)> on_failure();

 private:
  void stop_started();  // the started services, last first; then none is started
  std::vector<std::unique_ptr<Service>> services_;
  size_t started_ = 0;
  bool shut_down_ = false;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_requested_ = false;
  bool failed_ = false;
  std::string reason_;
};

}  // namespace tern::app
