// DNS re-check queue on SQLite (domain_checks.hpp): one connection of its own to the store's
// file, serialized by a mutex. A claim is one BEGIN IMMEDIATE transaction (schedule the new,
// pick the due, lease them), so two instances (a server and a CLI, or two connections) claim
// one after the other and the second never takes what the first leased.
#include <mutex>

#include "store/domain_checks.hpp"
#include "store/sqlite_db.hpp"

namespace tern::store {

namespace {

using namespace sqlite::names;

class SqliteDomainChecks final : public DomainChecks {
 public:
  explicit SqliteDomainChecks(Db db) : db_(std::move(db)) {}

  core::Result<std::vector<DomainCheckClaim>> claim(int64_t now_ms, int64_t interval_ms,
                                                    int64_t lease_ms, size_t limit) override {
    std::vector<DomainCheckClaim> out;
    std::lock_guard lock(mu_);
    Txn txn(db_);
    if (auto r = txn.begin_immediate(); !r) return r.error();
    {
      Stmt s(db_, "UPDATE domains SET next_check_ms = ? WHERE next_check_ms = 0");
      s.bind(1, now_ms + interval_ms);
      if (auto r = s.run("schedule domain re-checks"); !r) return r.error();
    }
    if (limit > 0) {
      Stmt s(db_,
             "SELECT account_id, domain FROM domains WHERE next_check_ms > 0 AND "
             "next_check_ms <= ? ORDER BY next_check_ms, domain, account_id LIMIT ?");
      s.bind(1, now_ms).bind(2, static_cast<int64_t>(limit));
      int rc;
      while ((rc = s.step()) == SQLITE_ROW)
        out.push_back({s.int64(0), s.text(1), now_ms + lease_ms});
      if (rc != SQLITE_DONE) return s.error(rc, "find due domain re-checks");
      Stmt lease(db_, "UPDATE domains SET next_check_ms = ? WHERE account_id = ? AND domain = ?");
      for (const auto& c : out) {
        lease.reset();
        lease.bind(1, c.lease_until_ms).bind(2, c.account_id).bind(3, c.domain);
        if (auto r = lease.run("lease domain re-check"); !r) return r.error();
      }
    }
    if (auto r = txn.commit(); !r) return r.error();
    return out;
  }

  core::Result<bool> done(const DomainCheckClaim& c, int64_t next_ms) override {
    std::lock_guard lock(mu_);
    Stmt s(db_,
           "UPDATE domains SET next_check_ms = ? WHERE account_id = ? AND domain = ? AND "
           "next_check_ms = ?");
    s.bind(1, next_ms).bind(2, c.account_id).bind(3, c.domain).bind(4, c.lease_until_ms);
    if (auto r = s.run("schedule next domain re-check"); !r) return r.error();
    return db_.changes() > 0;
  }

 private:
  std::mutex mu_;
  Db db_;
};

}  // namespace

core::Result<std::unique_ptr<DomainChecks>> open_sqlite_domain_checks(const std::string& db_path) {
  auto db = Db::open_companion(db_path, "domains", "domain re-checks", Db::Sync::normal);
  if (!db) return db.error();
  return std::unique_ptr<DomainChecks>(std::make_unique<SqliteDomainChecks>(std::move(db).value()));
}

}  // namespace tern::store
