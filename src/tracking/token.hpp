// Tracking tokens: what a /t/o/<token> or /t/c/<token> URL stands for, signed so that nobody
// can mint or alter one without the platform secret.
//
// Wire form: base64url (no padding) of  payload || tag, where
//   payload = version(1) kind(1: 'o' open, 'c' click) recipient(4, BE) link(4, BE)
//             id_len(1) message_id(id_len) [context] url(rest; empty for opens)
//   context = (version 2 only) len(2, BE) nonce(24) secretbox(plain) — XSalsa20-Poly1305 under
//             a key derived from the secret, so the recipient holding the link cannot read it;
//             plain = account_id(8, BE) and four strings, each len(2, BE) bytes: recipient
//             address, bulk id, tracking URL, callback data
//   tag     = HMAC-SHA256(secret, "tern-tracking-v1" || payload), first 16 bytes (128 bits)
// Version 2 tokens carry what the open/click event needs (issue 14.15), so the endpoint records
// and reports it without the message log, whose rows are written in batches and may not be
// there yet for a click right after delivery. Version 1 tokens (mail sent before) still verify.
// Invariants:
//  - A click token carries its destination URL under the MAC, so the redirect endpoint only
//    ever sends a browser where the message's author pointed it (no open redirect).
//  - verify() accepts exactly the tokens sign() produced with the same secret; any changed,
//    truncated or extended byte is an error (tag compared in constant time).
//  - Tokens contain only [A-Za-z0-9_-]: safe in a URL path and inside an HTML attribute.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace tern::tracking {

enum class TokenKind : uint8_t { open = 'o', click = 'c' };

// What an event for the token's recipient needs besides the ids (version 2).
struct TokenContext {
  int64_t account_id = 0;
  std::string recipient;  // the recipient's address
  std::string bulk_id;
  std::string tracking_url;  // where the event is POSTed
  std::string callback_data;
  bool operator==(const TokenContext&) const = default;
};

struct TokenFields {
  TokenKind kind = TokenKind::open;
  std::string message_id;               // queue id of the message (1..255 bytes)
  uint32_t recipient = 0;               // index of the recipient in the message's envelope
  uint32_t link = 0;                    // 0-based position of the link in the message (0 for opens)
  std::string url;                      // click destination; empty for opens
  std::optional<TokenContext> context;  // set: a version 2 token
  bool operator==(const TokenFields&) const = default;
};

inline constexpr size_t kMinSecretBytes = 16;
inline constexpr size_t kMaxTokenUrlBytes = 4096;
// A context's four strings together; bigger ones are not put in tokens (links must stay short
// enough for 998-octet lines): the producer signs version 1 tokens and the endpoint falls back
// to the message log.
inline constexpr size_t kMaxContextBytes = 1024;
bool context_fits(const TokenContext& c);

// Errors: secret shorter than kMinSecretBytes, message id empty or > 255 bytes, url on an open
// token, click without url, url longer than kMaxTokenUrlBytes, a context that does not fit.
core::Result<std::string> sign_token(const TokenFields& fields, std::string_view secret);

// Errors (all permanent): not base64url, too short, bad version/kind, bad MAC, inconsistent
// fields. The message never says which check failed beyond that.
core::Result<TokenFields> verify_token(std::string_view token, std::string_view secret);

}  // namespace tern::tracking
