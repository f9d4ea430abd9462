#include "domain/zone.hpp"

#include <fmt/format.h>

namespace tern::domain {

namespace {
constexpr size_t kMaxString = 255;

void push_chunks(std::vector<std::string>& out, std::string_view s) {
  while (!s.empty()) {
    out.emplace_back(s.substr(0, kMaxString));
    s.remove_prefix(std::min(s.size(), kMaxString));
  }
}

std::string escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}
}  // namespace

std::vector<std::string> split_txt(const std::string& value) {
  std::vector<std::string> out;
  const size_t p = value.find("p=");
  if (p == std::string::npos || p == 0) {
    push_chunks(out, value);
  } else {
    push_chunks(out, std::string_view(value).substr(0, p));
    push_chunks(out, std::string_view(value).substr(p));
  }
  if (out.empty()) out.emplace_back();
  return out;
}

std::string render_zone(const std::string& zone, const std::vector<ZoneEntry>& entries) {
  std::string out =
      fmt::format("; Tern platform DKIM zone {} ({} key{}). Add these records to the zone {}.\n",
                  zone, entries.size(), entries.size() == 1 ? "" : "s", zone);
  for (const auto& e : entries) {
    out += e.name + ". IN TXT (";
    for (const auto& piece : split_txt(e.value)) out += " \"" + escape(piece) + "\"";
    out += " )\n";
  }
  return out;
}

}  // namespace tern::domain
