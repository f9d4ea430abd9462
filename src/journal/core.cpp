#include "journal/core.hpp"

#include <algorithm>

namespace tern::journal {

int64_t apply_retry_delay_ms(int attempt) {
  if (attempt < 1) attempt = 1;
  int64_t d = 100;
  for (int i = 1; i < attempt && d < 5'000; ++i) d *= 2;
  return std::min<int64_t>(d, 5'000);
}

void JournalCore::recovered(SegmentInfo seg, uint64_t applied_mark) {
  next_seq_ = std::max({next_seq_, seg.name + 1, seg.last_entry + 1, applied_mark + 1});
  applied_ = std::max(applied_, applied_mark);
  segs_.push_back(seg);
  active_ = false;  // recovered segments are only read and deleted
}

uint64_t JournalCore::bytes() const {
  uint64_t b = 0;
  for (const auto& s : segs_) b += s.bytes;
  return b;
}

JournalCore::Plan JournalCore::plan_append(size_t entries, uint64_t bytes) const {
  (void)entries;
  Plan p;
  p.first_seq = next_seq_;
  const bool full =
      active_ && segs_.back().bytes > 0 && segs_.back().bytes + bytes > cfg_.segment_bytes;
  if (!active_ || full) p.new_segment = next_seq_;
  return p;
}

void JournalCore::appended(const Plan& p, size_t entries, uint64_t bytes) {
  if (p.new_segment) {
    segs_.push_back({*p.new_segment, 0, 0});
    active_ = true;
  }
  auto& s = segs_.back();
  s.bytes += bytes;
  if (entries > 0) s.last_entry = p.first_seq + entries - 1;
  next_seq_ = std::max(next_seq_, p.first_seq + entries);
  if (p.new_segment) next_seq_ = std::max(next_seq_, *p.new_segment + 1);
}

void JournalCore::failed(const Plan& p, size_t entries) {
  // The file may hold part of the group: whatever was planned is burnt, and the next group
  // goes to a new segment. A segment opened for this group stays known (it may hold bytes),
  // as a sealed one: it is deleted once the entries before it are applied.
  if (p.new_segment) segs_.push_back({*p.new_segment, 0, 0});
  if (!segs_.empty())
    segs_.back().last_entry = std::max(segs_.back().last_entry, p.first_seq + entries - 1);
  next_seq_ = std::max(next_seq_, p.first_seq + entries);
  if (p.new_segment) next_seq_ = std::max(next_seq_, *p.new_segment + 1);
  active_ = false;
}

bool JournalCore::mark_wanted(uint64_t seq) const { return active_ && seq > applied_; }

void JournalCore::marked(uint64_t seq, uint64_t bytes) {
  if (active_) segs_.back().bytes += bytes;
  applied_ = std::max(applied_, seq);
}

std::vector<uint64_t> JournalCore::trim(uint64_t applied_seq) {
  applied_ = std::max(applied_, applied_seq);
  std::vector<uint64_t> out;
  while (!segs_.empty()) {
    const bool is_active = active_ && segs_.size() == 1;
    const auto& s = segs_.front();
    if (is_active || s.last_entry > applied_) break;
    out.push_back(s.name);
    segs_.pop_front();
  }
  return out;
}

}  // namespace tern::journal
