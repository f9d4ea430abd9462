// FeedOf: a store::Cluster whose change feed the test controls (commit(seq, subject) makes a
// position visible, as a PostgreSQL identity value becomes visible when its transaction
// commits); leases are never granted. For ChangeFeedReader and ClusterUpkeep tests.
#pragma once
#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

#include "store/cluster.hpp"

namespace tern::store {

class FeedOf final : public Cluster {
 public:
  // Makes position seq visible (committed).
  void commit(int64_t seq, std::string subject) {
    std::lock_guard lk(mu_);
    rows_.push_back({seq, std::move(subject), 0});
    std::sort(rows_.begin(), rows_.end(),
              [](const Change& a, const Change& b) { return a.seq < b.seq; });
  }
  int reads = 0;  // changes_since calls (read it while no other thread polls)

  const std::string& node_id() const override { return id_; }
  core::Result<std::optional<Lease>> acquire(std::string_view, int64_t, int64_t) override {
    return std::optional<Lease>();
  }
  core::Result<void> release(std::string_view, int64_t) override { return core::ok(); }
  core::Result<int64_t> publish(std::string_view, int64_t) override { return int64_t{0}; }
  core::Result<std::vector<Change>> changes_since(int64_t after, size_t limit) override {
    std::lock_guard lk(mu_);
    ++reads;
    std::vector<Change> out;
    for (const auto& c : rows_)
      if (c.seq > after && out.size() < limit) out.push_back(c);
    return out;
  }
  core::Result<size_t> trim_changes(int64_t) override { return size_t{0}; }
  core::Result<std::string> shared_secret(std::string_view, const std::string& v,
                                          int64_t) override {
    return v;
  }

 private:
  std::string id_ = "n";
  std::mutex mu_;  // commit() and a poller's thread
  std::vector<Change> rows_;
};

}  // namespace tern::store
