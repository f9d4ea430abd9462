// Builds a complete RFC 5322 message from the fields of an HTTP send request (issue 5,
// POST /api/v1/messages): Date, Message-ID, MIME-Version, a multipart/mixed (attachments)
// around a multipart/alternative (text + html), or a single part when that is all there is.
// Pure: the caller supplies the time, the host name and the Message-ID's local part.
//
// Invariants:
//  - Every field that reaches a header (from, to, cc, bcc, replyTo, subject, header names and
//    values, filenames, content types) is refused when it holds CR, LF or NUL: no input can
//    add a header line or a MIME part. The output has CRLF line ends only and no line longer
//    than 998 octets.
//  - Addresses are checked with core::parse_mailbox; header names must be RFC 5322 field names
//    and not ones Tern writes or owns (From To Cc Bcc Date Message-ID MIME-Version Content-*
//    DKIM-Signature Received Subject Reply-To Return-Path X-IB-*).
//  - Non-ASCII subject, display names and header values become RFC 2047 encoded-words (UTF-8,
//    B encoding, never splitting a character); non-ASCII filenames are written as RFC 2231
//    filename* (and an RFC 2047 name= for old clients).
//  - Text parts are 7bit when plain short-lined ASCII, else quoted-printable; attachments are
//    base64 in 76-character lines (their content is strict base64, core::base64_decode).
//  - Boundaries are random and checked not to occur in any part's encoded content.
//  - Limits: composed size <= max_bytes (20 MiB), distinct recipients <= max_recipients (1000).
// RFC 5322, RFC 2045 (§6.7 QP, §6.8 base64), RFC 2046 §5.1, RFC 2047, RFC 2231.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/result.hpp"

namespace tern::message {

struct ComposeAttachment {
  std::string filename;
  std::string content_type;  // "" = application/octet-stream
  std::string content;       // base64 (RFC 4648, padded)
};

struct ComposeInput {
  std::string from;  // "a@example.com" or "Name <a@example.com>"
  std::vector<std::string> to, cc, bcc;
  std::string reply_to;
  std::string subject;
  std::string text, html;
  std::vector<ComposeAttachment> attachments;
  std::vector<std::pair<std::string, std::string>> headers;  // extra fields, in order
};

struct ComposeOptions {
  std::string hostname = "localhost";  // Message-ID domain
  std::string id;                      // Message-ID local part (e.g. a queue id); "" = random
  int64_t now_unix = 0;                // Date
  size_t max_bytes = 20u << 20;
  size_t max_recipients = 1000;
};

struct Composed {
  std::string message;                  // complete message, CRLF line ends
  std::string sender;                   // the From address (envelope sender)
  std::vector<std::string> recipients;  // to, cc, bcc addresses, deduplicated, in that order
  std::string message_id;               // "<id@hostname>"
  bool smtputf8 = false;                // an address has a non-ASCII byte
};

// Permanent errors name the field: "subject: must not contain CR, LF or NUL",
// "to[2]: invalid address", "headers: Content-Type is set by Tern", ...
core::Result<Composed> compose(const ComposeInput& in, const ComposeOptions& opt);

// RFC 2047 encoded-words (UTF-8, B) for an unstructured value, folded as "\r\n " between words.
// Exposed for tests.
std::string encode_words(std::string_view utf8);

}  // namespace tern::message
