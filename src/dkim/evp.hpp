// OpenSSL algorithm handles fetched once per process (internal to src/dkim).
//
// Why: in OpenSSL 3, passing EVP_sha256() to an init function makes it look the implementation
// up in the provider store on every call (locks, a hash table): about a microsecond, which is
// several percent of an Ed25519 signature. A handle fetched once is used as it is.
// Invariant: the handle lives until exit and is only read, so any thread may use it.
#pragma once
#include <openssl/evp.h>

namespace tern::dkim::detail {

inline const EVP_MD* sha256() {
  static EVP_MD* const md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched != nullptr ? fetched : const_cast<EVP_MD*>(EVP_sha256());
  }();
  return md;
}

}  // namespace tern::dkim::detail
