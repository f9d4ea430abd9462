#include "store/auth_counts.hpp"

#include <algorithm>

namespace tern::store {

namespace {
core::Error down() { return core::Error::unavailable("auth counts: database unavailable"); }
bool live_row(const AuthCountRow& r, int64_t now_ms, int64_t since_ms) {
  return r.blocked_until_ms > now_ms || r.window_start_ms >= since_ms;
}
}  // namespace

core::Result<std::optional<AuthCountRow>> MemoryAuthCountStore::get(std::string_view key) {
  std::lock_guard lk(mu_);
  ++calls_;
  if (failing_) return down();
  auto it = rows_.find(key);
  if (it == rows_.end()) return std::optional<AuthCountRow>();
  return std::optional<AuthCountRow>(it->second);
}

core::Result<bool> MemoryAuthCountStore::swap(std::string_view key,
                                              const std::optional<AuthCountRow>& expected,
                                              const AuthCountRow& next) {
  std::lock_guard lk(mu_);
  ++calls_;
  if (failing_) return down();
  auto it = rows_.find(key);
  const std::optional<AuthCountRow> now =
      it == rows_.end() ? std::nullopt : std::optional<AuthCountRow>(it->second);
  if (now != expected) return false;
  rows_.insert_or_assign(std::string(key), next);
  return true;
}

core::Result<void> MemoryAuthCountStore::erase(std::string_view key) {
  std::lock_guard lk(mu_);
  ++calls_;
  if (failing_) return down();
  if (auto it = rows_.find(key); it != rows_.end()) rows_.erase(it);
  return core::ok();
}

core::Result<std::vector<std::pair<std::string, AuthCountRow>>> MemoryAuthCountStore::live(
    std::string_view prefix, int64_t now_ms, int64_t since_ms, size_t limit) {
  std::lock_guard lk(mu_);
  ++calls_;
  if (failing_) return down();
  std::vector<std::pair<std::string, AuthCountRow>> out;
  for (const auto& [k, r] : rows_)
    if (k.starts_with(prefix) && live_row(r, now_ms, since_ms)) out.emplace_back(k, r);
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.second.window_start_ms > b.second.window_start_ms;
  });
  if (out.size() > limit) out.resize(limit);
  return out;
}

core::Result<size_t> MemoryAuthCountStore::trim(int64_t now_ms, int64_t since_ms) {
  std::lock_guard lk(mu_);
  ++calls_;
  if (failing_) return down();
  return std::erase_if(rows_,
                       [&](const auto& kv) { return !live_row(kv.second, now_ms, since_ms); });
}

size_t MemoryAuthCountStore::calls() const {
  std::lock_guard lk(mu_);
  return calls_;
}

void MemoryAuthCountStore::set_failing(bool f) {
  std::lock_guard lk(mu_);
  failing_ = f;
}

}  // namespace tern::store
