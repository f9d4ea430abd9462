// The production KeyGenerator: dkim::PrivateKey (OpenSSL) RSA-2048 or Ed25519.
#include "dkim/signer.hpp"
#include "domain/service.hpp"

namespace tern::domain {

KeyGenerator dkim_key_generator() {
  return [](const std::string& algorithm) -> core::Result<GeneratedKey> {
    auto key = dkim::PrivateKey::generate(algorithm == "ed25519" ? dkim::Algorithm::ed25519_sha256
                                                                 : dkim::Algorithm::rsa_sha256);
    if (!key) return core::Error::temp("DKIM key generation failed");
    return GeneratedKey{key->to_pem(), key->public_key_b64()};
  };
}

}  // namespace tern::domain
