// Latency histograms in the Prometheus text format (…_bucket{le="…"}, _sum, _count), recorded
// lock-free: observe() is a few relaxed atomic adds, safe from any thread on hot paths (the SMTP
// I/O threads, the delivery engine thread).
//
// Invariants: bucket bounds are fixed at construction and ascending; exposition is cumulative
// (each le bucket counts every observation <= its bound; +Inf equals _count up to observations
// racing the read); the sum is kept in whole microseconds so it fits an atomic integer.
//
// The process-wide instances:
//   accept_latency()   tern_accept_latency_seconds   end of DATA → 250 sent (SMTP path)
//   delivery_latency() tern_delivery_latency_seconds accepted → delivered (delivery engine)
#pragma once
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tern::core {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds)
      : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
    for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
  }
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void observe(double seconds) {
    if (!(seconds >= 0)) seconds = 0;  // NaN and clock steps backwards count as 0
    size_t i = 0;
    while (i < bounds_.size() && seconds > bounds_[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    const double us = seconds * 1e6;
    sum_us_.fetch_add(us < 1.8e19 ? static_cast<uint64_t>(us) : 0, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
  }

  uint64_t count() const { return count_.load(std::memory_order_relaxed); }

  // "# HELP", "# TYPE name histogram", the cumulative buckets, _sum and _count.
  std::string prometheus(std::string_view name, std::string_view help) const {
    std::string out;
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" histogram\n");
    uint64_t cum = 0;
    char buf[64];
    for (size_t i = 0; i <= bounds_.size(); ++i) {
      cum += counts_[i].load(std::memory_order_relaxed);
      if (i < bounds_.size())
        std::snprintf(buf, sizeof buf, "%g", bounds_[i]);
      else
        std::snprintf(buf, sizeof buf, "+Inf");
      out.append(name).append("_bucket{le=\"").append(buf).append("\"} ");
      out.append(std::to_string(cum)).append("\n");
    }
    std::snprintf(buf, sizeof buf, "%.6f",
                  static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1e6);
    out.append(name).append("_sum ").append(buf).append("\n");
    // _count equals the +Inf bucket as printed (observations racing this read excluded).
    out.append(name).append("_count ").append(std::to_string(cum)).append("\n");
    return out;
  }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket, not cumulative; last = +Inf
  std::atomic<uint64_t> sum_us_{0};
  std::atomic<uint64_t> count_{0};
};

// End of DATA → 250: dominated by the spool's group-commit fdatasync (milliseconds).
inline Histogram& accept_latency() {
  static Histogram h({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  return h;
}

// Accepted → delivered: sub-second on a good day, hours with retries.
inline Histogram& delivery_latency() {
  static Histogram h({0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400});
  return h;
}

}  // namespace tern::core
