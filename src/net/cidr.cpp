#include "net/cidr.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace tern::net {

namespace {
std::optional<std::array<unsigned char, 16>> to_v6(std::string_view ip, bool* was_v4) {
  std::string s(ip);
  std::array<unsigned char, 16> a{};
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    a[10] = a[11] = 0xff;
    std::memcpy(&a[12], &v4, 4);
    if (was_v4) *was_v4 = true;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.data()) == 1) {
    if (was_v4) *was_v4 = false;
    return a;
  }
  return std::nullopt;
}
}  // namespace

std::optional<Cidr> Cidr::parse(std::string_view s) {
  auto slash = s.find('/');
  bool v4 = false;
  auto a = to_v6(s.substr(0, slash), &v4);
  if (!a) return std::nullopt;
  int bits = v4 ? 32 : 128;
  if (slash != std::string_view::npos) {
    auto p = s.substr(slash + 1);
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), bits);
    if (ec != std::errc() || ptr != p.data() + p.size() || bits < 0 || bits > (v4 ? 32 : 128))
      return std::nullopt;
  }
  return Cidr{*a, v4 ? bits + 96 : bits};
}

bool Cidr::contains(std::string_view ip) const {
  auto a = to_v6(ip, nullptr);
  if (!a) return false;
  int bits = prefix;
  for (size_t i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    unsigned char mask = bits >= 8 ? 0xff : static_cast<unsigned char>(0xff << (8 - bits));
    if (((*a)[i] & mask) != (addr[i] & mask)) return false;
  }
  return true;
}

}  // namespace tern::net
