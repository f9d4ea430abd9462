// The outbox's fencing tokens, the enqueue check, a claimed batch's order and the default
// mark_and_claim (outbox.hpp): shared by every backend.
#include <sodium.h>

#include <algorithm>

#include "store/outbox.hpp"

namespace tern::store {

int64_t new_lease_token() {
  for (;;) {
    uint64_t v = 0;
    randombytes_buf(&v, sizeof v);
    const auto t = static_cast<int64_t>(v >> 1);  // 63 bits: positive in a signed column
    if (t != 0) return t;
  }
}

core::Result<OutboxRound> Outbox::mark_and_claim(const std::vector<OutboxMark>& marks,
                                                 int64_t now_ms, size_t max_batches,
                                                 size_t max_per_batch,
                                                 const std::vector<std::string>& skip_urls) {
  OutboxRound out;
  out.marked.reserve(marks.size());
  for (const auto& m : marks) {
    auto n = m.sent ? mark_sent(m.claims, m.at_ms, m.code)
                    : mark_failed(m.claims, m.at_ms, m.error, m.give_up, m.code);
    if (!n) return n.error();
    out.marked.push_back(*n);
  }
  if (max_batches > 0) {
    auto d = due(now_ms, max_batches, max_per_batch, skip_urls);
    if (!d) return d.error();
    out.claimed = std::move(d).value();
  }
  return out;
}

core::Result<void> check_item(const OutboxItem& it) {
  if (it.url.empty()) return core::Error::invalid("outbox: item without a URL");
  if (it.url.size() > kMaxOutboxUrl)
    return core::Error::invalid("outbox: item URL longer than 2048 bytes");
  return core::ok();
}

core::Result<void> check_items(const std::vector<OutboxItem>& items) {
  for (const auto& it : items)
    if (auto ok = check_item(it); !ok) return ok;
  return core::ok();
}

void sort_by_id(std::vector<OutboxItem>& batch) {
  std::sort(batch.begin(), batch.end(),
            [](const OutboxItem& a, const OutboxItem& b) { return a.id < b.id; });
}

}  // namespace tern::store
