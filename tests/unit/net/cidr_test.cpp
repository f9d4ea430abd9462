#include "net/cidr.hpp"

#include <gtest/gtest.h>

#include "net/smtp_server.hpp"

using tern::net::Cidr;

TEST(Cidr, V4) {
  auto c = Cidr::parse("127.0.0.0/8");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->contains("127.0.0.1"));
  EXPECT_TRUE(c->contains("127.255.1.2"));
  EXPECT_FALSE(c->contains("128.0.0.1"));
  EXPECT_FALSE(c->contains("::1"));
  EXPECT_TRUE(c->contains("::ffff:127.0.0.9"));  // v4-mapped form of the same address
  EXPECT_FALSE(c->contains("not an ip"));
}

TEST(Cidr, V6AndHost) {
  auto c = Cidr::parse("2001:db8::/32");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->contains("2001:db8:1::5"));
  EXPECT_FALSE(c->contains("2001:db9::5"));
  auto h = Cidr::parse("10.1.2.3");
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->contains("10.1.2.3"));
  EXPECT_FALSE(h->contains("10.1.2.4"));
}

TEST(Cidr, RejectsBad) {
  for (const char* s :
       {"", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0/8", "::1/129", "x/8", "10.0.0.0/8x"})
    EXPECT_FALSE(Cidr::parse(s)) << s;
}

TEST(SplitHostPort, Forms) {
  EXPECT_EQ(tern::net::split_host_port("127.0.0.1:2525"),
            (std::pair<std::string, uint16_t>{"127.0.0.1", 2525}));
  EXPECT_EQ(tern::net::split_host_port("[::1]:25"), (std::pair<std::string, uint16_t>{"::1", 25}));
  EXPECT_EQ(tern::net::split_host_port(":25").first, "0.0.0.0");
  EXPECT_THROW(tern::net::split_host_port("localhost"), std::invalid_argument);
  EXPECT_THROW(tern::net::split_host_port("1.2.3.4:99999"), std::invalid_argument);
  EXPECT_THROW(tern::net::split_host_port("1.2.3.4:2x"), std::invalid_argument);
}
