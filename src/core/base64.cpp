#include "core/base64.hpp"

#include <sodium.h>

namespace tern::core {

std::string base64_encode(std::string_view in) {
  const size_t n = sodium_base64_ENCODED_LEN(in.size(), sodium_base64_VARIANT_ORIGINAL);
  std::string out(n, '\0');
  sodium_bin2base64(out.data(), n, reinterpret_cast<const unsigned char*>(in.data()), in.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.resize(n - 1);
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  std::string out(in.size() / 4 * 3 + 3, '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), in.data(),
                        in.size(), nullptr, &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0)
    return std::nullopt;
  if (end != in.data() + in.size()) return std::nullopt;
  out.resize(len);
  return out;
}

}  // namespace tern::core
