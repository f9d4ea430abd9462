// Sans-IO decoder for the DATA content stream (RFC 5321 §4.1.1.4, §4.5.2 dot-stuffing).
//
// Push bytes, get content appended and "done" once the terminator is seen. ONLY <CRLF>.<CRLF>
// ends the data: a bare LF or bare CR never starts a line and never completes the end marker,
// so "\n.\n", "\n.\r\n", "\r.\r\n", "\r\n.\r" + X and the like are ordinary content (the SMTP
// smuggling defence; such messages are then refused because of the bare line ending).
// At the very start the preceding CRLF is the DATA command's, so ".\r\n" at once ends empty data.
//
// Invariants:
//  - The output is the content after dot-unstuffing; the CRLF before the final "." belongs
//    to the content. Bytes after the terminator are NOT consumed (pipelined commands).
//  - Output depends only on the byte sequence, never on how it was split across pushes.
//  - Once more than max_size content octets were seen, nothing more is output, but scanning
//    for the terminator continues (read and discard, SPEC §1).
//  - Flags report what the session rejects at the end: bare CR, bare LF, NUL, a line longer
//    than max_line octets (excluding CRLF, after unstuffing), size overflow; and whether the
//    content holds 8-bit octets (it is then relayed as 8BITMIME).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tern::smtp {

class DataDecoder {
 public:
  DataDecoder(uint64_t max_size, size_t max_line) : max_size_(max_size), max_line_(max_line) {}

  // Appends decoded content to `out`; returns the number of input bytes consumed, which is
  // less than in.size() only when the terminator was reached.
  size_t push(std::string_view in, std::string& out);

  bool done() const { return state_ == State::done; }
  bool bare_cr() const { return bare_cr_; }
  bool bare_lf() const { return bare_lf_; }
  bool nul() const { return nul_; }
  bool long_line() const { return long_line_; }
  // An octet above 127 was seen (RFC 6152: 8-bit content, whatever BODY= said).
  bool eight_bit() const { return eight_bit_; }
  bool oversize() const { return seen_ > max_size_; }
  uint64_t content_size() const { return seen_; }  // octets of content, including discarded

 private:
  enum class State { line_start, dot, dot_cr, mid, cr, done };
  void emit(char c, std::string& out);
  void text(char c, std::string& out);     // an ordinary byte inside a line
  void bare_cr(char c, std::string& out);  // a held CR not followed by LF, then c

  uint64_t max_size_;
  size_t max_line_;
  State state_ = State::line_start;
  uint64_t seen_ = 0;
  size_t line_len_ = 0;
  bool bare_cr_ = false, bare_lf_ = false, nul_ = false, long_line_ = false, eight_bit_ = false;
};

}  // namespace tern::smtp
