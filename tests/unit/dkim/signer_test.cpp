// sign() and PrivateKey: a golden RSA signature computed outside this code (openssl dgst), round
// trips through an independent OpenSSL verifier for both algorithms, header selection and
// over-signing, folding, refusals, key parsing, hostile input and concurrent signing.
#include "dkim/signer.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "dkim_test_util.hpp"
#include "gtest/gtest.h"

namespace tern::dkim {
namespace {

using test::verify_field;

const std::vector<std::string> kGoldenHeaders = {
    "From: Alice Example <alice@example.com>\r\n", "To: Bob <bob@example.net>\r\n",
    "Subject: Golden   vector\r\n\t(folded)\r\n",  "Date: Sat, 01 Feb 2025 10:00:00 +0000\r\n",
    "Message-ID: <golden-1@example.com>\r\n",      "MIME-Version: 1.0\r\n",
    "Content-Type: text/plain; charset=utf-8\r\n", "X-Not-Signed: ignored\r\n",
};
const char kGoldenBody[] = "Hello,\r\n\r\nThis  is the golden\tvector. \r\n\r\n\r\n";

std::string body_hash(std::string_view body) {
  BodyHasher h;
  h.update(body);
  return h.finish_b64();
}

std::shared_ptr<const PrivateKey> rsa2048() {
  static const auto key = PrivateKey::from_pem(test::read_data("rsa2048.pem"));
  return key;
}

std::shared_ptr<const PrivateKey> ed25519() {
  static const auto key = PrivateKey::generate(Algorithm::ed25519_sha256);
  return key;
}

SignRequest request(const PrivateKey* key, std::vector<std::string> headers, std::string_view body,
                    int64_t t = 1738404000) {
  return SignRequest{"example.com", "s2025", key, std::move(headers), body_hash(body), t};
}

void expect_well_folded(const std::string& field) {
  ASSERT_GE(field.size(), 2u);
  EXPECT_EQ(field.substr(field.size() - 2), "\r\n");
  EXPECT_EQ(field.rfind("DKIM-Signature: v=1; ", 0), 0u);
  std::stringstream ss(field);
  std::string line;
  bool first = true;
  while (std::getline(ss, line, '\n')) {
    ASSERT_FALSE(line.empty());
    ASSERT_EQ(line.back(), '\r') << "bare LF in " << field;
    line.pop_back();
    EXPECT_EQ(line.find('\r'), std::string::npos);
    EXPECT_LE(line.size(), 78u) << line;
    if (!first) {
      EXPECT_EQ(line[0], ' ') << line;
      EXPECT_NE(line.find_first_not_of(' '), std::string::npos) << "white-space-only line";
    }
    EXPECT_NE(line.back(), ' ') << "trailing WSP: " << line;
    first = false;
  }
}

// The expected signing input is written out by hand from RFC 6376 §3.4.2/§3.7, and the expected
// b= was computed from it with the OpenSSL command line, not with this code:
//   printf '%s' "<input below>" | openssl dgst -sha256 -sign data/rsa2048.pem | base64 -w0
// bh= likewise: printf 'Hello,\r\n\r\nThis is the golden vector.\r\n' | openssl dgst -sha256
// -binary | base64.
TEST(Signer, GoldenRsaSignature) {
  const auto key = rsa2048();
  ASSERT_NE(key, nullptr);
  const SignRequest r = request(key.get(), kGoldenHeaders, kGoldenBody);
  EXPECT_EQ(r.body_hash_b64, "yHvyy2oOs9fIcFVsrBKFowMxWEzD+tyIux36R1LR6O8=");
  const std::string field = sign(r);
  EXPECT_EQ(field,
            "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=s2025;\r\n"
            " t=1738404000; h=from:from:to:subject:date:message-id:mime-version:\r\n"
            " content-type; bh=yHvyy2oOs9fIcFVsrBKFowMxWEzD+tyIux36R1LR6O8=; b=O7PsBBm7n/8Z\r\n"
            " Z0dIguER06g+BgIYgUYF7giEZB6tJsjPmSwgR/Fpnnfq3WcexyBvadf3odrHmAjnneYQL9sKLgef7\r\n"
            " Q3t1EAQnwiuD/7SLcfaciZfuryE9PtVLic7FqfNrE+UeHz1YLMW+zBQKVKZUrehz1AQQveAFmPBNz\r\n"
            " PgiqxqBHEEVvEJuElK/QGiwWIflm54OVisikO9niwgw+VJv59AobNgVsFLGRwaHbbhTNLCNIGGQhz\r\n"
            " 7lyARqpKDYwUra72RdTqTwGcVlZlOr+wu63sn9mzgFhbZ1Uwo7/mFTPG1V47k6ZfG13PfKqh1AnZx\r\n"
            " kweP5qi8127qZz+buaErzQ==\r\n");
  EXPECT_EQ(signing_input(kGoldenHeaders, test::h_list(field), test::without_b_value(field)),
            "from:Alice Example <alice@example.com>\r\n"
            "to:Bob <bob@example.net>\r\n"
            "subject:Golden vector (folded)\r\n"
            "date:Sat, 01 Feb 2025 10:00:00 +0000\r\n"
            "message-id:<golden-1@example.com>\r\n"
            "mime-version:1.0\r\n"
            "content-type:text/plain; charset=utf-8\r\n"
            "dkim-signature:v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=s2025; "
            "t=1738404000; h=from:from:to:subject:date:message-id:mime-version: content-type; "
            "bh=yHvyy2oOs9fIcFVsrBKFowMxWEzD+tyIux36R1LR6O8=; b=");
  expect_well_folded(field);
  EXPECT_TRUE(verify_field(field, kGoldenHeaders, *key));
}

TEST(Signer, RoundTripBothAlgorithms) {
  for (const auto& key : {rsa2048(), ed25519(), PrivateKey::generate(Algorithm::rsa_sha256)}) {
    ASSERT_NE(key, nullptr);
    const std::string field = sign(request(key.get(), kGoldenHeaders, kGoldenBody));
    ASSERT_FALSE(field.empty());
    expect_well_folded(field);
    EXPECT_NE(field.find(key->algorithm() == Algorithm::rsa_sha256 ? "a=rsa-sha256;"
                                                                   : "a=ed25519-sha256;"),
              std::string::npos);
    EXPECT_TRUE(verify_field(field, kGoldenHeaders, *key));
    // Any change to a signed field breaks it; an unsigned field does not matter.
    auto changed = kGoldenHeaders;
    changed[1] = "To: Mallory <mallory@example.net>\r\n";
    EXPECT_FALSE(verify_field(field, changed, *key));
    changed = kGoldenHeaders;
    changed[7] = "X-Not-Signed: changed\r\n";
    EXPECT_TRUE(verify_field(field, changed, *key));
    // A From added on top is caught by over-signing.
    changed = kGoldenHeaders;
    changed.insert(changed.begin(), "From: Mallory <mallory@example.com>\r\n");
    EXPECT_FALSE(verify_field(field, changed, *key));
    // Another key does not verify it.
    EXPECT_FALSE(verify_field(field, kGoldenHeaders, *PrivateKey::generate(key->algorithm())));
  }
}

TEST(Signer, HeaderSelectionBottomUpAndOverSigning) {
  const std::vector<std::string> headers = {
      "Received: from x\r\n",
      "FROM: a@example.com\r\n",
      "Subject: first\r\n",
      "to: one@example.net\r\n",
      "Subject: second\r\n",
      "TO : two@example.net\r\n",
      "Message-Id: <m@example.com>\r\n",
      "Feedback-ID: 1:2:3\r\n",
      "List-Unsubscribe: <x>\r\n",
  };
  const std::string field = sign(request(rsa2048().get(), headers, "body\r\n", 0));
  EXPECT_EQ(test::h_list(field),
            (std::vector<std::string>{"from", "from", "to", "to", "subject", "subject",
                                      "message-id", "list-unsubscribe", "feedback-id"}));
  EXPECT_EQ(field.find("t="), std::string::npos);  // timestamp 0 omits t=
  EXPECT_TRUE(verify_field(field, headers, *rsa2048()));
  // §5.4.2: repeated names take instances from the bottom up.
  const std::string data =
      signing_input(headers, {"to", "to", "subject", "subject", "to"}, "DKIM-Signature: b=");
  EXPECT_EQ(data,
            "to:two@example.net\r\nto:one@example.net\r\n"
            "subject:second\r\nsubject:first\r\ndkim-signature:b=");
}

TEST(Signer, NoFromStillListsFrom) {
  const std::vector<std::string> headers = {"Subject: s\r\n"};
  const std::string field = sign(request(ed25519().get(), headers, ""));
  EXPECT_EQ(test::h_list(field), (std::vector<std::string>{"from", "subject"}));
  EXPECT_NE(field.find("bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;"), std::string::npos);
  EXPECT_TRUE(verify_field(field, headers, *ed25519()));
}

TEST(Signer, LongHeaderListAndLongDomainFold) {
  std::vector<std::string> headers;
  for (const auto& name : kSignedHeaders) headers.push_back(name + ": v\r\n");
  for (int i = 0; i < 20; ++i) headers.push_back("To: t" + std::to_string(i) + "@example.net\r\n");
  auto r = request(rsa2048().get(), headers, "b\r\n");
  const std::string field = sign(r);
  expect_well_folded(field);
  EXPECT_TRUE(verify_field(field, headers, *rsa2048()));
  EXPECT_EQ(std::count(field.begin(), field.end(), ':') - 1,  // minus "DKIM-Signature:"
            static_cast<long>(kSignedHeaders.size() + 20 + 1 - 1));

  // A domain longer than a line cannot be folded inside: its line is long, the rest is fine.
  r.domain = std::string(70, 'a') + ".example.com";
  const std::string long_domain = sign(r);
  ASSERT_FALSE(long_domain.empty());
  EXPECT_NE(long_domain.find("\r\n d=" + r.domain + ";\r\n"), std::string::npos);
  EXPECT_TRUE(verify_field(long_domain, headers, *rsa2048()));
}

TEST(Signer, RefusesWhatCouldBreakTheField) {
  const auto key = rsa2048();
  const SignRequest ok = request(key.get(), kGoldenHeaders, kGoldenBody);
  ASSERT_FALSE(sign(ok).empty());
  const std::vector<std::string> bads = {"",
                                         "exa mple.com",
                                         "a;b=c",
                                         "x\r\nInjected: y",
                                         std::string("a\0b", 3),
                                         "ex\xC3\xA4.com",
                                         std::string(254, 'a')};
  for (const auto& bad : bads) {
    SignRequest r = ok;
    r.domain = bad;
    EXPECT_EQ(sign(r), "") << bad;
    r = ok;
    r.selector = bad;
    EXPECT_EQ(sign(r), "") << bad;
  }
  SignRequest r = ok;
  r.key = nullptr;
  EXPECT_EQ(sign(r), "");
  r = ok;
  r.body_hash_b64 = "";
  EXPECT_EQ(sign(r), "");
  r = ok;
  r.body_hash_b64 = "abc; b=xyz";
  EXPECT_EQ(sign(r), "");
}

// Hostile header and body bytes: no crash, the same output every time, and it still verifies.
TEST(Signer, HostileInputIsDeterministic) {
  std::string huge = "Subject: start";
  for (int i = 0; i < 20000; ++i) huge += "\r\n\t word" + std::to_string(i);
  huge += "\r\n";
  const std::vector<std::vector<std::string>> header_sets = {
      {"From: a@example.com\nTo: b@example.net\r\n", "Subject: bare\nLF\r\n"},
      {"From: a@example.com\r\n", huge},
      {"From: \0a@example.com\r\n", std::string("Subject: nul \0 inside\r\n", 23)},
      {"From: a@example.com\r", "Subject: bare CR\r"},
      {"From:\r\n", ":\r\n", "\r\n", "Subject\r\n"},
      {},
  };
  const std::vector<std::string> bodies = {"",       "no final crlf", std::string("\0\0\r\n\0", 5),
                                           "\n\n\n", "\r\r\r",        std::string(100000, ' ')};
  for (const auto& headers : header_sets) {
    for (const auto& body : bodies) {
      for (const auto& key : {rsa2048(), ed25519()}) {
        const std::string a = sign(request(key.get(), headers, body));
        const std::string b = sign(request(key.get(), headers, body));
        ASSERT_FALSE(a.empty());
        EXPECT_EQ(a, b);
        expect_well_folded(a);
        EXPECT_TRUE(verify_field(a, headers, *key));
      }
    }
  }
}

TEST(Signer, ConcurrentSigningWithOneKey) {
  for (const auto& key : {rsa2048(), ed25519()}) {
    const std::string want = sign(request(key.get(), kGoldenHeaders, kGoldenBody));
    std::vector<std::thread> threads;
    std::vector<int> mismatches(4, 0);
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 25; ++i)
          if (sign(request(key.get(), kGoldenHeaders, kGoldenBody)) != want) ++mismatches[t];
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(mismatches, std::vector<int>(4, 0));
  }
}

// Ed25519 contexts are cached per thread and per key (4 entries): more keys than entries,
// interleaved, and keys freed and made again, never sign with another key's context.
TEST(PrivateKey, Ed25519ContextCacheNeverMixesKeys) {
  std::vector<std::shared_ptr<const PrivateKey>> keys;
  for (int i = 0; i < 7; ++i) keys.push_back(PrivateKey::generate(Algorithm::ed25519_sha256));
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < keys.size(); ++i) {
      const std::string data = "message " + std::to_string(i);
      const std::string sig = keys[i]->sign(data);
      ASSERT_EQ(sig.size(), 64u);
      EXPECT_TRUE(test::verify_bytes(*keys[i], data, sig)) << i;
      EXPECT_FALSE(test::verify_bytes(*keys[(i + 1) % keys.size()], data, sig)) << i;
      // The same key loaded again (another object, another cache entry) signs the same.
      EXPECT_EQ(PrivateKey::from_pem(keys[i]->to_pem())->sign(data), sig);
    }
    keys[static_cast<size_t>(round)] = PrivateKey::generate(Algorithm::ed25519_sha256);
  }
}

std::string pem_of(EVP_PKEY* pkey, const EVP_CIPHER* cipher = nullptr, const char* pass = nullptr) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, pkey, cipher, nullptr, 0, nullptr, const_cast<char*>(pass));
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

TEST(PrivateKey, ParsesAndRejects) {
  EXPECT_EQ(PrivateKey::from_pem(""), nullptr);
  EXPECT_EQ(PrivateKey::from_pem("garbage"), nullptr);
  EXPECT_EQ(PrivateKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            nullptr);
  // A public key is not a private key.
  const std::string pub =
      "-----BEGIN PUBLIC KEY-----\n" + rsa2048()->public_key_b64() + "\n-----END PUBLIC KEY-----\n";
  EXPECT_EQ(PrivateKey::from_pem(pub), nullptr);

  EVP_PKEY* ec = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  EXPECT_EQ(PrivateKey::from_pem(pem_of(ec)), nullptr);  // no DKIM algorithm for EC
  EVP_PKEY_free(ec);
  EVP_PKEY* small = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(512));
  EXPECT_EQ(PrivateKey::from_pem(pem_of(small)), nullptr);  // RFC 8301: at least 1024 bits
  EVP_PKEY_free(small);
  // An encrypted key fails (and does not prompt for a passphrase).
  EVP_PKEY* rsa = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024));
  const std::string encrypted = pem_of(rsa, EVP_aes_128_cbc(), "secret");
  EXPECT_NE(encrypted.find("ENCRYPTED"), std::string::npos);
  EXPECT_EQ(PrivateKey::from_pem(encrypted), nullptr);
  EXPECT_NE(PrivateKey::from_pem(pem_of(rsa)), nullptr);
  EVP_PKEY_free(rsa);

  // Traditional ("BEGIN RSA PRIVATE KEY") and PKCS#8 both parse.
  EXPECT_NE(test::read_data("rfc8463_rsa.pem").find("BEGIN RSA PRIVATE KEY"), std::string::npos);
  EXPECT_NE(PrivateKey::from_pem(test::read_data("rfc8463_rsa.pem")), nullptr);
  EXPECT_NE(PrivateKey::from_pem(test::read_data("rsa2048.pem")), nullptr);
}

TEST(PrivateKey, GenerateAndPemRoundTrip) {
  for (auto alg : {Algorithm::rsa_sha256, Algorithm::ed25519_sha256}) {
    const auto key = PrivateKey::generate(alg);
    ASSERT_NE(key, nullptr);
    EXPECT_EQ(key->algorithm(), alg);
    const std::string pem = key->to_pem();
    EXPECT_EQ(pem.rfind("-----BEGIN PRIVATE KEY-----", 0), 0u);
    const auto again = PrivateKey::from_pem(pem);
    ASSERT_NE(again, nullptr);
    EXPECT_EQ(again->public_key_b64(), key->public_key_b64());
    EXPECT_EQ(again->sign("data"), key->sign("data"));  // both algorithms are deterministic
    const std::string rec = dns_record(*key);
    if (alg == Algorithm::rsa_sha256) {
      EXPECT_EQ(rec.rfind("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA", 0), 0u);
      EXPECT_EQ(key->sign("x").size(), 256u);
    } else {
      EXPECT_EQ(rec.rfind("v=DKIM1; k=ed25519; p=", 0), 0u);
      EXPECT_EQ(key->public_key_b64().size(), 44u);  // raw 32 bytes (RFC 8463 §4.2)
      EXPECT_EQ(key->sign("x").size(), 64u);
    }
  }
  EXPECT_NE(PrivateKey::generate(Algorithm::rsa_sha256)->public_key_b64(),
            PrivateKey::generate(Algorithm::rsa_sha256)->public_key_b64());
}

}  // namespace
}  // namespace tern::dkim

namespace tern::dkim {
namespace {

TEST(KeyType, RoundTripsThroughTheTagName) {
  for (Algorithm a : kAlgorithms) EXPECT_EQ(parse_key_type(key_type(a)), a);
  EXPECT_EQ(key_type(Algorithm::rsa_sha256), "rsa");
  EXPECT_EQ(key_type(Algorithm::ed25519_sha256), "ed25519");
  EXPECT_FALSE(parse_key_type("RSA"));
  EXPECT_FALSE(parse_key_type("ed448"));
}

}  // namespace
}  // namespace tern::dkim
