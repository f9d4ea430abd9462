// MIME header values a rewriter needs: Content-Type (media type + parameters, RFC 2045 §5.1),
// Content-Transfer-Encoding (§6.1) and the disposition type (RFC 2183).
//
// Invariants: media type, subtype, parameter names and encodings are lower-cased; parameter
// values are unquoted (quoted-pair unescaped) but otherwise as written. A value that does not
// parse gives an empty type, which callers treat as the RFC 2045 default.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tern::tracking {

struct ContentType {
  std::string type;  // "text/html", "multipart/alternative"; empty if absent or invalid
  std::vector<std::pair<std::string, std::string>> params;
  std::optional<std::string> param(std::string_view name) const;
};

ContentType parse_content_type(std::string_view value);

// First token of the value, lower-cased ("quoted-printable", "attachment").
std::string first_token_lower(std::string_view value);

}  // namespace tern::tracking
