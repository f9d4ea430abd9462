// Captured sandbox mail rules (see captured.hpp), over any backend.
#include "store/captured.hpp"

#include <algorithm>

#include "store/cursor.hpp"
#include "store/secrets.hpp"

namespace tern::store {

namespace {
using Mode = Database::Mode;
constexpr std::string_view kCursorTag = "c1:";
}  // namespace

void CaptureService::set_retention(const CaptureRetention& r) {
  retention_ = r;
  retention_.max_per_account = std::max<size_t>(1, r.max_per_account);
}

core::Result<std::string> CaptureService::add(CapturedMessage m, int64_t now_ms) {
  if (m.account_id <= 0) return core::Error::invalid("captured mail: no account");
  if (m.captured_ms == 0) m.captured_ms = now_ms;
  m.size = static_cast<int64_t>(m.raw.size());
  return in_tx(db_, Mode::write, [&](Tx& tx) -> core::Result<std::string> {
    auto& repo = tx.captured();
    auto had = repo.by_delivery(m.queue_id, m.recipients);
    if (!had) return had.error();
    if (*had) return **had;  // replayed delivery: the copy we have
    auto acc = tx.accounts().by_id(m.account_id);
    if (!acc) return acc.error();
    if (!*acc) return core::Error::not_found("captured mail: no such account");
    m.id = secrets::random_token();
    if (auto r = repo.insert(m); !r) return r.error();
    // Retention: the account's newest max_per_account stay; nothing older than max_age.
    if (auto r = repo.trim(m.account_id, retention_.max_per_account); !r) return r.error();
    if (auto r = repo.remove_before(now_ms - retention_.max_age_ms); !r) return r.error();
    return m.id;
  });
}

core::Result<CapturedPage> CaptureService::list(int64_t account_id, size_t limit,
                                                const std::string& cursor) {
  if (limit < 1 || limit > 1000) return core::Error::invalid("limit must be 1..1000");
  std::optional<std::pair<int64_t, std::string>> after;
  if (!cursor.empty()) {
    after = decode_cursor(kCursorTag, cursor);
    if (!after) return core::Error::invalid("invalid cursor");
  }
  auto rows = in_tx(db_, Mode::read,
                    [&](Tx& tx) { return tx.captured().page(account_id, after, limit + 1); });
  if (!rows) return rows.error();
  CapturedPage page;
  page.items = std::move(rows).value();
  if (page.items.size() > limit) {
    page.items.resize(limit);
    const auto& last = page.items.back();
    page.next_cursor = encode_cursor(kCursorTag, last.captured_ms, last.id);
  }
  return page;
}

core::Result<std::optional<CapturedMessage>> CaptureService::get(int64_t account_id,
                                                                 const std::string& id,
                                                                 bool with_raw) {
  if (id.empty() || id.size() > 64) return std::optional<CapturedMessage>();
  return in_tx(db_, Mode::read,
               [&](Tx& tx) { return tx.captured().get(account_id, id, with_raw); });
}

core::Result<size_t> CaptureService::prune(int64_t now_ms) {
  return in_tx(db_, Mode::write,
               [&](Tx& tx) { return tx.captured().remove_before(now_ms - retention_.max_age_ms); });
}

}  // namespace tern::store
