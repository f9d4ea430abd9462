// Fuzzes what the console's endpoints parse from outside bytes: a captured message's display
// view (tracking::view_message: whatever a tenant sent), the Cookie and Origin headers
// (api::cookie_value, api::origin_of, api::csrf_refusal) and page cursors
// (store::decode_cursor). Invariants:
//  - never a crash or UB (ASan/UBSan);
//  - the view's strings are valid UTF-8; at most max_parts attachments;
//  - a cursor decodes only to what encode_cursor would give back the same bytes for;
//  - csrf_refusal refuses every state change whose X-Tern-CSRF is not the expected token.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/console_auth.hpp"
#include "core/utf8.hpp"
#include "store/cursor.hpp"
#include "tracking/mime_view.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  tern::tracking::MessageViewLimits lim;
  lim.max_parts = 20;
  auto v = tern::tracking::view_message(in, lim);
  if (!tern::core::valid_utf8(v.text) || !tern::core::valid_utf8(v.html)) __builtin_trap();
  for (const auto& [n, val] : v.headers)
    if (!tern::core::valid_utf8(n) || !tern::core::valid_utf8(val)) __builtin_trap();
  for (const auto& a : v.attachments)
    if (!tern::core::valid_utf8(a.filename) || !tern::core::valid_utf8(a.content_type))
      __builtin_trap();
  if (v.attachments.size() > lim.max_parts) __builtin_trap();

  tern::net::HttpRequest r;
  r.method = "POST";
  r.headers = {{"cookie", in}, {"origin", in}, {"host", in}, {"x-tern-csrf", in}};
  (void)tern::api::cookie_value(r, tern::api::kSessionCookie);
  (void)tern::api::origin_of(in);
  (void)tern::api::login_refusal(r, "https://t.example");
  const std::string expected = tern::api::csrf_token("session");
  if (in != expected && !tern::api::csrf_refusal(r, expected, "https://t.example"))
    __builtin_trap();

  if (auto c = tern::store::decode_cursor("c1:", in)) {
    if (tern::store::encode_cursor("c1:", c->first, c->second) != in) __builtin_trap();
  }
  return 0;
}
