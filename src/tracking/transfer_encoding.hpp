// Content-Transfer-Encoding codecs for rewriting a part in place (RFC 2045 §6.7, §6.8).
//
// Invariants:
//  - qp_decode(qp_encode(x)) == x for every byte string x; CRLF in x becomes a hard line
//    break, a lone CR or LF is encoded (=0D / =0A), so the output never has a bare CR or LF.
//  - qp_encode lines are at most 76 characters (soft break '=' included); trailing space or
//    tab before a line break is encoded.
//  - base64_lines_encode writes lines of exactly 76 characters (the last may be shorter), each
//    ended by CRLF.
// Decoders are lenient where RFC 2045 asks receivers to be (QP: a malformed '=' stays
// literal; base64: line breaks and whitespace ignored) and strict where guessing would
// corrupt content (base64: any other character or bad padding is an error).
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace tern::tracking {

std::string qp_decode(std::string_view in);
std::string qp_encode(std::string_view in);

std::optional<std::string> base64_lines_decode(std::string_view in);
std::string base64_lines_encode(std::string_view in);

}  // namespace tern::tracking
