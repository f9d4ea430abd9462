// LISTEN on PostgreSQL as a wake-up (issue 12, docs/cluster.md "Config changes on every node"):
// the change_log triggers send NOTIFY tern_change in the writing transaction, and a node that
// listens polls its change feed at once instead of at its next poll (every second).
//
// Invariants:
//  - A wake-up only, never the carrier of a change: on_wake() asks the poller to look now; the
//    feed is what it reads. A notification lost (the connection dropped, the server restarted)
//    costs at most one poll interval, never a change.
//  - Its own connection (never one of the pool's) and its own thread; on_wake runs on that
//    thread and must be quick (it sets a flag and notifies).
//  - After every (re)connect on_wake() is called once: what was announced while it was away
//    may be in the feed already.
//  - While the database is away it connects again after 1 s, doubling to 30 s; it logs the
//    first failure of a series (warning) and the recovery (info), not every attempt.
//  - stop() wakes the thread through an eventfd while it listens or waits to try again; a
//    connect attempt under way is finished first (bounded by the URL's connect_timeout, 5 s by
//    default in pg::Conn::connect, plus the host name's resolution).
//  - NOTIFY channels are per database, not per schema: two regions in one database wake each
//    other now and then, which costs one poll each.
#pragma once
#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace tern::store::pg {

class Listener {
 public:
  // url: the store's libpq URL; channel: a fixed identifier (never tenant input).
  Listener(std::string url, std::string channel, std::function<void()> on_wake);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  void start();
  void stop();
  // (Re)connects that reached LISTEN since start, and attempts that did not: for tests.
  uint64_t connects() const { return connects_.load(); }
  uint64_t failed_attempts() const { return failed_.load(); }

 private:
  void run();
  // Waits up to ms for stop(); true when stopping.
  bool wait_stop(int ms) const;

  const std::string url_;
  const std::string channel_;
  const std::function<void()> on_wake_;
  int stop_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> connects_{0};
  std::atomic<uint64_t> failed_{0};
  std::thread thread_;
};

}  // namespace tern::store::pg
