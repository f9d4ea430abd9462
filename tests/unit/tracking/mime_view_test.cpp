// The display view of a message (captured sandbox mail): headers decoded, the first text and
// HTML parts decoded (base64, quoted-printable, Latin-1 to UTF-8), attachments listed, bounds
// on nesting and parts, and hostile input that never breaks it.
#include "tracking/mime_view.hpp"

#include <gtest/gtest.h>

#include "core/utf8.hpp"

namespace tern::tracking {
namespace {

TEST(MimeView, PlainMessage) {
  auto v = view_message("From: a@b.test\r\nSubject: =?utf-8?b?SGVsbG8g4pyT?=\r\n\r\nHi there\r\n");
  ASSERT_EQ(v.headers.size(), 2u);
  EXPECT_EQ(v.headers[1].first, "Subject");
  EXPECT_EQ(v.headers[1].second, "Hello \u2713");
  EXPECT_TRUE(v.has_text);
  EXPECT_EQ(v.text, "Hi there\r\n");
  EXPECT_FALSE(v.has_html);
}

TEST(MimeView, AlternativeWithEncodingsAndAnAttachment) {
  const std::string m =
      "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
      "preamble\r\n--outer\r\n"
      "Content-Type: multipart/alternative; boundary=inner\r\n\r\n"
      "--inner\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
      "Content-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 =\r\nau lait\r\n"
      "--inner\r\nContent-Type: text/html; charset=utf-8\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\nPGI+Q2Fmw6k8L2I+\r\n"
      "--inner--\r\n"
      "--outer\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\n"
      "Content-Disposition: attachment; filename=\"r\xc3\xa9sum\xc3\xa9.pdf\"\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n"
      "--outer\r\nContent-Type: text/html\r\nContent-Disposition: attachment\r\n\r\n<i>no</i>\r\n"
      "--outer--\r\nepilogue\r\n";
  auto v = view_message(m);
  EXPECT_EQ(v.text, "Caf\xc3\xa9 au lait");
  EXPECT_EQ(v.html, "<b>Caf\xc3\xa9</b>");
  ASSERT_EQ(v.attachments.size(), 2u);
  EXPECT_EQ(v.attachments[0].filename, "r\xc3\xa9sum\xc3\xa9.pdf");
  EXPECT_EQ(v.attachments[0].content_type, "application/pdf");
  EXPECT_EQ(v.attachments[1].content_type, "text/html");  // an attachment, not the body
  EXPECT_FALSE(v.truncated);
}

TEST(MimeView, UnclosedMultipartStillShows) {
  auto v = view_message(
      "Content-Type: multipart/alternative; boundary=x\r\n\r\n--x\r\nContent-Type: "
      "text/plain\r\n\r\nhello\r\n--x\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n");
  EXPECT_EQ(v.text, "hello");
  EXPECT_EQ(v.html, "<p>hi</p>");
}

TEST(MimeView, BoundsAndHostileBytes) {
  // Nesting deeper than the limit stops there.
  std::string deep;
  for (int i = 0; i < 20; ++i)
    deep += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\r\n\r\n--b" +
            std::to_string(i) + "\r\n";
  deep += "Content-Type: text/plain\r\n\r\ndeep\r\n";
  auto v = view_message(deep, {3, 100, 200});
  EXPECT_TRUE(v.truncated);
  EXPECT_FALSE(v.has_text);
  // Many parts: only max_parts looked at.
  std::string many = "Content-Type: multipart/mixed; boundary=z\r\n\r\n";
  for (int i = 0; i < 50; ++i) many += "--z\r\nContent-Type: image/png\r\n\r\nx\r\n";
  many += "--z--\r\n";
  auto m = view_message(many, {10, 5, 200});
  EXPECT_TRUE(m.truncated);
  EXPECT_EQ(m.attachments.size(), 5u);
  // Invalid UTF-8, a bad base64 body, NULs, no header/body separator: valid UTF-8 out.
  for (std::string in :
       {std::string("Subject: \xff\xfe\r\n\r\n\xc3("),
        std::string("Content-Transfer-Encoding: base64\r\n\r\n!!!!\xff"),
        std::string("X: y\0z\r\n\r\n\0\0", 12), std::string("no header at all"),
        std::string("Content-Type: multipart/mixed\r\n\r\n--\r\n"),
        std::string("Content-Type: multipart/a; boundary=x\n\n--x\n\nq\n"), std::string()}) {
    auto h = view_message(in);
    EXPECT_TRUE(core::valid_utf8(h.text));
    EXPECT_TRUE(core::valid_utf8(h.html));
    for (const auto& [n, val] : h.headers)
      EXPECT_TRUE(core::valid_utf8(n) && core::valid_utf8(val));
  }
}

}  // namespace
}  // namespace tern::tracking
