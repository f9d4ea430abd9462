// Webhook signatures (issue 5): HMAC-SHA256 with the account's webhook secret over
// "<unix timestamp>.<body>", sent as the header value "t=<unix>,v1=<64 lower-case hex>".
// A receiver recomputes the HMAC over the timestamp it got, a '.' and the raw body bytes, and
// compares; the timestamp bounds replays. Pure: callers pass the time.
//
// Invariants:
// - An empty secret is refused (an HMAC under an empty key proves nothing), and so is one
//   longer than 4096 bytes.
// - verify() compares in constant time (CRYPTO_memcmp) and accepts a header with several v1
//   values (secret rotation: any one matching is enough); unknown keys are ignored.
// - verify() refuses, with a clear error: a malformed header (missing or repeated t, a t that
//   is not 1..18 decimal digits, a v1 that is not 64 hex digits, no v1, more than 4096
//   characters), a timestamp further than `tolerance_s` from `now_s` in either direction, and
//   a signature that does not match.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace tern::report {

// Lower-case hex HMAC-SHA256(secret, "<unix_s>.<body>").
core::Result<std::string> sign(std::string_view secret, int64_t unix_s, std::string_view body);

// "t=<unix_s>,v1=<hex>".
core::Result<std::string> signature_header(std::string_view secret, int64_t unix_s,
                                           std::string_view body);

// "t=<unix_s>,v1=<hex>,v1=<hex>...": one v1 per secret, in the order given (the new secret
// first during a rotation, as Stripe sends several v1). At least one secret; each as sign().
core::Result<std::string> signature_header(const std::vector<std::string>& secrets, int64_t unix_s,
                                           std::string_view body);

// Secret rotation (issue 14): the secrets that sign a webhook at now_ms. The current secret
// alone; plus the previous one while now_ms < changed_ms + grace_ms. None when there is no
// current secret (reports go out unsigned). A previous equal to the current is not repeated.
std::vector<std::string> signing_secrets(const std::string& current, const std::string& previous,
                                         int64_t changed_ms, int64_t now_ms, int64_t grace_ms);

core::Result<void> verify(std::string_view header, std::string_view secret, std::string_view body,
                          int64_t now_s, int64_t tolerance_s = 300);

}  // namespace tern::report
