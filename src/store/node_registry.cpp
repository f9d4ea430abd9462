#include "store/node_registry.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace tern::store {

bool persistent_instance(std::string_view instance) {
  if (!instance.starts_with("i-") || instance.size() < 3) return false;
  return std::all_of(instance.begin() + 2, instance.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'); });
}

CheckInPlan plan_check_in(const std::optional<NodeRecord>& current, const NodeRecord& me,
                          int64_t now_ms, int64_t lease_ms) {
  CheckInPlan p;
  p.before = current;
  p.row = me;
  p.row.stopped_ms = 0;
  p.row.seen_ms = now_ms;
  p.row.started_ms = now_ms;
  if (!current) {
    p.verdict = CheckInVerdict::joined;
    return p;
  }
  if (current->instance == me.instance) {
    p.verdict = CheckInVerdict::renewed;
    p.row.seen_ms = std::max(current->seen_ms, now_ms);
    // A clean stop ended the last run: this is a new one. Else (a heartbeat, or a restart
    // after a crash that left no mark) the run goes on.
    if (current->stopped_ms == 0) p.row.started_ms = current->started_ms;
    return p;
  }
  const bool stale = current->seen_ms <= now_ms - lease_ms;
  if (current->stopped_ms != 0 || stale || !persistent_instance(current->instance)) {
    p.verdict = CheckInVerdict::took_over;
    return p;
  }
  p.verdict = CheckInVerdict::refused;
  p.row = *current;
  return p;
}

namespace {

std::string printable(std::string_view s) {
  std::string out;
  for (const char c : s.substr(0, 128)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

}  // namespace

std::string refusal_message(const NodeRecord& other, int64_t now_ms, int64_t lease_ms) {
  const int64_t ago_s = std::max<int64_t>(0, now_ms - other.seen_ms) / 1000;
  const std::string where =
      other.hostname.empty() && other.address.empty()
          ? std::string("an unknown host")
          : fmt::format("host {}{}", other.hostname.empty() ? "?" : printable(other.hostname),
                        other.address.empty() ? "" : " (" + printable(other.address) + ")");
  return fmt::format(
      "node id \"{}\" is already running from another data dir: instance {} on {}, last seen "
      "{} s ago. Two processes under one node id would share its leases, webhook claims and "
      "queue commands, so this one does not start. If this is a copy of that node's config or "
      "data dir, give it its own [cluster] node_id (and its own data dir); if that machine is "
      "being replaced, stop it (a clean stop frees the id at once) or wait until it has been "
      "silent for [cluster] lease_s ({} s), then start this one again",
      printable(other.node_id), printable(other.instance), where, ago_s, lease_ms / 1000);
}

}  // namespace tern::store
