#include "tracking/transfer_encoding.hpp"

#include "core/base64.hpp"

namespace tern::tracking {

namespace {

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool wsp(char c) { return c == ' ' || c == '\t'; }

constexpr char kHex[] = "0123456789ABCDEF";

}  // namespace

std::string qp_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  size_t pos = 0;
  while (pos < in.size()) {
    size_t eol = in.find("\r\n", pos);
    const bool has_eol = eol != std::string_view::npos;
    std::string_view line = in.substr(pos, has_eol ? eol - pos : std::string_view::npos);
    // Transport padding: whitespace at the end of an encoded line is not content (§6.7 (3)).
    while (!line.empty() && wsp(line.back())) line.remove_suffix(1);
    bool soft = false;
    for (size_t i = 0; i < line.size(); ++i) {
      char c = line[i];
      if (c != '=') {
        out += c;
        continue;
      }
      if (i + 1 == line.size()) {
        soft = true;
        break;
      }
      const int hi = i + 2 < line.size() ? hexval(line[i + 1]) : -1;
      const int lo = i + 2 < line.size() ? hexval(line[i + 2]) : -1;
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
      } else {
        out += '=';  // malformed: keep it as written (§6.7 note 1)
      }
    }
    if (!has_eol) break;
    if (!soft) out += "\r\n";
    pos = eol + 2;
  }
  return out;
}

std::string qp_encode(std::string_view in) {
  std::string out;
  out.reserve(in.size() + in.size() / 8);
  size_t col = 0;
  auto emit = [&](std::string_view piece) {
    // Keep room for a soft break '=' so no line exceeds 76.
    if (col + piece.size() > 75) {
      out += "=\r\n";
      col = 0;
    }
    out += piece;
    col += piece.size();
  };
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    const auto u = static_cast<unsigned char>(c);
    if (c == '\r' && i + 1 < in.size() && in[i + 1] == '\n') {
      out += "\r\n";
      col = 0;
      ++i;
      continue;
    }
    const bool line_end_next =
        i + 1 == in.size() || (in[i + 1] == '\r' && i + 2 < in.size() && in[i + 2] == '\n');
    const bool literal = (u >= 33 && u <= 126 && c != '=') || (wsp(c) && !line_end_next);
    if (literal) {
      char buf[1] = {c};
      emit(std::string_view(buf, 1));
    } else {
      char buf[3] = {'=', kHex[u >> 4], kHex[u & 15]};
      emit(std::string_view(buf, 3));
    }
  }
  return out;
}

std::optional<std::string> base64_lines_decode(std::string_view in) {
  std::string compact;
  compact.reserve(in.size());
  for (char c : in)
    if (c != '\r' && c != '\n' && c != ' ' && c != '\t') compact += c;
  return core::base64_decode(compact);
}

std::string base64_lines_encode(std::string_view in) {
  const std::string flat = core::base64_encode(in);
  std::string out;
  out.reserve(flat.size() + flat.size() / 76 * 2 + 2);
  for (size_t pos = 0; pos < flat.size(); pos += 76) {
    out.append(flat, pos, 76);
    out += "\r\n";
  }
  return out;
}

}  // namespace tern::tracking
