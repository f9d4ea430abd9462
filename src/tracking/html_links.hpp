// Rewrites the links of one HTML document (decoded bytes of a text/html part) and adds the
// open pixel. Not a full HTML parser: a tokenizer for tags, attributes, comments and raw-text
// elements, enough to find href values of <a> and <area> where a browser would.
//
// Invariants:
//  - Only href values of <a>/<area> whose decoded URL is http:// or https:// change; mailto:,
//    tel:, #anchors, relative links and links that already start with the tracked prefix are
//    copied as written. Everything outside a replaced attribute value is copied byte for byte.
//  - The replaced value is written in double quotes and holds only what mint() returned.
//  - An unterminated tag, comment or quoted value stops rewriting: the rest is copied as is
//    (the pixel is then appended at the end).
//  - The input's charset is never interpreted: bytes outside the markup are opaque.
#pragma once
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace tern::tracking {

// The destination of an href value as a browser would follow it: HTML character references
// decoded (&amp; &#38; &#x26; ...), tab/CR/LF removed, leading/trailing spaces and controls
// trimmed. nullopt unless it is an absolute http(s) URL.
std::optional<std::string> http_url_of_href(std::string_view raw_value);

struct HtmlRewrite {
  std::string html;
  size_t links = 0;  // hrefs replaced
  bool pixel = false;
};

// mint(url) returns the tracking URL for a destination, or nullopt to leave that link alone.
// `tracked_prefix` (e.g. "https://t.example/t/") marks links that are already tracked.
// `pixel` is inserted before the last </body> or, without one, appended (before trailing
// line breaks); an empty `pixel` adds nothing.
HtmlRewrite rewrite_html(std::string_view html, std::string_view tracked_prefix,
                         const std::function<std::optional<std::string>(const std::string&)>& mint,
                         std::string_view pixel);

}  // namespace tern::tracking
