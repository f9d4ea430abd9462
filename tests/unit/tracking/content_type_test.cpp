#include "tracking/content_type.hpp"

#include <gtest/gtest.h>

namespace tern::tracking {
namespace {

TEST(ContentType, TypeAndParameters) {
  auto ct =
      parse_content_type(" Multipart/Alternative ; Boundary=\"a \\\"b\\\" c\"; charset=UTF-8 (c)");
  EXPECT_EQ(ct.type, "multipart/alternative");
  EXPECT_EQ(ct.param("boundary").value_or("?"), "a \"b\" c");
  EXPECT_EQ(ct.param("charset").value_or("?"), "UTF-8");
  EXPECT_FALSE(ct.param("name"));
  EXPECT_EQ(parse_content_type("text (comment) / (x) html").type, "text/html");
}

TEST(ContentType, InvalidGivesEmptyTypeOrStopsAtBadParameter) {
  EXPECT_EQ(parse_content_type("").type, "");
  EXPECT_EQ(parse_content_type("text").type, "");
  EXPECT_EQ(parse_content_type("text/").type, "");
  EXPECT_EQ(parse_content_type("/html").type, "");
  auto ct = parse_content_type("text/html; charset=\"unterminated");
  EXPECT_EQ(ct.type, "text/html");
  EXPECT_FALSE(ct.param("charset"));
}

TEST(ContentType, CutOffCommentsAndQuotedPairsDoNotReadPastTheEnd) {
  // Found by the fuzzer: a backslash as the last byte of an unterminated comment.
  EXPECT_EQ(parse_content_type("(m\\").type, "");
  EXPECT_EQ(parse_content_type("text/html (x\\").type, "text/html");
  EXPECT_EQ(parse_content_type("text/html; a=(\\").type, "text/html");
  EXPECT_EQ(parse_content_type(std::string("(m\x01\0a\\", 6)).type, "");
  EXPECT_EQ(first_token_lower("(\\"), "");
  EXPECT_EQ(first_token_lower(" Quoted-Printable (x)"), "quoted-printable");
}

}  // namespace
}  // namespace tern::tracking
