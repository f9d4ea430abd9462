#include "message/address_list.hpp"

#include <gtest/gtest.h>

#include "message/date.hpp"
#include "message/header.hpp"

using namespace tern::message;

namespace {
std::vector<std::string> addrs(std::string_view v) {
  auto l = parse_address_list(v);
  EXPECT_TRUE(l) << v;
  std::vector<std::string> out;
  if (l)
    for (auto& nm : *l) out.push_back(nm.mailbox.str());
  return out;
}
}  // namespace

TEST(AddressList, Forms) {
  using V = std::vector<std::string>;
  EXPECT_EQ(addrs("a@b.c"), V{"a@b.c"});
  EXPECT_EQ(addrs("John Doe <John@Example.COM>"), V{"John@example.com"});
  EXPECT_EQ(addrs("\"Doe, John\" <j@x.org>, k@y.org"), (V{"j@x.org", "k@y.org"}));
  EXPECT_EQ(addrs("j@x.org (John (the) Doe), <k@y.org>"), (V{"j@x.org", "k@y.org"}));
  EXPECT_EQ(addrs("undisclosed-recipients:;"), V{});
  EXPECT_EQ(addrs("team: a@x.org, B <b@x.org>;, c@y.org"), (V{"a@x.org", "b@x.org", "c@y.org"}));
  EXPECT_EQ(addrs("\"quoted local\"@x.org"), V{"\"quoted local\"@x.org"});
  EXPECT_EQ(addrs("a@[192.0.2.1]"), V{"a@[192.0.2.1]"});
  EXPECT_EQ(addrs("<@route.x:a@b.c>"), V{"a@b.c"});
  EXPECT_EQ(addrs("a@b.c,,d@e.f,"), (V{"a@b.c", "d@e.f"}));
  EXPECT_EQ(addrs("Dr. J. Smith <j@x.org>"), V{"j@x.org"});
  EXPECT_EQ(addrs("p\xc3\xa9@exemple.fr"), V{"p\xc3\xa9@exemple.fr"});
  auto l = parse_address_list("\"Doe, \\\"J\\\"\" <j@x.org>");
  ASSERT_TRUE(l);
  EXPECT_EQ((*l)[0].display_name, "Doe, \"J\"");
}

TEST(AddressList, Hostile) {
  for (const char* bad : {"John Doe", "<a@b.c", "a@b.c>", "\"unterminated <a@b.c>", "(open a@b.c",
                          "a@", "@b.c", "a..b@c.d", "a@b..c", "g1: g2: a@b.c;;", "a@b.c d@e.f",
                          "<a@b.c> <d@e.f>", "a@b.c\x01", "x: a@b.c", "[1.2.3.4]"})
    EXPECT_FALSE(parse_address_list(bad)) << bad;
  std::string deep(100000, '(');
  EXPECT_FALSE(parse_address_list(deep + "a@b.c"));
}

TEST(Header, ParseUnfoldAndEnd) {
  std::string t = "From: a@b.c\r\nSubject: one\r\n two\r\nX-Y : z\r\n\r\nbody\r\n";
  auto hs = parse_header_section(t);
  ASSERT_EQ(hs.fields.size(), 3u);
  EXPECT_TRUE(hs.complete);
  EXPECT_EQ(hs.fields[1].value(), "one two");
  EXPECT_EQ(hs.fields[2].name, "X-Y");
  EXPECT_EQ(t.substr(hs.body_offset), "\r\nbody\r\n");
  EXPECT_EQ(find_header_end(t), t.find("\r\n\r\n") + 2);
  EXPECT_EQ(find_header_end("\r\nbody"), 0u);
  EXPECT_EQ(find_header_end("a: b\r\n"), std::string::npos);
  std::string concat;
  for (auto& f : hs.fields) concat += f.raw;
  EXPECT_EQ(concat, t.substr(0, hs.body_offset));
  // A line that is not a field ends the section.
  auto nb = parse_header_section("A: 1\r\nnot a header\r\nB: 2\r\n");
  EXPECT_EQ(nb.fields.size(), 1u);
  EXPECT_EQ(nb.body_offset, 6u);
  EXPECT_EQ(parse_header_section(" leading continuation\r\n").fields.size(), 0u);
}

TEST(Date, Rfc5322) {
  EXPECT_EQ(rfc5322_date(1700000000), "Tue, 14 Nov 2023 22:13:20 +0000");
  EXPECT_EQ(rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
  EXPECT_EQ(rfc5322_date(951782400), "Tue, 29 Feb 2000 00:00:00 +0000");
}
