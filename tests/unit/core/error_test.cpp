// core::Error: codes, temporariness, reasons, context.
#include <gtest/gtest.h>

#include "core/result.hpp"

namespace tern::core {
namespace {

TEST(Error, CodesDecideTemporariness) {
  EXPECT_TRUE(Error::unavailable("x").temporary);
  EXPECT_TRUE(Error::disk_full("x").temporary);
  for (Error e : {Error::invalid("x"), Error::not_found("x"), Error::conflict("x"),
                  Error::forbidden("x"), Error::corrupt("x"), Error::internal("x")})
    EXPECT_FALSE(e.temporary) << to_string(e.code);
  // The old constructors keep their meaning with the nearest code.
  EXPECT_TRUE(Error::temp("x").is(ErrorCode::unavailable));
  EXPECT_TRUE(Error::temp("x").temporary);
  EXPECT_TRUE(Error::perm("x").is(ErrorCode::invalid));
  EXPECT_FALSE(Error::perm("x").temporary);
}

TEST(Error, ContextKeepsCodeAndReason) {
  Error e = Error::forbidden("quota").because(ErrorReason::quota_exceeded).context("domain");
  EXPECT_EQ(e.message, "domain: quota");
  EXPECT_TRUE(e.is(ErrorCode::forbidden));
  EXPECT_EQ(e.reason, ErrorReason::quota_exceeded);
}

TEST(Error, CodeNamesAreDistinct) {
  EXPECT_EQ(to_string(ErrorCode::disk_full), "disk_full");
  EXPECT_EQ(to_string(ErrorCode::not_found), "not_found");
}

}  // namespace
}  // namespace tern::core
