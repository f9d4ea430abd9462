// Reads a DNS response message (RFC 1035 §4.1) into an Answer for one question. The message
// comes from a resolver we trust to have done the resolving (libunbound), but its bytes are
// still treated as hostile: every length is checked against the buffer, compression pointers
// must point strictly backwards (no loops), names stay within 255 octets (RFC 1035 §2.3.4).
//
// How the answer is read:
//   - RCODE 3 → nxdomain; any RCODE but 0 and 3 → temp_error (SERVFAIL, REFUSED, ...).
//   - The CNAME chain is followed from the question name through the answer section, in
//     order, at most 16 links (a longer chain or a loop is a temp_error, as resolvers do).
//   - Records of the asked type owned by the end of the chain are the data; none → nodata
//     (or nxdomain when RCODE says so, e.g. a CNAME into a name that does not exist).
//   - For a CNAME question the chain is not followed: `cnames` and `canonical_name` hold the
//     one target.
//   - TXT: the character-strings of one record concatenated (RFC 7208 §3.3, RFC 6376 §3.6.2.2).
//   - MX: sorted by preference, then host; hosts normalised (lower case, no trailing dot).
//   - Names with bytes outside printable ASCII, or dots inside a label, are written with
//     RFC 1035 §5.1 escapes (\DDD, \.) so that they never collide with an ordinary name.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "dns/resolver.hpp"

namespace tern::dns {

Answer parse_response(const uint8_t* msg, size_t len, const std::string& qname, RType type);

}  // namespace tern::dns
