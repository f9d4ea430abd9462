// Conformance (conformance.hpp): the DNS re-check queue (store/domain_checks.hpp) on every
// backend, with two instances over one store standing for two nodes of a region: new claims are
// scheduled one interval out, a due claim goes to one instance only (also when both claim from
// two threads each at the same moment), a claimer that stops answering loses its claims when
// the lease ends and its late done() changes nothing, removed claims are never handed out.
#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

#include "unit/store/conformance.hpp"

namespace tern::store::conformance {
namespace {

constexpr int64_t kInterval = 60'000;
constexpr int64_t kLease = 5'000;

using Key = std::pair<std::string, int64_t>;  // (domain, account)

template <class B>
class DomainChecksConformance : public Conformance<B> {
 protected:
  void SetUp() override {
    Conformance<B>::SetUp();
    acme_ = this->account("acme");
    other_ = this->account("other");
    second_ = this->open_again("node-2");
    ASSERT_TRUE(second_.domain_checks);
    ASSERT_TRUE(this->backend_.domain_checks);
  }
  DomainChecks& q1() { return *this->backend_.domain_checks; }
  DomainChecks& q2() { return *second_.domain_checks; }
  void add(int64_t account, const std::string& d) {
    auto r = this->store_->domains.add(account, d, false);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  std::vector<DomainCheckClaim> claim(DomainChecks& q, int64_t now, size_t limit = 100) {
    auto r = q.claim(now, kInterval, kLease, limit);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? r.value() : std::vector<DomainCheckClaim>{};
  }
  static std::vector<Key> keys(const std::vector<DomainCheckClaim>& v) {
    std::vector<Key> out;
    for (const auto& c : v) out.emplace_back(c.domain, c.account_id);
    return out;
  }
  bool done(DomainChecks& q, const DomainCheckClaim& c, int64_t next) {
    auto r = q.done(c, next);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() && r.value();
  }
  Backend second_;
  int64_t acme_ = 0, other_ = 0;
};
TYPED_TEST_SUITE(DomainChecksConformance, Backends, BackendNames);

TYPED_TEST(DomainChecksConformance, EachDueClaimGoesToOneInstancePerInterval) {
  this->add(this->acme_, "b.example");
  this->add(this->acme_, "a.example");
  this->add(this->other_, "a.example");  // a second, unverified claim on the same domain
  this->add(this->other_, "c.example");
  const int64_t t0 = 1'000'000;
  // Never scheduled: the first claim schedules them one interval out and hands out nothing.
  EXPECT_TRUE(this->claim(this->q1(), t0).empty());
  EXPECT_TRUE(this->claim(this->q2(), t0 + kInterval - 1).empty());

  // Due: earliest first, then by domain and account; the two instances split them.
  const int64_t t1 = t0 + kInterval;
  auto first = this->claim(this->q1(), t1, 2);
  EXPECT_EQ(this->keys(first),
            (std::vector<Key>{{"a.example", this->acme_}, {"a.example", this->other_}}));
  for (const auto& c : first) EXPECT_EQ(c.lease_until_ms, t1 + kLease);
  auto rest = this->claim(this->q2(), t1);
  EXPECT_EQ(this->keys(rest),
            (std::vector<Key>{{"b.example", this->acme_}, {"c.example", this->other_}}));
  EXPECT_TRUE(this->claim(this->q1(), t1).empty());
  // Checked: the next due time is set; nothing is due again within the interval, also after
  // the leases would have run out.
  for (const auto& c : first) EXPECT_TRUE(this->done(this->q1(), c, t1 + kInterval));
  for (const auto& c : rest) EXPECT_TRUE(this->done(this->q2(), c, t1 + kInterval));
  EXPECT_TRUE(this->claim(this->q1(), t1 + kLease).empty());
  EXPECT_TRUE(this->claim(this->q2(), t1 + kInterval - 1).empty());
  // Next interval: all four again, once each.
  auto again = this->claim(this->q2(), t1 + kInterval);
  EXPECT_EQ(again.size(), 4u);
  EXPECT_TRUE(this->claim(this->q1(), t1 + kInterval).empty());
}

TYPED_TEST(DomainChecksConformance, AStalledClaimerLosesItsClaimAtTheLeaseAndCannotReschedule) {
  this->add(this->acme_, "a.example");
  this->add(this->acme_, "b.example");
  const int64_t t0 = 2'000'000;
  EXPECT_TRUE(this->claim(this->q1(), t0).empty());
  const int64_t t1 = t0 + kInterval;
  auto stalled = this->claim(this->q1(), t1, 1);  // node 1 claims a.example, then stalls
  ASSERT_EQ(this->keys(stalled), (std::vector<Key>{{"a.example", this->acme_}}));
  // While its lease runs, node 2 gets only the other one.
  auto b = this->claim(this->q2(), t1 + kLease - 1);
  EXPECT_EQ(this->keys(b), (std::vector<Key>{{"b.example", this->acme_}}));
  EXPECT_TRUE(this->done(this->q2(), b[0], t1 + kInterval));
  // The lease ran out: node 2 claims it under a later lease.
  auto taken = this->claim(this->q2(), t1 + kLease);
  ASSERT_EQ(this->keys(taken), (std::vector<Key>{{"a.example", this->acme_}}));
  EXPECT_GT(taken[0].lease_until_ms, stalled[0].lease_until_ms);
  // Node 1 wakes up: its done() changes nothing; node 2's stands.
  EXPECT_FALSE(this->done(this->q1(), stalled[0], t1 + 7));
  EXPECT_TRUE(this->done(this->q2(), taken[0], t1 + kLease + kInterval));
  // b.example is due one interval after node 2 checked it, a.example one interval after node
  // 2's later check.
  EXPECT_TRUE(this->claim(this->q1(), t1 + kInterval - 1).empty());
  auto next_b = this->claim(this->q1(), t1 + kInterval);
  EXPECT_EQ(this->keys(next_b), (std::vector<Key>{{"b.example", this->acme_}}));
  EXPECT_TRUE(this->claim(this->q1(), t1 + kLease + kInterval - 1).empty());
  EXPECT_EQ(this->keys(this->claim(this->q2(), t1 + kLease + kInterval, 1)),
            (std::vector<Key>{{"a.example", this->acme_}}));
  // A made-up lease never matches.
  DomainCheckClaim forged{this->acme_, "b.example", 0};
  EXPECT_FALSE(this->done(this->q1(), forged, 1));
}

TYPED_TEST(DomainChecksConformance, RemovedAndNewClaims) {
  this->add(this->acme_, "a.example");
  const int64_t t0 = 3'000'000;
  EXPECT_TRUE(this->claim(this->q1(), t0).empty());
  auto a = this->claim(this->q1(), t0 + kInterval);
  ASSERT_EQ(a.size(), 1u);
  // Removed while being checked: done() reports it, nothing is handed out again.
  ASSERT_TRUE(this->store_->domains.remove(this->acme_, "a.example").ok());
  EXPECT_FALSE(this->done(this->q1(), a[0], t0 + 2 * kInterval));
  EXPECT_TRUE(this->claim(this->q2(), t0 + 10 * kInterval).empty());
  // A claim added later waits one interval from when an instance first sees it.
  this->add(this->acme_, "late.example");
  const int64_t seen = t0 + 11 * kInterval;
  EXPECT_TRUE(this->claim(this->q2(), seen).empty());
  EXPECT_TRUE(this->claim(this->q1(), seen + kInterval - 1).empty());
  EXPECT_EQ(this->keys(this->claim(this->q1(), seen + kInterval)),
            (std::vector<Key>{{"late.example", this->acme_}}));
  // limit 0 schedules only.
  auto none = this->q1().claim(seen + 100 * kInterval, kInterval, kLease, 0);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TYPED_TEST(DomainChecksConformance, TwoInstancesClaimingAtOnceNeverGetTheSameClaim) {
  // Two instances (two nodes), two threads each, claim small batches as fast as they can at
  // the same moment: every due claim is handed out exactly once.
  constexpr int kDomains = 60;
  for (int i = 0; i < kDomains; ++i)
    this->add(i % 2 ? this->acme_ : this->other_, "d" + std::to_string(i) + ".example");
  const int64_t t0 = 4'000'000;
  EXPECT_TRUE(this->claim(this->q1(), t0).empty());
  const int64_t t = t0 + kInterval;
  std::mutex mu;
  std::vector<Key> claimed;
  std::atomic<int> errors{0};
  auto claimer = [&](DomainChecks* q) {
    for (;;) {
      auto r = q->claim(t, kInterval, kLease, 3);
      if (!r.ok()) {
        ++errors;
        return;
      }
      if (r->empty()) return;
      std::lock_guard lock(mu);
      for (const auto& c : *r) claimed.emplace_back(c.domain, c.account_id);
    }
  };
  std::thread a1(claimer, &this->q1()), a2(claimer, &this->q1());
  std::thread b1(claimer, &this->q2()), b2(claimer, &this->q2());
  a1.join();
  a2.join();
  b1.join();
  b2.join();
  EXPECT_EQ(errors.load(), 0);
  std::set<Key> unique(claimed.begin(), claimed.end());
  EXPECT_EQ(unique.size(), claimed.size()) << "a claim was handed to two claimers";
  EXPECT_EQ(claimed.size(), static_cast<size_t>(kDomains));
  // All of them again once the leases run out (nobody called done()).
  EXPECT_TRUE(this->claim(this->q1(), t + kLease - 1).empty());
  EXPECT_EQ(this->claim(this->q2(), t + kLease).size(), static_cast<size_t>(kDomains));
}

}  // namespace
}  // namespace tern::store::conformance
