#include "store/secrets.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <string_view>

// Generated passwords end up on command lines (swaks -ap ..., curl -u) and in client settings:
// they must never start with '-' or contain characters that need quoting.
TEST(Secrets, PasswordsAreAlphanumericOfFullLength) {
  for (int i = 0; i < 2000; ++i) {
    const std::string p = tern::store::secrets::random_password();
    ASSERT_EQ(p.size(), tern::store::secrets::kPasswordChars);
    for (char c : p) ASSERT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << p;
  }
}
TEST(Secrets, Base32MatchesRfc4648) {
  // RFC 4648 §10 test vectors, lower case and without padding.
  auto b32 = [](std::string_view s) {
    return tern::store::secrets::base32_lower(reinterpret_cast<const unsigned char*>(s.data()),
                                              s.size());
  };
  EXPECT_EQ(b32(""), "");
  EXPECT_EQ(b32("f"), "my");
  EXPECT_EQ(b32("fo"), "mzxq");
  EXPECT_EQ(b32("foo"), "mzxw6");
  EXPECT_EQ(b32("foob"), "mzxw6yq");
  EXPECT_EQ(b32("fooba"), "mzxw6ytb");
  EXPECT_EQ(b32("foobar"), "mzxw6ytboi");
  EXPECT_EQ(tern::store::secrets::sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
