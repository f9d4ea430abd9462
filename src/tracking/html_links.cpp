#include "tracking/html_links.hpp"

#include <cctype>
#include <cstdint>

namespace tern::tracking {

namespace {

char lc(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool ieq_prefix(std::string_view s, size_t at, std::string_view p) {
  if (at > s.size() || s.size() - at < p.size()) return false;
  for (size_t i = 0; i < p.size(); ++i)
    if (lc(s[at + i]) != p[i]) return false;
  return true;
}

// Case-insensitive search for a lower-case needle.
size_t ifind(std::string_view s, std::string_view needle, size_t from) {
  for (size_t i = from; i + needle.size() <= s.size(); ++i)
    if (ieq_prefix(s, i, needle)) return i;
  return std::string_view::npos;
}

size_t irfind(std::string_view s, std::string_view needle) {
  if (s.size() < needle.size()) return std::string_view::npos;
  for (size_t i = s.size() - needle.size() + 1; i-- > 0;)
    if (ieq_prefix(s, i, needle)) return i;
  return std::string_view::npos;
}

bool html_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

void append_utf8(std::string& out, uint32_t cp) {
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Decodes character references: the five XML names and numeric ones. Anything else stays.
std::string decode_refs(std::string_view v) {
  static constexpr std::pair<std::string_view, char> kNamed[] = {
      {"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '&') {
      out += v[i];
      continue;
    }
    bool done = false;
    for (auto [name, ch] : kNamed) {
      if (ieq_prefix(v, i + 1, name)) {
        out += ch;
        i += name.size();
        done = true;
        break;
      }
    }
    if (done) continue;
    if (i + 1 < v.size() && v[i + 1] == '#') {
      size_t j = i + 2;
      const bool hex = j < v.size() && (v[j] == 'x' || v[j] == 'X');
      if (hex) ++j;
      uint32_t cp = 0;
      size_t digits = 0;
      while (j < v.size() && (hex ? std::isxdigit(static_cast<unsigned char>(v[j]))
                                  : std::isdigit(static_cast<unsigned char>(v[j])))) {
        const char c = lc(v[j]);
        const uint32_t d = c <= '9' ? c - '0' : c - 'a' + 10;
        if (cp <= 0x10FFFF) cp = cp * (hex ? 16 : 10) + d;  // saturates past the range
        ++digits;
        ++j;
      }
      if (digits > 0) {
        append_utf8(out, cp);
        if (j < v.size() && v[j] == ';') ++j;
        i = j - 1;
        continue;
      }
    }
    out += '&';
  }
  return out;
}

struct Attr {
  size_t value_begin;      // first byte of the value (its opening quote, if quoted)
  size_t value_end;        // one past the value (past its closing quote, if quoted)
  std::string_view value;  // without quotes; empty if no value
  bool has_value;
};

}  // namespace

std::optional<std::string> http_url_of_href(std::string_view raw) {
  std::string decoded = decode_refs(raw);
  std::string url;
  url.reserve(decoded.size());
  for (char c : decoded)
    if (c != '\t' && c != '\r' && c != '\n') url += c;
  size_t b = 0, e = url.size();
  while (b < e && static_cast<unsigned char>(url[b]) <= 0x20) ++b;
  while (e > b && static_cast<unsigned char>(url[e - 1]) <= 0x20) --e;
  url = url.substr(b, e - b);
  if (!ieq_prefix(url, 0, "http://") && !ieq_prefix(url, 0, "https://")) return std::nullopt;
  const size_t host = url.find("//") + 2;
  if (host >= url.size() || url[host] == '/') return std::nullopt;  // no host
  return url;
}

HtmlRewrite rewrite_html(std::string_view h, std::string_view tracked_prefix,
                         const std::function<std::optional<std::string>(const std::string&)>& mint,
                         std::string_view pixel) {
  HtmlRewrite r;
  std::string& out = r.html;
  std::string tracked_lower;
  for (char c : tracked_prefix) tracked_lower += lc(c);
  out.reserve(h.size() + pixel.size() + 256);
  size_t i = 0;
  while (i < h.size()) {
    const size_t lt = h.find('<', i);
    if (lt == std::string_view::npos) break;
    out.append(h.substr(i, lt - i));
    i = lt;
    if (h.compare(lt, 4, "<!--") == 0) {
      const size_t end = h.find("-->", lt + 4);
      if (end == std::string_view::npos) break;  // unterminated comment: copy the rest
      out.append(h.substr(lt, end + 3 - lt));
      i = end + 3;
      continue;
    }
    size_t j = lt + 1;
    while (j < h.size() && std::isalnum(static_cast<unsigned char>(h[j]))) ++j;
    if (j == lt + 1 || !std::isalpha(static_cast<unsigned char>(h[lt + 1]))) {
      out += '<';  // end tag, doctype, or plain text '<': nothing to rewrite
      i = lt + 1;
      continue;
    }
    std::string name;
    for (size_t k = lt + 1; k < j; ++k) name += lc(h[k]);

    // Attributes, per the HTML tokenizer's rules for names and (un)quoted values.
    const bool link_tag = name == "a" || name == "area";
    std::optional<Attr> href;  // a browser uses the first of duplicate attributes
    size_t k = j;
    bool closed = false;
    while (k < h.size()) {
      while (k < h.size() && (html_space(h[k]) || h[k] == '/')) ++k;
      if (k >= h.size()) break;
      if (h[k] == '>') {
        closed = true;
        break;
      }
      size_t nb = k;
      ++k;  // the first character may be anything (even '='), per the tokenizer
      while (k < h.size() && !html_space(h[k]) && h[k] != '/' && h[k] != '>' && h[k] != '=') ++k;
      Attr a{};
      const bool is_href = link_tag && !href && k - nb == 4 && ieq_prefix(h, nb, "href");
      size_t m = k;
      while (m < h.size() && html_space(h[m])) ++m;
      if (m < h.size() && h[m] == '=') {
        ++m;
        while (m < h.size() && html_space(h[m])) ++m;
        if (m >= h.size()) break;
        a.has_value = true;
        a.value_begin = m;
        if (h[m] == '"' || h[m] == '\'') {
          const size_t q = h.find(h[m], m + 1);
          if (q == std::string_view::npos) {
            k = h.size();
            break;  // unterminated quoted value
          }
          a.value = h.substr(m + 1, q - m - 1);
          a.value_end = q + 1;
        } else {
          size_t e = m;
          while (e < h.size() && !html_space(h[e]) && h[e] != '>') ++e;
          a.value = h.substr(m, e - m);
          a.value_end = e;
        }
        k = a.value_end;
      }
      if (is_href) href = a;
    }
    if (!closed) break;  // unterminated tag: copy the rest as written
    const size_t tag_end = k + 1;

    std::optional<std::string> replacement;
    if (href && href->has_value) {
      auto url = http_url_of_href(href->value);
      if (url && !ieq_prefix(*url, 0, tracked_lower)) replacement = mint(*url);
    }
    if (replacement) {
      out.append(h.substr(lt, href->value_begin - lt));
      out += '"';
      out += *replacement;
      out += '"';
      out.append(h.substr(href->value_end, tag_end - href->value_end));
      ++r.links;
    } else {
      out.append(h.substr(lt, tag_end - lt));
    }
    i = tag_end;

    if (name == "script" || name == "style" || name == "textarea" || name == "title") {
      // Raw text: a '<a href' inside is not a link.
      const size_t close = ifind(h, "</" + name, i);
      const size_t stop = close == std::string_view::npos ? h.size() : close;
      out.append(h.substr(i, stop - i));
      i = stop;
    }
  }
  if (i < h.size()) out.append(h.substr(i));

  if (!pixel.empty()) {
    size_t at = irfind(out, "</body");
    if (at == std::string_view::npos) {
      at = out.size();
      while (at >= 2 && out.compare(at - 2, 2, "\r\n") == 0) at -= 2;
    }
    out.insert(at, pixel);
    r.pixel = true;
  }
  return r;
}

}  // namespace tern::tracking
