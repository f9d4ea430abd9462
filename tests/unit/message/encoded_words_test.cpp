// Subject display text for the message log: RFC 2047 decoding, and always valid UTF-8.
#include "message/encoded_words.hpp"

#include <gtest/gtest.h>

#include "core/utf8.hpp"
#include "message/compose.hpp"
#include "message/header.hpp"

namespace tern::message {
namespace {

TEST(DisplayText, PlainAsciiUnchanged) {
  EXPECT_EQ(decode_display_text("Invoice 42 for March"), "Invoice 42 for March");
  EXPECT_EQ(decode_display_text(""), "");
}

TEST(DisplayText, Rfc2047Examples) {
  // RFC 2047 §8
  EXPECT_EQ(decode_display_text("=?ISO-8859-1?Q?a?="), "a");
  EXPECT_EQ(decode_display_text("=?ISO-8859-1?Q?a?= b"), "a b");
  EXPECT_EQ(decode_display_text("=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?="), "ab");
  EXPECT_EQ(decode_display_text("=?ISO-8859-1?Q?a?=  \t =?ISO-8859-1?Q?b?="), "ab");
  EXPECT_EQ(decode_display_text("=?ISO-8859-1?Q?a_b?="), "a b");
  EXPECT_EQ(decode_display_text("=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?="), "a =?ISO-8859-2?Q?_b?=");
  EXPECT_EQ(decode_display_text("=?ISO-8859-1?Q?Andr=E9?= Pirard"), "Andr\xc3\xa9 Pirard");
  EXPECT_EQ(decode_display_text("=?US-ASCII*EN?Q?Keith_Moore?="), "Keith Moore");
}

TEST(DisplayText, Utf8BAndQ) {
  EXPECT_EQ(decode_display_text("=?UTF-8?B?TcO8bGxlcg==?="), "M\xc3\xbcller");
  EXPECT_EQ(decode_display_text("Re: =?utf-8?q?M=C3=BCller?= (2)"), "Re: M\xc3\xbcller (2)");
}

TEST(DisplayText, RoundTripsWhatComposeEncodes) {
  const std::string subject =
      "Gr\xc3\xbc\xc3\x9f"
      "e aus K\xc3\xb6ln \xe2\x80\x94 " +
      std::string(120, 'x') + " \xf0\x9f\x93\xa8 end";
  std::string field = "Subject: " + encode_words(subject) + "\r\n";
  auto hs = parse_header_section(field + "\r\n");
  ASSERT_EQ(hs.fields.size(), 1u);
  EXPECT_EQ(decode_display_text(hs.fields[0].value()), subject);
}

TEST(DisplayText, BrokenWordsKeptAsWritten) {
  EXPECT_EQ(decode_display_text("=?UTF-8?B?not base64!?="), "=?UTF-8?B?not base64!?=");
  EXPECT_EQ(decode_display_text("=?UTF-8?Q?bad=ZZ?="), "=?UTF-8?Q?bad=ZZ?=");
  EXPECT_EQ(decode_display_text("=?UTF-8?X?abc?="), "=?UTF-8?X?abc?=");
  EXPECT_EQ(decode_display_text("=?koi8-r?B?8NLJ18XU?="), "=?koi8-r?B?8NLJ18XU?=");
  EXPECT_EQ(decode_display_text("50% =? off"), "50% =? off");
  EXPECT_EQ(decode_display_text("=?UTF-8?Q?trunc="), "=?UTF-8?Q?trunc=");
}

TEST(DisplayText, AlwaysValidUtf8NoControlsBounded) {
  EXPECT_EQ(decode_display_text("M\xfcller"), "M\xef\xbf\xbdller");  // raw Latin-1
  EXPECT_EQ(decode_display_text("=?UTF-8?Q?a=00b=0Ac?="), "ab c");
  EXPECT_EQ(decode_display_text("=?UTF-8?Q?=FF?="), "\xef\xbf\xbd");
  std::string long_subject;
  for (int i = 0; i < 600; ++i) long_subject += "\xc3\xa9";  // 1200 bytes
  std::string d = decode_display_text(long_subject);
  EXPECT_LE(d.size(), kMaxDisplayText);
  EXPECT_GE(d.size(), kMaxDisplayText - 1);
  EXPECT_TRUE(core::valid_utf8(d));
}

}  // namespace
}  // namespace tern::message
