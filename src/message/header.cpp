#include "message/header.hpp"

#include <algorithm>

namespace tern::message {

namespace {
bool wsp(char c) { return c == ' ' || c == '\t'; }
}  // namespace

bool is_field_name(std::string_view n) {
  if (n.empty()) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 33 && u <= 126 && c != ':';
  });
}

std::string unfold(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\r' && i + 1 < v.size() && v[i + 1] == '\n') {
      ++i;
      continue;
    }
    if (v[i] == '\n') continue;
    out += v[i];
  }
  size_t b = 0, e = out.size();
  while (b < e && wsp(out[b])) ++b;
  while (e > b && wsp(out[e - 1])) --e;
  return out.substr(b, e - b);
}

std::string HeaderField::value() const {
  size_t colon = raw.find(':');
  if (colon == std::string::npos) return {};
  return unfold(std::string_view(raw).substr(colon + 1));
}

size_t find_header_end(std::string_view text, size_t from) {
  if (text.substr(0, 2) == "\r\n") return 0;
  size_t start = from >= 3 ? from - 3 : 0;  // part of the CRLFCRLF may be old text
  size_t p = text.find("\r\n\r\n", start);
  return p == std::string_view::npos ? std::string_view::npos : p + 2;
}

HeaderSection parse_header_section(std::string_view text) {
  HeaderSection hs;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    size_t next = eol == std::string_view::npos ? text.size() : eol + 1;
    std::string_view line = text.substr(pos, next - pos);
    if (line == "\r\n" || line == "\n") {
      hs.complete = true;
      break;
    }
    if (wsp(line[0])) {
      if (hs.fields.empty()) break;  // continuation with nothing to continue: body
      hs.fields.back().raw.append(line);
      pos = next;
      continue;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) break;
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && wsp(name.back())) name.remove_suffix(1);  // obs-optional WSP
    if (!is_field_name(name)) break;
    hs.fields.push_back({std::string(name), std::string(line)});
    pos = next;
  }
  hs.body_offset = pos;
  return hs;
}

}  // namespace tern::message
