// RFC 5322 §3.4 address lists as found in From, To and Cc: display names (atoms, quoted
// strings), comments (nested, escaped), groups ("undisclosed-recipients:;"), angle addresses
// and bare addr-specs, with the obsolete forms real mail still carries (§4.4: empty list
// elements, CFWS around dots, obs-route "<@a,@b:user@d>").
//
// Invariants: never reads past the input; bounded recursion (comments are scanned with a
// depth counter, not recursion); an address in the result is a valid core::Mailbox (so it
// compares with envelope addresses the same way: domain lower-cased, local part as written,
// quoted locals keep their quotes).
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/address.hpp"

namespace tern::message {

struct NamedMailbox {
  std::string display_name;  // decoded phrase (quotes removed), "" if none
  core::Mailbox mailbox;
};

// nullopt when the list is malformed or an address is invalid. An empty list (or a list of
// empty groups) parses to an empty vector.
std::optional<std::vector<NamedMailbox>> parse_address_list(std::string_view value);

}  // namespace tern::message
