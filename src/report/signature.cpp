#include "report/signature.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <vector>

namespace tern::report {

namespace {

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

}  // namespace

core::Result<std::string> sign(std::string_view secret, int64_t unix_s, std::string_view body) {
  if (secret.empty()) return core::Error::perm("webhook secret is empty");
  if (secret.size() > 4096) return core::Error::perm("webhook secret longer than 4096 bytes");
  if (unix_s < 0) return core::Error::perm("webhook timestamp is negative");
  std::string msg = std::to_string(unix_s);
  msg += '.';
  msg.append(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
            reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), mac, &len))
    return core::Error::temp("HMAC-SHA256 failed");
  static const char digits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    hex += digits[mac[i] >> 4];
    hex += digits[mac[i] & 15];
  }
  return hex;
}

core::Result<std::string> signature_header(std::string_view secret, int64_t unix_s,
                                           std::string_view body) {
  auto mac = sign(secret, unix_s, body);
  if (!mac) return mac.error();
  return "t=" + std::to_string(unix_s) + ",v1=" + mac.value();
}

core::Result<std::string> signature_header(const std::vector<std::string>& secrets, int64_t unix_s,
                                           std::string_view body) {
  if (secrets.empty()) return core::Error::perm("no webhook secret to sign with");
  std::string out = "t=" + std::to_string(unix_s);
  for (const auto& secret : secrets) {
    auto mac = sign(secret, unix_s, body);
    if (!mac) return mac.error();
    out += ",v1=" + mac.value();
  }
  return out;
}

std::vector<std::string> signing_secrets(const std::string& current, const std::string& previous,
                                         int64_t changed_ms, int64_t now_ms, int64_t grace_ms) {
  std::vector<std::string> out;
  if (current.empty()) return out;
  out.push_back(current);
  // A change stamped in the future (a clock stepped back) counts as just made.
  const bool open =
      changed_ms > 0 && grace_ms > 0 && (now_ms < changed_ms || now_ms - changed_ms < grace_ms);
  if (open && !previous.empty() && previous != current) out.push_back(previous);
  return out;
}

core::Result<void> verify(std::string_view header, std::string_view secret, std::string_view body,
                          int64_t now_s, int64_t tolerance_s) {
  if (header.size() > 4096) return core::Error::perm("signature header too long");
  bool have_t = false;
  int64_t t = 0;
  std::vector<std::string> v1s;
  size_t pos = 0;
  while (pos <= header.size()) {
    size_t comma = header.find(',', pos);
    if (comma == std::string_view::npos) comma = header.size();
    std::string_view item = header.substr(pos, comma - pos);
    pos = comma + 1;
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0)
      return core::Error::perm("malformed signature header item");
    std::string_view key = item.substr(0, eq), val = item.substr(eq + 1);
    if (key == "t") {
      if (have_t) return core::Error::perm("signature header repeats t");
      if (val.empty() || val.size() > 18) return core::Error::perm("malformed signature timestamp");
      for (char c : val)
        if (c < '0' || c > '9') return core::Error::perm("malformed signature timestamp");
      t = std::stoll(std::string(val));
      have_t = true;
    } else if (key == "v1") {
      if (val.size() != 64) return core::Error::perm("malformed v1 signature");
      std::string v;
      for (char c : val) {
        if (!is_hex(c)) return core::Error::perm("malformed v1 signature");
        v += lower(c);
      }
      v1s.push_back(std::move(v));
    }
  }
  if (!have_t) return core::Error::perm("signature header has no timestamp");
  if (v1s.empty()) return core::Error::perm("signature header has no v1 signature");
  // In 128 bits: a hostile or careless now_s/tolerance_s cannot overflow the comparison.
  __int128 skew = static_cast<__int128>(t) - now_s;
  if (skew < 0) skew = -skew;
  if (tolerance_s < 0 || skew > tolerance_s)
    return core::Error::perm("signature timestamp outside the tolerance window");
  auto expected = sign(secret, t, body);
  if (!expected) return expected.error();
  bool match = false;
  for (const std::string& v : v1s)  // no early exit: every candidate is compared
    match |= CRYPTO_memcmp(v.data(), expected.value().data(), 64) == 0;
  if (!match) return core::Error::perm("signature does not match");
  return core::ok();
}

}  // namespace tern::report
