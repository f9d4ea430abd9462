// Display text of an unstructured header value (Subject): RFC 2047 encoded-words decoded, for
// the message log and its search, never for the message itself (which is passed on as sent).
//
// Invariants:
//  - The result is valid UTF-8 without control characters (tab becomes a space) and at most
//    max_bytes long (cut at a character boundary): it is safe to store and to put in JSON.
//  - B and Q words in UTF-8, US-ASCII and ISO-8859-1 are decoded (RFC 2231 language suffixes
//    ignored); whitespace between two adjacent encoded-words is dropped (RFC 2047 §6.2). A
//    word in another charset, or one that does not decode, is kept as written.
//  - Raw bytes that are not UTF-8 (a Latin-1 subject sent as is) become U+FFFD.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace tern::message {

inline constexpr size_t kMaxDisplayText = 998;

// `value` is the unfolded field value (HeaderField::value()).
std::string decode_display_text(std::string_view value, size_t max_bytes = kMaxDisplayText);

}  // namespace tern::message
