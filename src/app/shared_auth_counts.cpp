#include "app/shared_auth_counts.hpp"

#include <spdlog/spdlog.h>

namespace tern::app {

namespace {
store::AuthCountRow row_of(const policy::AuthCount& c) {
  return {c.failures, c.window_start, c.blocked_until};
}
policy::AuthCount count_of(const store::AuthCountRow& r) {
  return {r.failures, r.window_start_ms, r.blocked_until_ms};
}
}  // namespace

SharedAuthCounts::SharedAuthCounts(store::AuthCountStore& store, Options opt)
    : store_(store), opt_(std::move(opt)) {}

bool SharedAuthCounts::blocked(const std::string& key, int64_t now) const {
  std::lock_guard lk(mu_);
  auto it = mirror_.find(key);
  return it != mirror_.end() && it->second.count.blocked_until > now;
}

void SharedAuthCounts::remember(const std::string& key, const policy::AuthCount& c) {
  std::lock_guard lk(mu_);
  auto it = mirror_.find(key);
  if (it == mirror_.end() && mirror_.size() >= opt_.max_entries) return;  // the database has it
  Entry& e = mirror_[key];
  e.count = c;
  e.seq = ++seq_;
}

void SharedAuthCounts::update(const std::string& key, int64_t, const policy::AuthStep& step) {
  const std::string k = opt_.prefix + key;
  std::string why;
  for (int i = 0; i < opt_.max_tries; ++i) {
    auto cur = store_.get(k);
    if (!cur) {
      why = cur.error().message;
      break;
    }
    std::optional<policy::AuthCount> c;
    if (*cur) c = count_of(**cur);
    const policy::AuthCount next = step(c);
    auto swapped = store_.swap(k, *cur, row_of(next));
    if (!swapped) {
      why = swapped.error().message;
      break;
    }
    if (*swapped) {
      remember(key, next);
      return;
    }
    why = "the row kept changing";  // another node counted meanwhile: read again
  }
  // The database is away (or contended beyond reason): count here, so this node still blocks.
  spdlog::warn("auth failure counts: {}; counted on this node only", why);
  std::optional<policy::AuthCount> c;
  {
    std::lock_guard lk(mu_);
    if (auto it = mirror_.find(key); it != mirror_.end()) c = it->second.count;
  }
  remember(key, step(c));
}

void SharedAuthCounts::clear(const std::string& key) {
  {
    std::lock_guard lk(mu_);
    auto it = mirror_.find(key);
    if (it == mirror_.end()) return;  // nothing counted: no round trip
    mirror_.erase(it);
  }
  if (auto r = store_.erase(opt_.prefix + key); !r)
    spdlog::warn("auth failure counts: {}", r.error().message);
}

size_t SharedAuthCounts::size() const {
  std::lock_guard lk(mu_);
  return mirror_.size();
}

core::Result<size_t> SharedAuthCounts::refresh(int64_t now) {
  uint64_t started;
  {
    std::lock_guard lk(mu_);
    started = seq_;
  }
  auto rows = store_.live(opt_.prefix, now, now - opt_.keep_ms, opt_.max_entries);
  if (!rows) return rows.error();
  std::unordered_map<std::string, Entry> next;
  for (const auto& [k, r] : *rows) next[k.substr(opt_.prefix.size())] = Entry{count_of(r), 0};
  std::lock_guard lk(mu_);
  for (const auto& [k, e] : mirror_)
    if (e.seq > started) next[k] = e;  // written here after the read began: ours is newer
  mirror_ = std::move(next);
  return mirror_.size();
}

}  // namespace tern::app
