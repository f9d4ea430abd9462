// IPv4/IPv6 network prefixes ("127.0.0.0/8", "::1/128") for trusted-network matching.
#pragma once
#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace tern::net {

struct Cidr {
  std::array<unsigned char, 16> addr{};  // IPv4 stored as IPv4-mapped IPv6
  int prefix = 0;                        // in IPv6 bits
  static std::optional<Cidr> parse(std::string_view s);
  bool contains(std::string_view ip) const;
};

}  // namespace tern::net
