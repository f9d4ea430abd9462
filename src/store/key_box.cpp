#include "store/key_box.hpp"

#include <sodium.h>

#include "core/base64.hpp"
#include "store/sealer.hpp"

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

namespace tern::store {

void Sealer::set_key(std::string key32) {
  std::lock_guard lock(mu_);
  if (!key_.empty()) sodium_memzero(key_.data(), key_.size());
  key_ = std::move(key32);
}

std::string Sealer::seal(std::string_view plain) const {
  std::lock_guard lock(mu_);
  if (plain.empty() || key_.empty()) return std::string(plain);
  return key_box::seal(key_, plain);
}

core::Result<std::string> Sealer::open(std::string_view stored) const {
  std::lock_guard lock(mu_);
  return key_box::open(key_, stored);
}

}  // namespace tern::store
