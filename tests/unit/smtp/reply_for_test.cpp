// The one mapping of error codes onto SMTP replies (smtp::reply_for).
#include <gtest/gtest.h>

#include "smtp/reply.hpp"

namespace tern::smtp {
namespace {

using core::ErrorCode;

TEST(ReplyFor, DiskFullIs452AndOtherLocalTroubleIs451) {
  EXPECT_EQ(reply_for(ErrorCode::disk_full, "Error: queue file write error").line(),
            "452 4.3.1 Insufficient system storage");
  for (ErrorCode c :
       {ErrorCode::unavailable, ErrorCode::internal, ErrorCode::corrupt, ErrorCode::conflict})
    EXPECT_EQ(reply_for(c, "Error: queue file write error").line(),
              "451 4.3.0 Error: queue file write error")
        << core::to_string(c);
}

TEST(ReplyFor, PermanentCodesArePermanentReplies) {
  EXPECT_EQ(reply_for(ErrorCode::invalid, "bad").line(), "550 5.6.0 bad");
  EXPECT_EQ(reply_for(ErrorCode::not_found, "who").line(), "550 5.1.1 who");
  EXPECT_EQ(reply_for(ErrorCode::forbidden, "no").line(), "550 5.7.1 no");
  for (ErrorCode c : {ErrorCode::invalid, ErrorCode::not_found, ErrorCode::forbidden,
                      ErrorCode::unavailable, ErrorCode::disk_full, ErrorCode::internal})
    EXPECT_EQ(reply_for(c, "x").temporary(), core::is_temporary(c) || c == ErrorCode::internal)
        << core::to_string(c);
}

}  // namespace
}  // namespace tern::smtp
