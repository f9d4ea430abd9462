// Private keys at rest: sealed with a 32-byte master key (libsodium crypto_secretbox:
// XSalsa20-Poly1305, random 24-byte nonce per seal) when the operator configures one.
// Format: "sbx1:" + base64(nonce || ciphertext). Anything without that prefix is plain PEM
// (stored before a master key was configured, or with none); it still reads.
// Invariants: open() never returns partially decrypted data; a wrong key or altered bytes is an
// error (Poly1305 tag), never garbage.
#pragma once
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace tern::store::key_box {

constexpr std::string_view kPrefix = "sbx1:";
constexpr size_t kKeyBytes = 32;

bool is_sealed(std::string_view stored);
// key must be kKeyBytes long.
std::string seal(std::string_view key, std::string_view plain);
// Plain input is returned as is; sealed input needs the key (empty key: error).
core::Result<std::string> open(std::string_view key, std::string_view stored);

}  // namespace tern::store::key_box
