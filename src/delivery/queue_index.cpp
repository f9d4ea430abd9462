#include "delivery/queue_index.hpp"

#include <algorithm>
#include <functional>
#include <limits>

namespace tern::delivery {

namespace {

constexpr int64_t kNothingDue = std::numeric_limits<int64_t>::max();
constexpr size_t kMaxId = std::numeric_limits<uint16_t>::max();

size_t hash_of(std::string_view id) { return std::hash<std::string_view>{}(id); }

}  // namespace

// ------------------------------------------------------------------ the id table

size_t QueueIndex::probe(std::string_view id, size_t hash, bool& found) const {
  const size_t mask = table_.size() - 1;
  size_t i = hash & mask;
  size_t first_tomb = table_.size();
  for (;;) {
    const uint32_t cell = table_[i];
    if (cell == kNone) {
      found = false;
      return first_tomb != table_.size() ? first_tomb : i;
    }
    if (cell == kTomb) {
      if (first_tomb == table_.size()) first_tomb = i;
    } else if (id_of(slots_[cell]) == id) {
      found = true;
      return i;
    }
    i = (i + 1) & mask;
  }
}

uint32_t QueueIndex::lookup(std::string_view id) const {
  if (table_.empty()) return kNone;
  bool found = false;
  const size_t cell = probe(id, hash_of(id), found);
  return found ? table_[cell] : kNone;
}

// Keeps the table at most 70% full (cells in use + tombstones) for want_live entries; a
// rebuild drops the tombstones.
void QueueIndex::grow_table(size_t want_live) {
  if (!table_.empty() && (want_live + tombs_) * 10 <= table_.size() * 7) return;
  size_t n = 16;
  while (want_live * 10 > n * 7 / 2) n *= 2;  // about 35% full after the rebuild
  std::vector<uint32_t> t(n, kNone);
  const size_t mask = n - 1;
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    if (!slots_[s].used) continue;
    size_t i = hash_of(id_of(slots_[s])) & mask;
    while (t[i] != kNone) i = (i + 1) & mask;
    t[i] = s;
  }
  table_.swap(t);
  tombs_ = 0;
}

uint32_t QueueIndex::insert(const queue::QueueEntry& q) {
  grow_table(live_ + 1);
  bool found = false;
  const size_t cell = probe(q.id, hash_of(q.id), found);
  uint32_t s;
  if (!free_.empty()) {
    s = free_.back();
    free_.pop_back();
  } else {
    s = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& slot = slots_[s];
  slot = Slot{};
  slot.id_off = static_cast<uint32_t>(ids_.size());
  slot.id_len = static_cast<uint16_t>(q.id.size());
  slot.used = true;
  ids_.append(q.id);
  slot.e.account_id = q.account_id;
  slot.e.received_ms = q.received_ms;
  slot.e.where = Where::held;  // placed by enter()
  if (table_[cell] == kTomb) --tombs_;
  table_[cell] = s;
  ++live_;
  return s;
}

// ------------------------------------------------------------------ places

bool QueueIndex::current(const Due& d) const {
  const Slot& s = slots_[d.slot];
  return s.used && s.e.where == Where::waiting && s.e.seq == d.seq;
}

void QueueIndex::prune() const {
  while (!heap_.empty() && !current(heap_.front())) {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    heap_.pop_back();
  }
}

void QueueIndex::leave(Slot& s) {
  if (s.e.where == Where::waiting) --waiting_;  // its heap item is stale from now on
  if (s.e.where == Where::loading || s.e.where == Where::active) --active_;
  s.e.where = Where::held;
}

void QueueIndex::enter(uint32_t slot, Where where, int64_t due_ms, bool push) {
  Entry& e = slots_[slot].e;
  e.where = where;
  e.due_ms = due_ms;
  if (where == Where::waiting) {
    e.seq = next_seq_++;
    ++waiting_;
    if (push) {
      heap_.push_back(Due{due_ms, e.seq, slot});
      std::push_heap(heap_.begin(), heap_.end(), later);
      if (heap_.size() > 2 * waiting_ + 1024) {  // mostly stale: rebuilt from the waiting
        heap_.clear();
        for (uint32_t s = 0; s < slots_.size(); ++s)
          if (slots_[s].used && slots_[s].e.where == Where::waiting)
            heap_.push_back(Due{slots_[s].e.due_ms, slots_[s].e.seq, s});
        std::make_heap(heap_.begin(), heap_.end(), later);
      }
    }
  }
  if (where == Where::loading || where == Where::active) ++active_;
}

// ------------------------------------------------------------------ public

bool QueueIndex::add(const queue::QueueEntry& q) {
  if (q.id.size() > kMaxId || lookup(q.id) != kNone) return false;
  const uint32_t s = insert(q);
  enter(s, q.held ? Where::held : Where::waiting, q.due_ms, true);
  return true;
}

size_t QueueIndex::add_all(const std::vector<queue::QueueEntry>& entries) {
  size_t bytes = 0;
  for (const auto& q : entries) bytes += q.id.size();
  slots_.reserve(slots_.size() + entries.size());
  ids_.reserve(ids_.size() + bytes);
  heap_.reserve(heap_.size() + entries.size());
  grow_table(live_ + entries.size());
  size_t added = 0;
  for (const auto& q : entries) {
    if (q.due_ms == kNothingDue || q.id.size() > kMaxId || lookup(q.id) != kNone) continue;
    const uint32_t s = insert(q);
    enter(s, q.held ? Where::held : Where::waiting, q.due_ms, false);
    if (!q.held) heap_.push_back(Due{q.due_ms, slots_[s].e.seq, s});
    ++added;
  }
  std::make_heap(heap_.begin(), heap_.end(), later);  // once, O(n)
  return added;
}

QueueIndex::Entry* QueueIndex::find(std::string_view id) {
  const uint32_t s = lookup(id);
  return s == kNone ? nullptr : &slots_[s].e;
}

const QueueIndex::Entry* QueueIndex::find(std::string_view id) const {
  const uint32_t s = lookup(id);
  return s == kNone ? nullptr : &slots_[s].e;
}

void QueueIndex::erase(std::string_view id) {
  if (table_.empty()) return;
  bool found = false;
  const size_t cell = probe(id, hash_of(id), found);
  if (!found) return;
  const uint32_t s = table_[cell];
  Slot& slot = slots_[s];
  leave(slot);
  table_[cell] = kTomb;
  ++tombs_;
  dead_id_bytes_ += slot.id_len;
  slot.used = false;
  free_.push_back(s);
  --live_;
  if (dead_id_bytes_ > 4096 && dead_id_bytes_ > ids_.size() / 2) compact_ids();
}

void QueueIndex::move(std::string_view id, Where where, int64_t due_ms) {
  const uint32_t s = lookup(id);
  if (s == kNone) return;
  leave(slots_[s]);
  enter(s, where, due_ms, true);
}

std::vector<std::string> QueueIndex::take_due(int64_t now_ms, size_t n) {
  std::vector<std::string> out;
  while (out.size() < n) {
    prune();
    if (heap_.empty() || heap_.front().due_ms > now_ms) break;
    const uint32_t s = heap_.front().slot;
    std::pop_heap(heap_.begin(), heap_.end(), later);
    heap_.pop_back();
    leave(slots_[s]);
    enter(s, Where::loading, 0, false);
    out.emplace_back(id_of(slots_[s]));
  }
  return out;
}

std::optional<int64_t> QueueIndex::next_due_ms() const {
  prune();
  if (heap_.empty()) return std::nullopt;
  return heap_.front().due_ms;
}

std::vector<std::string> QueueIndex::ids() const {
  std::vector<std::string> out;
  out.reserve(live_);
  for (const auto& s : slots_)
    if (s.used) out.emplace_back(id_of(s));
  return out;
}

void QueueIndex::compact_ids() {
  std::string fresh;
  fresh.reserve(ids_.size() - dead_id_bytes_);
  for (auto& s : slots_) {
    if (!s.used) continue;
    const auto off = static_cast<uint32_t>(fresh.size());
    fresh.append(id_of(s));
    s.id_off = off;
  }
  ids_.swap(fresh);
  dead_id_bytes_ = 0;
}

void QueueIndex::shrink_if_empty() {
  if (live_ != 0) return;
  std::vector<Slot>().swap(slots_);
  std::vector<uint32_t>().swap(free_);
  std::string().swap(ids_);
  std::vector<uint32_t>().swap(table_);
  std::vector<Due>().swap(heap_);
  dead_id_bytes_ = tombs_ = 0;
  active_ = waiting_ = 0;
}

}  // namespace tern::delivery
