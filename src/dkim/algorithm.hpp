// DKIM key algorithms (RFC 6376 §3.3, RFC 8463): the enum every module uses, and its name as
// the k= tag of a key record and the stored column say it ("rsa", "ed25519"). Names only at
// those edges: parse_key_type(key_type(a)) == a; anything else is nullopt.
#pragma once
#include <array>
#include <optional>
#include <string_view>

namespace tern::dkim {

enum class Algorithm { rsa_sha256, ed25519_sha256 };

// Signing order of a domain's two keys, and every algorithm: RSA first.
inline constexpr std::array<Algorithm, 2> kAlgorithms = {Algorithm::rsa_sha256,
                                                         Algorithm::ed25519_sha256};

constexpr std::string_view key_type(Algorithm a) {
  return a == Algorithm::ed25519_sha256 ? "ed25519" : "rsa";
}

constexpr std::optional<Algorithm> parse_key_type(std::string_view s) {
  if (s == "rsa") return Algorithm::rsa_sha256;
  if (s == "ed25519") return Algorithm::ed25519_sha256;
  return std::nullopt;
}

}  // namespace tern::dkim
