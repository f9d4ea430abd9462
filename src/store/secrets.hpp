// Generation and hashing of account secrets (SPEC §2).
// - Passwords: 24 characters of a URL-safe alphabet (144 bits), hashed with Argon2id
//   (libsodium crypto_pwhash_str_alg, ALG_ARGON2ID13) at opslimit 2, memlimit 19 MiB: OWASP's
//   minimum, cheap enough that SMTP AUTH stays responsive. The encoded hash carries its own
//   parameters and salt, so raising the cost later keeps old hashes verifiable.
// - API keys: "tern_" + 26 lower-case RFC 4648 base32 characters of 16 random bytes (128 bits).
//   They are high-entropy, so a plain SHA-256 (hex) is enough to store them; no salt or stretching
//   is needed because no dictionary covers 2^128 keys.
// - Account codes: 8 lower-case base32 characters, used in DNS names (delegated DKIM).
// All randomness comes from libsodium's randombytes (the OS CSPRNG); call sodium_init() first.
#pragma once
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace tern::store::secrets {

constexpr size_t kPasswordChars = 24;
constexpr std::string_view kApiKeyPrefix = "tern_";
constexpr size_t kApiKeyRandomBytes = 16;
constexpr size_t kApiKeyChars = 5 + 26;     // "tern_" + ceil(128 / 5)
constexpr size_t kApiKeyStoredPrefix = 12;  // what lists and revoke use to name a key
constexpr size_t kAccountCodeChars = 8;
constexpr unsigned long long kArgonOps = 2;
constexpr size_t kArgonMem = 19u * 1024u * 1024u;

// Initializes libsodium; false when it cannot (no usable entropy source).
bool init();

std::string random_password();
std::string random_account_code();
std::string new_api_key();
// Domain ownership token: 26 lower-case base32 characters (128 bits), DNS-safe.
std::string random_token();

// Lower-case RFC 4648 base32 without padding.
std::string base32_lower(const unsigned char* p, size_t n);
// SHA-256 as 64 lower-case hex characters.
std::string sha256_hex(std::string_view data);

// Argon2id encoded hash ("$argon2id$v=19$m=19456,t=2,p=1$..."); temporary error when the
// memory cannot be allocated.
core::Result<std::string> hash_password(std::string_view password);
// Constant-time in the password; false for a malformed hash.
bool verify_password(const std::string& encoded_hash, std::string_view password);
// Spends the time of one verification against a fixed hash, for unknown users: the reply time
// then does not tell whether the username exists.
void verify_dummy(std::string_view password);

}  // namespace tern::store::secrets
