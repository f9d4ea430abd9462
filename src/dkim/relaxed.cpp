// relaxed_header() and relaxed_body(): RFC 6376 §3.4.2 and §3.4.4 on whole strings.
#include <string>

#include "dkim/relaxed.hpp"
#include "dkim/signer.hpp"

namespace tern::dkim {

namespace {

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

// Appends s with CR and LF deleted (unfolding: §3.4.2 deletes every CRLF; a bare CR or LF is
// deleted as well so the canonical field never holds a line break), WSP runs as one SP, and WSP
// at both ends dropped.
void append_compressed(std::string& out, std::string_view s, bool lower) {
  bool wsp = false;
  bool started = false;
  for (char c : s) {
    if (c == '\r' || c == '\n') continue;
    if (is_wsp(c)) {
      wsp = true;
      continue;
    }
    if (wsp && started) out.push_back(' ');
    wsp = false;
    started = true;
    if (lower && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    out.push_back(c);
  }
}

}  // namespace

// §3.4.2: lower-case the name; unfold; WSP runs → one SP; drop WSP at the end of the value and
// around the colon. A field without a colon (not a header field; callers should not pass one)
// is all name, deterministically.
std::string relaxed_header(std::string_view raw_field) {
  std::string out;
  out.reserve(raw_field.size() + 2);
  const size_t colon = raw_field.find(':');
  append_compressed(out, raw_field.substr(0, colon), /*lower=*/true);
  out.push_back(':');
  if (colon != std::string_view::npos) append_compressed(out, raw_field.substr(colon + 1), false);
  out += "\r\n";
  return out;
}

std::string relaxed_body(std::string_view body) {
  std::string out;
  out.reserve(body.size() + 2);
  auto sink = [&out](const char* p, size_t n) { out.append(p, n); };
  detail::RelaxedBody<decltype(sink)> canon(sink);
  canon.update(body);
  canon.finish();
  return out;
}

}  // namespace tern::dkim
