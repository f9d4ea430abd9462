// RFC 8463 Appendix A: the published example message, keys and signatures, reproduced byte for
// byte. Ed25519 and RSA PKCS#1 v1.5 signatures are deterministic, so the same key, message and
// DKIM-Signature text must give exactly the published b= values.
//
// Sources: A.2 (keys): Ed25519 secret key "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=" (the
// RFC 8032 §7.1 TEST 1 seed), public key "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="; the RSA
// key of selector "test" is data/rfc8463_rsa.pem (the same key ships with dkimpy, Debian package
// python3-dkim, as dkim/tests/data/test.private; its public key matches the A.2 DNS record).
// A.3 (signed message): the two DKIM-Signature fields below. The RFC text itself was not at hand
// while writing this; the message and signatures are as quoted identically by several
// independent DKIM implementations' test suites, and reproducing both signatures here is what
// confirms them (a wrong byte anywhere would change b=).
#include <string>
#include <vector>

#include "core/base64.hpp"
#include "dkim/signer.hpp"
#include "dkim_test_util.hpp"
#include "gtest/gtest.h"

namespace tern::dkim {
namespace {

const std::vector<std::string> kHeaders = {
    "From: Joe SixPack <joe@football.example.com>\r\n",
    "To: Suzie Q <suzie@shopping.example.net>\r\n",
    "Subject: Is dinner ready?\r\n",
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n",
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n",
};
const char kBody[] = "Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n\r\n";
const std::vector<std::string> kH = {"from",       "to",   "subject", "date",
                                     "message-id", "from", "subject", "date"};

const char kEd25519Field[] =
    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
    " subject : date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=";
const char kEd25519B[] =
    "/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11BusFa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==";

const char kRsaField[] =
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n"
    " date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=";
const char kRsaB[] =
    "F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mP"
    "YQTnGdaSGsgeefOsk2JzdA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=";

// PKCS#8 DER of an Ed25519 key is a fixed 16-byte prefix and the 32-byte seed (RFC 8410 §7).
std::string ed25519_pem_from_seed(const std::string& seed_b64) {
  const auto seed = core::base64_decode(seed_b64);
  EXPECT_TRUE(seed && seed->size() == 32);
  const std::string prefix("\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x70\x04\x22\x04\x20", 16);
  return "-----BEGIN PRIVATE KEY-----\n" + core::base64_encode(prefix + *seed) +
         "\n-----END PRIVATE KEY-----\n";
}

TEST(Rfc8463, BodyHash) {
  BodyHasher h;
  h.update(kBody);
  EXPECT_EQ(h.finish_b64(), "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=");
}

TEST(Rfc8463, Ed25519KeyAndSignature) {
  const auto key =
      PrivateKey::from_pem(ed25519_pem_from_seed("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="));
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(key->algorithm(), Algorithm::ed25519_sha256);
  EXPECT_EQ(key->public_key_b64(), "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
  EXPECT_EQ(dns_record(*key), "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");

  const std::string data = signing_input(kHeaders, kH, kEd25519Field);
  // The over-signed names (the second from, subject, date) select nothing.
  EXPECT_EQ(data,
            "from:Joe SixPack <joe@football.example.com>\r\n"
            "to:Suzie Q <suzie@shopping.example.net>\r\n"
            "subject:Is dinner ready?\r\n"
            "date:Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
            "message-id:<20030712040037.46341.5F8J@football.example.com>\r\n"
            "dkim-signature:v=1; a=ed25519-sha256; c=relaxed/relaxed; d=football.example.com; "
            "i=@football.example.com; q=dns/txt; s=brisbane; t=1528637909; h=from : to : subject "
            ": date : message-id : from : subject : date; "
            "bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=");
  EXPECT_EQ(core::base64_encode(key->sign(data)), kEd25519B);
  // And the published signature verifies with the published public key (independent check of
  // the test verifier).
  EXPECT_TRUE(test::verify_bytes(*key, data, *core::base64_decode(kEd25519B)));
}

TEST(Rfc8463, RsaSignature) {
  const auto key = PrivateKey::from_pem(test::read_data("rfc8463_rsa.pem"));
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(key->algorithm(), Algorithm::rsa_sha256);
  EXPECT_EQ(
      key->public_key_b64(),
      "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQ"
      "iY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9Pzox"
      "ZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB");
  const std::string data = signing_input(kHeaders, kH, kRsaField);
  EXPECT_EQ(core::base64_encode(key->sign(data)), kRsaB);
}

// A single changed byte in the signed data changes the signature (the vectors above are not
// passing by accident).
TEST(Rfc8463, OneByteChangesTheSignature) {
  const auto key =
      PrivateKey::from_pem(ed25519_pem_from_seed("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="));
  ASSERT_NE(key, nullptr);
  auto headers = kHeaders;
  headers[2] = "Subject: Is dinner ready!\r\n";
  EXPECT_NE(core::base64_encode(key->sign(signing_input(headers, kH, kEd25519Field))), kEd25519B);
}

}  // namespace
}  // namespace tern::dkim
