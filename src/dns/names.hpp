// Domain names as text, the one form the dns module hands around: lower case (ASCII only),
// no trailing dot, labels separated by '.'. Comparisons elsewhere rely on this normal form.
// RFC 1035 §2.3.4: labels at most 63 octets, a name at most 255 octets on the wire, which is
// 253 characters of text without the trailing dot.
#pragma once
#include <string>
#include <string_view>

namespace tern::dns {

// Lower-cases ASCII letters and drops one trailing dot ("Example.COM." -> "example.com").
std::string normalize_name(std::string_view name);

// True when `name` (normal form or not) is a syntactically usable DNS name: 1..253 characters,
// no empty label, every label 1..63 characters. The root ("" or ".") is not accepted.
bool valid_name(std::string_view name);

// ASCII-only case-insensitive equality (DNS names compare this way, RFC 4343).
bool iequals(std::string_view a, std::string_view b);

}  // namespace tern::dns
