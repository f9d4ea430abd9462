#include "core/address.hpp"

#include <gtest/gtest.h>

#include "core/base64.hpp"
#include "core/ids.hpp"

using namespace tern::core;

TEST(Address, ParsesAndLowersDomain) {
  auto m = parse_mailbox("John.Doe@Example.COM");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->local, "John.Doe");
  EXPECT_EQ(m->domain, "example.com");
}

TEST(Address, RejectsHostile) {
  for (const char* s : {"", "@x.com", "a@", "a b@x.com", "a@x..com", ".a@x.com", "a..b@x.com",
                        "a@-x.com", "a@x-.com", "a@x.com\r\nRCPT TO:<b@y>", "a@x,com"})
    EXPECT_FALSE(parse_mailbox(s)) << s;
  EXPECT_FALSE(parse_mailbox(std::string("a\0b@x.com", 9)));
  EXPECT_FALSE(parse_mailbox(std::string(65, 'a') + "@x.com"));
}

TEST(Address, QuotedLocalAndLiteral) {
  EXPECT_TRUE(parse_mailbox("\"a b\"@x.com"));
  EXPECT_TRUE(parse_mailbox("a@[127.0.0.1]"));
  EXPECT_TRUE(parse_mailbox("pel\xc3\xa9@exemple.fr"));
}

TEST(Base64, StrictDecode) {
  EXPECT_EQ(*base64_decode("AHVzZXIAcGFzcw=="), std::string("\0user\0pass", 10));
  EXPECT_FALSE(base64_decode("AHVzZXIAcGFzcw"));    // missing padding
  EXPECT_FALSE(base64_decode("AHVz!XIAcGFzcw=="));  // bad character
  EXPECT_FALSE(base64_decode("AHVzZXIAcGFzcw== "));
  EXPECT_EQ(base64_encode("Username:"), "VXNlcm5hbWU6");
}

TEST(Ids, QueueIdsAreUniqueAndSortable) {
  auto a = new_queue_id(), b = new_queue_id();
  EXPECT_EQ(a.size(), 20u);
  EXPECT_NE(a, b);
  EXPECT_LE(a.substr(0, 9), b.substr(0, 9));
}
