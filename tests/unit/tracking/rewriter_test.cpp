#include "tracking/rewriter.hpp"

#include <gtest/gtest.h>

#include <cctype>

#include "tracking/html_links.hpp"
#include "tracking/token.hpp"
#include "tracking/transfer_encoding.hpp"

namespace tern::tracking {
namespace {

const std::string kSecret = "tracking-secret-0123456789abcdef";
const std::string kBase = "https://t.example.com";

RewriteOptions opts(uint32_t recipient = 2) {
  RewriteOptions o;
  o.base_url = kBase + "/";  // a trailing slash is dropped
  o.secret = kSecret;
  o.message_id = "QID42";
  o.recipient = recipient;
  return o;
}

std::string click_url(uint32_t link, const std::string& url, uint32_t recipient = 2) {
  auto t = sign_token({TokenKind::click, "QID42", recipient, link, url, {}}, kSecret);
  EXPECT_TRUE(t);
  return kBase + "/t/c/" + *t;
}

std::string pixel(uint32_t recipient = 2) {
  auto t = sign_token({TokenKind::open, "QID42", recipient, 0, {}, {}}, kSecret);
  EXPECT_TRUE(t);
  return "<img src=\"" + kBase + "/t/o/" + *t + "\" width=\"1\" height=\"1\" alt=\"\">";
}

// Body of the first part whose header contains `marker`, up to the next delimiter line.
std::string part_body(const std::string& msg, const std::string& marker) {
  size_t h = msg.find(marker);
  EXPECT_NE(h, std::string::npos) << marker;
  if (h == std::string::npos) return {};
  size_t b = msg.find("\r\n\r\n", h) + 4;
  size_t e = msg.find("\r\n--", b);
  return msg.substr(b, e == std::string::npos ? std::string::npos : e - b);
}

bool crlf_only(const std::string& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) return false;
    if (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n')) return false;
  }
  return true;
}

std::vector<std::string> tokens_after(const std::string& s, const std::string& what) {
  std::vector<std::string> out;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) {
    size_t b = p + what.size(), e = b;
    while (e < s.size() &&
           (std::isalnum(static_cast<unsigned char>(s[e])) || s[e] == '-' || s[e] == '_'))
      ++e;
    out.push_back(s.substr(b, e - b));
  }
  return out;
}

const std::string kHeaders =
    "From: a@sender.example\r\nTo: b@rcpt.example\r\nSubject: hi\r\n"
    "Message-ID: <1@sender.example>\r\nMIME-Version: 1.0\r\n";

TEST(Rewriter, SinglePartHtmlSevenBit) {
  std::string html =
      "<html><body><a href=\"https://shop.example/p?id=1&amp;x=2\">Buy</a> "
      "<a href=\"mailto:help@shop.example\">help</a> <a href=\"#top\">top</a> "
      "<a href=\"https://shop.example/p?id=1&amp;x=2\">again</a></body></html>\r\n";
  std::string in = kHeaders + "Content-Type: text/html; charset=utf-8\r\n\r\n" + html;
  auto r = rewrite_message(in, opts());
  ASSERT_EQ(r.status, RewriteStatus::rewritten) << r.reason;
  EXPECT_EQ(r.links, 2u);
  EXPECT_EQ(r.html_parts, 1u);
  std::string want = kHeaders + "Content-Type: text/html; charset=utf-8\r\n\r\n" +
                     "<html><body><a href=\"" + click_url(0, "https://shop.example/p?id=1&x=2") +
                     "\">Buy</a> <a href=\"mailto:help@shop.example\">help</a> <a "
                     "href=\"#top\">top</a> <a href=\"" +
                     click_url(1, "https://shop.example/p?id=1&x=2") + "\">again</a>" + pixel() +
                     "</body></html>\r\n";
  EXPECT_EQ(r.message, want);

  auto clicks = tokens_after(r.message, "/t/c/");
  ASSERT_EQ(clicks.size(), 2u);
  auto f = verify_token(clicks[1], kSecret);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->kind, TokenKind::click);
  EXPECT_EQ(f->url, "https://shop.example/p?id=1&x=2");
  EXPECT_EQ(f->link, 1u);
  EXPECT_EQ(f->recipient, 2u);
  EXPECT_EQ(f->message_id, "QID42");
  auto opens = tokens_after(r.message, "/t/o/");
  ASSERT_EQ(opens.size(), 1u);
  auto o = verify_token(opens[0], kSecret);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->kind, TokenKind::open);
}

TEST(Rewriter, EachRecipientGetsItsOwnTokens) {
  std::string in =
      kHeaders + "Content-Type: text/html\r\n\r\n<a href=\"https://x.example/\">x</a>\r\n";
  auto a = rewrite_message(in, opts(0));
  auto b = rewrite_message(in, opts(1));
  ASSERT_EQ(a.status, RewriteStatus::rewritten);
  ASSERT_EQ(b.status, RewriteStatus::rewritten);
  EXPECT_NE(a.message, b.message);
  EXPECT_EQ(verify_token(tokens_after(b.message, "/t/c/")[0], kSecret)->recipient, 1u);
}

TEST(Rewriter, MultipartAlternativeQuotedPrintable) {
  std::string text_part = "Plain https://shop.example/ stays=20as is\r\n";
  std::string html = "<html><body><p>caf\xc3\xa9 <a href=\"https://shop.example/" +
                     std::string(120, 'l') + "\">long link</a></p>\r\n</body></html>\r\n";
  std::string qp = qp_encode(html);
  std::string in = kHeaders +
                   "Content-Type: multipart/alternative; boundary=\"==b1 x\"\r\n\r\n"
                   "This is the preamble.\r\n"
                   "--==b1 x\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   "Content-Transfer-Encoding: quoted-printable\r\n\r\n" +
                   text_part +
                   "--==b1 x\r\nContent-Type: text/html; charset=utf-8\r\n"
                   "Content-Transfer-Encoding: Quoted-Printable\r\n\r\n" +
                   qp + "\r\n--==b1 x--  \r\nepilogue\r\n";
  auto r = rewrite_message(in, opts());
  ASSERT_EQ(r.status, RewriteStatus::rewritten) << r.reason;
  EXPECT_TRUE(crlf_only(r.message));
  // Everything up to the html part's body is unchanged, and so is the tail.
  const size_t html_body = in.find(qp);
  EXPECT_EQ(r.message.substr(0, html_body), in.substr(0, html_body));
  EXPECT_EQ(r.message.substr(r.message.size() - 26), "\r\n--==b1 x--  \r\nepilogue\r\n");
  EXPECT_EQ(part_body(r.message, "text/plain"), text_part.substr(0, text_part.size() - 2));

  std::string enc = part_body(r.message, "text/html");
  size_t pos = 0;
  while (pos < enc.size()) {
    size_t eol = enc.find("\r\n", pos);
    size_t end = eol == std::string::npos ? enc.size() : eol;
    EXPECT_LE(end - pos, 76u);
    if (eol == std::string::npos) break;
    pos = eol + 2;
  }
  std::string want = "<html><body><p>caf\xc3\xa9 <a href=\"" +
                     click_url(0, "https://shop.example/" + std::string(120, 'l')) +
                     "\">long link</a></p>\r\n" + pixel() + "</body></html>\r\n";
  EXPECT_EQ(qp_decode(enc), want);
}

TEST(Rewriter, Base64HtmlInNestedMixedWithAttachments) {
  std::string html = "<p><a href='http://a.example/x'>a</a><a href=\"tel:+1\">t</a></p>";
  std::string b64 = base64_lines_encode(html);
  std::string pdf = base64_lines_encode(std::string("%PDF-1.4\0\xff<a href=\"https://p/\">", 30));
  std::string html_attachment =
      "Content-Type: text/html\r\nContent-Disposition: attachment; filename=a.html\r\n\r\n"
      "<a href=\"https://attached.example/\">keep</a>";
  std::string in =
      kHeaders +
      "Content-Type: multipart/mixed; boundary=outer\r\n\r\n"
      "--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n"
      "--inner\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
      "--inner\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
      b64 +
      "\r\n--inner--\r\n"
      "--outer\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
      pdf + "--outer\r\n" + html_attachment + "\r\n--outer--\r\n";
  auto r = rewrite_message(in, opts());
  ASSERT_EQ(r.status, RewriteStatus::rewritten) << r.reason;
  EXPECT_EQ(r.html_parts, 1u);
  EXPECT_EQ(r.links, 1u);
  EXPECT_TRUE(crlf_only(r.message));
  EXPECT_NE(r.message.find(pdf + "--outer\r\n" + html_attachment + "\r\n--outer--\r\n"),
            std::string::npos);
  std::string enc = part_body(r.message, "Content-Transfer-Encoding: base64\r\n\r\n");
  // The original had a blank line before the delimiter; so does the rewrite.
  ASSERT_GE(enc.size(), 2u);
  EXPECT_EQ(enc.substr(enc.size() - 2), "\r\n");
  size_t pos = 0;
  while (true) {
    size_t eol = enc.find("\r\n", pos);
    if (eol == std::string::npos) break;
    if (eol + 2 < enc.size()) {
      EXPECT_EQ(eol - pos, 76u);
    }
    pos = eol + 2;
  }
  auto dec = base64_lines_decode(enc);
  ASSERT_TRUE(dec);
  EXPECT_EQ(*dec, "<p><a href=\"" + click_url(0, "http://a.example/x") +
                      "\">a</a><a href=\"tel:+1\">t</a></p>" + pixel());
}

TEST(Rewriter, HugeSingleBase64LineIsReencodedInShortLines) {
  std::string html =
      "<body>" + std::string(200000, 'w') + "<a href=\"https://x.example/\">x</a></body>";
  std::string flat = base64_lines_encode(html);
  std::string one_line;
  for (char c : flat)
    if (c != '\r' && c != '\n') one_line += c;
  std::string in =
      kHeaders + "Content-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n" + one_line;
  auto r = rewrite_message(in, opts());
  ASSERT_EQ(r.status, RewriteStatus::rewritten) << r.reason;
  std::string enc = r.message.substr(r.message.find("\r\n\r\n") + 4);
  EXPECT_NE(enc.substr(enc.size() - 2), "\r\n");  // the input had no final line break either
  size_t pos = 0;
  while (pos < enc.size()) {
    size_t eol = enc.find("\r\n", pos);
    size_t end = eol == std::string::npos ? enc.size() : eol;
    EXPECT_LE(end - pos, 76u);
    if (eol == std::string::npos) break;
    pos = eol + 2;
  }
  auto dec = base64_lines_decode(enc);
  ASSERT_TRUE(dec);
  EXPECT_EQ(*dec, "<body>" + std::string(200000, 'w') + "<a href=\"" +
                      click_url(0, "https://x.example/") + "\">x</a>" + pixel() + "</body>");
}

TEST(Rewriter, NulBytesAndEightBitArePreserved) {
  static constexpr char kHtml[] = "<p>\0caf\xe9</p><a href=\"https://x.example/\">\0</a>\r\n";
  std::string html(kHtml, sizeof kHtml - 1);
  std::string in =
      kHeaders +
      "Content-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
      html;
  auto r = rewrite_message(in, opts());
  ASSERT_EQ(r.status, RewriteStatus::rewritten) << r.reason;
  std::string want = std::string("<p>\0caf\xe9</p><a href=\"", 21) +
                     click_url(0, "https://x.example/") + std::string("\">\0</a>", 7) + pixel() +
                     "\r\n";
  EXPECT_EQ(r.message.substr(r.message.find("\r\n\r\n") + 4), want);
}

TEST(Rewriter, AlreadyTrackedLinksAreLeftAlone) {
  std::string in =
      kHeaders + "Content-Type: text/html\r\n\r\n<a href=\"" + kBase +
      "/t/c/OLDTOKEN\">x</a><a href=\"https://T.EXAMPLE.COM/t/c/OTHER\">y</a></body>\r\n";
  auto r = rewrite_message(in, opts());
  ASSERT_EQ(r.status, RewriteStatus::rewritten) << r.reason;
  EXPECT_EQ(r.links, 0u);
  EXPECT_NE(r.message.find("/t/c/OLDTOKEN\">x</a><a href=\"https://T.EXAMPLE.COM/t/c/OTHER\">"),
            std::string::npos);
}

TEST(Rewriter, NoHtmlMeansUnchanged) {
  for (std::string in :
       {kHeaders + "Content-Type: text/plain\r\n\r\n<a href=\"https://x.example/\">x</a>\r\n",
        kHeaders + "\r\n<a href=\"https://x.example/\">x</a>\r\n",
        kHeaders + "Content-Type: text\r\n\r\n<a href=\"https://x.example/\">x</a>\r\n",
        kHeaders +
            "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\n"
            "Content-Type: text/html\r\n\r\n<a href=\"https://x.example/\">x</a>\r\n--d--\r\n",
        kHeaders + "Content-Type: text/html\r\n",  // no body at all
        std::string()}) {
    auto r = rewrite_message(in, opts());
    EXPECT_EQ(r.status, RewriteStatus::no_html) << in;
    EXPECT_EQ(r.message, in);
  }
}

void expect_refused(const std::string& in, const std::string& reason_part,
                    const RewriteOptions& o = opts()) {
  auto r = rewrite_message(in, o);
  EXPECT_EQ(r.status, RewriteStatus::refused) << in.substr(0, 300);
  EXPECT_EQ(r.message, in);
  EXPECT_NE(r.reason.find(reason_part), std::string::npos) << r.reason;
  // Reasons get logged: short, printable, no hostile bytes from the message.
  EXPECT_LE(r.reason.size(), 120u);
  for (char c : r.reason) EXPECT_TRUE(c >= 32 && c < 127) << r.reason;
}

const std::string kHtmlPart =
    "Content-Type: text/html\r\n\r\n<a href=\"https://x.example/\">x</a>\r\n";

TEST(Rewriter, MalformedMimeIsRefusedUnchanged) {
  expect_refused(
      kHeaders + "Content-Type: multipart/mixed\r\n\r\n--b\r\n" + kHtmlPart + "--b--\r\n",
      "boundary");
  expect_refused(
      kHeaders + "Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n" + kHtmlPart,
      "boundary");
  expect_refused(kHeaders +
                     "Content-Type: multipart/mixed; boundary=\"unterminated\r\n\r\n--b\r\n" +
                     kHtmlPart + "--b--\r\n",
                 "boundary");
  expect_refused(kHeaders + "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + kHtmlPart,
                 "no boundary delimiter");
  expect_refused(kHeaders + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" + kHtmlPart,
                 "not closed");
  const std::string odd_boundary = "\x01\x7f<script>" + std::string(50, '\xff');
  expect_refused(kHeaders + "Content-Type: multipart/mixed; boundary=\"" + odd_boundary +
                     "\"\r\n\r\n--" + odd_boundary + "\r\n" + kHtmlPart,
                 "not closed");
  expect_refused(kHeaders + "Content-Type: text/html\r\nContent-Transfer-Encoding: x-" +
                     std::string(500, 'e') + "\r\n\r\n<a href=\"https://x.example/\">x</a>\r\n",
                 "unknown Content-Transfer-Encoding x-eee");
  expect_refused(kHeaders + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--bb\r\n" +
                     kHtmlPart + "--bb--\r\n",
                 "no boundary delimiter");
  expect_refused(kHeaders +
                     "Content-Type: multipart/mixed; boundary=b\r\n"
                     "Content-Transfer-Encoding: base64\r\n\r\n--b\r\n" +
                     kHtmlPart + "--b--\r\n",
                 "Content-Transfer-Encoding");
  expect_refused(kHeaders +
                     "Content-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                     "PGE+*not base64*\r\n",
                 "invalid base64");
  expect_refused(kHeaders +
                     "Content-Type: text/html\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n"
                     "<a href=\"https://x.example/\">x</a>\r\n",
                 "unknown Content-Transfer-Encoding");
}

TEST(Rewriter, BareLineEndsAreRefused) {
  expect_refused("Content-Type: text/html\n\n<a href=\"https://x.example/\">x</a>\n",
                 "bare CR or LF");
  expect_refused(
      kHeaders + "Content-Type: text/html\r\n\r\n<a href=\"https://x.example/\">\rx</a>\r\n",
      "bare CR or LF");
}

std::string nested(size_t depth) {
  std::string head = kHeaders, tail;
  for (size_t i = 0; i < depth; ++i) {
    std::string b = "b" + std::to_string(i);
    head += "Content-Type: multipart/mixed; boundary=" + b + "\r\n\r\n--" + b + "\r\n";
    tail = "\r\n--" + b + "--" + tail;
  }
  return head + kHtmlPart.substr(0, kHtmlPart.size() - 2) + tail + "\r\n";
}

TEST(Rewriter, NestingDepthIsBounded) {
  auto ok = rewrite_message(nested(5), opts());
  ASSERT_EQ(ok.status, RewriteStatus::rewritten) << ok.reason;
  EXPECT_EQ(ok.links, 1u);
  EXPECT_TRUE(crlf_only(ok.message));
  expect_refused(nested(100), "nested deeper than 20");
  expect_refused(nested(5000), "nested deeper than 20");
}

TEST(Rewriter, PartsLinksAndSizeAreBounded) {
  std::string many = kHeaders + "Content-Type: multipart/mixed; boundary=b\r\n\r\n";
  for (int i = 0; i < 12; ++i) many += "--b\r\n" + kHtmlPart;
  many += "--b--\r\n";
  auto o = opts();
  auto r = rewrite_message(many, o);
  ASSERT_EQ(r.status, RewriteStatus::rewritten) << r.reason;
  EXPECT_EQ(r.html_parts, 12u);
  EXPECT_EQ(r.links, 12u);
  o.limits.max_parts = 10;
  expect_refused(many, "more than 10 body parts", o);
  o = opts();
  o.limits.max_links = 11;
  expect_refused(many, "more than 11 links", o);
  o = opts();
  o.limits.max_message_bytes = many.size() - 1;
  expect_refused(many, "larger than", o);
}

TEST(Rewriter, OverlongUrlsAreLeftAndLongLinesRefused) {
  std::string long_url = "https://x.example/" + std::string(3000, 'u');
  std::string in = kHeaders +
                   "Content-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
                   "<a href=3D\"" +
                   long_url.substr(0, 60) + "=\r\n" + long_url.substr(60, 70) + "=\r\n" +
                   "\">x</a>\r\n";
  // 130-byte URL: tracked.
  auto r = rewrite_message(in, opts());
  ASSERT_EQ(r.status, RewriteStatus::rewritten) << r.reason;
  EXPECT_EQ(r.links, 1u);

  auto o = opts();
  o.limits.max_url_bytes = 100;
  auto skipped = rewrite_message(in, o);
  ASSERT_EQ(skipped.status, RewriteStatus::rewritten);
  EXPECT_EQ(skipped.links, 0u);
  EXPECT_EQ(qp_decode(skipped.message.substr(skipped.message.find("\r\n\r\n") + 4)),
            "<a href=\"" + long_url.substr(0, 130) + "\">x</a>" + pixel() + "\r\n");

  // 7bit: a 900-byte line with a 600-byte URL would grow past 998 octets.
  std::string line =
      "<a href=\"" + long_url.substr(0, 600) + "\">" + std::string(280, 'x') + "</a>";
  ASSERT_LT(line.size(), 998u);
  expect_refused(kHeaders + "Content-Type: text/html\r\n\r\n" + line + "\r\n", "998");
}

TEST(Rewriter, HostileHtmlInsideAValidMessage) {
  // As a browser tokenizes it: the second tag ends at the first '>' after its quoted value
  // (so it is a real link), the third has an unterminated quote and is never a tag.
  std::string in = kHeaders +
                   "Content-Type: text/html\r\n\r\n"
                   "<a href=\"https://ok.example/\">ok</a><a href=\"https://x.example/\"junk\r\n"
                   "<<<>>> <a href='https://evil.example/\"><script>\r\n";
  auto r = rewrite_message(in, opts());
  ASSERT_EQ(r.status, RewriteStatus::rewritten) << r.reason;
  EXPECT_EQ(r.links, 2u);
  EXPECT_TRUE(crlf_only(r.message));
  std::string body = r.message.substr(r.message.find("\r\n\r\n") + 4);
  EXPECT_EQ(body, "<a href=\"" + click_url(0, "https://ok.example/") + "\">ok</a><a href=\"" +
                      click_url(1, "https://x.example/") +
                      "\"junk\r\n"
                      "<<<>>> <a href='https://evil.example/\"><script>" +
                      pixel() + "\r\n");
}

TEST(Rewriter, BadOptionsAreRefused) {
  std::string in = kHeaders + kHtmlPart;
  auto o = opts();
  o.base_url = "https://t.example.com/\"><script>";
  expect_refused(in, "base URL", o);
  o.base_url = "javascript:alert(1)";
  expect_refused(in, "base URL", o);
  o.base_url = "https://";
  expect_refused(in, "base URL", o);
  o = opts();
  o.secret = "short";
  expect_refused(in, "secret", o);
  o = opts();
  o.message_id.clear();
  expect_refused(in, "message id", o);
}

}  // namespace
}  // namespace tern::tracking
