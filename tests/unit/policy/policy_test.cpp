#include <gtest/gtest.h>

#include "message/header.hpp"
#include "policy/header_rules.hpp"
#include "policy/options.hpp"
#include "policy/sender.hpp"

using namespace tern::policy;

namespace {
AccountContext ctx() {
  AccountContext c;
  c.domains = {"example.com"};
  c.senders = {"Alice@other.org"};
  c.platform_domains = {"platform.net"};
  return c;
}
std::vector<tern::message::HeaderField> fields(const std::string& t) {
  return tern::message::parse_header_section(t).fields;
}
}  // namespace

TEST(Sender, Rules) {
  auto c = ctx();
  EXPECT_TRUE(authorize_sender(c, "x@example.com").ok());
  EXPECT_TRUE(authorize_sender(c, "x@EXAMPLE.com").ok());
  EXPECT_TRUE(authorize_sender(c, "y@platform.net").ok());
  EXPECT_TRUE(authorize_sender(c, "Alice@OTHER.org").ok());
  EXPECT_EQ(authorize_sender(c, "alice@other.org").line(),
            "550 5.7.1 Sender not authorized: <alice@other.org>");
  EXPECT_FALSE(authorize_sender(c, "x@sub.example.com").ok());
  EXPECT_FALSE(authorize_sender(c, "x@example.com.evil.net").ok());
  EXPECT_EQ(authorize_sender(c, "").line(), "550 5.7.1 Sender not authorized: <>");
  EXPECT_FALSE(authorize_sender(c, "example.com").ok());
  EXPECT_FALSE(authorize_sender(AccountContext{}, "x@example.com").ok());
}

TEST(HeaderRules, From) {
  auto c = ctx();
  std::string hf;
  EXPECT_TRUE(check_from(c, fields("From: A <a@Example.com>\r\n"), hf).ok());
  EXPECT_EQ(hf, "a@example.com");
  EXPECT_EQ(check_from(c, fields("To: a@example.com\r\n"), hf).code, 550);
  EXPECT_EQ(check_from(c, fields("From: a@example.com\r\nfrom: a@example.com\r\n"), hf).enhanced,
            "5.6.0");
  EXPECT_EQ(check_from(c, fields("From: a@example.com, e@evil.com\r\n"), hf).line(),
            "550 5.7.1 Sender not authorized: <e@evil.com>");
  EXPECT_EQ(check_from(c, fields("From: undisclosed:;\r\n"), hf).enhanced, "5.6.0");
  EXPECT_EQ(check_from(c, fields("From: garbage\r\n"), hf).enhanced, "5.6.0");
}

TEST(HeaderRules, Recipients) {
  std::vector<std::string> rcpts{"b@x.org", "c@y.org"};
  EXPECT_TRUE(check_header_recipients(fields("To: B <B@X.org>\r\nCc: c@y.org\r\n"), rcpts).ok());
  EXPECT_TRUE(check_header_recipients(fields("To: undisclosed-recipients:;\r\n"), rcpts).ok());
  EXPECT_EQ(check_header_recipients(fields("To: b@x.org\r\nCc: d@z.org\r\n"), rcpts).line(),
            "550 5.7.1 Recipient <d@z.org> in To/Cc header is not among RCPT TO recipients");
  EXPECT_EQ(check_header_recipients(fields("Cc: <<bad\r\n"), rcpts).enhanced, "5.6.0");
  EXPECT_TRUE(check_header_recipients(fields("Bcc: hidden@z.org\r\n"), rcpts).ok());
}

TEST(Options, ParseAndValidate) {
  MessageOptions o;
  std::set<std::string> seen;
  EXPECT_TRUE(apply_option(o, seen, "x-ib-notify-url", "HTTPS://h.example/cb?x=1").ok());
  EXPECT_EQ(o.notify_url, "HTTPS://h.example/cb?x=1");
  EXPECT_EQ(apply_option(o, seen, "X-IB-notify-url", "https://h.example/2").line(),
            "550 5.6.0 Invalid X-IB-notify-url header: must appear at most once");
  for (const char* bad : {"ftp://h/x", "https://", "http:///path", "https://h x",
                          "javascript:alert(1)", "h.example"}) {
    std::set<std::string> s2;
    EXPECT_EQ(apply_option(o, s2, "X-IB-tracking-url", bad).line(),
              "550 5.6.0 Invalid X-IB-tracking-url header: must be an http(s) URL")
        << bad;
  }
  EXPECT_TRUE(apply_option(o, seen, "X-IB-intermediate-report", "true").ok());
  EXPECT_TRUE(o.intermediate_report);
  EXPECT_TRUE(apply_option(o, seen, "X-IB-notify-content-type", "Application/XML").ok());
  EXPECT_EQ(o.notify_content_type, "application/xml");
  EXPECT_TRUE(apply_option(o, seen, "X-IB-bulk-id", "b1").ok());
  EXPECT_FALSE(apply_option(o, seen, "X-IB-callback-data", std::string("a\x01", 2)).ok());
  EXPECT_TRUE(apply_option(o, seen, "X-IB-whatever", "ignored").ok());
  EXPECT_TRUE(is_option_header("x-ib-anything"));
  EXPECT_FALSE(is_option_header("X-IBM"));
  std::set<std::string> s3;
  EXPECT_FALSE(apply_option(o, s3, "X-IB-bulk-id", "").ok());
}

// Issue 14.1: a Latin-1 value (M\xfcller) reached the JSON dump, which threw and ended the
// SMTP session without a reply. It is refused, naming the header; valid UTF-8 passes.
TEST(Options, RejectsInvalidUtf8NamingTheHeader) {
  for (const char* name :
       {"X-IB-callback-data", "X-IB-bulk-id", "X-IB-notify-url", "X-IB-tracking-url"}) {
    const bool url = std::string_view(name).find("url") != std::string_view::npos;
    for (std::string bad : {std::string("M\xfcller"), std::string("a\xc3"), std::string("\xc0\xaf"),
                            std::string("\xed\xa0\x80"), std::string("\xf4\x90\x80\x80")}) {
      MessageOptions o;
      std::set<std::string> seen;
      const std::string v = url ? "https://h.example/" + bad : bad;
      EXPECT_EQ(apply_option(o, seen, name, v).line(),
                std::string("550 5.6.0 Invalid ") + name + " header: must be valid UTF-8")
          << name;
    }
  }
  MessageOptions o;
  std::set<std::string> seen;
  EXPECT_TRUE(apply_option(o, seen, "X-IB-callback-data", "M\xc3\xbcller \xf0\x9f\x93\xa8").ok());
  EXPECT_EQ(o.callback_data, "M\xc3\xbcller \xf0\x9f\x93\xa8");
  EXPECT_NE(to_json(o).find("M\xc3\xbcller"), std::string::npos);
}

TEST(Options, ToJsonNeverThrows) {
  MessageOptions o;
  o.callback_data = "M\xfcller";  // not through apply_option
  std::string j;
  EXPECT_NO_THROW(j = to_json(o));
  EXPECT_EQ(options_from_json(j).callback_data, "M\xef\xbf\xbdller");
}
