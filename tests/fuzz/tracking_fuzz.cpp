// Fuzzes the tracking rewriter with whole messages (as given, and with line ends normalized to
// CRLF so the MIME walk is reached), the token verifier and the QP codec. Invariants:
//  - never a crash or UB (ASan/UBSan);
//  - not rewritten → output is the input, byte for byte;
//  - no "html" anywhere in the input → not rewritten (the parser allows CFWS in "text / html");
//  - rewritten → header section unchanged, CRLF-only input gives CRLF-only output, and every
//    link counted as rewritten is a click token that verifies with the secret;
//  - qp_decode(qp_encode(x)) == x; verify_token never accepts fuzz bytes.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "message/header.hpp"
#include "tracking/rewriter.hpp"
#include "tracking/token.hpp"
#include "tracking/transfer_encoding.hpp"

namespace {

using namespace tern::tracking;

const std::string kSecret = "fuzz-secret-0123456789abcdef";
const std::string kBase = "https://t.example";

bool crlf_only(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) return false;
    if (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n')) return false;
  }
  return true;
}

bool contains_ci(std::string_view s, std::string_view lower_needle) {
  for (size_t i = 0; i + lower_needle.size() <= s.size(); ++i) {
    size_t k = 0;
    while (k < lower_needle.size() &&
           static_cast<char>(std::tolower(static_cast<unsigned char>(s[i + k]))) == lower_needle[k])
      ++k;
    if (k == lower_needle.size()) return true;
  }
  return false;
}

std::string normalize_crlf(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '\r' && i + 1 < in.size() && in[i + 1] == '\n') {
      out += "\r\n";
      ++i;
    } else if (in[i] == '\r' || in[i] == '\n') {
      out += "\r\n";
    } else {
      out += in[i];
    }
  }
  return out;
}

void check(std::string_view in) {
  RewriteOptions o;
  o.base_url = kBase;
  o.secret = kSecret;
  o.message_id = "FUZZ1";
  o.recipient = 7;
  o.limits.max_depth = 8;
  o.limits.max_parts = 64;
  o.limits.max_links = 64;
  auto r = rewrite_message(in, o);
  if (r.status != RewriteStatus::rewritten) {
    if (r.message != in) __builtin_trap();
    if (r.status == RewriteStatus::refused && r.reason.empty()) __builtin_trap();
    return;
  }
  if (!contains_ci(in, "html")) __builtin_trap();
  if (r.html_parts == 0) __builtin_trap();
  if (crlf_only(in) && !crlf_only(r.message)) __builtin_trap();
  const auto hs = tern::message::parse_header_section(in);
  if (r.message.compare(0, hs.body_offset, in.substr(0, hs.body_offset)) != 0) __builtin_trap();

  // Every rewritten link is a verifiable click token for this message and recipient. Tokens
  // may sit inside QP or base64 bodies, so only unencoded ones can be checked here: count
  // them and require no more valid ones than links (fuzz input cannot forge a MAC).
  size_t valid = 0;
  const std::string marker = kBase + "/t/c/";
  for (size_t p = r.message.find(marker); p != std::string::npos;
       p = r.message.find(marker, p + 1)) {
    size_t b = p + marker.size(), e = b;
    while (e < r.message.size() && (std::isalnum(static_cast<unsigned char>(r.message[e])) ||
                                    r.message[e] == '-' || r.message[e] == '_'))
      ++e;
    auto f = verify_token(std::string_view(r.message).substr(b, e - b), kSecret);
    if (!f) continue;
    if (f->kind != TokenKind::click || f->recipient != 7 || f->message_id != "FUZZ1" ||
        f->link >= r.links)
      __builtin_trap();
    ++valid;
  }
  if (valid > r.links) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  check(in);
  const std::string crlf = normalize_crlf(in);
  if (crlf != in) check(crlf);

  if (qp_decode(qp_encode(in)) != in) __builtin_trap();
  (void)qp_decode(in);
  (void)base64_lines_decode(in);
  if (verify_token(in, kSecret)) __builtin_trap();
  return 0;
}
