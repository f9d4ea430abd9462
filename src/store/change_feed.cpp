#include "store/change_feed.hpp"

namespace tern::store {

Subject parse_subject(std::string_view subject) {
  const auto colon = subject.find(':');
  if (colon == std::string_view::npos) return {{}, subject};
  return {subject.substr(0, colon), subject.substr(colon + 1)};
}

core::Result<std::vector<Change>> ChangeFeedReader::read_new(int64_t now) {
  std::vector<Change> out;
  for (int64_t after = floor_;;) {
    auto page = cluster_.changes_since(after, kPage);
    if (!page) return page.error();
    for (auto& c : *page) {
      after = c.seq;
      if (seen_.emplace(c.seq, now).second) out.push_back(std::move(c));
    }
    if (page->size() < kPage) break;
  }
  // Settle what was first read at least overlap_ms ago: positions up to the highest of those
  // are not read again (a gap below it is taken as never coming).
  int64_t settled = floor_;
  for (const auto& [seq, first] : seen_)
    if (first <= now - overlap_ms_) settled = seq;
  floor_ = settled;
  seen_.erase(seen_.begin(), seen_.upper_bound(floor_));
  return out;
}

core::Result<void> ChangeFeedReader::start() {
  auto r = read_new(clock_.now_ms());
  if (!r) return r.error();
  return core::ok();
}

core::Result<std::vector<Change>> ChangeFeedReader::poll() { return read_new(clock_.now_ms()); }

}  // namespace tern::store
