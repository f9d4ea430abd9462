// The production KeyGenerator: dkim::PrivateKey (OpenSSL) RSA-2048 or Ed25519.
#include "dkim/signer.hpp"
#include "domain/service.hpp"

namespace tern::domain {

KeyGenerator dkim_key_generator() {
  return [](dkim::Algorithm algorithm) -> core::Result<GeneratedKey> {
    auto key = dkim::PrivateKey::generate(algorithm);
    if (!key) return core::Error::temp("DKIM key generation failed");
    return GeneratedKey{key->to_pem(), key->public_key_b64()};
  };
}

}  // namespace tern::domain
