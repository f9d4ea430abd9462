#include "store/cursor.hpp"

#include <fmt/format.h>
#include <sodium.h>

#include <charconv>
#include <cstring>

namespace tern::store {

namespace {
constexpr size_t kMaxCursor = 512;
constexpr size_t kMaxText = 256;
}  // namespace

std::string encode_cursor(std::string_view tag, int64_t number, std::string_view text) {
  const std::string raw = fmt::format("{}{}:{}", tag, number, text);
  std::string out(sodium_base64_ENCODED_LEN(raw.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                  '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(raw.data()),
                    raw.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::optional<std::pair<int64_t, std::string>> decode_cursor(std::string_view tag,
                                                             std::string_view cursor) {
  if (cursor.empty() || cursor.size() > kMaxCursor) return std::nullopt;
  // The alphabet first: libsodium's decoder maps some bytes outside it (0xff) to values.
  for (char c : cursor)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_'))
      return std::nullopt;
  std::string raw(cursor.size(), '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), cursor.data(),
                        cursor.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      end != cursor.data() + cursor.size())
    return std::nullopt;
  raw.resize(len);
  std::string_view rest(raw);
  if (!rest.starts_with(tag)) return std::nullopt;
  rest.remove_prefix(tag.size());
  const size_t colon = rest.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 19) return std::nullopt;
  for (char c : rest.substr(0, colon))
    if (c < '0' || c > '9') return std::nullopt;
  if (colon > 1 && rest[0] == '0') return std::nullopt;  // only the form encode makes
  int64_t n = 0;
  auto [p, ec] = std::from_chars(rest.data(), rest.data() + colon, n);
  if (ec != std::errc() || p != rest.data() + colon) return std::nullopt;
  std::string text(rest.substr(colon + 1));
  if (text.empty() || text.size() > kMaxText) return std::nullopt;
  return std::make_pair(n, std::move(text));
}

}  // namespace tern::store
