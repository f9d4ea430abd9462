// RFC 5322 header section: split into fields, unfold values, rebuild after edits.
//
// The parser works on the bytes the client sent (CRLF line endings; a bare LF message is
// rejected elsewhere, so LF-only input only needs to parse safely, not well). A field keeps
// its raw bytes so untouched fields are passed on exactly as received (DKIM signs them).
//
// Invariants:
//  - fields' raw bytes concatenated == text[0, body_offset): nothing is lost or invented.
//  - The section ends at the first empty line (body_offset points AT that CRLF, so the body
//    part keeps it), or at the first line that is neither a field nor a continuation
//    (RFC 5322 §2.2; Postfix cleanup treats such a line as the start of the body too).
// RFC 5322 §2.2 (fields), §2.2.3 (folding), §3.6 (field names).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tern::message {

struct HeaderField {
  std::string name;  // as written (compare case-insensitively)
  std::string raw;   // "Name: value\r\n" including continuation lines and the final CRLF
  // Unfolded value after the colon, leading/trailing whitespace trimmed (RFC 5322 §2.2.3).
  std::string value() const;
};

struct HeaderSection {
  std::vector<HeaderField> fields;
  size_t body_offset = 0;  // where the body part (starting with the empty line, if any) begins
  bool complete = false;   // an empty line was found
};

// Parses the header section at the start of `text`.
HeaderSection parse_header_section(std::string_view text);

// Position just past the end of the header section if `text` already contains the empty
// line that ends it ("\r\n" at offset 0, or "\r\n\r\n"), else npos. `from` lets callers that
// append data rescan only the tail.
size_t find_header_end(std::string_view text, size_t from = 0);

// Removes CRLF that precede whitespace (unfolding) and trims outer whitespace.
std::string unfold(std::string_view v);

bool is_field_name(std::string_view n);  // RFC 5322 §3.6.8 ftext: printable ASCII except ':'

}  // namespace tern::message
