// The key a client address is counted under by every per-client limit (connection caps, AUTH
// failure limits): IPv4 (also v4-mapped IPv6) by the address; IPv6 by its /64, because one host
// usually owns a whole /64 and per-address counting would be trivially sidestepped. A zone
// ("fe80::1%eth0") is dropped. Anything that does not parse is its own key. Pure.
#pragma once
#include <string>
#include <string_view>

namespace tern::core {

// "2001:db8:1:2:3:4:5:6" → "2001:db8:1:2::/64"; "::ffff:192.0.2.1" → "192.0.2.1".
std::string client_key(std::string_view ip);

}  // namespace tern::core
