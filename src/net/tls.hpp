// TLS configuration for the listeners: OpenSSL 3 server context, TLS 1.2+, and a self-signed
// ECDSA P-256 certificate generated on first start when none is configured (SPEC §1).
// Invariants: the server's cipher order wins (SSL_OP_CIPHER_SERVER_PREFERENCE); TLS 1.2 offers
// only kTls12Ciphers (ECDHE key exchange, AEAD: AES-GCM and ChaCha20-Poly1305; no CBC, so no
// LUCKY13-style padding oracle, no static RSA); TLS 1.3 keeps OpenSSL's suites (all AEAD).
#pragma once
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

namespace tern::net {

struct TlsFiles {
  std::string cert;  // PEM chain
  std::string key;   // PEM private key
};

// Ensures dir/cert.pem and dir/key.pem exist (key 0600), generating a self-signed P-256
// certificate for hostname when missing. Throws std::runtime_error on failure (start-up only).
TlsFiles ensure_self_signed(const std::string& dir, const std::string& hostname);

// The TLS 1.2 suites, in the server's order of preference (Mozilla's "intermediate" list
// without its DHE suites: every current mail client speaks ECDHE).
extern const char* const kTls12Ciphers;

std::shared_ptr<boost::asio::ssl::context> make_server_context(const TlsFiles& files);

}  // namespace tern::net
