// SSRF policy for webhook and tracking targets (issue 5): which URLs Tern may POST to and
// which resolved addresses it may connect to. Pure: the HTTP driver parses the URL here,
// resolves the host itself, and asks check_address() for every address it would connect to
// (also after each redirect), so a name that resolves to 127.0.0.1 is refused like the
// literal.
//
// URL rules (parse_url): "http" or "https" (any case) followed by "://"; no userinfo ('@' in
// the authority); host is a DNS name (ASCII letters, digits, '-', dots; labels 1..63, total at
// most 253), a strict dotted-quad IPv4 or a bracketed IPv6 literal without a zone id; port
// 1..65535 (default 80/443); path+query kept as given ("/" when empty), fragment dropped; no
// control characters, spaces, backslashes or bytes >= 0x80 anywhere; at most 2048 bytes.
// Numeric host forms that some resolvers and browsers read as IPv4 but that are not a
// strict dotted quad ("2130706433", "0x7f.1", "0177.0.0.1", "127.1", "1.2.3.4.5") are refused:
// a host whose last label is all digits or starts with "0x" must be a strict dotted quad.
//
// Refused address ranges (refusal(), each with a reason):
//   IPv4: 0/8 unspecified, 10/8 172.16/12 192.168/16 private, 100.64/10 CGNAT, 127/8 loopback,
//         169.254/16 link-local, 192.0.0/24 IETF protocol, 192.0.2/24 198.51.100/24
//         203.0.113/24 documentation, 198.18/15 benchmarking, 224/4 multicast, 240/4 reserved,
//         255.255.255.255 broadcast.
//   IPv6: :: unspecified, ::1 loopback, fc00::/7 unique-local, fe80::/10 link-local, fec0::/10
//         site-local, ff00::/8 multicast, 2001:db8::/32 documentation, 100::/64 discard,
//         64:ff9b:1::/48 local NAT64; and the IPv4 carried by ::ffff:0:0/96 (mapped), ::/96
//         (compatible), 64:ff9b::/96 (NAT64) and 2002::/16 (6to4) is judged as IPv4.
// Allow-list (operator): allow_loopback lets 127/8 and ::1 (in any of the forms above)
// through, for tests; `allow` prefixes let any matching address through.
// The same rules serve customers' relay hosts (check_host; [delivery] relay_allow), which the
// delivery engine resolves and checks address by address like the webhook client.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "dns/ip.hpp"

namespace tern::report {

struct TargetUrl {
  std::string scheme;  // "http" or "https"
  std::string host;    // lower case; an IPv6 literal without brackets
  uint16_t port = 0;
  std::string path;               // path and query, starts with '/'
  std::optional<dns::IpAddr> ip;  // set when the host is an IP literal
};

struct TargetPolicy {
  bool allow_loopback = false;
  std::vector<std::pair<dns::IpAddr, unsigned>> allow;  // operator's CIDR exceptions
};

core::Result<TargetUrl> parse_url(std::string_view url);

// Why an address is refused ("loopback", "private", ...), or nullopt when it is public.
// Ignores any allow-list.
std::optional<std::string> refusal(const dns::IpAddr& a);

// The policy's verdict on one address a connection would go to.
core::Result<void> check_address(const dns::IpAddr& a, const TargetPolicy& policy);

// parse_url, then check_address when the host is an IP literal (a name is checked by the
// caller after resolution).
core::Result<TargetUrl> check_url(std::string_view url, const TargetPolicy& policy);

// A bare host (a relay's, or a URL's host): an IP literal (brackets allowed) is judged by
// check_address and returned; a name must be a DNS name that is not a numeric IPv4 form
// ("0x7f000001", "2130706433", "127.1") and is not "localhost" or under ".localhost"
// (RFC 6761: always loopback; judged as 127.0.0.1). nullopt for an acceptable name, which the
// caller checks again after resolving it.
core::Result<std::optional<dns::IpAddr>> check_host(std::string_view host,
                                                    const TargetPolicy& policy);

// A policy from an operator's allow-list: CIDR prefixes ("10.1.0.0/16", "fd00::/8"; a bare
// address is a /32 or /128). An error names `what` (e.g. "[delivery] relay_allow") and the
// first malformed entry.
core::Result<TargetPolicy> make_policy(bool allow_loopback, const std::vector<std::string>& allow,
                                       std::string_view what);

}  // namespace tern::report
