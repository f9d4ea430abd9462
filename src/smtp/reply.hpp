// SMTP reply encoding (RFC 5321 §4.2, RFC 2034 enhanced codes): one line, or a multi-line
// reply "code-text" ... "code text". Every line ends in CRLF. Texts come from our own code,
// never from the client, except the EHLO/HELO name, which the parser has already restricted
// to printable ASCII, so a reply can never carry a CR or LF smuggled in by the client.
//
// Reply parsing (the client side, RFC 5321 §4.2): ReplyParser turns a server's byte stream
// into Replies, incrementally (bytes may arrive split anywhere).
//  - A line ends at LF; one CR before it is dropped (bare-LF servers exist; being lenient
//    costs nothing because a reply is never forwarded as is).
//  - Reply-code: three digits, the first 2-5. After it '-' (more lines follow), ' ' or end of
//    line (last line). All lines of one reply carry the same code. Anything else is garbage:
//    the parser fails and stays failed (the stream's framing can no longer be trusted).
//  - Bounds: a line longer than max_line octets (without its line end), or more than
//    max_lines lines in one reply, fail. Buffered input never exceeds max_line + 2 + the
//    bytes of complete lines not yet taken.
//  - Text: control characters other than HT are replaced by '?', so a reply stored in a
//    delivery record or log can never carry escape sequences or line breaks.
//  - Enhanced code (RFC 2034, 3463): taken from the first line when it starts with
//    "c.s.d" whose class c equals the reply's first digit; the text keeps it.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/result.hpp"
#include "core/status.hpp"

namespace tern::smtp {

std::string encode_reply(const core::Status& s);

// The one mapping of a failed local step's error code onto an SMTP reply (RFC 3463):
//   disk_full                      → 452 4.3.1 "Insufficient system storage"
//   unavailable, internal, corrupt, conflict → 451 4.3.0 `text` (local trouble: try again)
//   invalid → 550 5.6.0, not_found → 550 5.1.1, forbidden → 550 5.7.1, each with `text`
// `text` is what the server says it was doing ("Error: queue file write error"); the error's
// own text is never put in a reply (it is logged).
core::Status reply_for(core::ErrorCode code, std::string text);
// Lines after the first get the enhanced code only when `enhanced` is non-empty (the EHLO
// reply has none, RFC 2034 §3 notes the EHLO response is exempt).
std::string encode_multiline(int code, std::string_view enhanced,
                             const std::vector<std::string>& lines);

struct Reply {
  int code = 0;
  std::string enhanced;            // "5.1.1", or "" when the first line has none
  std::vector<std::string> lines;  // text of each line after "NNN-" / "NNN " (sanitized)
  // The whole reply as the server sent it: "NNN-text" lines joined by '\n' (no final '\n').
  std::string full() const;
};

struct ReplyError {
  std::string message;  // why the stream is not SMTP replies, for the outcome text
};

class ReplyParser {
 public:
  struct Limits {
    size_t max_line = 4096;
    size_t max_lines = 100;
  };
  ReplyParser() = default;
  explicit ReplyParser(Limits l) : lim_(l) {}

  void feed(std::string_view bytes);
  // The next complete reply (consumed), std::monostate when more bytes are needed, or the
  // error (again on every later call).
  std::variant<std::monostate, Reply, ReplyError> next();
  // Drops buffered bytes and any partial reply (RFC 3207 §4.2: after "220" to STARTTLS,
  // plaintext that followed must not be read as if it came over TLS).
  void clear();
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  Limits lim_;
  std::string buf_;
  size_t pos_ = 0;  // start of the first unparsed line in buf_
  Reply cur_;       // lines parsed so far of an unfinished multi-line reply
  std::string error_;
};

}  // namespace tern::smtp
