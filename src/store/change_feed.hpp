// Reading the cluster's change feed (CLUSTER.md decision 5; docs/cluster.md): every node polls
// it (every second) and drops the cache entries each change names, so a login deleted or a
// DKIM key rotated on one node is seen on every node within the poll interval.
//
// Invariants:
//  - start() begins at the feed's end: what changed before this node started is already in
//    its (empty) caches.
//  - poll() hands out every change committed since, each once... within the overlap: feed
//    positions are identity values, which commit out of order (a transaction that took seq 10
//    may commit after one that took 11 was read). So the reader re-reads everything above the
//    highest position it saw at least overlap_ms ago and hands out what it has not seen yet. A
//    change whose transaction commits more than overlap_ms after a later position was read is
//    missed; the caches' own lifetimes (300 s logins, 30 s DKIM keys) still bound it.
//  - Applying a change is only ever dropping cache entries, so a change handed out late or
//    twice does no harm.
// Not thread-safe: one poller.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "store/cluster.hpp"

namespace tern::store {

// A change's subject split: "credential:bob@acme" → {"credential", "bob@acme"}; kind "" when the
// subject has no colon. Subjects are written by the database's triggers (pg_schema.cpp): kinds
// credential (username), api_key, account, dkim, sender, settings (account id), domain (name).
struct Subject {
  std::string_view kind, key;
};
Subject parse_subject(std::string_view subject);

class ChangeFeedReader {
 public:
  static constexpr int64_t kOverlapMs = 5'000;
  static constexpr size_t kPage = 1'000;

  ChangeFeedReader(Cluster& cluster, const core::Clock& clock, int64_t overlap_ms = kOverlapMs)
      : cluster_(cluster), clock_(clock), overlap_ms_(overlap_ms) {}

  // Skips what the feed holds now.
  core::Result<void> start();
  // Changes not handed out before, oldest position first.
  core::Result<std::vector<Change>> poll();

  size_t remembered() const { return seen_.size(); }  // positions inside the overlap (tests)

 private:
  core::Result<std::vector<Change>> read_new(int64_t now);

  Cluster& cluster_;
  const core::Clock& clock_;
  const int64_t overlap_ms_;
  int64_t floor_ = 0;                // every position <= floor_ is settled (read or given up)
  std::map<int64_t, int64_t> seen_;  // positions above floor_ read already → when first read
};

}  // namespace tern::store
