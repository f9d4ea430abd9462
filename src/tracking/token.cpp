#include "tracking/token.hpp"

#include <sodium.h>

#include <array>
#include <optional>

namespace tern::tracking {

namespace {

constexpr uint8_t kVersion = 1;
constexpr uint8_t kVersionWithContext = 2;
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

void put_u64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}

void put_str16(std::string& out, const std::string& s) {
  out += static_cast<char>((s.size() >> 8) & 0xff);
  out += static_cast<char>(s.size() & 0xff);
  out += s;
}

// The context is sealed (XSalsa20-Poly1305, random nonce) with a key derived from the secret:
// the link is in the recipient's hands, and the callback data, bulk id and the customer's
// tracking URL are not theirs to read. The HMAC over the whole payload still authenticates.
constexpr std::string_view kContextKeyLabel = "tern-tracking-context-v2";
constexpr size_t kSealOverhead = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES;

std::array<unsigned char, crypto_secretbox_KEYBYTES> context_key(std::string_view secret) {
  std::array<unsigned char, crypto_secretbox_KEYBYTES> key{};
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, key.size());
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(kContextKeyLabel.data()),
                            kContextKeyLabel.size());
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(secret.data()),
                            secret.size());
  crypto_generichash_final(&st, key.data(), key.size());
  return key;
}

// len(2, BE) nonce ciphertext+MAC (len bytes after the nonce).
void put_sealed(std::string& out, const std::string& plain, std::string_view secret) {
  const auto key = context_key(secret);
  std::string sealed(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plain.size(), '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(sealed.data());
  randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(nonce + crypto_secretbox_NONCEBYTES,
                        reinterpret_cast<const unsigned char*>(plain.data()), plain.size(), nonce,
                        key.data());
  const size_t n = sealed.size() - crypto_secretbox_NONCEBYTES;
  out += static_cast<char>((n >> 8) & 0xff);
  out += static_cast<char>(n & 0xff);
  out += sealed;
}

// Opens the sealed context at the front of `in`, advancing it; nullopt when malformed.
std::optional<std::string> get_sealed(std::string_view& in, std::string_view secret) {
  if (in.size() < 2) return std::nullopt;
  const size_t n = (static_cast<size_t>(static_cast<unsigned char>(in[0])) << 8) |
                   static_cast<unsigned char>(in[1]);
  if (n < crypto_secretbox_MACBYTES || in.size() < 2 + crypto_secretbox_NONCEBYTES + n)
    return std::nullopt;
  const auto* nonce = reinterpret_cast<const unsigned char*>(in.data() + 2);
  const auto* box = nonce + crypto_secretbox_NONCEBYTES;
  std::string plain(n - crypto_secretbox_MACBYTES, '\0');
  const auto key = context_key(secret);
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(plain.data()), box, n, nonce,
                                 key.data()) != 0)
    return std::nullopt;
  in.remove_prefix(2 + crypto_secretbox_NONCEBYTES + n);
  return plain;
}

// Reads a context at the front of `in`, advancing it; false when malformed.
bool get_context(std::string_view& in, TokenContext& c) {
  if (in.size() < 8) return false;
  uint64_t a = 0;
  for (size_t i = 0; i < 8; ++i) a = (a << 8) | static_cast<unsigned char>(in[i]);
  c.account_id = static_cast<int64_t>(a);
  in.remove_prefix(8);
  for (std::string* s : {&c.recipient, &c.bulk_id, &c.tracking_url, &c.callback_data}) {
    if (in.size() < 2) return false;
    const size_t n = (static_cast<size_t>(static_cast<unsigned char>(in[0])) << 8) |
                     static_cast<unsigned char>(in[1]);
    if (in.size() < 2 + n) return false;
    *s = std::string(in.substr(2, n));
    in.remove_prefix(2 + n);
  }
  return true;
}

}  // namespace

bool context_fits(const TokenContext& c) {
  return c.recipient.size() + c.bulk_id.size() + c.tracking_url.size() + c.callback_data.size() <=
         kMaxContextBytes;
}

core::Result<std::string> sign_token(const TokenFields& f, std::string_view secret) {
  if (secret.size() < kMinSecretBytes) return core::Error::perm("tracking secret too short");
  if (f.message_id.empty() || f.message_id.size() > 255)
    return core::Error::perm("tracking token: message id must be 1..255 bytes");
  if (f.kind == TokenKind::open && !f.url.empty())
    return core::Error::perm("tracking token: an open token has no url");
  if (f.kind == TokenKind::click && f.url.empty())
    return core::Error::perm("tracking token: a click token needs a url");
  if (f.url.size() > kMaxTokenUrlBytes) return core::Error::perm("tracking token: url too long");
  if (f.context && !context_fits(*f.context))
    return core::Error::perm("tracking token: context too long");

  std::string payload;
  payload.reserve(kFixedBytes + f.message_id.size() + f.url.size() + kTagBytes);
  payload += static_cast<char>(f.context ? kVersionWithContext : kVersion);
  payload += static_cast<char>(f.kind);
  put_u32(payload, f.recipient);
  put_u32(payload, f.link);
  payload += static_cast<char>(f.message_id.size());
  payload += f.message_id;
  if (f.context) {
    std::string plain;
    put_u64(plain, static_cast<uint64_t>(f.context->account_id));
    put_str16(plain, f.context->recipient);
    put_str16(plain, f.context->bulk_id);
    put_str16(plain, f.context->tracking_url);
    put_str16(plain, f.context->callback_data);
    put_sealed(payload, plain, secret);
  }
  payload += f.url;
  auto tag = mac(secret, payload);
  payload.append(reinterpret_cast<const char*>(tag.data()), kTagBytes);

  const size_t n =
      sodium_base64_ENCODED_LEN(payload.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  std::string out(n, '\0');
  sodium_bin2base64(out.data(), n, reinterpret_cast<const unsigned char*>(payload.data()),
                    payload.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(n - 1);
  return out;
}

core::Result<TokenFields> verify_token(std::string_view token, std::string_view secret) {
  if (secret.size() < kMinSecretBytes) return core::Error::perm("tracking secret too short");
  const size_t max_raw = kFixedBytes + 255 + 2 + kSealOverhead + 8 + 4 * 2 + kMaxContextBytes +
                         kMaxTokenUrlBytes + kTagBytes;
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
  const auto version = static_cast<uint8_t>(payload[0]);
  if (version != kVersion && version != kVersionWithContext) return invalid();
  TokenFields f;
  const char kind = payload[1];
  if (kind != 'o' && kind != 'c') return invalid();
  f.kind = static_cast<TokenKind>(kind);
  f.recipient = get_u32(payload.substr(2));
  f.link = get_u32(payload.substr(6));
  const size_t id_len = static_cast<unsigned char>(payload[10]);
  if (id_len == 0 || payload.size() < kFixedBytes + id_len) return invalid();
  f.message_id = std::string(payload.substr(kFixedBytes, id_len));
  std::string_view rest = payload.substr(kFixedBytes + id_len);
  if (version == kVersionWithContext) {
    auto plain = get_sealed(rest, secret);
    if (!plain) return invalid();
    std::string_view p = *plain;
    TokenContext c;
    if (!get_context(p, c) || !p.empty() || !context_fits(c)) return invalid();
    f.context = std::move(c);
  }
  f.url = std::string(rest);
  if ((f.kind == TokenKind::click) == f.url.empty()) return invalid();
  return f;
}

}  // namespace tern::tracking
