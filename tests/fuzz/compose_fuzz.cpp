// Fuzzes message::compose with every request field taken from the input (fields separated by
// 0x1F; "to", "cc" and "bcc" are lists split at 0x1E). Invariants:
//  - never a crash or UB (ASan/UBSan);
//  - a header-bound field holding CR, LF or NUL is always refused;
//  - an accepted message has CRLF line ends only, no line over 998 octets, no NUL in its header
//    section, a complete header section with exactly one From, To, Date, Message-ID and
//    MIME-Version, no Bcc, and no field name the request did not supply or Tern does not write.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/address.hpp"
#include "message/compose.hpp"
#include "message/header.hpp"

namespace {

using namespace tern::message;

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (;;) {
    size_t e = s.find(sep, pos);
    out.emplace_back(s.substr(pos, e == std::string_view::npos ? std::string_view::npos : e - pos));
    if (e == std::string_view::npos) break;
    pos = e + 1;
  }
  return out;
}

bool crlf_nul(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

void check(bool ok) {
  if (!ok) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view s(reinterpret_cast<const char*>(data), size);
  auto f = split(s, '\x1f');
  f.resize(13);
  ComposeInput in;
  in.from = f[0];
  if (!f[1].empty()) in.to = split(f[1], '\x1e');
  if (!f[2].empty()) in.cc = split(f[2], '\x1e');
  if (!f[3].empty()) in.bcc = split(f[3], '\x1e');
  in.subject = f[4];
  in.text = f[5];
  in.html = f[6];
  if (!f[7].empty() || !f[8].empty() || !f[9].empty()) in.attachments.push_back({f[7], f[8], f[9]});
  if (!f[10].empty()) in.headers.emplace_back(f[10], f[11]);
  in.reply_to = f[12];

  bool injected = crlf_nul(in.from) || crlf_nul(in.subject) || crlf_nul(in.reply_to);
  for (const auto* l : {&in.to, &in.cc, &in.bcc})
    for (const auto& a : *l) injected |= crlf_nul(a);
  for (const auto& a : in.attachments) injected |= crlf_nul(a.filename) || crlf_nul(a.content_type);
  for (const auto& [n, v] : in.headers) injected |= crlf_nul(n) || crlf_nul(v);

  ComposeOptions opt;
  opt.hostname = "fuzz.example";
  opt.id = "FUZZ";
  opt.now_unix = 1700000000;
  opt.max_bytes = 1 << 20;
  auto r = compose(in, opt);
  if (!r) return 0;
  check(!injected);
  const std::string& m = r->message;
  size_t line = 0;
  for (size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '\n') {
      check(i > 0 && m[i - 1] == '\r');
      line = 0;
    } else if (m[i] == '\r') {
      check(i + 1 < m.size() && m[i + 1] == '\n');
    } else {
      check(++line <= 998);
    }
  }
  auto hs = parse_header_section(m);
  check(hs.complete);
  check(std::string_view(m).substr(0, hs.body_offset).find('\0') == std::string_view::npos);
  std::set<std::string> allowed = {
      "date",    "from",       "reply-to",     "to",           "cc",
      "subject", "message-id", "mime-version", "content-type", "content-transfer-encoding"};
  for (const auto& [n, v] : in.headers) allowed.insert(tern::core::to_lower(n));
  int from = 0, to = 0, date = 0, mid = 0, mime = 0;
  for (const auto& fld : hs.fields) {
    std::string n = tern::core::to_lower(fld.name);
    check(allowed.count(n) == 1);
    from += n == "from";
    to += n == "to";
    date += n == "date";
    mid += n == "message-id";
    mime += n == "mime-version";
  }
  check(from == 1 && to == 1 && date == 1 && mid == 1 && mime == 1);
  check(!r->recipients.empty() && r->recipients.size() <= opt.max_recipients);
  return 0;
}
