// IP addresses and CIDR prefixes as values, for SPF's ip4/ip6/a/mx mechanisms (RFC 7208 §5.6)
// and for turning A/AAAA rdata into text. Parsing is strict (inet_pton): no leading zeros
// tricks, no hostnames, no zone ids.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tern::dns {

struct IpAddr {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // IPv4 uses the first 4

  // "192.0.2.1" or "2001:db8::1". An IPv4-mapped IPv6 address (::ffff:a.b.c.d) comes back as
  // IPv4: RFC 7208 §5 evaluates such a client as the IPv4 address it carries.
  static std::optional<IpAddr> parse(std::string_view text);
  static IpAddr from_v4(const uint8_t* b4);
  static IpAddr from_v6(const uint8_t* b16);
  std::string to_string() const;
  size_t width() const { return v6 ? 128 : 32; }
};

// True when `a` and `net` are of the same family and agree on the first `prefix` bits.
// prefix larger than the family width never matches.
bool in_prefix(const IpAddr& a, const IpAddr& net, unsigned prefix);

}  // namespace tern::dns
