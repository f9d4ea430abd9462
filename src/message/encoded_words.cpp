#include "message/encoded_words.hpp"

#include <optional>

#include "core/address.hpp"
#include "core/base64.hpp"
#include "core/utf8.hpp"

namespace tern::message {

namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string latin1_to_utf8(std::string_view s) {
  std::string out;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out += ch;
    } else {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

// One encoded-word "=?charset?enc?text?=" (the whole of `w`) → UTF-8, or nullopt.
std::optional<std::string> decode_word(std::string_view w) {
  if (w.size() < 8 || w.substr(0, 2) != "=?" || w.substr(w.size() - 2) != "?=") return std::nullopt;
  std::string_view inner = w.substr(2, w.size() - 4);
  size_t q1 = inner.find('?');
  if (q1 == std::string_view::npos || q1 == 0) return std::nullopt;
  size_t q2 = inner.find('?', q1 + 1);
  if (q2 != q1 + 2) return std::nullopt;
  std::string_view charset = inner.substr(0, q1);
  if (size_t star = charset.find('*'); star != std::string_view::npos)
    charset = charset.substr(0, star);
  const char enc = inner[q1 + 1];
  std::string_view text = inner.substr(q2 + 1);
  if (text.find('?') != std::string_view::npos) return std::nullopt;
  std::string bytes;
  if (enc == 'B' || enc == 'b') {
    auto d = core::base64_decode(text);
    if (!d) return std::nullopt;
    bytes = std::move(*d);
  } else if (enc == 'Q' || enc == 'q') {
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '_') {
        bytes += ' ';
      } else if (text[i] == '=') {
        if (i + 2 >= text.size()) return std::nullopt;
        int h = hex(text[i + 1]), l = hex(text[i + 2]);
        if (h < 0 || l < 0) return std::nullopt;
        bytes += static_cast<char>(h * 16 + l);
        i += 2;
      } else {
        bytes += text[i];
      }
    }
  } else {
    return std::nullopt;
  }
  if (core::iequals(charset, "utf-8") || core::iequals(charset, "us-ascii"))
    return core::to_valid_utf8(bytes);
  if (core::iequals(charset, "iso-8859-1") || core::iequals(charset, "latin1"))
    return latin1_to_utf8(bytes);
  return std::nullopt;
}

bool blank(std::string_view s) { return s.find_first_not_of(" \t") == std::string_view::npos; }

}  // namespace

std::string decode_display_text(std::string_view value, size_t max_bytes) {
  std::string out;
  bool last_was_word = false;  // the previous token was a decoded encoded-word
  size_t i = 0;
  while (i < value.size()) {
    size_t start = value.find("=?", i);
    if (start == std::string_view::npos) start = value.size();
    // The candidate encoded-word runs to the "?=" after its charset and encoding.
    std::optional<std::string> decoded;
    size_t end = std::string_view::npos;
    if (start < value.size()) {
      size_t q1 = value.find('?', start + 2);
      size_t q3 = q1 == std::string_view::npos ? q1 : value.find('?', q1 + 3);
      if (q3 != std::string_view::npos && q3 + 1 < value.size() && value[q3 + 1] == '=') {
        end = q3 + 2;
        decoded = decode_word(value.substr(start, end - start));
      }
    }
    std::string_view gap = value.substr(i, start - i);
    if (decoded) {
      if (!(last_was_word && blank(gap))) out += gap;
      out += *decoded;
      last_was_word = true;
      i = end;
    } else {
      // Not a word after all: copy up to and including "=?" (or the rest) literally.
      size_t upto = start < value.size() ? start + 2 : value.size();
      out += value.substr(i, upto - i);
      last_was_word = false;
      i = upto;
    }
  }
  std::string clean = core::to_valid_utf8(out);
  std::string result;
  result.reserve(clean.size());
  for (char c : clean) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\t' || c == '\r' || c == '\n')
      result += ' ';
    else if (u < 32 || u == 127)
      continue;
    else
      result += c;
  }
  if (result.size() > max_bytes) {
    size_t cut = max_bytes;
    while (cut > 0 && (static_cast<unsigned char>(result[cut]) & 0xC0) == 0x80) --cut;
    result.resize(cut);
  }
  return result;
}

}  // namespace tern::message
