// Conformance (conformance.hpp): captured sandbox mail (issue 13) on every backend: scoped by
// account, random ids, add idempotent per delivery (queue id + recipients), cursor pages newest
// first with an explicit tie-breaker, retention by count (per account) and by age (add and
// prune), refusals (no account, bad limits and cursors), and captured mail going with its
// account.
#include "store/captured.hpp"
#include "store/cursor.hpp"
#include "unit/store/conformance.hpp"

namespace tern::store::conformance {
namespace {

constexpr int64_t kT0 = 1'795'348'800'000;
constexpr int64_t kHour = 3'600'000;

template <class B>
class CapturedConformance : public Conformance<B> {
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
  std::vector<std::string> queue_ids(int64_t account) {
    std::vector<std::string> out;
    for (const auto& m : must(this->store_->captured.list(account, 1000, "")).items)
      out.push_back(m.queue_id);
    return out;
  }
};
TYPED_TEST_SUITE(CapturedConformance, Backends, BackendNames);

CapturedMessage cap(int64_t account, const std::string& qid, int64_t t) {
  CapturedMessage m;
  m.account_id = account;
  m.queue_id = qid;
  m.recipients = {"to@example.com"};
  m.sender = "from@acme.test";
  m.header_from = "From <from@acme.test>";
  m.subject = "Subject " + qid;
  m.message_id = "<" + qid + "@acme.test>";
  m.captured_ms = t;
  m.raw = "From: from@acme.test\r\nSubject: Subject " + qid + "\r\n\r\nbody " + qid + "\r\n";
  return m;
}

TYPED_TEST(CapturedConformance, ScopedIdempotentAndPaged) {
  auto& c = this->store_->captured;
  const int64_t acme = this->account("acme"), beta = this->account("beta");
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i)
    ids.push_back(this->must(c.add(cap(acme, "Q" + std::to_string(i), kT0 + i), kT0 + i)));
  const std::string b = this->must(c.add(cap(beta, "QB", kT0), kT0));
  // A replay of a delivery keeps one copy; the same queue id to other recipients is another.
  EXPECT_EQ(this->must(c.add(cap(acme, "Q3", kT0 + 99), kT0 + 99)), ids[3]);
  auto split = cap(acme, "Q3", kT0 + 5);
  split.recipients = {"other@example.com", "to@example.com"};
  const std::string split_id = this->must(c.add(split, kT0 + 5));
  EXPECT_NE(split_id, ids[3]);
  EXPECT_EQ(ids[0].size(), 26u);
  auto one = this->must(c.get(acme, ids[2], true));
  ASSERT_TRUE(one);
  EXPECT_EQ(one->subject, "Subject Q2");
  EXPECT_EQ(one->header_from, "From <from@acme.test>");
  EXPECT_EQ(one->message_id, "<Q2@acme.test>");
  EXPECT_EQ(one->sender, "from@acme.test");
  EXPECT_EQ(one->captured_ms, kT0 + 2);
  EXPECT_EQ(one->recipients, std::vector<std::string>{"to@example.com"});
  EXPECT_NE(one->raw.find("body Q2"), std::string::npos);
  EXPECT_EQ(one->size, static_cast<int64_t>(one->raw.size()));
  EXPECT_TRUE(this->must(c.get(acme, ids[2], false))->raw.empty());
  EXPECT_EQ(this->must(c.get(acme, split_id, false))->recipients,
            (std::vector<std::string>{"other@example.com", "to@example.com"}));
  // Another account's id is not found; nor is nonsense.
  EXPECT_FALSE(this->must(c.get(acme, b, true)));
  EXPECT_FALSE(this->must(c.get(beta, ids[0], true)));
  EXPECT_FALSE(this->must(c.get(acme, "", true)));
  EXPECT_FALSE(this->must(c.get(acme, std::string(65, 'a'), true)));
  // Pages: newest first, two at a time, without raw.
  std::vector<std::string> seen;
  std::string cursor;
  for (int guard = 0; guard < 10; ++guard) {
    auto p = this->must(c.list(acme, 2, cursor));
    for (const auto& m : p.items) {
      seen.push_back(m.id);
      EXPECT_TRUE(m.raw.empty());
    }
    if (p.next_cursor.empty()) break;
    cursor = p.next_cursor;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{split_id, ids[4], ids[3], ids[2], ids[1], ids[0]}));
  for (const std::string& bad : {std::string("nonsense"), encode_cursor("w1:", 5, "i")}) {
    auto r = c.list(acme, 2, bad);  // a cursor of another list is refused, not misread
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, core::ErrorCode::invalid);
  }
  EXPECT_EQ(c.list(acme, 0, "").error().code, core::ErrorCode::invalid);
  EXPECT_EQ(c.list(acme, 1001, "").error().code, core::ErrorCode::invalid);
  EXPECT_EQ(this->must(c.list(beta, 10, "")).items.size(), 1u);
}

TYPED_TEST(CapturedConformance, TiesInTimeAreOrderedByIdAcrossPages) {
  auto& c = this->store_->captured;
  const int64_t acme = this->account("acme");
  std::vector<std::string> ids;
  for (int i = 0; i < 7; ++i)
    ids.push_back(this->must(c.add(cap(acme, "T" + std::to_string(i), kT0), kT0)));
  std::sort(ids.rbegin(), ids.rend());  // the same captured_ms: id descending
  std::vector<std::string> seen;
  std::string cursor;
  for (int guard = 0; guard < 10; ++guard) {
    auto p = this->must(c.list(acme, 3, cursor));
    for (const auto& m : p.items) seen.push_back(m.id);
    if (p.next_cursor.empty()) break;
    cursor = p.next_cursor;
  }
  EXPECT_EQ(seen, ids);
}

TYPED_TEST(CapturedConformance, RetentionByCountPerAccountAndByAge) {
  auto& c = this->store_->captured;
  c.set_retention({3, 24 * kHour});
  const int64_t acme = this->account("acme"), beta = this->account("beta");
  for (int i = 0; i < 5; ++i)
    this->must(c.add(cap(acme, "Q" + std::to_string(i), kT0 + i), kT0 + i));
  this->must(c.add(cap(beta, "QB", kT0), kT0));
  EXPECT_EQ(this->queue_ids(acme), (std::vector<std::string>{"Q4", "Q3", "Q2"}));  // newest 3
  EXPECT_EQ(this->queue_ids(beta), std::vector<std::string>{"QB"});  // counted per account
  EXPECT_EQ(this->must(c.prune(kT0 + 24 * kHour + 3)), 2u);          // older than a day: Q2, QB
  EXPECT_EQ(this->queue_ids(acme), (std::vector<std::string>{"Q4", "Q3"}));
  EXPECT_TRUE(this->queue_ids(beta).empty());
  EXPECT_EQ(this->must(c.prune(kT0 + 24 * kHour + 3)), 0u);
  // add() ages out too, every account's.
  this->must(c.add(cap(beta, "QN", kT0 + 48 * kHour), kT0 + 48 * kHour));
  EXPECT_TRUE(this->queue_ids(acme).empty());
  EXPECT_EQ(this->queue_ids(beta), std::vector<std::string>{"QN"});
  // A replayed delivery that aged out is captured again (a new copy).
  EXPECT_EQ(this->queue_ids(acme).size(), 0u);
  this->must(c.add(cap(acme, "Q4", kT0 + 48 * kHour), kT0 + 48 * kHour));
  EXPECT_EQ(this->queue_ids(acme), std::vector<std::string>{"Q4"});
  // A retention of 0 keeps one.
  c.set_retention({0, 24 * kHour});
  this->must(c.add(cap(acme, "Q5", kT0 + 48 * kHour + 1), kT0 + 48 * kHour + 1));
  EXPECT_EQ(this->queue_ids(acme), std::vector<std::string>{"Q5"});
}

TYPED_TEST(CapturedConformance, RefusalsAndCapturedMailGoesWithItsAccount) {
  auto& c = this->store_->captured;
  const int64_t acme = this->account("acme"), beta = this->account("beta");
  auto none = c.add(cap(0, "Q0", kT0), kT0);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, core::ErrorCode::invalid);
  auto gone = c.add(cap(acme + beta + 100, "Q1", kT0), kT0);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, core::ErrorCode::not_found);
  // The repository itself refuses a taken id or delivery, and an unknown account (conflict).
  const std::string id = this->must(c.add(cap(beta, "QB", kT0), kT0));
  auto taken = cap(acme, "QX", kT0);
  taken.id = id;
  auto same_delivery = cap(acme, "QB", kT0);
  same_delivery.id = "otherid";
  auto orphan = cap(acme + beta + 100, "QO", kT0);
  orphan.id = "orphanid";
  for (const auto* m : {&taken, &same_delivery, &orphan}) {
    auto r = this->in(Database::Mode::write, [&](Tx& tx) { return tx.captured().insert(*m); });
    ASSERT_FALSE(r.ok()) << m->queue_id;
    EXPECT_EQ(r.error().code, core::ErrorCode::conflict) << m->queue_id;
  }
  // A second instance sees what was captured; removing the account removes it.
  auto other = this->open_again();
  ASSERT_TRUE(other.store);
  EXPECT_TRUE(this->must(other.store->captured.get(beta, id, false)));
  this->must(this->store_->accounts.remove(beta));
  EXPECT_FALSE(this->must(c.get(beta, id, false)));
  EXPECT_TRUE(this->must(c.list(beta, 10, "")).items.empty());
}

}  // namespace
}  // namespace tern::store::conformance
