#include "delivery/queue_view.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace tern::delivery {

bool queue_matches(const QueueMessageView& m, const QueueFilter& f) {
  if (f.account_id != 0 && m.account_id != f.account_id) return false;
  if (f.state == QueueFilter::State::held && !m.held) return false;
  if (f.state == QueueFilter::State::queued && m.held) return false;
  if (!f.destination.empty()) {
    bool any = false;
    for (const auto& r : m.recipients)
      if (r.destination == f.destination) any = true;
    if (!any) return false;
  }
  return true;
}

std::vector<QueueGroup> group_queue(const std::vector<QueueMessageView>& msgs, bool by_account) {
  std::map<std::string, QueueGroup> groups;
  for (const auto& m : msgs) {
    std::set<std::string> seen;
    for (const auto& r : m.recipients) {
      const std::string key =
          by_account ? (m.account_name.empty() ? std::to_string(m.account_id) : m.account_name)
                     : r.destination;
      auto& g = groups[key];
      g.key = key;
      if (by_account) g.account_id = m.account_id;
      ++g.recipients;
      if (!m.held && r.next_attempt_ms > 0 &&
          (g.next_attempt_ms == 0 || r.next_attempt_ms < g.next_attempt_ms))
        g.next_attempt_ms = r.next_attempt_ms;
      if (!seen.insert(key).second) continue;
      ++g.messages;
      if (m.held) ++g.held;
      if (g.oldest_ms == 0 || m.received_ms < g.oldest_ms) g.oldest_ms = m.received_ms;
    }
  }
  std::vector<QueueGroup> out;
  for (auto& [k, g] : groups) out.push_back(std::move(g));
  // Biggest first: where the operator's attention goes.
  std::stable_sort(out.begin(), out.end(), [](const QueueGroup& a, const QueueGroup& b) {
    return a.messages > b.messages;
  });
  return out;
}

QueuePage page_queue(std::vector<QueueMessageView> msgs, const QueueFilter& f) {
  std::erase_if(msgs, [&](const QueueMessageView& m) {
    if (!queue_matches(m, f)) return true;
    if (f.after_ms >= 0 && std::tie(m.received_ms, m.id) <= std::tie(f.after_ms, f.after_id))
      return true;
    return false;
  });
  std::sort(msgs.begin(), msgs.end(), [](const QueueMessageView& a, const QueueMessageView& b) {
    return std::tie(a.received_ms, a.id) < std::tie(b.received_ms, b.id);
  });
  QueuePage p;
  const size_t limit = std::max<size_t>(1, f.limit);
  if (msgs.size() > limit) {
    p.more = true;
    msgs.resize(limit);
  }
  p.items = std::move(msgs);
  return p;
}

std::optional<QueueAction> parse_queue_action(const std::string& s) {
  if (s == "retry") return QueueAction::retry;
  if (s == "hold") return QueueAction::hold;
  if (s == "release") return QueueAction::release;
  if (s == "delete") return QueueAction::remove;
  return std::nullopt;
}

const char* to_string(QueueAction a) {
  switch (a) {
    case QueueAction::retry:
      return "retry";
    case QueueAction::hold:
      return "hold";
    case QueueAction::release:
      return "release";
    case QueueAction::remove:
      return "delete";
  }
  return "retry";
}

}  // namespace tern::delivery
