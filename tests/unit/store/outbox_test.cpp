// Webhook outbox: enqueue round trip (defaults for times), grouping of due() batches (one
// account/kind/url/content_type each, oldest first, per-batch cap), the lease that keeps a
// taken item from being handed out twice, mark_sent / mark_failed (reschedule and give up),
// backlog and next_due_ms, for_message in any state, survival across reopen, refusal of
// malformed items, and an Outbox on a file without the schema.
#include "store/outbox.hpp"

#include <gtest/gtest.h>

#include "core/clock.hpp"
#include "store/store.hpp"
#include "unit/store/test_dir.hpp"

namespace tern::store {
namespace {

class OutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("tern.db");
    auto s = Store::open_sqlite(path_);
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(s).value();
    box_ = open();
  }
  std::unique_ptr<Outbox> open() {
    auto o = Outbox::open(path_);
    EXPECT_TRUE(o.ok()) << o.error().message;
    return o.ok() ? std::move(o).value() : nullptr;
  }
  static OutboxItem item(int64_t account, std::string url, std::string mid,
                         std::string kind = "report", std::string ct = "application/json") {
    OutboxItem it;
    it.account_id = account;
    it.kind = std::move(kind);
    it.url = std::move(url);
    it.content_type = std::move(ct);
    it.message_id = mid;
    it.queue_id = "Q" + mid;
    it.recipient = mid + "@example.com";
    it.item = R"({"messageId":")" + mid + R"("})";
    return it;
  }
  void enqueue(std::vector<OutboxItem> items) {
    auto r = box_->enqueue(items);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  std::vector<std::vector<OutboxItem>> due(int64_t now, size_t batches = 10, size_t per = 10) {
    auto r = box_->due(now, batches, per);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? r.value() : std::vector<std::vector<OutboxItem>>{};
  }
  static int64_t now() { return core::SystemClock().now_ms(); }

  test::TempDir dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Outbox> box_;
};

TEST_F(OutboxTest, EnqueueRoundTripFillsTimesAndState) {
  const int64_t before = now();
  enqueue({item(1, "https://a.example/hook", "m1")});
  auto all = box_->for_message("m1");
  ASSERT_TRUE(all.ok()) << all.error().message;
  ASSERT_EQ(all->size(), 1u);
  const auto& it = all->front();
  EXPECT_GT(it.id, 0);
  EXPECT_EQ(it.account_id, 1);
  EXPECT_EQ(it.kind, "report");
  EXPECT_EQ(it.url, "https://a.example/hook");
  EXPECT_EQ(it.content_type, "application/json");
  EXPECT_EQ(it.queue_id, "Qm1");
  EXPECT_EQ(it.recipient, "m1@example.com");
  EXPECT_EQ(it.item, R"({"messageId":"m1"})");
  EXPECT_GE(it.created_ms, before);
  EXPECT_LE(it.created_ms, now());
  EXPECT_EQ(it.next_attempt_ms, it.created_ms);  // 0 at enqueue = now
  EXPECT_EQ(it.attempts, 0);
  EXPECT_EQ(it.state, "pending");
  EXPECT_EQ(it.last_error, "");
}

TEST_F(OutboxTest, DueGroupsByAccountKindUrlAndContentTypeOldestFirst) {
  enqueue({item(1, "https://a.example/", "m1"), item(2, "https://a.example/", "m2"),
           item(1, "https://b.example/", "m3"), item(1, "https://a.example/", "m4"),
           item(1, "https://a.example/", "m5", "report", "application/xml"),
           item(1, "https://a.example/", "m6", "tracking")});
  auto batches = due(now());
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

TEST_F(OutboxTest, DueHonoursBatchLimitsAndNeverReturnsAnItemTwice) {
  std::vector<OutboxItem> items;
  for (int i = 0; i < 7; ++i)
    items.push_back(item(1, "https://a.example/", "m" + std::to_string(i)));
  items.push_back(item(1, "https://b.example/", "b"));
  enqueue(items);
  const int64_t t = now();
  auto first = due(t, 1, 3);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(first[0].size(), 3u);
  EXPECT_EQ(first[0][0].message_id, "m0");
  EXPECT_EQ(first[0][2].message_id, "m2");
  // The next call gets the rest, never the items already handed out.
  auto second = due(t, 10, 3);
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second[0][0].message_id, "m3");
  EXPECT_EQ(second[0].size(), 3u);
  EXPECT_EQ(second[1][0].message_id, "b");
  auto third = due(t, 10, 10);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0][0].message_id, "m6");
  EXPECT_TRUE(due(t, 10, 10).empty());
  EXPECT_TRUE(due(t, 0, 10).empty());
  // Still pending while taken: the backlog counts them.
  auto b = box_->backlog();
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b.value(), 8u);
}

TEST_F(OutboxTest, ALeaseNotMarkedComesBackLater) {
  enqueue({item(1, "https://a.example/", "m1")});
  const int64_t t = now();
  ASSERT_EQ(due(t).size(), 1u);
  EXPECT_TRUE(due(t + 60'000).empty());
  auto again = due(t + 121'000);  // the taker died: the item is handed out again
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0][0].message_id, "m1");
}

TEST_F(OutboxTest, FutureItemsAreNotDue) {
  auto it = item(1, "https://a.example/", "m1");
  const int64_t t = now();
  it.next_attempt_ms = t + 5'000;
  enqueue({it});
  EXPECT_TRUE(due(t).empty());
  auto next = box_->next_due_ms();
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next.value(), t + 5'000);
  EXPECT_EQ(due(t + 5'000).size(), 1u);
}

TEST_F(OutboxTest, MarkSentAndMarkFailed) {
  enqueue({item(1, "https://a.example/", "m1"), item(1, "https://a.example/", "m2"),
           item(1, "https://a.example/", "m3")});
  const int64_t t = now();
  auto batches = due(t);
  ASSERT_EQ(batches.size(), 1u);
  ASSERT_EQ(batches[0].size(), 3u);
  const auto id1 = batches[0][0].id, id2 = batches[0][1].id, id3 = batches[0][2].id;

  ASSERT_TRUE(box_->mark_sent({id1}, t + 10).ok());
  ASSERT_TRUE(box_->mark_failed({id2}, t + 30'000, "POST https://a.example/: 500", false).ok());
  ASSERT_TRUE(box_->mark_failed({id3}, t + 30'000, "connection refused", true).ok());

  auto m1 = box_->for_message("m1");
  ASSERT_TRUE(m1.ok());
  EXPECT_EQ(m1->at(0).state, "sent");
  EXPECT_EQ(m1->at(0).attempts, 1);
  auto m2 = box_->for_message("m2");
  EXPECT_EQ(m2->at(0).state, "pending");
  EXPECT_EQ(m2->at(0).attempts, 1);
  EXPECT_EQ(m2->at(0).next_attempt_ms, t + 30'000);
  EXPECT_EQ(m2->at(0).last_error, "POST https://a.example/: 500");
  auto m3 = box_->for_message("m3");
  EXPECT_EQ(m3->at(0).state, "failed");
  EXPECT_EQ(m3->at(0).last_error, "connection refused");

  EXPECT_EQ(box_->backlog().value(), 1u);
  EXPECT_EQ(box_->next_due_ms().value(), t + 30'000);
  EXPECT_TRUE(due(t + 29'999).empty());
  auto retry = due(t + 30'000);
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_EQ(retry[0][0].id, id2);
  EXPECT_EQ(retry[0][0].attempts, 1);

  // A finished item is not touched again (a late duplicate mark cannot revive it).
  ASSERT_TRUE(box_->mark_failed({id1}, t, "late", false).ok());
  EXPECT_EQ(box_->for_message("m1")->at(0).state, "sent");
  ASSERT_TRUE(box_->mark_sent({id2}, t + 31'000).ok());
  EXPECT_EQ(box_->backlog().value(), 0u);
  EXPECT_EQ(box_->next_due_ms().value(), 0);
}

TEST_F(OutboxTest, ForMessageListsEveryStateOldestFirst) {
  enqueue({item(1, "https://a.example/", "m1"), item(1, "https://t.example/", "m1", "tracking"),
           item(1, "https://a.example/", "other")});
  auto b = due(now());
  for (const auto& batch : b)
    for (const auto& i : batch)
      if (i.kind == "report" && i.message_id == "m1") {
        ASSERT_TRUE(box_->mark_sent({i.id}, 1).ok());
      }
  auto all = box_->for_message("m1");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ(all->at(0).kind, "report");
  EXPECT_EQ(all->at(0).state, "sent");
  EXPECT_EQ(all->at(1).kind, "tracking");
  EXPECT_EQ(all->at(1).state, "pending");
  EXPECT_TRUE(box_->for_message("nope")->empty());
}

TEST_F(OutboxTest, SurvivesReopen) {
  enqueue({item(1, "https://a.example/", "m1")});
  box_.reset();
  box_ = open();
  ASSERT_NE(box_, nullptr);
  auto b = due(now());
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0][0].message_id, "m1");
}

TEST_F(OutboxTest, MalformedItemsAreRefusedAndNothingIsWritten) {
  auto bad = item(1, "https://a.example/", "m2", "carrier-pigeon");
  auto r = box_->enqueue({item(1, "https://a.example/", "m1"), bad});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("carrier-pigeon"), std::string::npos);
  auto nourl = item(1, "", "m3");
  EXPECT_FALSE(box_->enqueue({nourl}).ok());
  EXPECT_EQ(box_->backlog().value(), 0u);
  EXPECT_TRUE(box_->enqueue({}).ok());
}

TEST_F(OutboxTest, HostileTextIsStoredVerbatim) {
  auto it = item(1, "https://a.example/?q='; DROP TABLE webhook_outbox;--", "m1");
  it.item = std::string("{\"x\":\"a\0b\"}", 11);
  enqueue({it});
  auto all = box_->for_message("m1");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->at(0).url, it.url);
  EXPECT_EQ(all->at(0).item, it.item);
}

TEST_F(OutboxTest, OpenWithoutSchemaIsAClearError) {
  auto r = Outbox::open(dir_.file("empty.db"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("webhook_outbox"), std::string::npos);
}

}  // namespace
}  // namespace tern::store
