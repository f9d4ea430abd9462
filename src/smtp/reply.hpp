// SMTP reply encoding (RFC 5321 §4.2, RFC 2034 enhanced codes): one line, or a multi-line
// reply "code-text" ... "code text". Every line ends in CRLF. Texts come from our own code,
// never from the client, except the EHLO/HELO name, which the parser has already restricted
// to printable ASCII, so a reply can never carry a CR or LF smuggled in by the client.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "core/status.hpp"

namespace tern::smtp {

std::string encode_reply(const core::Status& s);
// Lines after the first get the enhanced code only when `enhanced` is non-empty (the EHLO
// reply has none, RFC 2034 §3 notes the EHLO response is exempt).
std::string encode_multiline(int code, std::string_view enhanced, const std::vector<std::string>& lines);

}  // namespace tern::smtp
