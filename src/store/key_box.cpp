#include "store/key_box.hpp"

#include <sodium.h>

#include "core/base64.hpp"

namespace tern::store::key_box {

bool is_sealed(std::string_view stored) { return stored.starts_with(kPrefix); }

std::string seal(std::string_view key, std::string_view plain) {
  std::string raw(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plain.size(), '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(raw.data());
  randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(nonce + crypto_secretbox_NONCEBYTES,
                        reinterpret_cast<const unsigned char*>(plain.data()), plain.size(), nonce,
                        reinterpret_cast<const unsigned char*>(key.data()));
  return std::string(kPrefix) + core::base64_encode(raw);
}

core::Result<std::string> open(std::string_view key, std::string_view stored) {
  if (!is_sealed(stored)) return std::string(stored);
  if (key.size() != kKeyBytes)
    return core::Error::internal("DKIM private key is encrypted: configure master_key_file");
  auto raw = core::base64_decode(stored.substr(kPrefix.size()));
  if (!raw || raw->size() < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
    return core::Error::corrupt("DKIM private key: damaged sealed value");
  const auto* nonce = reinterpret_cast<const unsigned char*>(raw->data());
  const size_t clen = raw->size() - crypto_secretbox_NONCEBYTES;
  std::string plain(clen - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(plain.data()),
                                 nonce + crypto_secretbox_NONCEBYTES, clen, nonce,
                                 reinterpret_cast<const unsigned char*>(key.data())) != 0) {
    sodium_memzero(plain.data(), plain.size());
    return core::Error::corrupt("DKIM private key: wrong master key or altered value");
  }
  return plain;
}

}  // namespace tern::store::key_box
