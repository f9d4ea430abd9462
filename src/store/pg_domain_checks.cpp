// DNS re-check queue on PostgreSQL (domain_checks.hpp). A claim is one transaction on the
// node's pool, outside the store's write lock (pg_backend.hpp): unscheduled claims get their
// first due time, then the due rows are locked FOR UPDATE SKIP LOCKED and leased by one UPDATE,
// so nodes polling at the same moment take different rows and never wait on each other. done()
// is one UPDATE fenced by the lease. Neither fires the change feed (migration 10 limits the
// domains trigger to the other columns).
#include <algorithm>
#include <tuple>

#include "store/domain_checks.hpp"
#include "store/pg_parts.hpp"

namespace tern::store::pg {

namespace {

class PgDomainChecks final : public DomainChecks {
 public:
  explicit PgDomainChecks(std::shared_ptr<Pool> pool) : pool_(std::move(pool)) {}

  core::Result<std::vector<DomainCheckClaim>> claim(int64_t now_ms, int64_t interval_ms,
                                                    int64_t lease_ms, size_t limit) override {
    using Out = std::vector<DomainCheckClaim>;
    return pool_->transact([&](Conn& c) -> core::Result<Out> {
      Out out;
      if (auto r = c.exec("UPDATE domains SET next_check_ms = $1 WHERE next_check_ms = 0",
                          Params::of(now_ms + interval_ms), "schedule domain re-checks");
          !r)
        return r.error();
      if (limit == 0) return out;
      const int64_t until = now_ms + lease_ms;
      auto rows = c.exec(
          "WITH due AS (SELECT account_id, domain, next_check_ms FROM domains "
          "WHERE next_check_ms > 0 AND next_check_ms <= $1 "
          "ORDER BY next_check_ms, domain, account_id LIMIT $2 FOR UPDATE SKIP LOCKED) "
          "UPDATE domains d SET next_check_ms = $3 FROM due "
          "WHERE d.account_id = due.account_id AND d.domain = due.domain "
          "RETURNING d.account_id, d.domain, due.next_check_ms",
          Params::of(now_ms, static_cast<int64_t>(limit), until), "claim due domain re-checks");
      if (!rows) return rows.error();
      std::vector<std::tuple<int64_t, std::string, int64_t>> got;
      for (int i = 0; i < rows->size(); ++i)
        got.emplace_back(rows->int64(i, 2), rows->text(i, 1), rows->int64(i, 0));
      std::sort(got.begin(), got.end());  // earliest due first, then domain, account
      for (auto& [due, domain, account] : got) out.push_back({account, std::move(domain), until});
      return out;
    });
  }

  core::Result<bool> done(const DomainCheckClaim& claim, int64_t next_ms) override {
    // Idempotent: a resent UPDATE after an unknown outcome finds the lease gone and changes
    // nothing (then reports false, as for a claim taken again).
    return pool_->with([&](Conn& c) -> core::Result<bool> {
      auto r = c.exec(
          "UPDATE domains SET next_check_ms = $1 WHERE account_id = $2 AND domain = $3 AND "
          "next_check_ms = $4",
          Params::of(next_ms, claim.account_id, claim.domain, claim.lease_until_ms),
          "schedule next domain re-check");
      if (!r) return r.error();
      return r->affected() > 0;
    });
  }

 private:
  std::shared_ptr<Pool> pool_;
};

}  // namespace

std::unique_ptr<DomainChecks> make_domain_checks(std::shared_ptr<Pool> pool) {
  return std::make_unique<PgDomainChecks>(std::move(pool));
}

}  // namespace tern::store::pg
