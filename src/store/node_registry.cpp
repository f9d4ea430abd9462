#include "store/node_registry.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace tern::store {

bool persistent_instance(std::string_view instance) {
  if (!instance.starts_with("i-") || instance.size() < 3) return false;
  return std::all_of(instance.begin() + 2, instance.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'); });
}

namespace {

// Seen more than lease_ms ago, or more than lease_ms ahead (a clock that jumped ahead): no
// evidence that the run is alive.
bool stale(const NodeRecord& r, int64_t now_ms, int64_t lease_ms) {
  return r.seen_ms <= now_ms - lease_ms || r.seen_ms > now_ms + lease_ms;
}

}  // namespace

NodeState node_state(const NodeRecord& n, int64_t now_ms, int64_t lease_ms) {
  if (n.stopped_ms != 0) return NodeState::stopped;
  if (n.seen_ms > now_ms + lease_ms) return NodeState::ahead;
  return n.alive(now_ms, lease_ms) ? NodeState::alive : NodeState::silent;
}

const char* to_string(NodeState s) {
  switch (s) {
    case NodeState::alive:
      return "alive";
    case NodeState::stopped:
      return "stopped";
    case NodeState::ahead:
      return "ahead";
    case NodeState::silent:
      break;
  }
  return "silent";
}

CheckInPlan plan_check_in(const std::optional<NodeRecord>& current, const NodeRecord& me,
                          int64_t now_ms, int64_t lease_ms, const CheckInRound& round) {
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
  auto keep = [&](CheckInVerdict v) {  // nothing written: the row stays as it is
    p.verdict = v;
    p.row = *current;
    return p;
  };
  if (current->instance == me.instance) {
    if (current->run != me.run) {
      if (round.heartbeat) return keep(CheckInVerdict::duplicate);
      const bool gone =
          current->stopped_ms != 0 || current->run.empty() || stale(*current, now_ms, lease_ms);
      if (!gone) {
        if (!round.contested) return keep(CheckInVerdict::contested);
        const bool beat =
            current->run != round.contested->run || current->seen_ms != round.contested->seen_ms;
        if (beat) return keep(CheckInVerdict::duplicate);
      }
    }
    p.verdict = CheckInVerdict::renewed;
    // seen_ms never goes back, unless it was ahead by more than the lease (the clock was).
    if (current->seen_ms <= now_ms + lease_ms) p.row.seen_ms = std::max(current->seen_ms, now_ms);
    // A clean stop ended the last run: this is a new one. Else (a heartbeat, or a restart
    // after a crash that left no mark) the run goes on.
    if (current->stopped_ms == 0) p.row.started_ms = current->started_ms;
    return p;
  }
  if (round.heartbeat) return keep(CheckInVerdict::refused);
  if (current->stopped_ms != 0 || stale(*current, now_ms, lease_ms) ||
      !persistent_instance(current->instance)) {
    p.verdict = CheckInVerdict::took_over;
    return p;
  }
  return keep(CheckInVerdict::refused);
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

std::string duplicate_message(const NodeRecord& other, const NodeRecord& me, int64_t now_ms) {
  const int64_t ago_s = std::max<int64_t>(0, now_ms - other.seen_ms) / 1000;
  return fmt::format(
      "node id \"{}\": another process runs from a copy of this data dir (instance {}, its run "
      "{} on host {}{}, checked in {} s ago; this run is {}). A cloned VM, volume or snapshot "
      "keeps the data dir's instance; two processes under one node id would share its leases, "
      "webhook claims and queue commands, so this one does not go on. Stop the copy, remove its "
      "<data>/node.id and <data>/node.instance and give it its own [cluster] node_id (and "
      "spool) before starting it again",
      printable(other.node_id), printable(other.instance), printable(other.run),
      other.hostname.empty() ? "?" : printable(other.hostname),
      other.address.empty() ? "" : " (" + printable(other.address) + ")", ago_s, printable(me.run));
}

std::string contested_message(const NodeRecord& other, const NodeRecord& me, int64_t now_ms) {
  return fmt::format(
      "node id \"{}\" (instance {}) was checked in by another run ({} on host {}, {} s ago): "
      "this data dir's last run (stopped without a clean stop) or a copy of this data dir "
      "running elsewhere; looking again before starting",
      printable(me.node_id), printable(me.instance), printable(other.run),
      other.hostname.empty() ? "?" : printable(other.hostname),
      std::max<int64_t>(0, now_ms - other.seen_ms) / 1000);
}

std::string takeover_message(const NodeRecord& was, const NodeRecord& me, int64_t now_ms) {
  return fmt::format(
      "node id \"{}\" taken over by this data dir (instance {}) from instance {} on host {} ({}, "
      "last seen {} s ago)",
      printable(me.node_id), printable(me.instance), printable(was.instance),
      was.hostname.empty() ? "?" : printable(was.hostname),
      was.stopped_ms != 0                  ? "stopped cleanly"
      : !persistent_instance(was.instance) ? "registered by an older tern"
                                           : "silent for [cluster] lease_s",
      std::max<int64_t>(0, now_ms - was.seen_ms) / 1000);
}

}  // namespace tern::store
