#include "store/cluster.hpp"

#include <algorithm>

namespace tern::store {

core::Result<std::optional<Lease>> SingleNode::acquire(std::string_view name, int64_t now_ms,
                                                       int64_t ttl_ms) {
  if (name.empty() || ttl_ms <= 0) return core::Error::invalid("lease: a name and a ttl > 0");
  std::lock_guard lock(mu_);
  auto it =
      std::find_if(leases_.begin(), leases_.end(), [&](const Lease& l) { return l.name == name; });
  if (it == leases_.end()) {
    leases_.push_back({std::string(name), id_, 0, 0});
    it = leases_.end() - 1;
  }
  const bool ours = it->holder == id_ && it->expires_ms > now_ms && it->token != 0;
  if (!ours && it->expires_ms > now_ms && it->token != 0) return std::optional<Lease>();
  if (!ours) {  // a new holding: a new fencing token
    it->holder = id_;
    it->token = next_token_++;
  }
  it->expires_ms = now_ms + ttl_ms;
  return std::optional<Lease>(*it);
}

core::Result<void> SingleNode::release(std::string_view name, int64_t token) {
  std::lock_guard lock(mu_);
  for (auto& l : leases_)
    if (l.name == name && l.token == token) l.expires_ms = 0;
  return core::ok();
}

core::Result<void> SingleNode::heartbeat(int64_t now_ms) {
  std::lock_guard lock(mu_);
  last_seen_ms_ = std::max(last_seen_ms_, now_ms);
  return core::ok();
}

core::Result<std::vector<NodeInfo>> SingleNode::nodes(int64_t now_ms, int64_t within_ms) {
  std::lock_guard lock(mu_);
  std::vector<NodeInfo> out;
  if (last_seen_ms_ != 0 && last_seen_ms_ >= now_ms - within_ms)
    out.push_back({id_, last_seen_ms_});
  return out;
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

}  // namespace tern::store
