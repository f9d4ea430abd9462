#include "store/message_log_rules.hpp"

#include <fmt/format.h>
#include <sodium.h>

#include <charconv>
#include <cstring>

#include "core/address.hpp"

namespace tern::store {

std::string make_message_id(const std::string& queue_id, int rcpt_index) {
  return fmt::format("{}.{}", queue_id, rcpt_index);
}

namespace message_log_rules {

namespace {

constexpr std::string_view kCursorTag = "m1:";
constexpr size_t kMaxCursorLen = 512;

// base64url without padding, by libsodium (strict: only the URL-safe alphabet, no padding,
// no trailing garbage).
std::string b64url_encode(std::string_view in) {
  std::string out(sodium_base64_ENCODED_LEN(in.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                  '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(in.data()),
                    in.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::optional<std::string> b64url_decode(std::string_view in) {
  std::string out(in.size() * 3 / 4 + 3, '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), in.data(),
                        in.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      end != in.data() + in.size())
    return std::nullopt;
  out.resize(len);
  return out;
}

}  // namespace

std::string encode_cursor(const MessageRecord& last) {
  return b64url_encode(fmt::format("{}{}:{}", kCursorTag, last.created_ms, last.message_id));
}

std::optional<Cursor> decode_cursor(std::string_view c) {
  if (c.empty() || c.size() > kMaxCursorLen) return std::nullopt;
  auto raw = b64url_decode(c);
  if (!raw || !raw->starts_with(kCursorTag)) return std::nullopt;
  std::string_view rest = std::string_view(*raw).substr(kCursorTag.size());
  size_t colon = rest.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 19) return std::nullopt;
  std::string_view num = rest.substr(0, colon);
  for (char ch : num)
    if (ch < '0' || ch > '9') return std::nullopt;
  Cursor out;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), out.created_ms);
  if (ec != std::errc() || p != num.data() + num.size()) return std::nullopt;
  out.message_id = std::string(rest.substr(colon + 1));
  if (out.message_id.empty() || out.message_id.size() > kMaxMessageIdLen) return std::nullopt;
  return out;
}

std::string canonical_recipient(const std::string& r) {
  auto mb = core::parse_mailbox(r);
  return mb ? mb->str() : r;
}

core::Result<MessageRecord> stored_form(MessageRecord r) {
  if (r.message_id.empty() || r.message_id.size() > kMaxMessageIdLen)
    return core::Error::invalid("message log: message id empty or too long");
  r.recipient = canonical_recipient(r.recipient);
  if (r.options_json.empty()) r.options_json = "{}";
  if (r.updated_ms == 0) r.updated_ms = r.created_ms;
  return r;
}

core::Result<std::optional<Cursor>> checked_cursor(const MessageQuery& q) {
  if (q.limit < 1 || q.limit > kMaxLimit)
    return core::Error::invalid(fmt::format("limit must be between 1 and {}", kMaxLimit));
  if (q.cursor.empty()) return std::optional<Cursor>();
  auto c = decode_cursor(q.cursor);
  if (!c) return core::Error::invalid("invalid cursor");
  return c;
}

}  // namespace message_log_rules
}  // namespace tern::store
