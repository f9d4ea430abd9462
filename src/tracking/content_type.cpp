#include "tracking/content_type.hpp"

#include <algorithm>
#include <cctype>

namespace tern::tracking {

namespace {

bool tspecial(char c) {
  return std::string_view("()<>@,;:\\\"/[]?=").find(c) != std::string_view::npos;
}

bool token_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return u > 32 && u < 127 && !tspecial(c);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Skips whitespace and (nested) comments.
void skip_cfws(std::string_view s, size_t& i) {
  while (i < s.size()) {
    if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
      ++i;
    } else if (s[i] == '(') {
      int depth = 0;
      while (i < s.size()) {
        if (s[i] == '\\') {
          i = std::min(i + 2, s.size());  // a quoted-pair may be cut off at the end
          continue;
        }
        if (s[i] == '(') ++depth;
        if (s[i] == ')' && --depth == 0) {
          ++i;
          break;
        }
        ++i;
      }
    } else {
      break;
    }
  }
}

std::string read_token(std::string_view s, size_t& i) {
  size_t b = i;
  while (i < s.size() && token_char(s[i])) ++i;
  return std::string(s.substr(b, i - b));
}

}  // namespace

std::optional<std::string> ContentType::param(std::string_view name) const {
  for (const auto& [n, v] : params)
    if (n == name) return v;
  return std::nullopt;
}

ContentType parse_content_type(std::string_view s) {
  ContentType ct;
  size_t i = 0;
  skip_cfws(s, i);
  std::string type = read_token(s, i);
  skip_cfws(s, i);
  if (type.empty() || i >= s.size() || s[i] != '/') return ct;
  ++i;
  skip_cfws(s, i);
  std::string sub = read_token(s, i);
  if (sub.empty()) return ct;
  ct.type = lower(type) + "/" + lower(sub);
  while (true) {
    skip_cfws(s, i);
    if (i >= s.size() || s[i] != ';') break;
    ++i;
    skip_cfws(s, i);
    std::string name = read_token(s, i);
    skip_cfws(s, i);
    if (name.empty() || i >= s.size() || s[i] != '=') break;
    ++i;
    skip_cfws(s, i);
    std::string value;
    if (i < s.size() && s[i] == '"') {
      ++i;
      bool closed = false;
      while (i < s.size()) {
        char c = s[i++];
        if (c == '\\' && i < s.size()) {
          value += s[i++];
        } else if (c == '"') {
          closed = true;
          break;
        } else if (c != '\r' && c != '\n') {
          value += c;
        }
      }
      if (!closed) break;
    } else {
      value = read_token(s, i);
    }
    ct.params.emplace_back(lower(name), std::move(value));
  }
  return ct;
}

std::string first_token_lower(std::string_view s) {
  size_t i = 0;
  skip_cfws(s, i);
  return lower(read_token(s, i));
}

}  // namespace tern::tracking
