// Time behind an interface so policies (rate limits, retry schedules, expiry) are testable.
#pragma once
#include <chrono>
#include <cstdint>

namespace tern::core {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch.
  virtual int64_t now_ms() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t now_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t t = 1700000000000) : t_(t) {}
  int64_t now_ms() const override { return t_; }
  void advance_ms(int64_t d) { t_ += d; }

 private:
  int64_t t_;
};

}  // namespace tern::core
