// The operator's queue view, pure: grouping by destination and by account (a message counts
// once per group, held ones in `held`, the earliest next attempt of what is not held), filters,
// and paging by (received_ms, id) after a cursor.
#include "delivery/queue_view.hpp"

#include <gtest/gtest.h>

namespace tern::delivery {
namespace {

QueueMessageView msg(std::string id, int64_t account, std::string name, int64_t received,
                     std::vector<std::pair<std::string, int64_t>> rcpts, bool held = false) {
  QueueMessageView m;
  m.id = std::move(id);
  m.account_id = account;
  m.account_name = std::move(name);
  m.received_ms = received;
  m.held = held;
  for (auto& [dest, next] : rcpts)
    m.recipients.push_back({"r@" + dest, "deferred", 1, next, "451", dest});
  return m;
}

TEST(QueueView, GroupsByDestinationAndAccount) {
  std::vector<QueueMessageView> q = {
      msg("A", 1, "acme", 100, {{"mx:a.test", 500}, {"mx:a.test", 400}, {"mx:b.test", 900}}),
      msg("B", 1, "acme", 50, {{"mx:b.test", 300}}, true),
      msg("C", 2, "beta", 70, {{"mx:a.test", 600}}),
  };
  auto g = group_queue(q, false);
  ASSERT_EQ(g.size(), 2u);
  // mx:a.test: A (2 recipients) and C; mx:b.test: A and B (held).
  const QueueGroup& a = g[0].key == "mx:a.test" ? g[0] : g[1];
  const QueueGroup& b = g[0].key == "mx:a.test" ? g[1] : g[0];
  EXPECT_EQ(a.messages, 2u);
  EXPECT_EQ(a.recipients, 3u);
  EXPECT_EQ(a.held, 0u);
  EXPECT_EQ(a.oldest_ms, 70);
  EXPECT_EQ(a.next_attempt_ms, 400);
  EXPECT_EQ(b.messages, 2u);
  EXPECT_EQ(b.held, 1u);
  EXPECT_EQ(b.oldest_ms, 50);
  EXPECT_EQ(b.next_attempt_ms, 900);  // B is held: its 300 does not count
  auto by_acc = group_queue(q, true);
  ASSERT_EQ(by_acc.size(), 2u);
  EXPECT_EQ(by_acc[0].key, "acme");  // biggest first
  EXPECT_EQ(by_acc[0].account_id, 1);
  EXPECT_EQ(by_acc[0].messages, 2u);
  EXPECT_EQ(by_acc[0].recipients, 4u);
  EXPECT_EQ(by_acc[1].key, "beta");
  EXPECT_TRUE(group_queue({}, false).empty());
}

TEST(QueueView, FiltersAndPages) {
  std::vector<QueueMessageView> q;
  for (int i = 0; i < 7; ++i)
    q.push_back(msg("M" + std::to_string(i), i % 2 ? 1 : 2, "", 1000 - i * 10,
                    {{i < 3 ? "mx:a.test" : "mx:b.test", 0}}, i == 4));
  q.push_back(msg("M7", 1, "", 940, {{"mx:a.test", 0}}));  // same time as M6: id breaks the tie
  QueueFilter f;
  f.limit = 3;
  auto p1 = page_queue(q, f);
  ASSERT_EQ(p1.items.size(), 3u);
  EXPECT_TRUE(p1.more);
  EXPECT_EQ(p1.items[0].id, "M6");  // oldest first
  EXPECT_EQ(p1.items[1].id, "M7");
  f.after_ms = p1.items.back().received_ms;
  f.after_id = p1.items.back().id;
  auto p2 = page_queue(q, f);
  ASSERT_EQ(p2.items.size(), 3u);
  EXPECT_EQ(p2.items[0].id, "M4");
  f.after_ms = p2.items.back().received_ms;
  f.after_id = p2.items.back().id;
  auto p3 = page_queue(q, f);
  EXPECT_EQ(p3.items.size(), 2u);
  EXPECT_FALSE(p3.more);
  QueueFilter held;
  held.state = QueueFilter::State::held;
  EXPECT_EQ(page_queue(q, held).items.size(), 1u);
  QueueFilter queued;
  queued.state = QueueFilter::State::queued;
  EXPECT_EQ(page_queue(q, queued).items.size(), 7u);
  QueueFilter dest;
  dest.destination = "mx:a.test";
  EXPECT_EQ(page_queue(q, dest).items.size(), 4u);
  QueueFilter acc;
  acc.account_id = 1;
  EXPECT_EQ(page_queue(q, acc).items.size(), 4u);
  EXPECT_EQ(parse_queue_action("delete"), QueueAction::remove);
  EXPECT_FALSE(parse_queue_action("remove"));
}

}  // namespace
}  // namespace tern::delivery
