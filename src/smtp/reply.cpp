#include "smtp/reply.hpp"

namespace tern::smtp {

std::string encode_reply(const core::Status& s) { return s.line() + "\r\n"; }

std::string encode_multiline(int code, std::string_view enhanced, const std::vector<std::string>& lines) {
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    out += std::to_string(code);
    out += i + 1 < lines.size() ? '-' : ' ';
    if (!enhanced.empty()) {
      out += enhanced;
      out += ' ';
    }
    out += lines[i];
    out += "\r\n";
  }
  return out;
}

}  // namespace tern::smtp
