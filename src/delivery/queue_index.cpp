#include "delivery/queue_index.hpp"

namespace tern::delivery {

bool QueueIndex::add(const queue::QueueEntry& q) {
  auto [it, fresh] = map_.try_emplace(q.id);
  if (!fresh) return false;
  Entry& e = it->second;
  e.account_id = q.account_id;
  e.received_ms = q.received_ms;
  e.where = Where::held;  // placed by enter() below
  enter(it->first, e, q.held ? Where::held : Where::waiting, q.due_ms);
  return true;
}

QueueIndex::Entry* QueueIndex::find(const std::string& id) {
  auto it = map_.find(id);
  return it == map_.end() ? nullptr : &it->second;
}

const QueueIndex::Entry* QueueIndex::find(const std::string& id) const {
  auto it = map_.find(id);
  return it == map_.end() ? nullptr : &it->second;
}

void QueueIndex::leave(const std::string& id, Entry& e) {
  if (e.where == Where::waiting) due_.erase(Due{e.due_ms, e.seq, &id});
  if (e.where == Where::loading || e.where == Where::active) --active_;
  e.where = Where::held;
}

void QueueIndex::enter(const std::string& id, Entry& e, Where where, int64_t due_ms) {
  e.where = where;
  e.due_ms = due_ms;
  if (where == Where::waiting) {
    e.seq = next_seq_++;
    due_.insert(Due{e.due_ms, e.seq, &id});
  }
  if (where == Where::loading || where == Where::active) ++active_;
}

void QueueIndex::erase(const std::string& id) {
  auto it = map_.find(id);
  if (it == map_.end()) return;
  leave(it->first, it->second);
  map_.erase(it);
}

void QueueIndex::move(const std::string& id, Where where, int64_t due_ms) {
  auto it = map_.find(id);
  if (it == map_.end()) return;
  leave(it->first, it->second);
  enter(it->first, it->second, where, due_ms);
}

std::vector<std::string> QueueIndex::take_due(int64_t now_ms, size_t n) {
  std::vector<std::string> out;
  while (out.size() < n && !due_.empty() && due_.begin()->due_ms <= now_ms) {
    const std::string& id = *due_.begin()->id;
    auto& e = map_.at(id);
    leave(id, e);
    enter(id, e, Where::loading, 0);
    out.push_back(id);
  }
  return out;
}

std::optional<int64_t> QueueIndex::next_due_ms() const {
  if (due_.empty()) return std::nullopt;
  return due_.begin()->due_ms;
}

std::vector<std::string> QueueIndex::ids() const {
  std::vector<std::string> out;
  out.reserve(map_.size());
  for (const auto& [id, e] : map_) out.push_back(id);
  return out;
}

void QueueIndex::shrink_if_empty() {
  if (!map_.empty()) return;
  std::unordered_map<std::string, Entry>().swap(map_);
  std::set<Due>().swap(due_);
}

}  // namespace tern::delivery
