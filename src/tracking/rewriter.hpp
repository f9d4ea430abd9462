// Applies open/click tracking to one complete RFC 5322 message for one recipient: every http(s)
// link in a text/html part goes through <base>/t/c/<token>, and an open pixel
// <img src="<base>/t/o/<token>" ...> is added to each text/html part.
//
// Invariants:
//  - All or nothing: when the result is not `rewritten`, `message` is the input, unchanged
//    (malformed MIME, limits exceeded, bad options: `reason` says why).
//  - The header section and every byte outside a rewritten text/html body are copied as they
//    were: multipart preambles, epilogues, delimiters, part headers, text/plain parts,
//    attachments (also text/html ones, Content-Disposition: attachment), message/rfc822.
//  - A rewritten body is re-encoded in its own Content-Transfer-Encoding (7bit, 8bit, binary,
//    quoted-printable, base64); charset is not interpreted or changed.
//  - Input with a bare CR or LF is refused, so a rewritten message has CRLF line ends only;
//    7bit/8bit bodies whose lines would pass 998 octets are refused rather than broken.
//  - Work is bounded: size, nesting depth, part count and link count limits.
// RFC 2045 (§5 Content-Type, §6 encodings), RFC 2046 §5.1 (multipart), RFC 5322 §2.1.1.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tracking/token.hpp"

namespace tern::tracking {

struct RewriteLimits {
  size_t max_message_bytes = 50u << 20;
  size_t max_depth = 20;        // multipart nesting
  size_t max_parts = 1000;      // body parts in the whole message
  size_t max_links = 5000;      // links rewritten; more → refused
  size_t max_url_bytes = 2048;  // longer links are left as they are
};

struct RewriteOptions {
  std::string base_url;  // "https://t.example.com" (http or https, no path query or fragment chars)
  std::string secret;    // platform tracking secret (>= kMinSecretBytes)
  std::string message_id;               // goes into every token
  uint32_t recipient = 0;               // index of the recipient this copy is for
  std::optional<TokenContext> context;  // set: version 2 tokens carrying it (token.hpp)
  RewriteLimits limits;
};

enum class RewriteStatus {
  rewritten,  // at least one text/html part was rewritten
  no_html,    // nothing to track (no text/html part outside attachments); message unchanged
  refused,    // malformed input, limit, or bad options; message unchanged, see reason
};

struct RewriteResult {
  RewriteStatus status = RewriteStatus::no_html;
  std::string message;
  std::string reason;  // short printable ASCII, safe to log: quotes at most an encoding name
  size_t html_parts = 0;
  size_t links = 0;
};

RewriteResult rewrite_message(std::string_view message, const RewriteOptions& options);

}  // namespace tern::tracking
