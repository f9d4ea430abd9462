#include "app/fd_budget.hpp"

#include <gtest/gtest.h>

namespace tern::app {
namespace {

TEST(FdBudget, CapsThatFitAreKept) {
  auto b = plan_fd_budget(1'048'576, 20000, 2000, 116);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->smtp_max_connections, 20000u);
  EXPECT_EQ(b->http_max_connections, 2000u);
  EXPECT_TRUE(b->warning.empty());
}

TEST(FdBudget, CapsThatDoNotFitAreLoweredWithAWarning) {
  // Debian's default soft limit with no raise possible: 1024.
  auto b = plan_fd_budget(1024, 20000, 2000, 116);
  ASSERT_TRUE(b);
  const uint64_t used = b->smtp_max_connections + b->http_max_connections + kFdReserve + 116;
  EXPECT_LE(used, 1024u);
  EXPECT_GE(b->smtp_max_connections, 500u);  // most of what is left goes to SMTP
  EXPECT_GE(b->http_max_connections, 16u);
  EXPECT_NE(b->warning.find("smtp.max_connections lowered from 20000"), std::string::npos)
      << b->warning;
  EXPECT_NE(b->warning.find("RLIMIT_NOFILE is 1024"), std::string::npos);
}

TEST(FdBudget, TooFewDescriptorsIsAnError) {
  auto b = plan_fd_budget(300, 20000, 2000, 116);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find("too few file descriptors"), std::string::npos);
}

TEST(FdBudget, NeverMoreThanConfigured) {
  auto b = plan_fd_budget(4096, 100, 5000, 116);
  ASSERT_TRUE(b);
  EXPECT_LE(b->smtp_max_connections, 100u);
  EXPECT_LE(b->smtp_max_connections + b->http_max_connections + kFdReserve + 116, 4096u);
}

}  // namespace
}  // namespace tern::app
