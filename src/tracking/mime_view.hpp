// A read-only view of a whole message for display (issue 13: the console shows captured
// sandbox mail): its header fields (unfolded, encoded-words decoded), the first text/plain
// and text/html bodies that are not attachments (transfer encoding undone, converted to
// UTF-8), and the other leaves as attachments (name, type, size). Pure; the input is outside
// bytes (whatever a tenant sent), so it is bounded and fuzzed (mime_view_fuzz).
//
// Invariants: never throws, every output string is valid UTF-8; at most max_depth levels of
// multipart nesting and max_parts leaves are looked at (the rest is ignored, `truncated` set);
// a part whose encoding cannot be undone shows as its raw bytes (made valid UTF-8); charsets
// other than UTF-8, US-ASCII and ISO-8859-1/Windows-1252 (read as Latin-1) are shown as UTF-8
// with invalid bytes replaced.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tern::tracking {

struct MessageViewLimits {
  size_t max_depth = 10;
  size_t max_parts = 100;
  size_t max_headers = 200;
};

struct MessageView {
  std::vector<std::pair<std::string, std::string>> headers;  // of the top-level entity
  std::string text;                                          // "" when none
  std::string html;                                          // "" when none
  bool has_text = false, has_html = false;
  struct Attachment {
    std::string filename;
    std::string content_type;
    size_t size = 0;  // encoded bytes
  };
  std::vector<Attachment> attachments;
  bool truncated = false;
};

MessageView view_message(std::string_view raw, MessageViewLimits limits = {});

}  // namespace tern::tracking
