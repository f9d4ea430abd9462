#include "app/cluster_upkeep.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace tern::app {

ClusterUpkeep::ClusterUpkeep(store::Cluster& cluster, const core::Clock& clock, Options opt)
    : cluster_(cluster), clock_(clock), opt_(opt) {}

ClusterUpkeep::~ClusterUpkeep() { stop(); }

void ClusterUpkeep::add_job(std::string_view lease, int64_t period_ms, std::function<void()> work) {
  Job j;
  j.lease = std::make_unique<store::LeasedJob>(cluster_, lease, opt_.lease_ttl_ms, clock_);
  j.period_ms = period_ms;
  j.work = std::move(work);
  jobs_.push_back(std::move(j));
}

const store::LeasedJob& ClusterUpkeep::add_lease(std::string_view lease) {
  Job j;
  j.lease = std::make_unique<store::LeasedJob>(cluster_, lease, opt_.lease_ttl_ms, clock_);
  jobs_.push_back(std::move(j));
  return *jobs_.back().lease;
}

void ClusterUpkeep::on_change(std::function<void(const store::Change&)> f) {
  on_change_.push_back(std::move(f));
}

void ClusterUpkeep::on_tick(std::function<void()> f) { ticks_.push_back(std::move(f)); }

void ClusterUpkeep::wake() {
  {
    std::lock_guard lk(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void ClusterUpkeep::renew_all() {
  for (auto& j : jobs_) {
    const auto r = j.lease->renew();
    switch (r.outcome) {
      case store::LeaseOutcome::gained:
        spdlog::info("lease {}: this node runs the job", j.lease->name());
        break;
      case store::LeaseOutcome::lost:
        if (r.error.empty())
          spdlog::warn("lease {}: held by another node now; the job stops here", j.lease->name());
        else
          spdlog::warn("lease {}: renewal failed, the job stops: {}", j.lease->name(), r.error);
        break;
      case store::LeaseOutcome::elsewhere:
        if (!r.error.empty()) spdlog::debug("lease {}: {}", j.lease->name(), r.error);
        break;
      case store::LeaseOutcome::kept:
        break;
    }
  }
}

void ClusterUpkeep::start() {
  if (opt_.follow_feed) {
    feed_ = std::make_unique<store::ChangeFeedReader>(cluster_, clock_);
    if (auto r = feed_->start(); !r)
      spdlog::warn("change feed: {} (trying again every second)", r.error().message);
  }
  renew_all();  // before the first job runs: holding() is already answered
  const int64_t now = clock_.now_ms();
  for (auto& j : jobs_) j.next_run_ms = now + j.period_ms;
  thread_ = std::thread([this] { run(); });
}

void ClusterUpkeep::stop() {
  {
    std::lock_guard lk(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& j : jobs_) j.lease->release();
}

void ClusterUpkeep::run() {
  const int64_t renew_every = std::max<int64_t>(1, opt_.lease_ttl_ms / 3);
  int64_t next_renew = clock_.now_ms() + renew_every;
  int64_t next_tick = clock_.now_ms() + opt_.poll_ms;  // the ticks, and the feed's own poll
  int64_t next_feed = next_tick;                       // the feed: earlier after a wake-up
  int64_t last_feed = 0;
  for (;;) {
    int64_t wake = next_renew;
    if (!ticks_.empty()) wake = std::min(wake, next_tick);
    if (feed_) wake = std::min(wake, next_feed);
    for (const auto& j : jobs_)
      if (j.period_ms > 0) wake = std::min(wake, j.next_run_ms);
    {
      std::unique_lock lk(mu_);
      const int64_t wait = std::max<int64_t>(0, wake - clock_.now_ms());
      if (cv_.wait_for(lk, std::chrono::milliseconds(wait), [this] { return stop_ || woken_; }) &&
          stop_)
        return;
      if (woken_) {
        // A wake-up: read the feed now, or as soon as kMinPollGapMs has passed since it was
        // last read (a burst of changes costs one read per gap, not one per change). The
        // ticks keep their own schedule.
        woken_ = false;
        next_feed = std::min(next_feed, last_feed + kMinPollGapMs);
      }
    }
    int64_t now = clock_.now_ms();
    if (now >= next_renew) {
      renew_all();
      next_renew = now + renew_every;
    }
    if (feed_ && now >= next_feed) {
      next_feed = now + opt_.poll_ms;
      last_feed = now;
      auto changes = feed_->poll();
      if (!changes) {
        spdlog::warn("change feed: {}", changes.error().message);
      } else {
        for (const auto& c : *changes)
          for (const auto& f : on_change_) f(c);
      }
    }
    if (!ticks_.empty() && now >= next_tick) {
      next_tick = now + opt_.poll_ms;
      for (const auto& f : ticks_) f();
    }
    now = clock_.now_ms();
    for (auto& j : jobs_) {
      if (j.period_ms <= 0 || now < j.next_run_ms) continue;
      j.next_run_ms = now + j.period_ms;
      if (j.lease->holding()) j.work();
    }
  }
}

}  // namespace tern::app
