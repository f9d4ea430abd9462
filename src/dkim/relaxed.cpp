// relaxed_header() and relaxed_body(): RFC 6376 §3.4.2 and §3.4.4 on whole strings.
#include "dkim/relaxed.hpp"

#include <cstring>
#include <string>

#include "dkim/signer.hpp"

namespace tern::dkim {

namespace {

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

// Appends s with CR and LF deleted (unfolding: §3.4.2 deletes every CRLF; a bare CR or LF is
// deleted as well so the canonical field never holds a line break), WSP runs as one SP, and WSP
// at both ends dropped. The output is never longer than s, so it is written in place; runs of
// plain text are copied whole (most header fields are canonical already apart from the name).
template <bool kLower>
void append_compressed(std::string& out, std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  const size_t old = out.size();
  out.resize(old + n);
  char* const begin = out.data() + old;
  char* w = begin;
  size_t i = 0;
  while (i < n && detail::is_special(p[i], true)) ++i;  // leading WSP and line breaks
  bool wsp = false;
  while (i < n) {
    if (!wsp && !kLower) {
      const size_t j = detail::plain_run_end<true>(p, i, n);
      std::memcpy(w, p + i, j - i);
      w += j - i;
      i = j;
      if (i == n) break;
    }
    char c = static_cast<char>(p[i++]);
    if (c == '\r' || c == '\n') continue;
    if (is_wsp(c)) {
      wsp = true;
      continue;
    }
    if (wsp) *w++ = ' ';
    wsp = false;
    if (kLower && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    *w++ = c;
  }
  out.resize(old + static_cast<size_t>(w - begin));
}

}  // namespace

namespace detail {

void append_relaxed_header(std::string& out, std::string_view raw_field) {
  const size_t colon = raw_field.find(':');
  append_compressed<true>(out, raw_field.substr(0, colon));
  out.push_back(':');
  if (colon != std::string_view::npos) append_compressed<false>(out, raw_field.substr(colon + 1));
  out += "\r\n";
}

}  // namespace detail

// §3.4.2: lower-case the name; unfold; WSP runs → one SP; drop WSP at the end of the value and
// around the colon. A field without a colon (not a header field; callers should not pass one)
// is all name, deterministically.
std::string relaxed_header(std::string_view raw_field) {
  std::string out;
  out.reserve(raw_field.size() + 3);
  detail::append_relaxed_header(out, raw_field);
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
