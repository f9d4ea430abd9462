#include "tracking/token.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include <cctype>

namespace tern::tracking {
namespace {

const std::string kSecret = "0123456789abcdef0123456789abcdef";

TokenFields click() {
  return {TokenKind::click, "Q1234ABCD", 3, 7, "https://example.com/a?b=1&c=2#x", {}};
}

TEST(Token, RoundTripsClickAndOpen) {
  auto t = sign_token(click(), kSecret);
  ASSERT_TRUE(t) << t.error().message;
  auto v = verify_token(*t, kSecret);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(*v, click());

  TokenFields open{TokenKind::open, "Q1", 0xFFFFFFFF, 0, {}, {}};
  auto to = sign_token(open, kSecret);
  ASSERT_TRUE(to);
  auto vo = verify_token(*to, kSecret);
  ASSERT_TRUE(vo);
  EXPECT_EQ(*vo, open);
}

TEST(Token, IsUrlSafeAndCompact) {
  TokenFields open{TokenKind::open, "Q1234ABCD", 1, 0, {}, {}};
  auto t = sign_token(open, kSecret);
  ASSERT_TRUE(t);
  for (char c : *t)
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << c;
  // 11 fixed + 9 id + 16 tag = 36 bytes → 48 characters.
  EXPECT_EQ(t->size(), 48u);
}

TEST(Token, EveryAlteredCharacterFails) {
  auto t = sign_token(click(), kSecret);
  ASSERT_TRUE(t);
  const std::string alphabet = "AQgw-_09az";
  for (size_t i = 0; i < t->size(); ++i) {
    for (char c : alphabet) {
      if ((*t)[i] == c) continue;
      std::string bad = *t;
      bad[i] = c;
      auto v = verify_token(bad, kSecret);
      // Changing the last character may only touch unused low bits of the final sextet,
      // which the decoder rejects as non-canonical; either way it must not verify to
      // different fields.
      if (v) {
        EXPECT_EQ(*v, click()) << "position " << i;
        ADD_FAILURE() << "altered token verified at position " << i;
      }
    }
  }
}

TEST(Token, WrongSecretTruncatedExtendedAndGarbageFail) {
  auto t = sign_token(click(), kSecret);
  ASSERT_TRUE(t);
  EXPECT_FALSE(verify_token(*t, "another-secret-of-32-bytes-long!"));
  EXPECT_FALSE(verify_token(t->substr(0, t->size() - 1), kSecret));
  EXPECT_FALSE(verify_token(t->substr(0, t->size() - 4), kSecret));
  EXPECT_FALSE(verify_token(*t + "A", kSecret));
  EXPECT_FALSE(verify_token(*t + "AAAA", kSecret));
  EXPECT_FALSE(verify_token("", kSecret));
  EXPECT_FALSE(verify_token("!!!!", kSecret));
  EXPECT_FALSE(verify_token(std::string(100000, 'A'), kSecret));
  EXPECT_FALSE(verify_token(std::string("AAAA\0AAAA", 9), kSecret));
  EXPECT_FALSE(verify_token("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", kSecret));
}

TEST(Token, ForgedUrlSwapFails) {
  // Same fields, different URL: a token for one destination never opens another.
  auto a = sign_token(click(), kSecret);
  auto other = click();
  other.url = "https://evil.example/";
  auto b = sign_token(other, kSecret);
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  // Splice a's tag onto b's payload: must fail.
  std::string spliced = b->substr(0, b->size() - 22) + a->substr(a->size() - 22);
  EXPECT_FALSE(verify_token(spliced, kSecret));
}

TEST(Token, SignRefusesBadFields) {
  EXPECT_FALSE(sign_token(click(), "short"));
  EXPECT_FALSE(verify_token("AAAA", "short"));
  auto f = click();
  f.message_id.clear();
  EXPECT_FALSE(sign_token(f, kSecret));
  f = click();
  f.message_id = std::string(256, 'x');
  EXPECT_FALSE(sign_token(f, kSecret));
  f = click();
  f.url.clear();
  EXPECT_FALSE(sign_token(f, kSecret));
  TokenFields open{TokenKind::open, "Q1", 0, 0, "https://x/", {}};
  EXPECT_FALSE(sign_token(open, kSecret));
  f = click();
  f.url = "https://x/" + std::string(kMaxTokenUrlBytes, 'a');
  EXPECT_FALSE(sign_token(f, kSecret));
}

TEST(Token, MaxSizedFieldsRoundTrip) {
  TokenFields f{TokenKind::click,
                std::string(255, 'M'),
                42,
                99,
                "https://x/" + std::string(kMaxTokenUrlBytes - 10, 'u'),
                {}};
  auto t = sign_token(f, kSecret);
  ASSERT_TRUE(t) << t.error().message;
  auto v = verify_token(*t, kSecret);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(*v, f);
}

// Version 2 (issue 14.15): the event's context rides in the token, under the MAC.
TEST(Token, ContextRoundTripsAndIsAuthenticated) {
  TokenFields f = click();
  f.context = TokenContext{42, "bob@dest.test", "bulk-1", "https://hooks.example/t", "cb \xc3\xa9"};
  auto t = sign_token(f, kSecret);
  ASSERT_TRUE(t) << t.error().message;
  auto v = verify_token(*t, kSecret);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(*v, f);
  // Sealed: the recipient holding the link cannot read the callback data or the tracking URL.
  std::string raw(t->size(), '\0');
  size_t len = 0;
  ASSERT_EQ(sodium_base642bin(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), t->data(),
                              t->size(), nullptr, &len, nullptr,
                              sodium_base64_VARIANT_URLSAFE_NO_PADDING),
            0);
  raw.resize(len);
  EXPECT_EQ(raw.find("hooks.example"), std::string::npos);
  EXPECT_EQ(raw.find("bulk-1"), std::string::npos);
  EXPECT_EQ(raw.find("bob@dest.test"), std::string::npos);
  // Another secret neither verifies nor opens it.
  EXPECT_FALSE(verify_token(*t, "another-secret-0123456789abcdef"));
  for (size_t i = 0; i < t->size(); ++i) {
    std::string bad = *t;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(verify_token(bad, kSecret)) << i;
  }
  // Version 1 tokens (mail already sent) still verify, without a context.
  auto v1 = verify_token(sign_token(click(), kSecret).value(), kSecret);
  ASSERT_TRUE(v1);
  EXPECT_FALSE(v1->context.has_value());
  // Open tokens carry it too; an empty context is still a context.
  TokenFields open{TokenKind::open, "Q1", 0, 0, {}, TokenContext{}};
  auto vo = verify_token(sign_token(open, kSecret).value(), kSecret);
  ASSERT_TRUE(vo);
  EXPECT_EQ(*vo, open);
}

TEST(Token, OversizedContextRefused) {
  TokenFields f = click();
  f.context = TokenContext{1, "a@b", "", "https://h/", std::string(kMaxContextBytes, 'c')};
  EXPECT_FALSE(context_fits(*f.context));
  EXPECT_FALSE(sign_token(f, kSecret));
  f.context->callback_data.resize(kMaxContextBytes - 13);
  EXPECT_TRUE(context_fits(*f.context));
  auto v = verify_token(sign_token(f, kSecret).value(), kSecret);
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, f);
}

}  // namespace
}  // namespace tern::tracking
