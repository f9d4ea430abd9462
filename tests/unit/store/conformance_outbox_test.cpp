// Conformance (conformance.hpp): the webhook outbox on every backend: enqueue round trip
// (defaults for times), grouping of due() batches (one account/kind/url/content_type each,
// oldest group first, per-batch cap, the items due earliest in id order), the lease that keeps a
// claimed item from being handed out twice (also to a second instance claiming at the same moment),
// mark_sent / mark_failed (reschedule and give up), mark_and_claim (the marks then a claim, all or
// nothing), backlog and next_due_ms, for_message in any state, refusal of malformed items.
#include <algorithm>
#include <mutex>
#include <set>
#include <thread>

#include "unit/store/conformance.hpp"

namespace tern::store::conformance {
namespace {

OutboxItem item(int64_t account, std::string url, std::string mid,
                OutboxKind kind = OutboxKind::report, std::string ct = "application/json") {
  OutboxItem it;
  it.account_id = account;
  it.kind = kind;
  it.url = std::move(url);
  it.content_type = std::move(ct);
  it.message_id = mid;
  it.queue_id = "Q" + mid;
  it.recipient = mid + "@example.com";
  it.item = R"({"messageId":")" + mid + R"("})";
  return it;
}

template <class B>
class OutboxConformance : public Conformance<B> {
 protected:
  void enqueue(std::vector<OutboxItem> items) {
    auto r = this->outbox_->enqueue(items, now());
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  std::vector<std::vector<OutboxItem>> due(int64_t t, size_t batches = 10, size_t per = 10) {
    auto r = this->outbox_->due(t, batches, per);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? r.value() : std::vector<std::vector<OutboxItem>>{};
  }
  int64_t now() const { return this->clock_.now_ms(); }
  // The claim an item was handed out under.
  static std::vector<OutboxClaim> claim(const OutboxItem& i) { return {{i.id, i.lease_token}}; }
  // The item with id in batches (it must be there).
  static OutboxItem item_in(const std::vector<std::vector<OutboxItem>>& batches, int64_t id) {
    for (const auto& b : batches)
      for (const auto& i : b)
        if (i.id == id) return i;
    ADD_FAILURE() << "item " << id << " not claimed";
    return {};
  }
};
TYPED_TEST_SUITE(OutboxConformance, Backends, BackendNames);

TYPED_TEST(OutboxConformance, EnqueueRoundTripFillsTimesAndState) {
  this->enqueue({item(1, "https://a.example/hook", "m1")});
  auto all = this->outbox_->for_message("m1");
  ASSERT_TRUE(all.ok()) << all.error().message;
  ASSERT_EQ(all->size(), 1u);
  const auto& it = all->front();
  EXPECT_GT(it.id, 0);
  EXPECT_EQ(it.account_id, 1);
  EXPECT_EQ(it.kind, OutboxKind::report);
  EXPECT_EQ(it.url, "https://a.example/hook");
  EXPECT_EQ(it.content_type, "application/json");
  EXPECT_EQ(it.queue_id, "Qm1");
  EXPECT_EQ(it.recipient, "m1@example.com");
  EXPECT_EQ(it.item, R"({"messageId":"m1"})");
  EXPECT_EQ(it.created_ms, this->now());
  EXPECT_EQ(it.next_attempt_ms, it.created_ms);  // 0 at enqueue = now
  EXPECT_EQ(it.attempts, 0);
  EXPECT_EQ(it.state, OutboxState::pending);
  EXPECT_EQ(it.last_error, "");
}

// Issue 12: a journal entry applied again (a replay, a retry after an unknown commit) gives
// no second item; items without a key are all kept.
TYPED_TEST(OutboxConformance, EnqueueSkipsAnItemWhoseKeyIsStored) {
  auto a = item(1, "https://a.example/hook", "m1");
  a.item_key = "00112233445566778899aabbccddeeff.0";
  auto b = item(1, "https://a.example/hook", "m2");
  this->enqueue({a, b});
  auto c = item(1, "https://a.example/hook", "m3");
  c.item_key = "00112233445566778899aabbccddeeff.1";
  this->enqueue({a, b, c});
  EXPECT_EQ(this->outbox_->for_message("m1")->size(), 1u);
  EXPECT_EQ(this->outbox_->for_message("m2")->size(), 2u);
  EXPECT_EQ(this->outbox_->for_message("m3")->size(), 1u);
  EXPECT_EQ(this->outbox_->backlog().value(), 4u);
}

TYPED_TEST(OutboxConformance, DueGroupsByAccountKindUrlAndContentTypeOldestFirst) {
  this->enqueue({item(1, "https://a.example/", "m1"), item(2, "https://a.example/", "m2"),
                 item(1, "https://b.example/", "m3"), item(1, "https://a.example/", "m4"),
                 item(1, "https://a.example/", "m5", OutboxKind::report, "application/xml"),
                 item(1, "https://a.example/", "m6", OutboxKind::tracking)});
  auto batches = this->due(this->now());
  ASSERT_EQ(batches.size(), 5u);
  auto mids = [](const std::vector<OutboxItem>& b) {
    std::vector<std::string> v;
    for (const auto& i : b) v.push_back(i.message_id);
    return v;
  };
  EXPECT_EQ(mids(batches[0]), (std::vector<std::string>{"m1", "m4"}));
  EXPECT_EQ(mids(batches[1]), (std::vector<std::string>{"m2"}));
  EXPECT_EQ(mids(batches[2]), (std::vector<std::string>{"m3"}));
  EXPECT_EQ(mids(batches[3]), (std::vector<std::string>{"m5"}));
  EXPECT_EQ(mids(batches[4]), (std::vector<std::string>{"m6"}));
  for (const auto& b : batches)
    for (const auto& i : b) {
      EXPECT_EQ(i.account_id, b.front().account_id);
      EXPECT_EQ(i.kind, b.front().kind);
      EXPECT_EQ(i.url, b.front().url);
      EXPECT_EQ(i.content_type, b.front().content_type);
    }
}

TYPED_TEST(OutboxConformance, DueHonoursBatchLimitsAndNeverReturnsAnItemTwice) {
  std::vector<OutboxItem> items;
  for (int i = 0; i < 7; ++i)
    items.push_back(item(1, "https://a.example/", "m" + std::to_string(i)));
  items.push_back(item(1, "https://b.example/", "b"));
  this->enqueue(items);
  const int64_t t = this->now();
  auto first = this->due(t, 1, 3);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(first[0].size(), 3u);
  EXPECT_EQ(first[0][0].message_id, "m0");
  EXPECT_EQ(first[0][2].message_id, "m2");
  // The next call gets the rest, never the items already handed out.
  auto second = this->due(t, 10, 3);
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second[0][0].message_id, "m3");
  EXPECT_EQ(second[0].size(), 3u);
  EXPECT_EQ(second[1][0].message_id, "b");
  auto third = this->due(t, 10, 10);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0][0].message_id, "m6");
  EXPECT_TRUE(this->due(t, 10, 10).empty());
  EXPECT_TRUE(this->due(t, 0, 10).empty());
  // Still pending while taken: the backlog counts them.
  auto b = this->outbox_->backlog();
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b.value(), 8u);
}

TYPED_TEST(OutboxConformance, ABatchIsItsGroupsItemsDueEarliestInIdOrder) {
  // A group's batch is its max_per_batch items due earliest (ties: lowest id), handed out in id
  // order; an item of the group due later, or in back-off, is neither taken nor in the way.
  const int64_t t = this->now();
  auto at = [&](std::string mid, int64_t due) {
    auto i = item(1, "https://a.example/", std::move(mid));
    i.next_attempt_ms = due;
    return i;
  };
  this->enqueue({at("late", t + 300), at("back-off", t + 60'000), at("first", t + 100),
                 at("second", t + 200), at("tie", t + 200)});
  auto mids = [](const std::vector<std::vector<OutboxItem>>& bs) {
    std::vector<std::string> v;
    for (const auto& b : bs)
      for (const auto& i : b) v.push_back(i.message_id);
    return v;
  };
  EXPECT_TRUE(this->due(t + 99).empty());
  EXPECT_EQ(mids(this->due(t + 300, 10, 2)), (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(mids(this->due(t + 300, 10, 1)), (std::vector<std::string>{"tie"}));
  EXPECT_EQ(mids(this->due(t + 300, 10, 10)), (std::vector<std::string>{"late"}));
  EXPECT_TRUE(this->due(t + 59'999).empty());
  // Handed out in id order: x1 was enqueued first, though due later.
  this->enqueue({at("x1", t + 500), at("x2", t + 400)});
  auto both = this->due(t + 500, 10, 10);
  EXPECT_EQ(mids(both), (std::vector<std::string>{"x1", "x2"}));
}

TYPED_TEST(OutboxConformance, DueSkipsTheGivenUrlsAndLeavesThemDue) {
  // The sender passes the URLs of hosts that cannot take a batch now: their items are neither
  // claimed nor counted against max_batches, and stay due for the next call. A URL with
  // quotes and SQL in it is a value, not SQL.
  const std::string hostile = "https://c.example/x'); DELETE FROM webhook_outbox; --";
  this->enqueue({item(1, "https://a.example/", "a1"), item(1, "https://b.example/", "b1"),
                 item(1, hostile, "c1"), item(1, "https://a.example/", "a2"),
                 item(1, "https://d.example/", "d1")});
  const int64_t t = this->now();
  auto mids = [](const std::vector<std::vector<OutboxItem>>& bs) {
    std::vector<std::string> v;
    for (const auto& b : bs)
      for (const auto& i : b) v.push_back(i.message_id);
    return v;
  };
  auto r = this->outbox_->due(t, 2, 10, {"https://a.example/", hostile});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(mids(r.value()), (std::vector<std::string>{"b1", "d1"}));
  // Nothing was taken from the skipped URLs: the next call (no skips) hands them out.
  EXPECT_EQ(mids(this->due(t, 10, 10)), (std::vector<std::string>{"a1", "a2", "c1"}));
  auto b = this->outbox_->backlog();
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b.value(), 5u);
}

TYPED_TEST(OutboxConformance, ABacklogLargerThanTheDueWindowIsHandedOutOnceEach) {
  // Groups are chosen among the kDueWindow items due earliest: a backlog beyond it is still
  // handed out completely, each item once, oldest group first within the window.
  std::vector<OutboxItem> items;
  const size_t n = kDueWindow + 500;
  for (size_t i = 0; i < n; ++i)
    items.push_back(
        item(1, "https://h" + std::to_string(i % 3) + ".example/", "m" + std::to_string(i)));
  this->enqueue(items);
  const int64_t t = this->now();
  std::set<std::string> seen;
  for (int round = 0; round < 1000; ++round) {
    auto got = this->due(t, 4, 50);
    if (got.empty()) break;
    EXPECT_EQ(got.front().front().message_id, "m" + std::to_string(seen.size()))
        << "the oldest item still due comes first";
    for (const auto& b : got)
      for (const auto& i : b) EXPECT_TRUE(seen.insert(i.message_id).second) << i.message_id;
  }
  EXPECT_EQ(seen.size(), n);
}

TYPED_TEST(OutboxConformance, ALeaseNotMarkedComesBackLater) {
  this->enqueue({item(1, "https://a.example/", "m1")});
  const int64_t t = this->now();
  ASSERT_EQ(this->due(t).size(), 1u);
  EXPECT_TRUE(this->due(t + 60'000).empty());
  auto again = this->due(t + 121'000);  // the taker died: the item is handed out again
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0][0].message_id, "m1");
}

TYPED_TEST(OutboxConformance, FutureItemsAreNotDue) {
  auto it = item(1, "https://a.example/", "m1");
  const int64_t t = this->now();
  it.next_attempt_ms = t + 5'000;
  this->enqueue({it});
  EXPECT_TRUE(this->due(t).empty());
  auto next = this->outbox_->next_due_ms();
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next.value(), t + 5'000);
  EXPECT_EQ(this->due(t + 5'000).size(), 1u);
}

TYPED_TEST(OutboxConformance, MarkSentAndMarkFailed) {
  this->enqueue({item(1, "https://a.example/", "m1"), item(1, "https://a.example/", "m2"),
                 item(1, "https://a.example/", "m3")});
  const int64_t t = this->now();
  auto batches = this->due(t);
  ASSERT_EQ(batches.size(), 1u);
  ASSERT_EQ(batches[0].size(), 3u);
  const auto id2 = batches[0][1].id;
  const auto c1 = this->claim(batches[0][0]), c2 = this->claim(batches[0][1]),
             c3 = this->claim(batches[0][2]);

  ASSERT_EQ(this->outbox_->mark_sent(c1, t + 10).value(), 1u);
  ASSERT_EQ(
      this->outbox_->mark_failed(c2, t + 30'000, "POST https://a.example/: 500", false).value(),
      1u);
  ASSERT_EQ(this->outbox_->mark_failed(c3, t + 30'000, "connection refused", true).value(), 1u);

  auto m1 = this->outbox_->for_message("m1");
  ASSERT_TRUE(m1.ok());
  EXPECT_EQ(m1->at(0).state, OutboxState::sent);
  EXPECT_EQ(m1->at(0).attempts, 1);
  auto m2 = this->outbox_->for_message("m2");
  EXPECT_EQ(m2->at(0).state, OutboxState::pending);
  EXPECT_EQ(m2->at(0).attempts, 1);
  EXPECT_EQ(m2->at(0).next_attempt_ms, t + 30'000);
  EXPECT_EQ(m2->at(0).last_error, "POST https://a.example/: 500");
  auto m3 = this->outbox_->for_message("m3");
  EXPECT_EQ(m3->at(0).state, OutboxState::failed);
  EXPECT_EQ(m3->at(0).last_error, "connection refused");

  EXPECT_EQ(this->outbox_->backlog().value(), 1u);
  EXPECT_EQ(this->outbox_->next_due_ms().value(), t + 30'000);
  EXPECT_TRUE(this->due(t + 29'999).empty());
  auto retry = this->due(t + 30'000);
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_EQ(retry[0][0].id, id2);
  EXPECT_EQ(retry[0][0].attempts, 1);

  // A finished item is not touched again (a late duplicate mark cannot revive it).
  EXPECT_EQ(this->outbox_->mark_failed(c1, t, "late", false).value(), 0u);
  EXPECT_EQ(this->outbox_->for_message("m1")->at(0).state, OutboxState::sent);
  // The first claim of m2 ended with its mark: only the retry's claim marks it now.
  EXPECT_EQ(this->outbox_->mark_sent(c2, t + 31'000).value(), 0u);
  EXPECT_EQ(this->outbox_->backlog().value(), 1u);
  ASSERT_EQ(this->outbox_->mark_sent(this->claim(retry[0][0]), t + 31'000).value(), 1u);
  EXPECT_EQ(this->outbox_->backlog().value(), 0u);
  EXPECT_EQ(this->outbox_->next_due_ms().value(), 0);
}

// mark_and_claim (the webhook sender's round): the marks, fenced exactly as mark_sent /
// mark_failed, in order, then a claim as due(): an item a mark makes due now is claimed by the
// same call.
TYPED_TEST(OutboxConformance, MarkAndClaimMarksAsTheMarkCallsThenClaimsAsDue) {
  this->enqueue({item(1, "https://a.example/", "m1"), item(1, "https://a.example/", "m2"),
                 item(1, "https://a.example/", "m3")});
  const int64_t t = this->now();
  auto batches = this->due(t);
  ASSERT_EQ(batches.size(), 1u);
  ASSERT_EQ(batches[0].size(), 3u);
  const OutboxItem i1 = batches[0][0], i2 = batches[0][1], i3 = batches[0][2];
  this->enqueue({item(2, "https://b.example/", "m4")});
  std::vector<OutboxMark> marks;
  marks.push_back({true, false, t + 10, 200, "", this->claim(i1)});
  marks.push_back({false, false, t, 500, "POST https://a.example/: 500", this->claim(i2)});
  marks.push_back({false, true, t + 20, 0, "connection refused", this->claim(i3)});
  marks.push_back({true, false, t, 200, "", {{i1.id, i1.lease_token + 1}}});  // made up
  marks.push_back({true, false, t, 200, "", {}});
  auto r = this->outbox_->mark_and_claim(marks, t, 10, 10, {});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->marked, (std::vector<size_t>{1, 1, 1, 0, 0}));
  // m2 is due again at once (its mark said t): the claim after the marks takes it, oldest first.
  ASSERT_EQ(r->claimed.size(), 2u);
  ASSERT_EQ(r->claimed[0].size(), 1u);
  EXPECT_EQ(r->claimed[0][0].message_id, "m2");
  EXPECT_EQ(r->claimed[0][0].attempts, 1);
  EXPECT_EQ(r->claimed[0][0].last_code, 500);
  EXPECT_NE(r->claimed[0][0].lease_token, 0);
  EXPECT_NE(r->claimed[0][0].lease_token, i2.lease_token);
  ASSERT_EQ(r->claimed[1].size(), 1u);
  EXPECT_EQ(r->claimed[1][0].message_id, "m4");
  EXPECT_EQ(r->claimed[1][0].lease_owner, "local");
  EXPECT_EQ(r->claimed[1][0].next_attempt_ms, t + kOutboxLeaseMs);

  const auto m1 = this->outbox_->for_message("m1").value().at(0);
  EXPECT_EQ(m1.state, OutboxState::sent);
  EXPECT_EQ(m1.attempts, 1);
  EXPECT_EQ(m1.next_attempt_ms, t + 10);
  EXPECT_EQ(m1.last_code, 200);
  EXPECT_EQ(m1.lease_owner, "");
  const auto m3 = this->outbox_->for_message("m3").value().at(0);
  EXPECT_EQ(m3.state, OutboxState::failed);
  EXPECT_EQ(m3.last_error, "connection refused");
  EXPECT_EQ(m3.attempts, 1);
  EXPECT_TRUE(this->due(t + kOutboxLeaseMs - 1).empty());  // m2 and m4 are leased

  // A late duplicate of the marks changes nothing (they ended the leases); no claim asked.
  auto again = this->outbox_->mark_and_claim(marks, t, 0, 10, {});
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->marked, (std::vector<size_t>{0, 0, 0, 0, 0}));
  EXPECT_TRUE(again->claimed.empty());
  EXPECT_EQ(this->outbox_->for_message("m1").value().at(0).state, OutboxState::sent);
  // Nothing to mark, a claim only: skip_urls as due().
  ASSERT_TRUE(this->outbox_->retry_now(2, r->claimed[1][0].id, t).value());
  auto skip = this->outbox_->mark_and_claim({}, t, 10, 10, {"https://b.example/"});
  ASSERT_TRUE(skip.ok()) << skip.error().message;
  EXPECT_TRUE(skip->marked.empty());
  EXPECT_TRUE(skip->claimed.empty());
  auto b = this->outbox_->mark_and_claim({}, t, 10, 10, {});
  ASSERT_TRUE(b.ok()) << b.error().message;
  ASSERT_EQ(b->claimed.size(), 1u);
  EXPECT_EQ(b->claimed[0][0].message_id, "m4");
}

// A stale holder's marks in a mark_and_claim change nothing; the new holder's stand.
TYPED_TEST(OutboxConformance, MarkAndClaimIsFencedLikeTheMarks) {
  this->enqueue({item(1, "https://a.example/", "m1")});
  const int64_t t = this->now();
  const OutboxItem held_by_a = this->due(t).at(0).at(0);
  Backend b = this->open_again("node-b");
  const OutboxItem held_by_b = b.outbox->due(t + kOutboxLeaseMs, 10, 10).value().at(0).at(0);
  auto stale = this->outbox_->mark_and_claim({{true, false, t, 200, "", this->claim(held_by_a)}},
                                             t + kOutboxLeaseMs, 10, 10, {});
  ASSERT_TRUE(stale.ok()) << stale.error().message;
  EXPECT_EQ(stale->marked, std::vector<size_t>{0});
  EXPECT_TRUE(stale->claimed.empty());  // B holds it
  auto now = this->outbox_->for_message("m1").value().at(0);
  EXPECT_EQ(now.state, OutboxState::pending);
  EXPECT_EQ(now.lease_token, held_by_b.lease_token);
  auto mine = b.outbox->mark_and_claim({{false, true, t, 503, "POST: 503", this->claim(held_by_b)}},
                                       t, 0, 10, {});
  ASSERT_TRUE(mine.ok()) << mine.error().message;
  EXPECT_EQ(mine->marked, std::vector<size_t>{1});
  EXPECT_EQ(this->outbox_->for_message("m1").value().at(0).state, OutboxState::failed);
}

// A mark_and_claim whose claim fails (its lease write, refused by a trigger the test installs)
// leaves nothing of either where it is one transaction (kAtomicRound: SQLite); where it is the
// calls in turn (PostgreSQL) the mark stands and the same round resent marks nothing twice.
TYPED_TEST(OutboxConformance, AFailedMarkAndClaimLeavesNothingOfEitherOrOnlyTheMarks) {
  this->enqueue({item(1, "https://a.example/", "m1"), item(1, "https://a.example/", "m2")});
  const int64_t t = this->now();
  const OutboxItem i1 = this->due(t, 1, 1).at(0).at(0);
  ASSERT_EQ(i1.message_id, "m1");
  if (!this->kind_.refuse_claims(this->dir_, true)) GTEST_SKIP() << "no failing claim here";
  auto r = this->outbox_->mark_and_claim({{true, false, t + 5, 200, "", this->claim(i1)}}, t + 5,
                                         10, 10, {});
  ASSERT_FALSE(r.ok());
  const auto m1 = this->outbox_->for_message("m1").value().at(0);
  if (TypeParam::kAtomicRound) {
    EXPECT_EQ(m1.state, OutboxState::pending);
    EXPECT_EQ(m1.attempts, 0);
    EXPECT_EQ(m1.lease_owner, "local");
    EXPECT_EQ(m1.lease_token, i1.lease_token);
  } else {
    EXPECT_EQ(m1.state, OutboxState::sent);
    EXPECT_EQ(m1.attempts, 1);
    EXPECT_EQ(m1.lease_owner, "");
  }
  const auto m2 = this->outbox_->for_message("m2").value().at(0);
  EXPECT_EQ(m2.lease_owner, "");
  EXPECT_EQ(m2.lease_token, 0);
  EXPECT_EQ(m2.next_attempt_ms, t);
  ASSERT_TRUE(this->kind_.refuse_claims(this->dir_, false));
  // The same round again, the store back: both happen.
  r = this->outbox_->mark_and_claim({{true, false, t + 5, 200, "", this->claim(i1)}}, t + 5, 10, 10,
                                    {});
  ASSERT_TRUE(r.ok()) << r.error().message;
  // Where the mark stood already, the resent one changes nothing (it ended the lease).
  EXPECT_EQ(r->marked, std::vector<size_t>{TypeParam::kAtomicRound ? 1u : 0u});
  ASSERT_EQ(r->claimed.size(), 1u);
  EXPECT_EQ(r->claimed[0][0].message_id, "m2");
  EXPECT_EQ(this->outbox_->for_message("m1").value().at(0).state, OutboxState::sent);
  EXPECT_EQ(this->outbox_->for_message("m1").value().at(0).attempts, 1);
}

TYPED_TEST(OutboxConformance, ForMessageListsEveryStateOldestFirst) {
  this->enqueue({item(1, "https://a.example/", "m1"),
                 item(1, "https://t.example/", "m1", OutboxKind::tracking),
                 item(1, "https://a.example/", "other")});
  auto b = this->due(this->now());
  for (const auto& batch : b)
    for (const auto& i : batch)
      if (i.kind == OutboxKind::report && i.message_id == "m1") {
        ASSERT_EQ(this->outbox_->mark_sent(this->claim(i), 1).value(), 1u);
      }
  auto all = this->outbox_->for_message("m1");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ(all->at(0).kind, OutboxKind::report);
  EXPECT_EQ(all->at(0).state, OutboxState::sent);
  EXPECT_EQ(all->at(1).kind, OutboxKind::tracking);
  EXPECT_EQ(all->at(1).state, OutboxState::pending);
  EXPECT_TRUE(this->outbox_->for_message("nope")->empty());
}

TYPED_TEST(OutboxConformance, SurvivesReopen) {
  this->enqueue({item(1, "https://a.example/", "m1")});
  Backend other = this->open_again();  // another instance (another process) finds it
  auto b = other.outbox->due(this->now(), 10, 10).value();
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0][0].message_id, "m1");
}

TYPED_TEST(OutboxConformance, MalformedItemsAreRefusedAndNothingIsWritten) {
  auto nourl = item(1, "", "m3");
  auto r = this->outbox_->enqueue({item(1, "https://a.example/", "m1"), nourl}, this->now());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(core::ErrorCode::invalid));
  EXPECT_FALSE(this->outbox_->enqueue({nourl}, this->now()).ok());
  // A URL longer than any way in accepts (the claim index keys on it).
  auto longest = item(1, "https://a.example/" + std::string(kMaxOutboxUrl - 18, 'x'), "m4");
  ASSERT_EQ(longest.url.size(), kMaxOutboxUrl);
  auto longer = longest;
  longer.url += "x";
  r = this->outbox_->enqueue({longer}, this->now());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(core::ErrorCode::invalid));
  EXPECT_EQ(this->outbox_->backlog().value(), 0u);
  this->enqueue({longest});
  EXPECT_EQ(this->outbox_->due(this->now(), 10, 10).value().at(0).at(0).url, longest.url);
  EXPECT_TRUE(this->outbox_->enqueue({}, this->now()).ok());
}

TYPED_TEST(OutboxConformance, HostileTextIsStoredVerbatim) {
  auto it = item(1, "https://a.example/?q='; DROP TABLE webhook_outbox;--", "m1");
  it.item = std::string("{\"x\":\"a\0b\"}", 11);
  this->enqueue({it});
  auto all = this->outbox_->for_message("m1");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->at(0).url, it.url);
  if (TypeParam::kBytesVerbatim)
    EXPECT_EQ(all->at(0).item, it.item);
  else  // kept, not cut at the NUL, with U+FFFD in its place
    EXPECT_EQ(all->at(0).item,
              "{\"x\":\"a\xef\xbf\xbd"
              "b\"}");
}

TYPED_TEST(OutboxConformance, TwoInstancesClaimingAtOnceNeverGetTheSameItem) {
  // Two instances (two processes on one store), two threads each, claim small batches as fast
  // as they can. Every item is handed out exactly once: the lease is taken inside the claim.
  constexpr int kItems = 600;
  std::vector<OutboxItem> items;
  for (int i = 0; i < kItems; ++i)
    items.push_back(item(1 + i % 3, "https://h" + std::to_string(i % 4) + ".example/",
                         "m" + std::to_string(i)));
  this->enqueue(items);
  Backend second = this->open_again();
  ASSERT_TRUE(second.outbox);
  const int64_t t = this->now();
  std::mutex mu;
  std::vector<int64_t> claimed;
  std::atomic<int> errors{0};
  auto claimer = [&](Outbox* box) {
    for (;;) {
      auto r = box->due(t, 2, 7);
      if (!r.ok()) {
        ++errors;
        return;
      }
      if (r->empty()) return;
      std::lock_guard lock(mu);
      for (const auto& b : *r)
        for (const auto& i : b) claimed.push_back(i.id);
    }
  };
  std::thread a1(claimer, this->outbox_), a2(claimer, this->outbox_);
  std::thread b1(claimer, second.outbox.get()), b2(claimer, second.outbox.get());
  a1.join();
  a2.join();
  b1.join();
  b2.join();
  EXPECT_EQ(errors.load(), 0);
  std::set<int64_t> unique(claimed.begin(), claimed.end());
  EXPECT_EQ(unique.size(), claimed.size()) << "an item was handed to two claimers";
  EXPECT_EQ(claimed.size(), static_cast<size_t>(kItems));
  // Nothing left to claim while the leases run; all of it again once they expire.
  EXPECT_TRUE(this->due(t + kOutboxLeaseMs - 1).empty());
  size_t again = 0;
  for (const auto& b : this->due(t + kOutboxLeaseMs, 1000, 1000)) again += b.size();
  EXPECT_EQ(again, static_cast<size_t>(kItems));
}

// Fencing (CLUSTER.md decision 4): node A claims, its lease runs out (A is stuck or dead), node
// B claims the item again; A's late marks change nothing and B's result stands.
TYPED_TEST(OutboxConformance, AStaleHolderCannotOverwriteTheNewHoldersResult) {
  this->enqueue({item(1, "https://a.example/", "m1")});
  const int64_t t = this->now();
  auto a = this->due(t);  // this instance: node "local"
  ASSERT_EQ(a.size(), 1u);
  const OutboxItem held_by_a = a[0][0];
  EXPECT_EQ(held_by_a.lease_owner, "local");
  EXPECT_NE(held_by_a.lease_token, 0);
  Backend b = this->open_again("node-b");
  EXPECT_TRUE(b.outbox->due(t + kOutboxLeaseMs - 1, 10, 10)->empty());  // A's lease runs
  auto got = b.outbox->due(t + kOutboxLeaseMs, 10, 10);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  const OutboxItem held_by_b = got->at(0).at(0);
  EXPECT_EQ(held_by_b.id, held_by_a.id);
  EXPECT_EQ(held_by_b.lease_owner, "node-b");
  EXPECT_NE(held_by_b.lease_token, held_by_a.lease_token);

  // A's POST finally returns: its marks are refused, the item stays with B.
  auto stale = this->outbox_->mark_sent(this->claim(held_by_a), t + kOutboxLeaseMs + 1, 200);
  ASSERT_TRUE(stale.ok()) << stale.error().message;
  EXPECT_EQ(stale.value(), 0u);
  EXPECT_EQ(this->outbox_->mark_failed(this->claim(held_by_a), t, "late", true, 500).value(), 0u);
  auto now = this->outbox_->for_message("m1").value().at(0);
  EXPECT_EQ(now.state, OutboxState::pending);
  EXPECT_EQ(now.attempts, 0);
  EXPECT_EQ(now.lease_owner, "node-b");
  EXPECT_EQ(now.lease_token, held_by_b.lease_token);
  EXPECT_EQ(now.next_attempt_ms, t + 2 * kOutboxLeaseMs);  // B's lease, untouched
  // A mark naming B's token from A's instance is refused too: the owner is part of the fence.
  EXPECT_EQ(this->outbox_->mark_sent(this->claim(held_by_b), t, 200).value(), 0u);

  // B's result is the one that counts.
  ASSERT_EQ(
      b.outbox->mark_failed(this->claim(held_by_b), t + 200'000, "POST: 503", false, 503).value(),
      1u);
  now = this->outbox_->for_message("m1").value().at(0);
  EXPECT_EQ(now.state, OutboxState::pending);
  EXPECT_EQ(now.attempts, 1);
  EXPECT_EQ(now.last_code, 503);
  EXPECT_EQ(now.next_attempt_ms, t + 200'000);
  EXPECT_EQ(now.lease_owner, "");  // the mark ended B's lease
  // A late duplicate of B's own mark changes nothing either.
  EXPECT_EQ(b.outbox->mark_sent(this->claim(held_by_b), t, 200).value(), 0u);
}

// Two instances of one node (same owner) are fenced by their tokens; a made-up token is refused.
TYPED_TEST(OutboxConformance, TokensFenceInstancesOfOneNodeAndCannotBeMadeUp) {
  this->enqueue({item(1, "https://a.example/", "m1")});
  const int64_t t = this->now();
  const OutboxItem first = this->due(t).at(0).at(0);
  Backend again = this->open_again("local");
  const OutboxItem second = again.outbox->due(t + kOutboxLeaseMs, 10, 10).value().at(0).at(0);
  ASSERT_EQ(second.id, first.id);
  EXPECT_NE(second.lease_token, first.lease_token);
  EXPECT_EQ(this->outbox_->mark_sent(this->claim(first), t, 200).value(), 0u);
  for (int64_t guess : {int64_t{0}, int64_t{1}, first.lease_token + 1, second.lease_token - 1})
    EXPECT_EQ(again.outbox->mark_sent({{second.id, guess}}, t, 200).value(), 0u) << guess;
  EXPECT_EQ(this->outbox_->for_message("m1").value().at(0).state, OutboxState::pending);
  EXPECT_EQ(again.outbox->mark_sent(this->claim(second), t, 200).value(), 1u);
  EXPECT_EQ(this->outbox_->for_message("m1").value().at(0).state, OutboxState::sent);
}

// The lease length is the instance's ([cluster] lease_s on a node): a dead node's items come
// back after it.
TYPED_TEST(OutboxConformance, TheLeaseLengthIsConfigurable) {
  this->enqueue({item(1, "https://a.example/", "m1")});
  const int64_t t = this->now();
  Backend a = this->open_again("node-a", 5'000);
  ASSERT_EQ(a.outbox->due(t, 10, 10)->size(), 1u);
  Backend b = this->open_again("node-b", 5'000);
  EXPECT_TRUE(b.outbox->due(t + 4'999, 10, 10)->empty());
  auto again = b.outbox->due(t + 5'000, 10, 10);
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ(again->at(0).at(0).lease_owner, "node-b");
}

TYPED_TEST(OutboxConformance, IdsGrowAcrossInstancesAndEnqueues) {
  this->enqueue({item(1, "https://a.example/", "x1")});
  Backend second = this->open_again();
  ASSERT_TRUE(second.outbox->enqueue({item(1, "https://a.example/", "x2")}, this->now()).ok());
  this->enqueue({item(1, "https://a.example/", "x3")});
  auto batch = this->due(this->now()).at(0);
  ASSERT_EQ(batch.size(), 3u);
  EXPECT_LT(batch[0].id, batch[1].id);
  EXPECT_LT(batch[1].id, batch[2].id);
  EXPECT_EQ(batch[1].message_id, "x2");
}

// --- The account's webhook history (console, issue 13) ---

TYPED_TEST(OutboxConformance, HistoryListsTheAccountsItemsNewestFirstInPages) {
  this->enqueue({item(1, "https://a.example/", "m1"), item(1, "https://a.example/", "m2"),
                 item(2, "https://b.example/", "b1"), item(1, "https://a.example/", "m3")});
  auto page = this->outbox_->list(1, 2, "");
  ASSERT_TRUE(page.ok()) << page.error().message;
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->items[0].message_id, "m3");  // newest (highest id) first
  EXPECT_EQ(page->items[1].message_id, "m2");
  ASSERT_FALSE(page->next_cursor.empty());
  auto rest = this->outbox_->list(1, 2, page->next_cursor);
  ASSERT_TRUE(rest.ok()) << rest.error().message;
  ASSERT_EQ(rest->items.size(), 1u);
  EXPECT_EQ(rest->items[0].message_id, "m1");  // beta's b1 never shows
  EXPECT_TRUE(rest->next_cursor.empty());
  // Exactly a page full: no cursor to an empty page.
  auto full = this->outbox_->list(1, 3, "");
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->items.size(), 3u);
  EXPECT_TRUE(full->next_cursor.empty());
  auto other = this->outbox_->list(2, 10, "");
  ASSERT_TRUE(other.ok());
  ASSERT_EQ(other->items.size(), 1u);
  EXPECT_EQ(other->items[0].message_id, "b1");
  // Bad limits and cursors are invalid.
  for (size_t limit : {size_t{0}, size_t{1001}}) {
    auto bad = this->outbox_->list(1, limit, "");
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, core::ErrorCode::invalid);
  }
  auto bogus = this->outbox_->list(1, 2, "bogus");
  ASSERT_FALSE(bogus.ok());
  EXPECT_EQ(bogus.error().code, core::ErrorCode::invalid);
}

TYPED_TEST(OutboxConformance, HistoryFindAndRetryAreScopedAndKeepCodes) {
  this->enqueue({item(1, "https://a.example/", "m1"), item(2, "https://b.example/", "b1")});
  const int64_t t = this->now();
  auto mine = this->outbox_->list(1, 10, "");
  auto theirs = this->outbox_->list(2, 10, "");
  ASSERT_TRUE(mine.ok() && theirs.ok());
  const int64_t m1 = mine->items.at(0).id, b1 = theirs->items.at(0).id;
  auto none = this->outbox_->find(1, b1);  // another account's item is not found
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(*none);
  EXPECT_EQ(this->outbox_->find(1, m1).value()->last_code, 0);

  // Given up with a code; retried: pending, due at once, attempts kept.
  auto first = this->due(t, 1, 10);  // m1's group only (the oldest)
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(
      this->outbox_
          ->mark_failed(this->claim(this->item_in(first, m1)), t + 1000, "POST: 500", true, 500)
          .value(),
      1u);
  auto gave = this->outbox_->find(1, m1).value();
  ASSERT_TRUE(gave);
  EXPECT_EQ(gave->state, OutboxState::failed);
  EXPECT_EQ(gave->last_code, 500);
  EXPECT_FALSE(this->outbox_->retry_now(2, m1, t).value());  // not beta's to retry
  EXPECT_EQ(this->outbox_->find(1, m1).value()->state, OutboxState::failed);
  EXPECT_TRUE(this->outbox_->retry_now(1, m1, t + 5).value());
  auto again = this->outbox_->find(1, m1).value();
  EXPECT_EQ(again->state, OutboxState::pending);
  EXPECT_EQ(again->next_attempt_ms, t + 5);
  EXPECT_EQ(again->attempts, 1);
  auto due = this->due(t + 5);
  ASSERT_EQ(due.size(), 2u);  // m1 again, and beta's first attempt
  // Sent with a code: kept; a sent item cannot be retried.
  ASSERT_EQ(this->outbox_->mark_sent(this->claim(this->item_in(due, m1)), t + 6, 204).value(), 1u);
  EXPECT_EQ(this->outbox_->find(1, m1).value()->last_code, 204);
  EXPECT_EQ(this->outbox_->find(1, m1).value()->state, OutboxState::sent);
  EXPECT_FALSE(this->outbox_->retry_now(1, m1, t + 7).value());
  EXPECT_EQ(this->outbox_->find(1, m1).value()->state, OutboxState::sent);
  // A pending item not yet due becomes due now.
  ASSERT_EQ(this->outbox_
                ->mark_failed(this->claim(this->item_in(due, b1)), t + 60'000, "timeout", false, 0)
                .value(),
            1u);
  EXPECT_TRUE(this->due(t + 10).empty());
  EXPECT_TRUE(this->outbox_->retry_now(2, b1, t + 10).value());
  auto now_due = this->due(t + 10);
  ASSERT_EQ(now_due.size(), 1u);
  EXPECT_EQ(now_due[0][0].id, b1);
}

}  // namespace
}  // namespace tern::store::conformance
