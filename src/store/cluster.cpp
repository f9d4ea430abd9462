#include "store/cluster.hpp"

#include <algorithm>

namespace tern::store {

std::optional<Lease> LeaseTable::acquire(std::string_view name, std::string_view holder,
                                         int64_t now_ms, int64_t ttl_ms) {
  auto it =
      std::find_if(leases_.begin(), leases_.end(), [&](const Lease& l) { return l.name == name; });
  if (it == leases_.end()) {
    leases_.push_back({std::string(name), std::string(holder), 0, 0});
    it = leases_.end() - 1;
  }
  const bool live = it->expires_ms > now_ms && it->token != 0;
  const bool ours = live && it->holder == holder;
  if (live && !ours) return std::nullopt;
  if (!ours) {  // a new holding: a new fencing token
    it->holder = std::string(holder);
    it->token = next_token_++;
  }
  it->expires_ms = now_ms + ttl_ms;
  return *it;
}

void LeaseTable::release(std::string_view name, std::string_view holder, int64_t token) {
  for (auto& l : leases_)
    if (l.name == name && l.holder == holder && l.token == token) l.expires_ms = 0;
}

core::Result<std::optional<Lease>> SingleNode::acquire(std::string_view name, int64_t now_ms,
                                                       int64_t ttl_ms) {
  if (name.empty() || ttl_ms <= 0) return core::Error::invalid("lease: a name and a ttl > 0");
  std::lock_guard lock(mu_);
  return leases_.acquire(name, id_, now_ms, ttl_ms);
}

core::Result<void> SingleNode::release(std::string_view name, int64_t token) {
  std::lock_guard lock(mu_);
  leases_.release(name, id_, token);
  return core::ok();
}

core::Result<int64_t> SingleNode::publish(std::string_view subject, int64_t now_ms) {
  std::lock_guard lock(mu_);
  feed_.push_back({next_seq_++, std::string(subject), now_ms});
  if (feed_.size() > kFeedKept) feed_.erase(feed_.begin(), feed_.begin() + feed_.size() / 2);
  return feed_.back().seq;
}

core::Result<std::vector<Change>> SingleNode::changes_since(int64_t after, size_t limit) {
  std::lock_guard lock(mu_);
  std::vector<Change> out;
  for (const auto& c : feed_) {
    if (out.size() == limit) break;
    if (c.seq > after) out.push_back(c);
  }
  return out;
}

core::Result<size_t> SingleNode::trim_changes(int64_t before_ms) {
  std::lock_guard lock(mu_);
  const auto keep = std::find_if(feed_.begin(), feed_.end(),
                                 [&](const Change& c) { return c.time_ms >= before_ms; });
  const auto n = static_cast<size_t>(keep - feed_.begin());
  feed_.erase(feed_.begin(), keep);
  return n;
}

core::Result<std::string> SingleNode::shared_secret(std::string_view name,
                                                    const std::string& candidate, int64_t) {
  std::lock_guard lock(mu_);
  for (const auto& [n, v] : secrets_)
    if (n == name) return v;
  secrets_.emplace_back(std::string(name), candidate);
  return candidate;
}

}  // namespace tern::store
