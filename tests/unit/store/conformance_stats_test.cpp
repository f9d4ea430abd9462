// Conformance (conformance.hpp): the hourly delivery counters (issue 13) on every backend:
// kept by EventRepo::append in the events' transaction (SQLite: a trigger; memory: the append
// itself), so they count the same on both: per account and summed for every account, by hour
// then event, hours aligned to UTC; a failed batch counts nothing; counters equal the events
// after many batches and for a second instance; they go with their account.
#include "store/stats.hpp"
#include "unit/store/conformance.hpp"

namespace tern::store::conformance {
namespace {

constexpr int64_t kT0 = 1'795'348'800'000;  // 2026-11-22T12:00:00Z, an hour boundary
constexpr int64_t kHour = 3'600'000;

template <class B>
class StatsConformance : public Conformance<B> {
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
TYPED_TEST_SUITE(StatsConformance, Backends, BackendNames);

using core::EventKind;

DeliveryEvent ev(int64_t account, int64_t t, EventKind what) {
  return event(t, "Q" + std::to_string(t), account, "r@example.com", what);
}

// "hour+offset:event=n" per row, for readable comparisons.
std::vector<std::string> shown(const std::vector<StatsCount>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows)
    out.push_back(std::to_string((r.hour_ms - kT0) / kHour) + ":" + r.event + "=" +
                  std::to_string(r.n));
  return out;
}

TYPED_TEST(StatsConformance, CountsFollowTheEventsPerAccountAndForAll) {
  auto& st = this->store_->stats;
  const int64_t acme = this->account("acme"), beta = this->account("beta");
  this->must(this->store_->events.record(
      {ev(acme, kT0 + 1, EventKind::accepted), ev(acme, kT0 + 2, EventKind::delivered),
       ev(acme, kT0 + 3, EventKind::delivered), ev(acme, kT0 + kHour - 1, EventKind::deferred),
       ev(acme, kT0 + kHour, EventKind::bounced), ev(beta, kT0 + 5, EventKind::delivered),
       ev(beta, kT0 + 6, EventKind::opened)}));
  // One account: by hour, then event (bytes); the hour is UTC-aligned.
  EXPECT_EQ(
      shown(this->must(st.hourly(acme, kT0, kT0 + 2 * kHour))),
      (std::vector<std::string>{"0:accepted=1", "0:deferred=1", "0:delivered=2", "1:bounced=1"}));
  EXPECT_EQ(shown(this->must(st.hourly(beta, kT0, kT0 + 2 * kHour))),
            (std::vector<std::string>{"0:delivered=1", "0:opened=1"}));
  // Every account (the operator): summed.
  EXPECT_EQ(shown(this->must(st.hourly(0, kT0, kT0 + 2 * kHour))),
            (std::vector<std::string>{"0:accepted=1", "0:deferred=1", "0:delivered=3", "0:opened=1",
                                      "1:bounced=1"}));
  // [from, to): the second hour alone; nothing before kT0.
  EXPECT_EQ(shown(this->must(st.hourly(0, kT0 + kHour, kT0 + 2 * kHour))),
            (std::vector<std::string>{"1:bounced=1"}));
  EXPECT_TRUE(this->must(st.hourly(acme, kT0 - 5 * kHour, kT0)).empty());
  // An empty range is refused.
  auto bad = st.hourly(acme, kT0, kT0);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, core::ErrorCode::invalid);
}

TYPED_TEST(StatsConformance, AFailedBatchCountsNothing) {
  auto& st = this->store_->stats;
  const int64_t acme = this->account("acme");
  this->must(this->store_->events.record({ev(acme, kT0 + 1, EventKind::delivered)}));
  // The second event has no queue id: the batch fails, its first event is not counted.
  auto nope = ev(acme, kT0 + 2, EventKind::delivered);
  nope.queue_id.clear();
  EXPECT_FALSE(this->store_->events.record({ev(acme, kT0 + 3, EventKind::delivered), nope}).ok());
  EXPECT_EQ(shown(this->must(st.hourly(acme, kT0, kT0 + kHour))),
            (std::vector<std::string>{"0:delivered=1"}));
  // The same through the repositories: a Tx dropped after append leaves no count.
  {
    auto tx = this->backend_.db->begin(Database::Mode::write);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE(tx.value()->events().append({ev(acme, kT0 + 4, EventKind::bounced)}).ok());
    // Visible inside the Tx...
    auto inside = tx.value()->stats().hourly(acme, kT0, kT0 + kHour);
    ASSERT_TRUE(inside.ok());
    EXPECT_EQ(shown(*inside), (std::vector<std::string>{"0:bounced=1", "0:delivered=1"}));
  }  // ...and gone with it.
  EXPECT_EQ(shown(this->must(st.hourly(acme, kT0, kT0 + kHour))),
            (std::vector<std::string>{"0:delivered=1"}));
}

// A replayed journal entry: its keyed events are stored once, so counted once, also when a
// key repeats inside one batch.
TYPED_TEST(StatsConformance, AKnownKeyIsNotCountedTwice) {
  auto& st = this->store_->stats;
  const int64_t acme = this->account("acme");
  auto a = ev(acme, kT0 + 1, EventKind::delivered);
  a.key = "00112233445566778899aabbccddeeff.0";
  auto b = ev(acme, kT0 + 2, EventKind::deferred);
  b.key = "00112233445566778899aabbccddeeff.1";
  this->must(this->store_->events.record({a, b, a}));
  this->must(this->store_->events.record({a, b, ev(acme, kT0 + 3, EventKind::delivered)}));
  EXPECT_EQ(shown(this->must(st.hourly(acme, kT0, kT0 + kHour))),
            (std::vector<std::string>{"0:deferred=1", "0:delivered=2"}));
}

TYPED_TEST(StatsConformance, CountersEqualTheEventsAfterManyBatchesAndForAnotherInstance) {
  const int64_t acme = this->account("acme");
  int64_t recorded = 0;
  for (int i = 0; i < 60; ++i) {
    std::vector<DeliveryEvent> batch;
    for (int j = 0; j <= i % 3; ++j)
      batch.push_back(
          ev(acme, kT0 + i * 7 * 60'000 + j, j == 0 ? EventKind::deferred : EventKind::delivered));
    recorded += static_cast<int64_t>(batch.size());
    this->must(this->store_->events.record(batch));
  }
  auto other = this->open_again();
  ASSERT_TRUE(other.store);
  int64_t counted = 0, hours = 0;
  for (const auto& r : this->must(other.store->stats.hourly(acme, kT0, kT0 + 24 * kHour))) {
    counted += r.n;
    EXPECT_EQ((r.hour_ms - kT0) % kHour, 0);
    ++hours;
  }
  EXPECT_EQ(counted, recorded);
  EXPECT_EQ(hours, 14);  // 60 batches 7 minutes apart span 7 hours, two kinds each
}

TYPED_TEST(StatsConformance, TimesBeforeTheEpochHourAndAccountRemoval) {
  auto& st = this->store_->stats;
  const int64_t acme = this->account("acme"), beta = this->account("beta");
  this->must(this->store_->events.record(
      {ev(acme, 5'400'000, EventKind::accepted), ev(beta, 5'400'001, EventKind::accepted)}));
  auto rows = this->must(st.hourly(0, 0, 2 * kHour));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].hour_ms, kHour);
  EXPECT_EQ(rows[0].n, 2);
  // An account's counters go with it; the others stay.
  this->must(this->store_->accounts.remove(beta));
  EXPECT_TRUE(this->must(st.hourly(beta, 0, 2 * kHour)).empty());
  rows = this->must(st.hourly(0, 0, 2 * kHour));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].n, 1);
}

}  // namespace
}  // namespace tern::store::conformance
