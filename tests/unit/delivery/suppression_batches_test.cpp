// SuppressionBatches (delivery/suppression_batches.hpp): one batch out at a time, the queries
// that come meanwhile in the next, whole messages per batch, about kMax queries a batch,
// nothing dropped and nothing twice.
#include "delivery/suppression_batches.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace tern::delivery {
namespace {

std::vector<SuppressionQuery> message(const std::string& id, size_t rcpts) {
  std::vector<SuppressionQuery> out;
  for (size_t i = 0; i < rcpts; ++i)
    out.push_back({id, static_cast<uint32_t>(i), 7, "r" + std::to_string(i) + "@example.com"});
  return out;
}

std::vector<std::string> ids(const SuppressionBatches::Batch& b) {
  std::vector<std::string> out;
  for (const auto& q : b)
    if (out.empty() || out.back() != q.queue_id) out.push_back(q.queue_id);
  return out;
}

TEST(SuppressionBatches, OneOutAtATimeAndWhatCameMeanwhileGoesNextTogether) {
  SuppressionBatches s;
  auto first = s.add(message("A", 2));
  ASSERT_TRUE(first);
  EXPECT_EQ(ids(*first), std::vector<std::string>{"A"});
  EXPECT_TRUE(s.busy());
  // A is out: B and C wait, and go out together once A is answered.
  EXPECT_FALSE(s.add(message("B", 1)));
  EXPECT_FALSE(s.add(message("C", 3)));
  EXPECT_EQ(s.waiting(), 4u);
  auto second = s.done();
  ASSERT_TRUE(second);
  EXPECT_EQ(ids(*second), (std::vector<std::string>{"B", "C"}));
  EXPECT_EQ(second->size(), 4u);
  EXPECT_TRUE(s.busy());
  // Nothing waits: done() hands out nothing, and the next add goes out at once.
  EXPECT_FALSE(s.done());
  EXPECT_FALSE(s.busy());
  auto third = s.add(message("D", 1));
  ASSERT_TRUE(third);
  EXPECT_EQ(ids(*third), std::vector<std::string>{"D"});
}

TEST(SuppressionBatches, ABatchIsCutAfterKMaxAtAMessageBoundaryAndLosesNothing) {
  SuppressionBatches s;
  ASSERT_TRUE(s.add(message("first", 1)));
  // Waiting: messages of 700 queries: the cut after kMax (2,000) falls inside the third, which
  // goes whole into the first batch; the rest wait, in order.
  std::map<std::string, size_t> added;
  for (int m = 0; m < 7; ++m) {
    const std::string id = "M" + std::to_string(m);
    added[id] = 700;
    EXPECT_FALSE(s.add(message(id, 700)));
  }
  std::map<std::string, size_t> seen;
  std::vector<std::vector<std::string>> batches;
  for (auto b = s.done(); b; b = s.done()) {
    EXPECT_LE(b->size(), SuppressionBatches::kMax + 700);
    batches.push_back(ids(*b));
    for (const auto& q : *b) ++seen[q.queue_id];
  }
  EXPECT_EQ(seen, added);  // every query once, none lost
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0], (std::vector<std::string>{"M0", "M1", "M2"}));
  EXPECT_EQ(batches[1], (std::vector<std::string>{"M3", "M4", "M5"}));
  EXPECT_EQ(batches[2], std::vector<std::string>{"M6"});
  // One message larger than kMax goes whole, alone.
  EXPECT_FALSE(s.busy());
  auto big = s.add(message("big", SuppressionBatches::kMax + 5));
  ASSERT_TRUE(big);
  EXPECT_EQ(big->size(), SuppressionBatches::kMax + 5);
}

}  // namespace
}  // namespace tern::delivery
