// Conformance (conformance.hpp): the console's suppression search and bulk changes (issue 13)
// on every backend: search by address and reason substrings (ASCII case-insensitive, LIKE
// wildcards literal), ordered by address, cursor pages; bulk add/remove in one transaction
// (canonical addresses, invalid ones reported, scoped to the account, at most 1000).
#include "unit/store/conformance.hpp"

namespace tern::store::conformance {
namespace {

constexpr int64_t kT0 = 1'795'348'800'000;

template <class B>
class SuppressionSearchConformance : public Conformance<B> {
 protected:
  template <class T>
  T must(core::Result<T> r) {
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    if (!r.ok()) throw std::runtime_error(r.error().message);
    return std::move(r).value();
  }
  void must(core::Result<void> r) {
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    if (!r.ok()) throw std::runtime_error(r.error().message);
  }
};
TYPED_TEST_SUITE(SuppressionSearchConformance, Backends, BackendNames);

TYPED_TEST(SuppressionSearchConformance, SearchAndBulk) {
  auto* l = &this->store_->suppressions;
  auto* store_ = this->store_;
  const int64_t acme_ = this->account("acme"), beta_ = this->account("beta");
  auto r = this->must(l->bulk(acme_, {"a@x.test", "b@X.TEST", "100%_@x.test", "not an address"},
                              {"nobody@x.test"}, "imported", kT0));
  EXPECT_EQ(r.added, 3u);
  EXPECT_EQ(r.removed, 0u);
  EXPECT_EQ(r.invalid, std::vector<std::string>{"not an address"});
  this->must(l->bulk(beta_, {"a@x.test", "secret@beta.test"}, {}, "beta's", kT0));
  this->must(store_->suppressions.add({acme_, "hard@y.test", "550 5.1.1 gone", "Q1", kT0}));
  auto all = this->must(l->search({acme_, "", "", 50, ""}));
  ASSERT_EQ(all.items.size(), 4u);
  EXPECT_EQ(all.items[0].address, "100%_@x.test");
  EXPECT_EQ(all.items[2].address, "b@x.test");  // domain lower-cased
  EXPECT_TRUE(all.next_cursor.empty());
  // Substrings, case-insensitive; LIKE's wildcards are literal.
  EXPECT_EQ(this->must(l->search({acme_, "X.TEST", "", 50, ""})).items.size(), 3u);
  auto pct = this->must(l->search({acme_, "%_", "", 50, ""}));
  ASSERT_EQ(pct.items.size(), 1u);
  EXPECT_EQ(pct.items[0].address, "100%_@x.test");
  auto reason = this->must(l->search({acme_, "", "5.1.1", 50, ""}));
  ASSERT_EQ(reason.items.size(), 1u);
  EXPECT_EQ(reason.items[0].queue_id, "Q1");
  // Never another account's rows.
  EXPECT_TRUE(this->must(l->search({acme_, "beta", "", 50, ""})).items.empty());
  // Pages of one.
  std::vector<std::string> seen;
  std::string cursor;
  for (int guard = 0; guard < 10; ++guard) {
    auto p = this->must(l->search({acme_, "", "", 1, cursor}));
    for (const auto& s : p.items) seen.push_back(s.address);
    if (p.next_cursor.empty()) break;
    cursor = p.next_cursor;
  }
  EXPECT_EQ(seen.size(), 4u);
  EXPECT_FALSE(l->search({acme_, "", "", 1, "zz"}).ok());
  // Remove: only what is listed, only in this account.
  auto rm = this->must(l->bulk(acme_, {}, {"a@x.test", "secret@beta.test", "A@x.test"}, "", kT0));
  EXPECT_EQ(rm.removed, 1u);
  EXPECT_TRUE(this->must(store_->suppressions.contains(beta_, "secret@beta.test")));
  EXPECT_TRUE(this->must(store_->suppressions.contains(beta_, "a@x.test")));
  EXPECT_FALSE(this->must(store_->suppressions.contains(acme_, "a@x.test")));
  std::vector<std::string> many(1001, "x@y.test");
  EXPECT_FALSE(l->bulk(acme_, many, {}, "", kT0).ok());
  EXPECT_FALSE(l->bulk(9999, {"x@y.test"}, {}, "", kT0).ok());
}

TYPED_TEST(SuppressionSearchConformance, ABulkThatFailsChangesNothing) {
  auto& l = this->store_->suppressions;
  const int64_t acme = this->account("acme");
  ASSERT_TRUE(l.bulk(acme, {"keep@x.test"}, {}, "first", kT0).ok());
  // Too many: refused before anything is written (invalid), the list as it was.
  std::vector<std::string> many(1000, "x@y.test");
  auto r = l.bulk(acme, many, {"keep@x.test"}, "", kT0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::ErrorCode::invalid);
  auto all = l.search({acme, "", "", 50, ""});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->items.size(), 1u);
  EXPECT_EQ(all->items[0].address, "keep@x.test");
  // An unknown account: not_found.
  auto none = l.bulk(acme + 9999, {"x@y.test"}, {}, "", kT0);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, core::ErrorCode::not_found);
  // Bad limits and cursors: invalid.
  for (size_t limit : {size_t{0}, size_t{1001}})
    EXPECT_EQ(l.search({acme, "", "", limit, ""}).error().code, core::ErrorCode::invalid);
  EXPECT_EQ(l.search({acme, "", "", 5, "nothex"}).error().code, core::ErrorCode::invalid);
  EXPECT_EQ(l.search({acme, std::string(321, 'a'), "", 5, ""}).error().code,
            core::ErrorCode::invalid);
}

}  // namespace
}  // namespace tern::store::conformance
