// core::Histogram: observations land in the right bucket (bounds inclusive), exposition is
// cumulative with +Inf == _count, the sum is in seconds, NaN/negative count as 0, and concurrent
// observe() calls lose nothing.
#include "core/histogram.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>

namespace tern::core {
namespace {

TEST(Histogram, CumulativeBucketsSumAndCount) {
  Histogram h({0.1, 1, 10});
  h.observe(0.05);
  h.observe(0.1);  // on the bound: le="0.1"
  h.observe(0.5);
  h.observe(20);
  h.observe(-3);  // clock stepped back: 0
  h.observe(std::nan(""));
  const std::string t = h.prometheus("tern_x_seconds", "Test.");
  EXPECT_EQ(t,
            "# HELP tern_x_seconds Test.\n"
            "# TYPE tern_x_seconds histogram\n"
            "tern_x_seconds_bucket{le=\"0.1\"} 4\n"
            "tern_x_seconds_bucket{le=\"1\"} 5\n"
            "tern_x_seconds_bucket{le=\"10\"} 5\n"
            "tern_x_seconds_bucket{le=\"+Inf\"} 6\n"
            "tern_x_seconds_sum 20.650000\n"
            "tern_x_seconds_count 6\n");
  EXPECT_EQ(h.count(), 6u);
}

TEST(Histogram, ConcurrentObservationsAllCounted) {
  Histogram h({0.001, 0.01});
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&h, t] {
      for (int i = 0; i < 10000; ++i) h.observe(t * 0.005);
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(h.count(), 40000u);
  const std::string text = h.prometheus("x", "y");
  EXPECT_NE(text.find("x_bucket{le=\"0.001\"} 10000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_bucket{le=\"0.01\"} 30000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_bucket{le=\"+Inf\"} 40000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_count 40000\n"), std::string::npos) << text;
}

TEST(Histogram, ProcessWideInstancesAreDistinct) {
  EXPECT_NE(&accept_latency(), &delivery_latency());
  EXPECT_EQ(&accept_latency(), &accept_latency());
}

}  // namespace
}  // namespace tern::core
