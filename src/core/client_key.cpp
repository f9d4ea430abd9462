#include "core/client_key.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace tern::core {

std::string client_key(std::string_view ip) {
  std::string s(ip.substr(0, 64));
  if (auto pct = s.find('%'); pct != std::string::npos) s.resize(pct);
  unsigned char a[16];
  if (s.find(':') != std::string::npos && inet_pton(AF_INET6, s.c_str(), a) == 1) {
    static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char buf[INET6_ADDRSTRLEN];
    if (std::memcmp(a, kMapped, sizeof kMapped) == 0) {
      inet_ntop(AF_INET, a + 12, buf, sizeof buf);
      return buf;
    }
    std::memset(a + 8, 0, 8);
    inet_ntop(AF_INET6, a, buf, sizeof buf);
    return std::string(buf) + "/64";
  }
  return s;
}

}  // namespace tern::core
