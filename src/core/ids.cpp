#include "core/ids.hpp"

#include <sodium.h>

#include <chrono>

namespace tern::core {

namespace {
constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";  // Crockford base32
}

std::string new_queue_id() {
  uint64_t ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  std::string id(20, '0');
  for (int i = 8; i >= 0; --i) {
    id[static_cast<size_t>(i)] = kAlphabet[ms & 31];
    ms >>= 5;
  }
  unsigned char r[11];
  randombytes_buf(r, sizeof r);
  for (int i = 0; i < 11; ++i) id[static_cast<size_t>(9 + i)] = kAlphabet[r[i] & 31];
  return id;
}

std::string random_hex(size_t n) {
  std::string raw(n, '\0');
  randombytes_buf(raw.data(), n);
  std::string hex(n * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(raw.data()), n);
  hex.pop_back();
  return hex;
}

}  // namespace tern::core
