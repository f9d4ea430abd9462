#include "app/capture_sink.hpp"

#include <algorithm>
#include <string_view>

#include "core/address.hpp"
#include "core/clock.hpp"
#include "message/encoded_words.hpp"
#include "message/header.hpp"

namespace tern::app {

core::Result<void> StoreCaptureSink::capture(net::CaptureItem item) {
  store::CapturedMessage m;
  m.account_id = item.account_id;
  m.queue_id = item.queue_id;
  m.recipients = std::move(item.recipients);
  m.sender = std::move(item.sender);
  const auto hs = message::parse_header_section(
      std::string_view(item.raw).substr(0, std::min<size_t>(item.raw.size(), 256 * 1024)));
  for (const auto& f : hs.fields) {
    const std::string name = core::to_lower(f.name);
    if (name == "from" && m.header_from.empty())
      m.header_from = message::decode_display_text(f.value(), 998);
    else if (name == "subject" && m.subject.empty())
      m.subject = message::decode_display_text(f.value(), 998);
    else if (name == "message-id" && m.message_id.empty())
      m.message_id = message::decode_display_text(f.value(), 998);
  }
  m.raw = std::move(item.raw);
  auto r = c_.add(std::move(m), core::SystemClock().now_ms());
  if (!r) return r.error();
  return core::ok();
}

}  // namespace tern::app
