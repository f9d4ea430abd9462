// Mailbox addresses (RFC 5321 §4.1.2 Mailbox, RFC 6531 UTF-8 local parts and domains).
// parse_mailbox accepts exactly one envelope address without angle brackets; the empty
// reverse-path is handled by the caller. Domains are compared case-insensitively; the
// local part is kept as given.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace tern::core {

struct Mailbox {
  std::string local;
  std::string domain;  // lower-cased ASCII (UTF-8 bytes kept as given)
  std::string str() const { return local + "@" + domain; }
};

// Returns nullopt on bad syntax. Rejects control characters, NUL, spaces outside quotes,
// empty parts, over-long parts (local 64, domain 255, total 254 octets).
std::optional<Mailbox> parse_mailbox(std::string_view s);

// Domain syntax: labels of letters, digits, hyphens (or UTF-8), or an address literal [..].
bool valid_domain(std::string_view d);

std::string to_lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);

}  // namespace tern::core
