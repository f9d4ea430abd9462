// Fuzzes the DATA decoder: the first byte picks a split point; output must not depend on it,
// content never exceeds the size limit, and it must never end on anything but CRLF.CRLF.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "smtp/data_decoder.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t cut = data[0] % size;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  cut = cut > in.size() ? in.size() : cut;
  tern::smtp::DataDecoder whole(64, 16), split(64, 16);
  std::string a, b;
  size_t ua = whole.push(in, a);
  size_t ub = split.push(in.substr(0, cut), b);
  if (!split.done()) ub += split.push(in.substr(cut), b);
  if (a != b || ua != ub || whole.done() != split.done() || whole.bare_cr() != split.bare_cr() ||
      whole.bare_lf() != split.bare_lf() || whole.nul() != split.nul() ||
      whole.long_line() != split.long_line())
    __builtin_trap();
  if (a.size() > 64) __builtin_trap();
  if (whole.done()) {
    std::string_view used = in.substr(0, ua);
    bool at_start = used == ".\r\n";
    if (!at_start && (used.size() < 5 || used.substr(used.size() - 5) != "\r\n.\r\n"))
      __builtin_trap();
  }
  return 0;
}
