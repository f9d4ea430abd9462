// The periodic DNS re-check of sending domains as a queue every node works (issue 12,
// docs/cluster.md, "DNS re-checks"): domains.next_check_ms is when a claim (account, domain) is
// due for its next re-check. Each node polls, claims due claims, checks them (domain/service.hpp)
// and sets the next due time; the work spreads over every node and no claim is re-checked by two
// nodes in one interval. One instance per node (SQLite: its own connection to the file; memory:
// the named storage; PostgreSQL: the node's pool).
//
// Invariants:
//  - claim() hands a due claim (0 < next_check_ms <= now) to one claimer only: it leases it
//    (next_check_ms = now + lease_ms) in the same atomic step (PostgreSQL: FOR UPDATE SKIP
//    LOCKED, so two nodes polling at once take different claims and never wait on each other;
//    SQLite: one BEGIN IMMEDIATE). A claimer that dies holds its claims until the lease ends;
//    then another claims them again.
//  - done() sets the next due time only while the claim is still leased under the lease it was
//    claimed with (lease_until_ms: a later claim's lease always ends later, so it is distinct):
//    a claimer whose lease ran out and whose claim was taken again changes nothing.
//  - A claim with next_check_ms = 0 (just added, or made before the column existed) is not due:
//    claim() first schedules those at now + interval_ms (the first re-check waits one interval;
//    `tern domain check` and the API check at once).
//  - Only next_check_ms is written here: these writes do not reach the change feed (the
//    PostgreSQL trigger on domains ignores updates of this column alone).
//  - Times are the claimer's clock (skew between nodes only shifts who claims first; the
//    interval is long next to it).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace tern::store {

// How long a claimed re-check stays claimed: longer than one domain's look-ups ever take.
constexpr int64_t kDomainCheckLeaseMs = 300'000;

struct DomainCheckClaim {
  int64_t account_id = 0;
  std::string domain;
  int64_t lease_until_ms = 0;  // the lease this claim holds; fences done()
};

class DomainChecks {
 public:
  virtual ~DomainChecks() = default;
  // Schedules unscheduled claims at now_ms + interval_ms, then claims up to limit due claims,
  // earliest due first (then by domain, account), each leased until now_ms + lease_ms.
  virtual core::Result<std::vector<DomainCheckClaim>> claim(int64_t now_ms, int64_t interval_ms,
                                                            int64_t lease_ms, size_t limit) = 0;
  // next_check_ms = next_ms when c still holds its lease; false when it does not (claimed
  // again after the lease ran out, or the claim was removed).
  virtual core::Result<bool> done(const DomainCheckClaim& c, int64_t next_ms) = 0;
};

// SQLite: a connection of its own to the store's file (opened by open_sqlite_database first).
core::Result<std::unique_ptr<DomainChecks>> open_sqlite_domain_checks(const std::string& db_path);
// The memory backend's named storage (memory_backend.hpp).
core::Result<std::unique_ptr<DomainChecks>> open_memory_domain_checks(const std::string& name);

}  // namespace tern::store
