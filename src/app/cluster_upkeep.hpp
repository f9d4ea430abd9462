// The node's share of the region's upkeep (docs/cluster.md), on a thread of its own:
//  - the change feed (store/change_feed.hpp) is read every second and each change handed to
//    the cache owners (on_change), so a config change made on any node reaches this one within
//    about a second (the integration test's bound is 2 s); wake() (on PostgreSQL: a NOTIFY
//    the change_log triggers send, store/pg_listener.hpp) reads it at once instead, at most
//    once per kMinPollGapMs however many wake-ups come (the ticks keep their schedule);
//  - ticks (on_tick) run every poll interval too: the node's queue commands from other nodes
//    (app/queue_router.hpp) and the mirror of the region's AUTH failure counts;
//  - singleton jobs (store/leased_job.hpp) run only while this node holds their lease, renewed
//    every TTL/3; a job stops the moment a renewal fails. Work done on another thread (the DNS
//    re-check round) asks its lease's holding() itself.
// On SQLite (one node) the leases are always this node's and the feed is not followed: the
// behaviour is the single node's as before. Register everything, then start(); stop() (or the
// destructor) ends the thread and gives the leases up so another node need not wait the TTL.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "core/clock.hpp"
#include "store/change_feed.hpp"
#include "store/cluster.hpp"
#include "store/leased_job.hpp"

namespace tern::app {

class ClusterUpkeep {
 public:
  struct Options {
    int64_t lease_ttl_ms = 30'000;
    bool follow_feed = false;  // the region's change feed (PostgreSQL)
    int64_t poll_ms = 1'000;
  };
  ClusterUpkeep(store::Cluster& cluster, const core::Clock& clock, Options opt);
  ~ClusterUpkeep();
  ClusterUpkeep(const ClusterUpkeep&) = delete;
  ClusterUpkeep& operator=(const ClusterUpkeep&) = delete;

  // work() every period_ms while this node holds lease (a fixed name, never tenant input).
  void add_job(std::string_view lease, int64_t period_ms, std::function<void()> work);
  // A lease for work another thread does: it asks holding() before and during it.
  const store::LeasedJob& add_lease(std::string_view lease);
  // Called on the upkeep thread for every change read from the feed.
  void on_change(std::function<void(const store::Change&)> f);
  // Called on the upkeep thread every poll_ms (after the feed's changes).
  void on_tick(std::function<void()> f);
  // From any thread: read the feed now, not at its next poll (the ticks keep theirs). A
  // wake-up only: nothing is lost without it.
  void wake();
  static constexpr int64_t kMinPollGapMs = 100;

  void start();
  void stop();

 private:
  struct Job {
    std::unique_ptr<store::LeasedJob> lease;
    int64_t period_ms = 0;  // 0: a lease only
    std::function<void()> work;
    int64_t next_run_ms = 0;
  };
  void run();
  void renew_all();

  store::Cluster& cluster_;
  const core::Clock& clock_;
  const Options opt_;
  std::vector<Job> jobs_;
  std::vector<std::function<void(const store::Change&)>> on_change_;
  std::vector<std::function<void()>> ticks_;
  std::unique_ptr<store::ChangeFeedReader> feed_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool woken_ = false;  // wake() since the last poll
  std::thread thread_;
};

}  // namespace tern::app
