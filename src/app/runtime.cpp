#include "app/runtime.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <stdexcept>

namespace tern::app {

namespace {
// Runs one step of a service, logging what it throws instead of letting it escape: a shutdown
// goes on with the next service whatever one of them does.
template <class F>
void guarded(std::string_view service, const char* step, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    spdlog::error("runtime: {} {} failed: {}", service, step, e.what());
  } catch (...) {
    spdlog::error("runtime: {} {} failed: unknown exception", service, step);
  }
}
}  // namespace

ThreadService::ThreadService(std::string name, Body body,
                             std::function<void(const std::string&)> on_failure)
    : name_(std::move(name)), body_(std::move(body)), on_failure_(std::move(on_failure)) {}

ThreadService::~ThreadService() {
  stop_.request();
  if (thread_.joinable()) thread_.join();
}

void ThreadService::start() {
  thread_ = std::thread([this] {
    std::string what;
    try {
      body_(stop_);
      return;
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
      what = "unknown exception";
    }
    spdlog::error("runtime: {} thread failed: {}", name_, what);
    if (on_failure_) on_failure_(name_ + ": " + what);
  });
}

void ThreadService::join() {
  if (thread_.joinable()) thread_.join();
}

Runtime::~Runtime() { shutdown(); }

Service& Runtime::add(std::unique_ptr<Service> s) {
  if (started_ > 0 || shut_down_) throw std::logic_error("runtime: add() after start()");
  services_.push_back(std::move(s));
  return *services_.back();
}

void Runtime::start() {
  for (auto& s : services_) {
    spdlog::debug("runtime: starting {}", s->name());
    try {
      s->start();
    } catch (...) {
      std::string what = "unknown exception";
      try {
        throw;
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      spdlog::error("runtime: {} failed to start: {}; stopping the {} started before it", s->name(),
                    what, started_);
      stop_started();
      shut_down_ = true;
      throw;
    }
    ++started_;
    spdlog::debug("runtime: {} started", s->name());
  }
}

void Runtime::stop_started() {
  while (started_ > 0) {
    Service& s = *services_[--started_];
    spdlog::info("runtime: stopping {}", s.name());
    guarded(s.name(), "stop", [&] { s.stop(); });
    guarded(s.name(), "join", [&] { s.join(); });
    spdlog::debug("runtime: {} stopped", s.name());
  }
}

void Runtime::shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  stop_started();
}

void Runtime::request_stop(const std::string& why, bool failure) {
  {
    std::lock_guard lk(mu_);
    if (stop_requested_) return;
    stop_requested_ = true;
    failed_ = failure;
    reason_ = why;
  }
  cv_.notify_all();
}

void Runtime::wait() {
  std::unique_lock lk(mu_);
  cv_.wait(lk, [this] { return stop_requested_; });
}

std::string Runtime::stop_reason() const {
  std::lock_guard lk(mu_);
  return reason_;
}

bool Runtime::failed() const {
  std::lock_guard lk(mu_);
  return failed_;
}

std::function<void(const std::string&)> Runtime::on_failure() {
  return [this](const std::string& why) { request_stop(why, true); };
}

}  // namespace tern::app
