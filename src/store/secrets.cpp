#include "store/secrets.hpp"

#include <sodium.h>

namespace tern::store::secrets {

namespace {

constexpr char kUrlSafe[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr char kBase32[] = "abcdefghijklmnopqrstuvwxyz234567";

std::string random_from(std::string_view alphabet, size_t n) {
  std::string s(n, '\0');
  // randombytes_uniform avoids the modulo bias of `byte % size`.
  for (auto& c : s) c = alphabet[randombytes_uniform(static_cast<uint32_t>(alphabet.size()))];
  return s;
}

// Computed once: the unknown-user path must cost one Argon2 verification, like the real one.
const std::string& dummy_hash() {
  static const std::string h = [] {
    auto r = hash_password(random_password());
    return r ? std::move(r).value() : std::string();
  }();
  return h;
}

}  // namespace

bool init() {
  if (sodium_init() < 0) return false;
  (void)dummy_hash();
  return true;
}

// Letters and digits only (62 symbols, 24 chars ≈ 143 bits): a password pasted into a shell
// command or a client's settings must not start with "-" (swaks and friends read it as an
// option) or need quoting.
std::string random_password() { return random_from({kUrlSafe, 62}, kPasswordChars); }

std::string random_account_code() { return random_from({kBase32, 32}, kAccountCodeChars); }

std::string base32_lower(const unsigned char* p, size_t n) {
  std::string out;
  out.reserve((n * 8 + 4) / 5);
  uint32_t buf = 0;
  int bits = 0;
  for (size_t i = 0; i < n; ++i) {
    buf = (buf << 8) | p[i];
    bits += 8;
    while (bits >= 5) {
      out += kBase32[(buf >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += kBase32[(buf << (5 - bits)) & 31];
  return out;
}

std::string new_api_key() {
  unsigned char raw[kApiKeyRandomBytes];
  randombytes_buf(raw, sizeof raw);
  std::string key(kApiKeyPrefix);
  key += base32_lower(raw, sizeof raw);
  sodium_memzero(raw, sizeof raw);
  return key;
}

std::string random_token() {
  unsigned char raw[16];
  randombytes_buf(raw, sizeof raw);
  return base32_lower(raw, sizeof raw);
}

std::string sha256_hex(std::string_view data) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  return std::string(hex, crypto_hash_sha256_BYTES * 2);
}

core::Result<std::string> hash_password(std::string_view password) {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), kArgonOps, kArgonMem,
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    return core::Error::temp("store: Argon2id hashing failed (out of memory?)");
  return std::string(out);
}

bool verify_password(const std::string& encoded_hash, std::string_view password) {
  if (encoded_hash.empty()) return false;
  return crypto_pwhash_str_verify(encoded_hash.c_str(), password.data(), password.size()) == 0;
}

void verify_dummy(std::string_view password) { (void)verify_password(dummy_hash(), password); }

}  // namespace tern::store::secrets
