#include "message/compose.hpp"

#include <gtest/gtest.h>

#include <string>

#include "core/address.hpp"
#include "core/base64.hpp"
#include "message/header.hpp"

using namespace tern::message;

namespace {

ComposeOptions opts() {
  ComposeOptions o;
  o.hostname = "mx.tern.test";
  o.id = "QID123";
  o.now_unix = 1700000000;
  return o;
}

ComposeInput basic() {
  ComposeInput in;
  in.from = "Alice <alice@example.com>";
  in.to = {"bob@example.org"};
  in.subject = "Hello";
  in.text = "Hi Bob,\nhow are you?\n";
  return in;
}

Composed ok(const ComposeInput& in, ComposeOptions o = opts()) {
  auto r = compose(in, o);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? r.value() : Composed{};
}

std::string err(const ComposeInput& in, ComposeOptions o = opts()) {
  auto r = compose(in, o);
  EXPECT_FALSE(r);
  if (r) return "";
  EXPECT_FALSE(r.error().temporary);
  return r.error().message;
}

std::string field(const std::string& msg, std::string_view name) {
  auto hs = parse_header_section(msg);
  for (const auto& f : hs.fields)
    if (tern::core::iequals(f.name, name)) return f.value();
  return "<none>";
}

int count_fields(const std::string& msg, std::string_view name) {
  int n = 0;
  for (const auto& f : parse_header_section(msg).fields)
    if (tern::core::iequals(f.name, name)) ++n;
  return n;
}

// CRLF only, no line over 998 octets (RFC 5322 §2.1.1).
void expect_wellformed(const std::string& m) {
  size_t line = 0;
  for (size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '\n') {
      ASSERT_TRUE(i > 0 && m[i - 1] == '\r') << "bare LF at " << i;
      line = 0;
      continue;
    }
    if (m[i] == '\r')
      ASSERT_TRUE(i + 1 < m.size() && m[i + 1] == '\n') << "bare CR at " << i;
    else
      ASSERT_LE(++line, 998u);
    ASSERT_NE(m[i], '\0');
  }
  ASSERT_TRUE(m.size() >= 2 && m.substr(m.size() - 2) == "\r\n");
}

std::string qp_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '=' && i + 2 < s.size() && s[i + 1] == '\r' && s[i + 2] == '\n') {
      i += 2;
    } else if (s[i] == '=' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string b64_lines_decode(std::string_view s) {
  std::string joined;
  for (char c : s)
    if (c != '\r' && c != '\n') joined += c;
  auto d = tern::core::base64_decode(joined);
  EXPECT_TRUE(d);
  return d ? *d : "";
}

// Decodes "=?UTF-8?B?...?=" words (separated by folding whitespace).
std::string decode_words(std::string_view v) {
  std::string out;
  size_t pos = 0;
  while ((pos = v.find("=?UTF-8?B?", pos)) != std::string_view::npos) {
    size_t end = v.find("?=", pos + 10);
    EXPECT_NE(end, std::string_view::npos);
    EXPECT_LE(end + 2 - pos, 75u);  // RFC 2047 §2
    auto d = tern::core::base64_decode(v.substr(pos + 10, end - pos - 10));
    EXPECT_TRUE(d);
    // Each word holds whole UTF-8 characters (RFC 2047 §5): it must not start with a
    // continuation byte.
    if (d && !d->empty()) {
      EXPECT_NE(static_cast<unsigned char>((*d)[0]) & 0xC0, 0x80);
    }
    if (d) out += *d;
    pos = end + 2;
  }
  return out;
}

std::string boundary_of(const std::string& content_type) {
  auto p = content_type.find("boundary=\"");
  EXPECT_NE(p, std::string::npos);
  auto e = content_type.find('"', p + 10);
  return content_type.substr(p + 10, e - p - 10);
}

// Body parts of a multipart body (between delimiters, CRLF before a delimiter excluded).
std::vector<std::string> parts_of(const std::string& body, const std::string& b) {
  std::vector<std::string> parts;
  const std::string delim = "--" + b;
  size_t pos = body.find(delim);
  EXPECT_NE(pos, std::string::npos);
  while (pos != std::string::npos) {
    size_t start = body.find("\r\n", pos) + 2;
    if (body.compare(pos + delim.size(), 2, "--") == 0) break;
    size_t next = body.find("\r\n" + delim, start);
    EXPECT_NE(next, std::string::npos);
    parts.push_back(body.substr(start, next - start));
    pos = next + 2;
  }
  return parts;
}

std::string body_of(const std::string& entity) {
  auto hs = parse_header_section(entity);
  return entity.substr(hs.body_offset + 2);
}

}  // namespace

TEST(Compose, TextOnly) {
  auto c = ok(basic());
  expect_wellformed(c.message);
  EXPECT_EQ(c.sender, "alice@example.com");
  EXPECT_EQ(c.recipients, std::vector<std::string>{"bob@example.org"});
  EXPECT_EQ(c.message_id, "<QID123@mx.tern.test>");
  EXPECT_EQ(field(c.message, "Date"), "Tue, 14 Nov 2023 22:13:20 +0000");
  EXPECT_EQ(field(c.message, "From"), "\"Alice\" <alice@example.com>");
  EXPECT_EQ(field(c.message, "To"), "bob@example.org");
  EXPECT_EQ(field(c.message, "Subject"), "Hello");
  EXPECT_EQ(field(c.message, "Message-ID"), "<QID123@mx.tern.test>");
  EXPECT_EQ(field(c.message, "MIME-Version"), "1.0");
  EXPECT_EQ(field(c.message, "Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(field(c.message, "Content-Transfer-Encoding"), "7bit");
  EXPECT_EQ(count_fields(c.message, "Bcc"), 0);
  EXPECT_EQ(body_of(c.message), "Hi Bob,\r\nhow are you?\r\n\r\n");
  EXPECT_FALSE(c.smtputf8);
}

TEST(Compose, RecipientsDeduplicatedBccHidden) {
  auto in = basic();
  in.to = {"bob@example.org", "Carol <carol@EXAMPLE.org>"};
  in.cc = {"bob@example.org", "dave@example.net"};
  in.bcc = {"eve@example.net", "carol@example.org"};
  in.reply_to = "help@example.com";
  auto c = ok(in);
  expect_wellformed(c.message);
  EXPECT_EQ(c.recipients, (std::vector<std::string>{"bob@example.org", "carol@example.org",
                                                    "dave@example.net", "eve@example.net"}));
  EXPECT_EQ(field(c.message, "To"), "bob@example.org, \"Carol\" <carol@example.org>");
  EXPECT_EQ(field(c.message, "Cc"), "bob@example.org, dave@example.net");
  EXPECT_EQ(field(c.message, "Reply-To"), "help@example.com");
  EXPECT_EQ(c.message.find("eve@"), std::string::npos);
}

TEST(Compose, AlternativeAndAttachments) {
  auto in = basic();
  in.html = "<p>Hi <a href=\"https://example.com/x\">Bob</a></p>";
  std::string binary;
  for (int i = 0; i < 3000; ++i) binary += static_cast<char>(i * 7);
  in.attachments = {{"report.pdf", "application/pdf", tern::core::base64_encode(binary)},
                    {"notes.txt", "", tern::core::base64_encode("plain notes")}};
  auto c = ok(in);
  expect_wellformed(c.message);
  std::string ct = field(c.message, "Content-Type");
  ASSERT_EQ(ct.rfind("multipart/mixed;", 0), 0u) << ct;
  auto mixed = parts_of(body_of(c.message), boundary_of(ct));
  ASSERT_EQ(mixed.size(), 3u);

  std::string alt_ct = field(mixed[0], "Content-Type");
  ASSERT_EQ(alt_ct.rfind("multipart/alternative;", 0), 0u) << alt_ct;
  EXPECT_NE(boundary_of(alt_ct), boundary_of(ct));
  auto alt = parts_of(body_of(mixed[0]), boundary_of(alt_ct));
  ASSERT_EQ(alt.size(), 2u);
  EXPECT_EQ(field(alt[0], "Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(field(alt[1], "Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(body_of(alt[1]), in.html);

  EXPECT_EQ(field(mixed[1], "Content-Type"), "application/pdf; name=\"report.pdf\"");
  EXPECT_EQ(field(mixed[1], "Content-Disposition"), "attachment; filename=\"report.pdf\"");
  EXPECT_EQ(field(mixed[1], "Content-Transfer-Encoding"), "base64");
  std::string b = body_of(mixed[1]);
  for (size_t p = 0, e; p < b.size(); p = e + 2) {
    e = b.find("\r\n", p);
    if (e == std::string::npos) e = b.size();
    EXPECT_LE(e - p, 76u);
  }
  EXPECT_EQ(b64_lines_decode(b), binary);
  EXPECT_EQ(field(mixed[2], "Content-Type"), "application/octet-stream; name=\"notes.txt\"");
  EXPECT_EQ(b64_lines_decode(body_of(mixed[2])), "plain notes");
}

TEST(Compose, HtmlOnlySinglePart) {
  auto in = basic();
  in.text.clear();
  in.html = "<b>x</b>";
  auto c = ok(in);
  EXPECT_EQ(field(c.message, "Content-Type"), "text/html; charset=utf-8");
}

TEST(Compose, NonAsciiSubjectNamesAndText) {
  auto in = basic();
  in.from = "Zoë Ångström <zoe@example.com>";
  in.to = {"\"Müller, Jörg\" <jm@example.org>"};
  std::string subject;
  for (int i = 0; i < 40; ++i) subject += "Grüße ✓ ";
  in.subject = subject;
  in.text = "Ünïcödé line\r\n" + std::string(200, 'x') + "\r\nend with space \r\n=literal";
  auto c = ok(in);
  expect_wellformed(c.message);
  EXPECT_EQ(decode_words(field(c.message, "Subject")), subject);
  std::string from = field(c.message, "From");
  EXPECT_EQ(decode_words(from), "Zoë Ångström");
  EXPECT_NE(from.find("<zoe@example.com>"), std::string::npos);
  EXPECT_EQ(decode_words(field(c.message, "To")), "Müller, Jörg");
  EXPECT_EQ(field(c.message, "Content-Transfer-Encoding"), "quoted-printable");
  std::string body = body_of(c.message);
  for (size_t p = 0, e; p < body.size(); p = e + 2) {
    e = body.find("\r\n", p);
    if (e == std::string::npos) break;
    EXPECT_LE(e - p, 76u);
    if (e > p) {
      EXPECT_NE(body[e - 1], ' ');
    }
  }
  EXPECT_EQ(qp_decode(body), in.text + "\r\n");
}

TEST(Compose, EncodeWordsNeverSplitsCharacters) {
  std::string s;
  for (int i = 0; i < 100; ++i) s += "€";  // 3 bytes each: 45-byte chunks fall mid-character
  s += "x😀y";
  EXPECT_EQ(decode_words(encode_words(s)), s);
}

TEST(Compose, NonAsciiFilename) {
  auto in = basic();
  in.attachments = {{"Résumé 2024.pdf", "application/pdf", "aGVsbG8="}};
  auto c = ok(in);
  expect_wellformed(c.message);
  EXPECT_NE(c.message.find("filename*=UTF-8''R%C3%A9sum%C3%A9%202024.pdf"), std::string::npos)
      << c.message;
  EXPECT_NE(c.message.find("name=\"=?UTF-8?B?"), std::string::npos);
}

TEST(Compose, QuotedFilenameEscapes) {
  auto in = basic();
  in.attachments = {{"a\"b\\c.txt", "text/plain; charset=\"utf-8\"", "aGVsbG8="}};
  auto c = ok(in);
  EXPECT_NE(c.message.find("filename=\"a\\\"b\\\\c.txt\""), std::string::npos) << c.message;
}

TEST(Compose, CustomHeaders) {
  auto in = basic();
  in.headers = {
      {"X-Campaign", "spring"}, {"List-Unsubscribe", "<mailto:u@example.com>"}, {"X-Note", "café"}};
  auto c = ok(in);
  EXPECT_EQ(field(c.message, "X-Campaign"), "spring");
  EXPECT_EQ(field(c.message, "List-Unsubscribe"), "<mailto:u@example.com>");
  EXPECT_EQ(decode_words(field(c.message, "X-Note")), "café");
}

TEST(Compose, HeaderInjectionRefused) {
  const std::string evils[] = {"x\r\nBcc: victim@evil.test", "x\nX-Evil: 1", "x\rX-Evil: 1",
                               std::string("x\0y", 3)};
  for (const auto& evil : evils) {
    auto in = basic();
    in.subject = evil;
    EXPECT_NE(err(in).find("subject: "), std::string::npos);
    in = basic();
    in.from = "alice@example.com" + evil;
    EXPECT_NE(err(in).find("from: "), std::string::npos);
    in = basic();
    in.to = {"bob@example.org", "Bob " + evil + " <b@example.org>"};
    EXPECT_NE(err(in).find("to[1]: "), std::string::npos);
    in = basic();
    in.cc = {evil};
    EXPECT_NE(err(in).find("cc[0]: "), std::string::npos);
    in = basic();
    in.bcc = {"b@example.org" + evil};
    EXPECT_NE(err(in).find("bcc[0]: "), std::string::npos);
    in = basic();
    in.reply_to = evil;
    EXPECT_NE(err(in).find("replyTo: "), std::string::npos);
    in = basic();
    in.headers = {{"X-Ok", evil}};
    EXPECT_NE(err(in).find("headers: "), std::string::npos);
    in = basic();
    in.headers = {{"X-Ok" + evil, "v"}};
    EXPECT_NE(err(in).find("headers: "), std::string::npos);
    in = basic();
    in.attachments = {{"f" + evil + ".txt", "text/plain", "aGVsbG8="}};
    EXPECT_NE(err(in).find("attachments[0].filename: "), std::string::npos);
    in = basic();
    in.attachments = {{"f.txt", "text/plain" + evil, "aGVsbG8="}};
    EXPECT_NE(err(in).find("attachments[0].contentType: "), std::string::npos);
  }
}

TEST(Compose, OwnedAndInvalidHeaderNames) {
  for (const char* n : {"From", "to", "CC", "Bcc", "Date", "Message-Id", "MIME-Version",
                        "Content-Type", "content-transfer-encoding", "DKIM-Signature", "Received",
                        "X-IB-tracking-url", "x-ib-anything", "Subject", "Reply-To"}) {
    auto in = basic();
    in.headers = {{n, "v"}};
    EXPECT_NE(err(in).find("is set by Tern"), std::string::npos) << n;
  }
  for (const char* n : {"", "Bad Name", "Bad:Name", "Bäd", "X\x01"}) {
    auto in = basic();
    in.headers = {{n, "v"}};
    EXPECT_NE(err(in).find("invalid field name"), std::string::npos) << n;
  }
}

TEST(Compose, InvalidInputRefused) {
  auto in = basic();
  in.to.clear();
  EXPECT_EQ(err(in), "to: at least one recipient is required");
  in = basic();
  in.from = "";
  EXPECT_EQ(err(in), "from: is required");
  in = basic();
  in.from = "not an address";
  EXPECT_EQ(err(in), "from: invalid address");
  in = basic();
  in.to = {"bob@"};
  EXPECT_EQ(err(in), "to[0]: invalid address");
  in = basic();
  in.text.clear();
  EXPECT_EQ(err(in), "text: text or html is required");
  in = basic();
  in.attachments = {{"a.bin", "", "not base64!"}};
  EXPECT_EQ(err(in), "attachments[0].content: invalid base64");
  in = basic();
  in.attachments = {{"a.bin", "", "aGVsbG8"}};  // missing padding
  EXPECT_EQ(err(in), "attachments[0].content: invalid base64");
  in = basic();
  in.attachments = {{"a.bin", "nonsense", "aGVsbG8="}};
  EXPECT_EQ(err(in), "attachments[0].contentType: must be type/subtype");
  in = basic();
  in.attachments = {{"a.eml", "multipart/mixed", "aGVsbG8="}};
  EXPECT_NE(err(in).find("contentType"), std::string::npos);
  in = basic();
  in.attachments = {{std::string(256, 'a'), "", "aGVsbG8="}};
  EXPECT_EQ(err(in), "attachments[0].filename: too long");
}

TEST(Compose, Base64WithLineBreaksAccepted) {
  auto in = basic();
  in.attachments = {{"a.txt", "text/plain", "aGVs\r\nbG8=\n"}};
  auto c = ok(in);
  EXPECT_NE(c.message.find("aGVsbG8="), std::string::npos);
}

TEST(Compose, Limits) {
  auto in = basic();
  in.to.clear();
  for (int i = 0; i < 1001; ++i) in.to.push_back("r" + std::to_string(i) + "@example.org");
  EXPECT_EQ(err(in), "recipients: more than 1000");
  in.to.resize(1000);
  auto c = ok(in);
  EXPECT_EQ(c.recipients.size(), 1000u);
  expect_wellformed(c.message);

  in = basic();
  auto o = opts();
  o.max_bytes = 1000;
  in.text = std::string(2000, 'a');
  EXPECT_EQ(err(in, o), "message: too large");
  in.text = std::string(900, 'a');
  EXPECT_EQ(err(in, o), "message: too large");  // the composed message passes the limit
}

TEST(Compose, BoundariesDoNotOccurInContent) {
  auto in = basic();
  in.text = "--=_tern_\r\n--=_tern_0000\r\n";
  in.html = "<p>--=_tern_</p>";
  for (int i = 0; i < 20; ++i) {
    auto c = ok(in);
    std::string b = boundary_of(field(c.message, "Content-Type"));
    auto parts = parts_of(body_of(c.message), b);
    ASSERT_EQ(parts.size(), 2u);
    for (const auto& p : parts) EXPECT_EQ(p.find("--" + b), std::string::npos);
  }
}

TEST(Compose, RandomMessageIdWhenNoneGiven) {
  auto o = opts();
  o.id.clear();
  auto a = ok(basic(), o), b = ok(basic(), o);
  EXPECT_NE(a.message_id, b.message_id);
  EXPECT_NE(a.message_id.find("@mx.tern.test>"), std::string::npos);
}
