#include "pipeline/message_signer.hpp"

#include <gtest/gtest.h>

#include "dkim/signer.hpp"

using namespace tern;

namespace {

const std::string kHeaders =
    "Received: from c (127.0.0.1) by mx.test (Tern) with ESMTPSA id X; Tue, 1 Jan 2030 00:00:00 "
    "+0000\r\n"
    "From: \"Alice\" <alice@Example.COM>\r\n"
    "To: bob@dest.test\r\n"
    "Subject: hello\r\n"
    "Date: Tue, 1 Jan 2030 00:00:00 +0000\r\n"
    "Message-ID: <1@example.com>\r\n";
const std::string kBody = "Hi Bob,  \r\n\r\nthis  is\ta test.\r\n\r\n\r\n";

std::shared_ptr<const dkim::PrivateKey> key() {
  static auto k = dkim::PrivateKey::generate(dkim::Algorithm::ed25519_sha256);
  return k;
}

// The session's first piece is the header section plus the empty line plus some body.
std::string sign_split(size_t first_body_bytes, size_t piece, bool with_keys) {
  pipeline::MessageSigner s;
  std::string first = kHeaders + "\r\n" + kBody.substr(0, first_body_bytes);
  s.add(first);
  EXPECT_EQ(s.from_domain(), "example.com");
  std::vector<pipeline::SignerKey> keys;
  if (with_keys) keys.push_back({"example.com", "tern1", key()});
  // Body pieces may arrive before the keys are known (the driver looks them up): feed one
  // piece, decide, then the rest.
  std::string rest = kBody.substr(first_body_bytes);
  size_t pos = 0;
  if (!rest.empty()) {
    size_t n = std::min(piece, rest.size());
    s.add(rest.substr(0, n));
    pos = n;
  }
  s.enable(keys);
  for (; pos < rest.size(); pos += piece) s.add(rest.substr(pos, piece));
  return s.finish(1893456000);
}

}  // namespace

TEST(MessageSigner, SameSignatureForEverySplit) {
  const std::string want = sign_split(0, kBody.size(), true);
  ASSERT_FALSE(want.empty());
  EXPECT_EQ(want.rfind("DKIM-Signature:", 0), 0u) << want;
  for (size_t first = 0; first <= kBody.size(); ++first)
    for (size_t piece : {1ul, 2ul, 7ul, 64ul})
      EXPECT_EQ(sign_split(first, piece, true), want) << first << "/" << piece;
}

TEST(MessageSigner, BodyHashCoversExactlyTheBody) {
  dkim::BodyHasher h;
  h.update(kBody);
  const std::string bh = h.finish_b64();
  const std::string sig = sign_split(5, 3, true);
  EXPECT_NE(sig.find("bh=" + bh), std::string::npos) << sig;
  EXPECT_NE(sig.find("d=example.com"), std::string::npos) << sig;
  EXPECT_NE(sig.find("s=tern1"), std::string::npos) << sig;
}

TEST(MessageSigner, NoKeysNoSignature) {
  EXPECT_EQ(sign_split(3, 4, false), "");
  pipeline::MessageSigner s;  // never decided: finish() still answers (unsigned)
  s.add(kHeaders + "\r\nbody\r\n");
  EXPECT_EQ(s.finish(0), "");
}

TEST(MessageSigner, NoFromNoDomain) {
  pipeline::MessageSigner s;
  s.add("Subject: x\r\n\r\nbody\r\n");
  EXPECT_EQ(s.from_domain(), "");
  s.add(std::string("From: <bad\0addr>\r\n\r\n", 20));
  EXPECT_EQ(s.from_domain(), "");
}
