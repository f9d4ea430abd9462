// Test helpers for the dkim unit tests: test data files, and a small independent verifier
// (OpenSSL EVP_DigestVerify) that reads a DKIM-Signature field the way a receiver does.
#pragma once
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/base64.hpp"
#include "dkim/signer.hpp"

namespace tern::dkim::test {

inline std::string read_data(const std::string& name) {
  const auto path = std::filesystem::path(TERN_UNIT_DIR) / "data" / name;
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string unfold(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != '\r' && c != '\n') out.push_back(c);
  return out;
}

inline std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

// The value of tag `name` in an (unfolded) tag list, white space kept.
inline std::string tag(const std::string& field, const std::string& name) {
  const std::string value_part = field.substr(field.find(':') + 1);
  std::stringstream ss(value_part);
  std::string item;
  while (std::getline(ss, item, ';')) {
    const auto eq = item.find('=');
    if (eq != std::string::npos && trim(item.substr(0, eq)) == name) return item.substr(eq + 1);
  }
  return {};
}

inline std::vector<std::string> h_list(const std::string& field) {
  std::vector<std::string> out;
  std::stringstream ss(tag(unfold(field), "h"));
  std::string item;
  while (std::getline(ss, item, ':')) out.push_back(trim(item));
  return out;
}

// The field with the b= value (and the white space in it) deleted, as RFC 6376 §3.7 says.
inline std::string without_b_value(const std::string& field) {
  const size_t bh = field.find("bh=");
  size_t b = field.find("b=", field.find(';', bh));
  while (b != std::string::npos && field[b - 1] != ' ' && field[b - 1] != ';')
    b = field.find("b=", b + 1);
  std::string out = field.substr(0, b + 2);
  const size_t end = field.find(';', b);
  if (end != std::string::npos)
    out += field.substr(end);
  else if (field.size() >= 2 && field.compare(field.size() - 2, 2, "\r\n") == 0)
    out += "\r\n";
  return out;
}

inline EVP_PKEY* public_key(const PrivateKey& key) {
  const auto raw = core::base64_decode(key.public_key_b64());
  if (!raw) return nullptr;
  const auto* p = reinterpret_cast<const unsigned char*>(raw->data());
  if (key.algorithm() == Algorithm::ed25519_sha256)
    return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, p, raw->size());
  return d2i_PUBKEY(nullptr, &p, static_cast<long>(raw->size()));
}

// Verifies signature bytes over data as the DKIM algorithm of `key` defines it.
inline bool verify_bytes(const PrivateKey& key, std::string_view data, std::string_view sig) {
  EVP_PKEY* pub = public_key(key);
  if (pub == nullptr) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned char digest[32];
  const auto* msg = reinterpret_cast<const unsigned char*>(data.data());
  size_t len = data.size();
  const EVP_MD* md = EVP_sha256();
  if (key.algorithm() == Algorithm::ed25519_sha256) {
    unsigned int dlen = 0;
    EVP_Digest(msg, len, digest, &dlen, EVP_sha256(), nullptr);
    msg = digest;
    len = dlen;
    md = nullptr;
  }
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, md, nullptr, pub) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                             msg, len) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pub);
  return ok;
}

// Verifies a DKIM-Signature field (as sign() returns it) over the given header fields the way a
// receiver would: h= from the field, b= value deleted, signature checked with the public key
// published by public_key_b64().
inline bool verify_field(const std::string& field, const std::vector<std::string>& headers,
                         const PrivateKey& key) {
  std::string b64;
  for (char c : tag(unfold(field), "b"))
    if (c != ' ' && c != '\t') b64.push_back(c);
  const auto sig = core::base64_decode(b64);
  if (!sig) return false;
  const std::string data = signing_input(headers, h_list(field), without_b_value(field));
  return verify_bytes(key, data, *sig);
}

}  // namespace tern::dkim::test
