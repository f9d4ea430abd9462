#include "core/address.hpp"

#include <algorithm>

namespace tern::core {

std::string to_lower(std::string_view s) {
  std::string r(s);
  for (auto& c : r)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return r;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

namespace {
bool atext(unsigned char c) {
  if (c >= 0x80) return true;  // RFC 6531 UTF-8
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) !=
         std::string_view::npos;
}
}  // namespace

bool valid_domain(std::string_view d) {
  if (d.empty() || d.size() > 255) return false;
  if (d.front() == '[') {
    if (d.back() != ']' || d.size() < 3) return false;
    for (char c : d.substr(1, d.size() - 2)) {
      unsigned char u = static_cast<unsigned char>(c);
      if (u <= 32 || u >= 127 || c == '[' || c == ']' || c == '\\') return false;
    }
    return true;
  }
  size_t label = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(d[i]);
    if (c == '.') {
      if (label == 0 || d[i - 1] == '-') return false;
      label = 0;
      continue;
    }
    bool ok = c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || (c == '-' && label > 0);
    if (!ok || ++label > 63) return false;
  }
  return label > 0 && d.back() != '-';
}

std::optional<Mailbox> parse_mailbox(std::string_view s) {
  if (s.empty() || s.size() > 254) return std::nullopt;
  size_t at = s.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == s.size()) return std::nullopt;
  std::string_view local = s.substr(0, at), domain = s.substr(at + 1);
  if (local.size() > 64) return std::nullopt;
  if (local.front() == '"') {
    if (local.size() < 2 || local.back() != '"') return std::nullopt;
    for (size_t i = 1; i + 1 < local.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(local[i]);
      if (c == '\\') {
        if (++i + 1 >= local.size()) return std::nullopt;
        c = static_cast<unsigned char>(local[i]);
        if (c < 32 || c == 127) return std::nullopt;
        continue;
      }
      if (c < 32 || c == 127 || c == '"') return std::nullopt;
    }
  } else {
    if (local.front() == '.' || local.back() == '.') return std::nullopt;
    for (size_t i = 0; i < local.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(local[i]);
      if (c == '.') {
        if (local[i - 1] == '.') return std::nullopt;
        continue;
      }
      if (!atext(c)) return std::nullopt;
    }
  }
  if (!valid_domain(domain)) return std::nullopt;
  return Mailbox{std::string(local), to_lower(domain)};
}

}  // namespace tern::core
