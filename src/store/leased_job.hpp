// A singleton job behind a lease (CLUSTER.md decision 4; docs/cluster.md): of all the nodes of a
// region, only the one holding the lease named for the job runs it (retention of captured
// mail, the change-log trim). The driver calls renew() every
// renew_every_ms() (TTL/3) and asks holding() before, and while, doing the work.
//
// Invariants:
//  - holding() is true only while a renewal succeeded less than ttl_ms ago, measured on this
//    node's clock from the moment the renewal was *asked* (the arbiter's expiry, on its own
//    clock, is at least that late), so this node stops before any other can be granted it.
//  - The moment a renewal fails (an error, or another holder), holding() is false: the job
//    stops; a later renewal may take the lease again (a higher fencing token).
//  - Lease names are fixed strings of the program (kLease* below), never tenant input.
// Sans-IO: the arbiter is two functions (a Cluster's acquire/release, or a test's table) and
// the clock is injected, so tests drive it with a FakeClock. Thread-safe: renew() on one
// thread, holding() from the job's.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "store/cluster.hpp"

namespace tern::store {

constexpr std::string_view kLeaseCapturedRetention = "job:captured-retention";
constexpr std::string_view kLeaseChangeLogTrim = "job:change-log-trim";

// What a renewal did (the driver logs gained and lost).
enum class LeaseOutcome : uint8_t {
  gained,    // this node holds it now and did not before (a new token)
  kept,      // renewed
  lost,      // held before, not any more (another holder, or the renewal failed): stop
  elsewhere  // not held before, not now
};
struct Renewal {
  LeaseOutcome outcome = LeaseOutcome::elsewhere;
  std::string error;  // why the arbiter could not be asked ("" when it answered)
};

class LeasedJob {
 public:
  using Acquire = std::function<core::Result<std::optional<Lease>>(std::string_view name,
                                                                   int64_t now_ms, int64_t ttl_ms)>;
  using Release = std::function<core::Result<void>(std::string_view name, int64_t token)>;

  LeasedJob(std::string name, int64_t ttl_ms, const core::Clock& clock, Acquire acquire,
            Release release);
  // Over a node's Cluster (which must outlive the job).
  LeasedJob(Cluster& cluster, std::string_view name, int64_t ttl_ms, const core::Clock& clock);

  // Acquires or renews the lease.
  Renewal renew();
  bool holding() const;
  // The fencing token of the current holding, 0 when none.
  int64_t token() const;
  int64_t renew_every_ms() const { return ttl_ms_ / 3; }
  const std::string& name() const { return name_; }
  // Gives the lease up (clean stop), so another node need not wait for the TTL.
  void release();

 private:
  const std::string name_;
  const int64_t ttl_ms_;
  const core::Clock& clock_;
  Acquire acquire_;
  Release release_;
  mutable std::mutex mu_;
  int64_t valid_until_ms_ = 0;  // this node's clock
  int64_t token_ = 0;
};

}  // namespace tern::store
