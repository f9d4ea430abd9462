#include "app/node_presence.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace tern::app {

core::Result<store::CheckInVerdict> NodePresence::check_in(int64_t now_ms) {
  const store::CheckInRound round{.heartbeat = running_, .contested = contested_};
  auto plan = registry_.check_in(me_, now_ms, lease_ms_, round);
  if (!plan) return plan.error().context("node registry");
  switch (plan->verdict) {
    case store::CheckInVerdict::refused:
      return core::Error::conflict(store::refusal_message(plan->row, now_ms, lease_ms_));
    case store::CheckInVerdict::duplicate: {
      std::string m = store::duplicate_message(plan->row, me_, now_ms);
      spdlog::error("node registry: {}", m);
      return core::Error::conflict(std::move(m));
    }
    case store::CheckInVerdict::contested:
      contested_ = plan->row;
      spdlog::info("node registry: {}", store::contested_message(plan->row, me_, now_ms));
      return plan->verdict;
    case store::CheckInVerdict::took_over: {
      spdlog::warn(
          "node registry: {}",
          store::takeover_message(plan->before.value_or(store::NodeRecord{}), me_, now_ms));
      break;
    }
    case store::CheckInVerdict::joined:
    case store::CheckInVerdict::renewed:
      break;
  }
  running_ = true;
  contested_.reset();
  return plan->verdict;
}

core::Result<store::CheckInVerdict> NodePresence::start(
    const std::function<int64_t()>& now, const std::function<void(int64_t)>& sleep_ms,
    int64_t probe_ms) {
  auto v = check_in(now());
  if (!v || *v != store::CheckInVerdict::contested) return v;
  sleep_ms(probe_ms);
  return check_in(now());
}

void NodePresence::check_out(int64_t now_ms) {
  if (auto r = registry_.check_out(me_, now_ms); !r)
    spdlog::warn(
        "node registry: clean stop not recorded ({}): another data dir may take node "
        "id {} only after [cluster] lease_s",
        r.error().message, me_.node_id);
}

}  // namespace tern::app
