// DKIM signing (RFC 6376, RFC 8463): rsa-sha256 and ed25519-sha256, relaxed/relaxed.
//
// The body hash is computed as the body streams in (BodyHasher), so signing never needs the
// whole message in memory. sign() is pure: header fields + body hash + key → the
// DKIM-Signature header field (folded, CRLF-terminated) to prepend to the message.
// Invariants: signed header names follow kSignedHeaders (those present, From over-signed: it is
// listed once more than it occurs so no From can be added later); d= is the key's domain.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dkim/algorithm.hpp"

namespace tern::dkim {

// A parsed private key, cached (parsing PEM per message is wasteful).
class PrivateKey {
 public:
  // PEM (PKCS#8 or traditional). Returns nullptr on bad input.
  static std::shared_ptr<const PrivateKey> from_pem(std::string_view pem);
  static std::shared_ptr<const PrivateKey> generate(Algorithm alg);  // RSA-2048 or Ed25519
  virtual ~PrivateKey() = default;
  virtual Algorithm algorithm() const = 0;
  virtual std::string to_pem() const = 0;
  // The p= value for the DNS record: base64 of the SubjectPublicKeyInfo (RSA) or of the raw
  // 32-byte public key (Ed25519, RFC 8463 §4.2).
  virtual std::string public_key_b64() const = 0;
  // Signs data (RSA: PKCS#1 v1.5 over SHA-256 of data; Ed25519: PureEd25519 over SHA-256(data)
  // as RFC 8463 §3 says: the caller passes the data, the key hashes as its algorithm requires).
  virtual std::string sign(std::string_view data) const = 0;
};

// The DNS TXT value for a key: "v=DKIM1; k=rsa; p=..." or "v=DKIM1; k=ed25519; p=...".
std::string dns_record(const PrivateKey& key);

// RFC 6376 §3.4.4 relaxed body canonicalization + SHA-256, streaming.
class BodyHasher {
 public:
  BodyHasher();
  ~BodyHasher();
  void update(std::string_view body_bytes);  // any split; CRLF line endings
  std::string finish_b64();                  // bh= value
 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// RFC 6376 §3.4.2 relaxed header canonicalization of one field ("Name: value\r\n" raw, folded).
std::string relaxed_header(std::string_view raw_field);
// §3.4.4 relaxed body canonicalization of a whole body (for tests and small inputs).
std::string relaxed_body(std::string_view body);

struct SignRequest {
  std::string domain;    // d=
  std::string selector;  // s=
  const PrivateKey* key = nullptr;
  // The message's header section as raw fields, in order, each "Name: value\r\n" (folded).
  std::vector<std::string> header_fields;
  std::string body_hash_b64;  // from BodyHasher
  int64_t timestamp = 0;      // t=; 0 omits it
};

// Header names signed when present (lower case), in this order; From is over-signed.
extern const std::vector<std::string> kSignedHeaders;

// The data that is signed (RFC 6376 §3.7 step 2, relaxed): the header fields that h_names name,
// each name taking the bottom-most instance not yet taken (§5.4.2), a name with no instance left
// contributing nothing (this is how over-signing works), then dkim_signature_field (the whole
// "DKIM-Signature: ...b=" field, with an empty b= value) canonicalized without its final CRLF.
std::string signing_input(const std::vector<std::string>& header_fields,
                          const std::vector<std::string>& h_names,
                          std::string_view dkim_signature_field);

// Returns "DKIM-Signature: v=1; a=...; c=relaxed/relaxed; d=...; s=...; t=...; h=...; bh=...;
// b=...\r\n" folded at 78 columns.
// Returns "" when it cannot sign: no key, a body hash that is empty or not base64, a domain or
// selector outside [A-Za-z0-9._-] (they are copied into the field: nothing may break out of their
// tags), or a signing failure in OpenSSL.
std::string sign(const SignRequest& r);

}  // namespace tern::dkim
