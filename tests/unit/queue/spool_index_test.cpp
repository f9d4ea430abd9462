// The spool's compact index (what the delivery engine reads at start instead of every
// envelope): entries in commit order with account, arrival, due time and held flag, kept
// current by updates (also ones that carry only id, recipients and held), rebuilt on reopen
// from COMMIT and the latest STATE; envelopes decoded from disk on get(); content sources.
#include <gtest/gtest.h>

#include "spool_test_util.hpp"

using namespace tern;
using namespace tern::queue;
using namespace tern::queue::test;

namespace {

QueueEntry entry_of(const Spool& s, const std::string& id) {
  for (const auto& e : s.index())
    if (e.id == id) return e;
  ADD_FAILURE() << "no entry for " << id;
  return {};
}

}  // namespace

TEST(SpoolIndex, EntriesFollowCommitsUpdatesAndReopen) {
  TempDir dir;
  std::string a, b;
  {
    auto s = open_ok(dir.str());
    a = put(*s, "first");
    b = put(*s, "second");
    auto idx = s->index();
    ASSERT_EQ(idx.size(), 2u);
    EXPECT_EQ(idx[0].id, a);
    EXPECT_EQ(idx[1].id, b);
    EXPECT_EQ(idx[0].account_id, 7);
    EXPECT_EQ(idx[0].received_ms, 1700000000000);
    EXPECT_EQ(idx[0].due_ms, 0) << "never tried: due now";
    EXPECT_FALSE(idx[0].held);
    // The engine persists only id, recipients and held.
    QueuedMessage u;
    u.id = a;
    u.recipients = s->get(a)->recipients;
    u.recipients[0].state = RcptState::delivered;
    u.recipients[1].state = RcptState::deferred;
    u.recipients[1].attempts = 1;
    u.recipients[1].next_attempt_ms = 1700000060000;
    u.held = true;
    ASSERT_TRUE(s->update(u).ok());
    auto e = entry_of(*s, a);
    EXPECT_EQ(e.due_ms, 1700000060000);
    EXPECT_TRUE(e.held);
    EXPECT_EQ(e.account_id, 7) << "fixed at commit, not taken from the update";
    EXPECT_EQ(e.received_ms, 1700000000000);
    // get() decodes the envelope from disk: the commit's fields with the latest state.
    auto m = s->get(a);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->sender, "s@acme.example");
    EXPECT_EQ(m->helo, "h.acme.example");
    EXPECT_EQ(m->recipients[0].state, RcptState::delivered);
    EXPECT_EQ(m->recipients[1].next_attempt_ms, 1700000060000);
    EXPECT_TRUE(m->held);
  }
  auto s = open_ok(dir.str());
  auto e = entry_of(*s, a);
  EXPECT_EQ(e.due_ms, 1700000060000);
  EXPECT_TRUE(e.held);
  EXPECT_EQ(e.account_id, 7);
  EXPECT_EQ(entry_of(*s, b).due_ms, 0);
  EXPECT_EQ(s->get(a)->recipients[0].state, RcptState::delivered);
  EXPECT_EQ(content_of(*s, a), "first");
}

TEST(SpoolIndex, ManyUpdatesKeepTheLatestState) {
  TempDir dir;
  std::string id;
  {
    auto s = open_ok(dir.str());
    id = put(*s, "x");
    for (int i = 1; i <= 50; ++i) {
      auto m = *s->get(id);
      m.recipients[0].attempts = i;
      m.recipients[0].state = RcptState::deferred;
      m.recipients[0].next_attempt_ms = 1700000000000 + i;
      ASSERT_TRUE(s->update(m).ok());
    }
    EXPECT_EQ(s->get(id)->recipients[0].attempts, 50);
  }
  auto s = open_ok(dir.str());
  EXPECT_EQ(s->get(id)->recipients[0].attempts, 50);
  EXPECT_EQ(entry_of(*s, id).due_ms, 0) << "recipient 1 is still pending";
}

TEST(SpoolIndex, FinishedMessagesLeaveTheIndexAndAllFinalIsNotDue) {
  TempDir dir;
  auto s = open_ok(dir.str());
  std::string a = put(*s, "a");
  std::string b = put(*s, "b");
  ASSERT_TRUE(s->finish(a).ok());
  auto idx = s->index();
  ASSERT_EQ(idx.size(), 1u);
  EXPECT_EQ(idx[0].id, b);
  auto m = *s->get(b);
  for (auto& r : m.recipients) r.state = RcptState::bounced;
  ASSERT_TRUE(s->update(m).ok());
  EXPECT_EQ(entry_of(*s, b).due_ms, INT64_MAX);
}

TEST(SpoolIndex, ContentSourceReadsThePrependThenTheContent) {
  TempDir dir;
  auto s = open_ok(dir.str());
  const std::string id = core::new_queue_id();
  auto w = s->begin(id);
  ASSERT_TRUE(w->append("Subject: x\r\n\r\nbody\r\n").ok());
  auto m = make_msg(id);
  m.prepend = "DKIM-Signature: v=1\r\n";
  ASSERT_TRUE(commit_sync(*s, std::move(w), m).ok);
  auto got = s->get(id);
  ASSERT_TRUE(got);
  auto src = s->content_source(*got);
  ASSERT_TRUE(src);
  EXPECT_EQ(src.value()->size(), m.prepend.size() + 20);
  for (int round = 0; round < 2; ++round) {  // each reader starts at the beginning
    auto rd = src.value()->reader();
    std::string all;
    char buf[7];
    for (;;) {
      auto n = rd->read(buf, sizeof buf);
      ASSERT_TRUE(n);
      if (n.value() == 0) break;
      all.append(buf, n.value());
    }
    EXPECT_EQ(all, "DKIM-Signature: v=1\r\nSubject: x\r\n\r\nbody\r\n");
  }
  // Finished meanwhile: a source taken before still reads (it holds the segments).
  ASSERT_TRUE(s->finish(id).ok());
  EXPECT_EQ(src.value()->reader()->size(), m.prepend.size() + 20);
  QueuedMessage ghost = make_msg("NOSUCHMESSAGE");
  EXPECT_FALSE(s->content_source(ghost));
}
