// Webhook signatures: known HMAC-SHA256 vectors computed independently with the openssl CLI,
// header format, verification round trip, constant-time path verdicts for a wrong secret, a
// changed body, stale and future timestamps, several v1 values (rotation), and hostile or
// malformed headers, each refused with a clear error.
#include "report/signature.hpp"

#include <gtest/gtest.h>

using namespace tern::report;

namespace {

const std::string kSecret = "whsec_test_secret";
const std::string kBody = R"({"results":[]})";
constexpr int64_t kT = 1700000000;
// printf '%s' '1700000000.{"results":[]}' | openssl dgst -sha256 -hmac 'whsec_test_secret'
const std::string kMac = "68efa0c4117826a305725880f4ae8dfebdff1ed8332808ed351f7528ac0769ce";

}  // namespace

TEST(Signature, KnownVectors) {
  EXPECT_EQ(sign(kSecret, kT, kBody).value(), kMac);
  // printf '%s' '0.' | openssl dgst -sha256 -hmac 'k'
  EXPECT_EQ(sign("k", 0, "").value(),
            "6b4a4b8b3c40f1e8f53a3d36682e5f99f7ad2ac1df1c93dfe336f329167641e7");
  // printf '1700000000.a\0b' | openssl dgst -sha256 -hmac 'k'   (a NUL inside the body)
  EXPECT_EQ(sign("k", kT, std::string("a\0b", 3)).value(),
            "583adf9d2536470d15404a5d2314df02359b9530b8af8a6a597891f2120d191d");
}

TEST(Signature, HeaderFormat) {
  EXPECT_EQ(signature_header(kSecret, kT, kBody).value(), "t=1700000000,v1=" + kMac);
}

TEST(Signature, EmptySecretOrNegativeTimeRefused) {
  EXPECT_FALSE(sign("", kT, kBody).ok());
  EXPECT_FALSE(signature_header("", kT, kBody).ok());
  EXPECT_FALSE(sign(kSecret, -1, kBody).ok());
  EXPECT_FALSE(sign(std::string(4097, 'k'), kT, kBody).ok());
  EXPECT_TRUE(sign(std::string(4096, 'k'), kT, kBody).ok());
  EXPECT_FALSE(verify("t=1700000000,v1=" + kMac, "", kBody, kT).ok());
}

TEST(Signature, VerifyRoundTrip) {
  std::string h = signature_header(kSecret, kT, kBody).value();
  EXPECT_TRUE(verify(h, kSecret, kBody, kT).ok());
  EXPECT_TRUE(verify(h, kSecret, kBody, kT + 300).ok());  // edge of the window
  EXPECT_TRUE(verify(h, kSecret, kBody, kT - 300).ok());
  // Upper-case hex and spaces after commas are accepted.
  std::string upper = kMac;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE(verify("t=1700000000, v1=" + upper, kSecret, kBody, kT).ok());
}

TEST(Signature, VerifyRefusesMismatch) {
  std::string h = signature_header(kSecret, kT, kBody).value();
  auto wrong_secret = verify(h, "other", kBody, kT);
  ASSERT_FALSE(wrong_secret.ok());
  EXPECT_EQ(wrong_secret.error().message, "signature does not match");
  EXPECT_FALSE(verify(h, kSecret, kBody + " ", kT).ok());
  EXPECT_FALSE(verify(h, kSecret, R"({"results":[1]})", kT).ok());
  // The timestamp is covered: moving it breaks the signature even inside the window.
  EXPECT_FALSE(verify("t=1700000001,v1=" + kMac, kSecret, kBody, kT).ok());
  std::string flipped = kMac;
  flipped[63] = flipped[63] == '0' ? '1' : '0';
  EXPECT_FALSE(verify("t=1700000000,v1=" + flipped, kSecret, kBody, kT).ok());
}

TEST(Signature, VerifyRefusesOutsideWindow) {
  std::string h = signature_header(kSecret, kT, kBody).value();
  auto stale = verify(h, kSecret, kBody, kT + 301);
  ASSERT_FALSE(stale.ok());
  EXPECT_NE(stale.error().message.find("tolerance"), std::string::npos);
  EXPECT_FALSE(verify(h, kSecret, kBody, kT - 301).ok());  // from the future
  EXPECT_TRUE(verify(h, kSecret, kBody, kT + 3600, 3600).ok());
  EXPECT_FALSE(verify(h, kSecret, kBody, kT, -1).ok());
  // Extreme clocks and windows neither overflow nor wrap into acceptance.
  EXPECT_FALSE(verify(h, kSecret, kBody, INT64_MIN, 300).ok());
  EXPECT_FALSE(verify(h, kSecret, kBody, INT64_MAX, 300).ok());
  EXPECT_FALSE(verify(h, kSecret, kBody, INT64_MIN, INT64_MAX).ok());  // skew > INT64_MAX
  EXPECT_TRUE(verify(h, kSecret, kBody, 0, INT64_MAX).ok());
  EXPECT_TRUE(verify(h, kSecret, kBody, INT64_MAX, INT64_MAX).ok());
}

TEST(Signature, SeveralV1AnyMatches) {
  std::string other(64, 'a');
  EXPECT_TRUE(verify("t=1700000000,v1=" + other + ",v1=" + kMac, kSecret, kBody, kT).ok());
  EXPECT_TRUE(verify("t=1700000000,v0=xyz,v1=" + kMac, kSecret, kBody, kT).ok());  // unknown key
  EXPECT_FALSE(verify("t=1700000000,v1=" + other, kSecret, kBody, kT).ok());
}

TEST(Signature, MalformedHeadersRefused) {
  const std::string v1 = ",v1=" + kMac;
  const std::vector<std::string> bad = {
      "",
      "garbage",
      "v1=" + kMac,                      // no timestamp
      "t=1700000000",                    // no signature
      "t=1700000000,t=1700000000" + v1,  // repeated t
      "t=-1700000000" + v1,              // sign
      "t=+1700000000" + v1,
      "t=17e8" + v1,
      "t=" + v1,
      "t=99999999999999999999999" + v1,               // overflow
      "t=1700000000,v1=" + kMac.substr(0, 63),        // short
      "t=1700000000,v1=" + kMac + "0",                // long
      "t=1700000000,v1=" + kMac.substr(0, 63) + "g",  // not hex
      "t=1700000000" + v1 + ",",                      // trailing empty item
      "t=1700000000,," + kMac,
      "=1700000000" + v1,
      "t=1700000000" + v1 + "," + std::string(5000, 'x'),
  };
  for (const std::string& h : bad) {
    auto r = verify(h, kSecret, kBody, kT);
    EXPECT_FALSE(r.ok()) << h;
    if (!r.ok()) {
      EXPECT_FALSE(r.error().message.empty());
    }
  }
}

// Issue 14: secret rotation. During the grace period both secrets sign (new first), as Stripe
// sends several v1; a receiver holding either secret verifies the same header.
TEST(Signature, RotationSignsWithBothSecretsInTheWindow) {
  const std::string next = "whsec_the_new_secret";
  auto header = signature_header(std::vector<std::string>{next, kSecret}, kT, kBody);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header.value(), "t=1700000000,v1=" + sign(next, kT, kBody).value() + ",v1=" + kMac);
  EXPECT_TRUE(verify(header.value(), next, kBody, kT).ok());
  EXPECT_TRUE(verify(header.value(), kSecret, kBody, kT).ok());
  EXPECT_FALSE(verify(header.value(), "whsec_a_third_secret", kBody, kT).ok());
  EXPECT_FALSE(signature_header(std::vector<std::string>{}, kT, kBody).ok());
  EXPECT_FALSE(signature_header(std::vector<std::string>{next, ""}, kT, kBody).ok());
}

TEST(Signature, SigningSecretsFollowTheWindow) {
  using V = std::vector<std::string>;
  const int64_t changed = 1'000'000, grace = 86'400'000;
  EXPECT_EQ(signing_secrets("new", "old", changed, changed, grace), (V{"new", "old"}));
  EXPECT_EQ(signing_secrets("new", "old", changed, changed + grace - 1, grace), (V{"new", "old"}));
  EXPECT_EQ(signing_secrets("new", "old", changed, changed + grace, grace), (V{"new"}));
  EXPECT_EQ(signing_secrets("new", "old", changed, changed - 5000, grace), (V{"new", "old"}));
  EXPECT_EQ(signing_secrets("new", "old", changed, changed, 0), (V{"new"}));   // no grace
  EXPECT_EQ(signing_secrets("new", "", changed, changed, grace), (V{"new"}));  // first secret
  EXPECT_EQ(signing_secrets("same", "same", changed, changed, grace), (V{"same"}));
  EXPECT_EQ(signing_secrets("", "old", changed, changed, grace), V{});      // removed: unsigned
  EXPECT_EQ(signing_secrets("new", "old", 0, changed, grace), (V{"new"}));  // no change time
}
