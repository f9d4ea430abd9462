// Conformance (conformance.hpp): account suspensions (issue 13) on every backend: suspend with a
// reason (a new reason keeps the start), get / all (by account id), unsuspend (false when not
// suspended), refusal of bad reasons (invalid) and of a missing account (not_found), and the
// suspension going with its account.
#include "unit/store/conformance.hpp"

namespace tern::store::conformance {
namespace {

template <class B>
class SuspensionsConformance : public Conformance<B> {};
TYPED_TEST_SUITE(SuspensionsConformance, Backends, BackendNames);

constexpr int64_t kT0 = 1'795'348'800'000;

TYPED_TEST(SuspensionsConformance, SuspendChangeReasonAndUnsuspend) {
  auto& s = this->store_->suspensions;
  const int64_t acme = this->account("acme"), beta = this->account("beta");
  ASSERT_TRUE(s.get(acme).ok());
  EXPECT_FALSE(s.get(acme).value());
  auto x = s.suspend(acme, "unpaid invoice", kT0);
  ASSERT_TRUE(x.ok()) << x.error().message;
  EXPECT_EQ(x->account_id, acme);
  EXPECT_EQ(x->reason, "unpaid invoice");
  EXPECT_EQ(x->since_ms, kT0);
  auto y = s.suspend(acme, "spam complaints", kT0 + 5);
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->since_ms, kT0);  // a new reason keeps the start
  auto got = s.get(acme).value();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->reason, "spam complaints");
  EXPECT_EQ(got->since_ms, kT0);
  EXPECT_FALSE(s.get(beta).value());  // one account's suspension is not another's
  // all(): by account id, whatever the order of suspending.
  ASSERT_TRUE(s.suspend(beta, "chargeback", kT0 + 9).ok());
  auto all = s.all().value();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].account_id, std::min(acme, beta));
  EXPECT_EQ(all[1].account_id, std::max(acme, beta));
  // Unsuspend: true once, then false; the other stays.
  EXPECT_TRUE(s.unsuspend(acme).value());
  EXPECT_FALSE(s.unsuspend(acme).value());
  EXPECT_FALSE(s.get(acme).value());
  EXPECT_TRUE(s.get(beta).value());
  // Suspended again: a new start.
  EXPECT_EQ(s.suspend(acme, "again", kT0 + 100).value().since_ms, kT0 + 100);
}

TYPED_TEST(SuspensionsConformance, BadReasonsAndMissingAccountsAreRefusedAndWriteNothing) {
  auto& s = this->store_->suspensions;
  const int64_t acme = this->account("acme");
  for (const std::string& bad : {std::string(), std::string("line\r\nbreak"), std::string(201, 'x'),
                                 std::string("\xff\xfe"), std::string("tab\there")}) {
    auto r = s.suspend(acme, bad, kT0);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, core::ErrorCode::invalid) << bad;
  }
  EXPECT_TRUE(s.suspend(acme, std::string(200, 'x'), kT0).ok());  // the limit itself is fine
  ASSERT_TRUE(s.unsuspend(acme).ok());
  auto missing = s.suspend(acme + 9999, "nobody", kT0);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, core::ErrorCode::not_found);
  EXPECT_TRUE(s.all().value().empty());
}

TYPED_TEST(SuspensionsConformance, ASuspensionGoesWithItsAccountAndIsSharedByInstances) {
  auto& s = this->store_->suspensions;
  const int64_t acme = this->account("acme"), beta = this->account("beta");
  ASSERT_TRUE(s.suspend(beta, "gone", kT0).ok());
  ASSERT_TRUE(s.suspend(acme, "kept", kT0).ok());
  // A second instance over the same storage (the CLI beside a server) sees it.
  auto other = this->open_again();
  ASSERT_TRUE(other.store);
  ASSERT_EQ(other.store->suspensions.all().value().size(), 2u);
  ASSERT_TRUE(this->store_->accounts.remove(beta).ok());
  auto all = s.all().value();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].account_id, acme);
  EXPECT_EQ(all[0].reason, "kept");
}

}  // namespace
}  // namespace tern::store::conformance
