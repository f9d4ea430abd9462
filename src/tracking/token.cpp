#include "tracking/token.hpp"

#include <sodium.h>

#include <array>

namespace tern::tracking {

namespace {

constexpr uint8_t kVersion = 1;
constexpr size_t kTagBytes = 16;
constexpr size_t kFixedBytes = 1 + 1 + 4 + 4 + 1;  // version kind recipient link id_len
constexpr std::string_view kContext = "tern-tracking-v1";

void put_u32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}

uint32_t get_u32(std::string_view in) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

std::array<unsigned char, crypto_auth_hmacsha256_BYTES> mac(std::string_view secret,
                                                            std::string_view payload) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(secret.data()),
                              secret.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(kContext.data()),
                                kContext.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(payload.data()),
                                payload.size());
  std::array<unsigned char, crypto_auth_hmacsha256_BYTES> out{};
  crypto_auth_hmacsha256_final(&st, out.data());
  return out;
}

core::Error invalid() { return core::Error::perm("invalid tracking token"); }

}  // namespace

core::Result<std::string> sign_token(const TokenFields& f, std::string_view secret) {
  if (secret.size() < kMinSecretBytes) return core::Error::perm("tracking secret too short");
  if (f.message_id.empty() || f.message_id.size() > 255)
    return core::Error::perm("tracking token: message id must be 1..255 bytes");
  if (f.kind == TokenKind::open && !f.url.empty())
    return core::Error::perm("tracking token: an open token has no url");
  if (f.kind == TokenKind::click && f.url.empty())
    return core::Error::perm("tracking token: a click token needs a url");
  if (f.url.size() > kMaxTokenUrlBytes) return core::Error::perm("tracking token: url too long");

  std::string payload;
  payload.reserve(kFixedBytes + f.message_id.size() + f.url.size() + kTagBytes);
  payload += static_cast<char>(kVersion);
  payload += static_cast<char>(f.kind);
  put_u32(payload, f.recipient);
  put_u32(payload, f.link);
  payload += static_cast<char>(f.message_id.size());
  payload += f.message_id;
  payload += f.url;
  auto tag = mac(secret, payload);
  payload.append(reinterpret_cast<const char*>(tag.data()), kTagBytes);

  const size_t n = sodium_base64_ENCODED_LEN(payload.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  std::string out(n, '\0');
  sodium_bin2base64(out.data(), n, reinterpret_cast<const unsigned char*>(payload.data()),
                    payload.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(n - 1);
  return out;
}

core::Result<TokenFields> verify_token(std::string_view token, std::string_view secret) {
  if (secret.size() < kMinSecretBytes) return core::Error::perm("tracking secret too short");
  const size_t max_raw = kFixedBytes + 255 + kMaxTokenUrlBytes + kTagBytes;
  if (token.empty() || token.size() > (max_raw * 4 + 2) / 3) return invalid();
  std::string raw(token.size() / 4 * 3 + 3, '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), token.data(),
                        token.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      end != token.data() + token.size())
    return invalid();
  raw.resize(len);
  if (raw.size() < kFixedBytes + 1 + kTagBytes) return invalid();

  std::string_view payload(raw.data(), raw.size() - kTagBytes);
  auto expect = mac(secret, payload);
  if (sodium_memcmp(expect.data(), raw.data() + payload.size(), kTagBytes) != 0) return invalid();

  // Authentic from here on; still check structure so a bug in sign() cannot turn into a
  // read past the end.
  if (static_cast<uint8_t>(payload[0]) != kVersion) return invalid();
  TokenFields f;
  const char kind = payload[1];
  if (kind != 'o' && kind != 'c') return invalid();
  f.kind = static_cast<TokenKind>(kind);
  f.recipient = get_u32(payload.substr(2));
  f.link = get_u32(payload.substr(6));
  const size_t id_len = static_cast<unsigned char>(payload[10]);
  if (id_len == 0 || payload.size() < kFixedBytes + id_len) return invalid();
  f.message_id = std::string(payload.substr(kFixedBytes, id_len));
  f.url = std::string(payload.substr(kFixedBytes + id_len));
  if ((f.kind == TokenKind::click) == f.url.empty()) return invalid();
  return f;
}

}  // namespace tern::tracking
