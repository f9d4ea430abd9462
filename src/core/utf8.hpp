// UTF-8 well-formedness (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF).
// What reaches JSON (spool envelopes, the message log, reports) must be valid UTF-8:
// nlohmann::json throws on anything else when it dumps.
#pragma once
#include <string>
#include <string_view>

namespace tern::core {

bool valid_utf8(std::string_view s);
// s with every byte that is not part of a well-formed sequence replaced by U+FFFD.
std::string to_valid_utf8(std::string_view s);
// Length of the well-formed sequence starting at s[i], or 0 if there is none.
size_t utf8_sequence_length(std::string_view s, size_t i);

}  // namespace tern::core
