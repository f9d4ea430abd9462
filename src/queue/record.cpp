#include "queue/record.hpp"

#include <cstring>

namespace tern::queue::record {

namespace {

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t get32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

void compute_tag(const uint8_t* fixed16, std::string_view id, std::string_view payload,
                 uint8_t* out) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, kTagSize);
  crypto_generichash_update(&st, fixed16, 16);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(id.data()), id.size());
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(payload.data()),
                            payload.size());
  crypto_generichash_final(&st, out, kTagSize);
}

}  // namespace

HeaderBytes encode_header(Type t, std::string_view id, std::string_view payload) {
  HeaderBytes h{};
  std::memcpy(h.data(), kMagic, 4);
  h[4] = static_cast<uint8_t>(t);
  put16(h.data() + 8, static_cast<uint16_t>(id.size()));
  put32(h.data() + 12, static_cast<uint32_t>(payload.size()));
  compute_tag(h.data(), id, payload, h.data() + 16);
  return h;
}

std::optional<Header> parse_header(const uint8_t* p) {
  if (std::memcmp(p, kMagic, 4) != 0) return std::nullopt;
  if (p[4] < static_cast<uint8_t>(Type::data) || p[4] > static_cast<uint8_t>(Type::abort))
    return std::nullopt;
  if (p[5] || p[6] || p[7] || p[10] || p[11]) return std::nullopt;
  Header h;
  h.type = static_cast<Type>(p[4]);
  h.id_len = get16(p + 8);
  h.len = get32(p + 12);
  if (h.id_len == 0 || h.id_len > kMaxIdLen || h.len > kMaxPayload) return std::nullopt;
  return h;
}

bool tag_matches(const uint8_t* header, std::string_view id, std::string_view payload) {
  uint8_t tag[kTagSize];
  compute_tag(header, id, payload, tag);
  return sodium_memcmp(tag, header + 16, kTagSize) == 0;
}

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdLen) return false;
  for (char c : id) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::string to_hex(const uint8_t* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    s += kDigits[p[i] >> 4];
    s += kDigits[p[i] & 15];
  }
  return s;
}

ContentHash::ContentHash() { crypto_generichash_init(&st_, nullptr, 0, kTagSize); }

void ContentHash::update(std::string_view b) {
  crypto_generichash_update(&st_, reinterpret_cast<const unsigned char*>(b.data()), b.size());
}

std::string ContentHash::hex_final() {
  uint8_t out[kTagSize];
  crypto_generichash_final(&st_, out, kTagSize);
  return to_hex(out, kTagSize);
}

}  // namespace tern::queue::record
