#include "store/secrets.hpp"

#include <gtest/gtest.h>

#include <cctype>

// Generated passwords end up on command lines (swaks -ap ..., curl -u) and in client settings:
// they must never start with '-' or contain characters that need quoting.
TEST(Secrets, PasswordsAreAlphanumericOfFullLength) {
  for (int i = 0; i < 2000; ++i) {
    const std::string p = tern::store::secrets::random_password();
    ASSERT_EQ(p.size(), tern::store::secrets::kPasswordChars);
    for (char c : p) ASSERT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << p;
  }
}
