#include "dns/ip.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace tern::dns {

std::optional<IpAddr> IpAddr::parse(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  std::string s(text);  // inet_pton wants a NUL-terminated string; embedded NULs fail below
  if (s.find('\0') != std::string::npos) return std::nullopt;
  uint8_t buf[16];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) return from_v4(buf);
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(buf, mapped, 12) == 0) return from_v4(buf + 12);
    return from_v6(buf);
  }
  return std::nullopt;
}

IpAddr IpAddr::from_v4(const uint8_t* b4) {
  IpAddr a;
  std::memcpy(a.bytes.data(), b4, 4);
  return a;
}

IpAddr IpAddr::from_v6(const uint8_t* b16) {
  IpAddr a;
  a.v6 = true;
  std::memcpy(a.bytes.data(), b16, 16);
  return a;
}

std::string IpAddr::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return buf;
}

bool in_prefix(const IpAddr& a, const IpAddr& net, unsigned prefix) {
  if (a.v6 != net.v6 || prefix > a.width()) return false;
  unsigned full = prefix / 8, rest = prefix % 8;
  if (std::memcmp(a.bytes.data(), net.bytes.data(), full) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = uint8_t(0xff << (8 - rest));
  return (a.bytes[full] & mask) == (net.bytes[full] & mask);
}

}  // namespace tern::dns
