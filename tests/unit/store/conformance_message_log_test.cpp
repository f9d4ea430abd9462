// Conformance (conformance.hpp): the message log on every backend: idempotent
// record_accepted, status moving only forward, account scoping (operator sees all, an account
// only its own, also with a cursor of another query), pagination over many pages with ties in
// created_ms (no row lost or repeated), every filter, and hostile cursors and limits refused.
#include <algorithm>
#include <set>

#include "store/message_log_rules.hpp"
#include "unit/store/conformance.hpp"

namespace tern::store::conformance {
namespace {

MessageRecord rec(int64_t account, const std::string& queue_id, int idx, const std::string& rcpt,
                  int64_t created_ms, const std::string& bulk = "bulk-1") {
  MessageRecord r;
  r.queue_id = queue_id;
  r.rcpt_index = idx;
  r.message_id = make_message_id(queue_id, idx);
  r.account_id = account;
  r.bulk_id = bulk;
  r.sender = "s@example.com";
  r.recipient = rcpt;
  r.header_from = "Sender <s@example.com>";
  r.subject = "hello";
  r.callback_data = "cb";
  r.options_json = R"({"notifyUrl":"http://x/"})";
  r.created_ms = created_ms;
  return r;
}

std::vector<MessageRecord> all_pages(MessageLog& log, MessageQuery q, int* pages = nullptr) {
  std::vector<MessageRecord> out;
  int n = 0;
  for (;;) {
    auto p = log.search(q);
    EXPECT_TRUE(p.ok()) << p.error().message;
    if (!p.ok()) break;
    ++n;
    for (auto& r : p->items) out.push_back(r);
    if (p->next_cursor.empty()) break;
    EXPECT_LE(n, 10000);
    q.cursor = p->next_cursor;
  }
  if (pages) *pages = n;
  return out;
}

template <class B>
class MessageLogConformance : public Conformance<B> {};
TYPED_TEST_SUITE(MessageLogConformance, Backends, BackendNames);

TEST(MessageId, IsQueueIdDotIndex) { EXPECT_EQ(make_message_id("Q1AB", 3), "Q1AB.3"); }

TYPED_TEST(MessageLogConformance, RoundTripAndIdempotentRecord) {
  auto a = rec(1, "QA", 0, "Bob@Example.COM", 1000);
  auto b = rec(1, "QA", 1, "carol@example.com", 1000);
  a.node_id = "node-a";
  ASSERT_TRUE(this->log_->record_accepted({a, b}).ok());
  // A replay with changed fields leaves the first rows as they were.
  auto a2 = a;
  a2.subject = "changed";
  a2.status = core::MessageStatus::delivered;
  ASSERT_TRUE(this->log_->record_accepted({a2, b}).ok());
  auto f = this->log_->find("QA.0");
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f->has_value());
  const MessageRecord& r = **f;
  EXPECT_EQ(r.message_id, "QA.0");
  EXPECT_EQ(r.queue_id, "QA");
  EXPECT_EQ(r.rcpt_index, 0);
  EXPECT_EQ(r.account_id, 1);
  EXPECT_EQ(r.bulk_id, "bulk-1");
  EXPECT_EQ(r.sender, "s@example.com");
  EXPECT_EQ(r.recipient, "Bob@example.com");  // domain canonical, local part kept
  EXPECT_EQ(r.header_from, "Sender <s@example.com>");
  EXPECT_EQ(r.subject, "hello");
  EXPECT_EQ(r.status, core::MessageStatus::accepted);
  EXPECT_EQ(r.callback_data, "cb");
  EXPECT_EQ(r.options_json, R"({"notifyUrl":"http://x/"})");
  EXPECT_EQ(r.created_ms, 1000);
  EXPECT_EQ(r.updated_ms, 1000);
  EXPECT_EQ(r.node_id, "node-a");  // where it is held (issue 12)
  auto q = this->log_->for_queue("QA");
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->size(), 2u);
  EXPECT_EQ((*q)[0].message_id, "QA.0");
  EXPECT_EQ((*q)[1].message_id, "QA.1");
  auto none = this->log_->find("QA.7");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_TRUE(this->log_->for_queue("nope")->empty());
}

TYPED_TEST(MessageLogConformance, ForQueuesGroupsTheRowsOfEveryQueueIdInOneCall) {
  // Ids a text[] literal must quote: a quote, a backslash, a comma, braces, a space.
  const std::vector<std::string> odd = {"Q\"1", "Q\\2", "Q,3", "{Q4}", "Q 5"};
  std::vector<MessageRecord> rows;
  for (const auto& q : odd)
    for (int i = 2; i >= 0; --i)
      rows.push_back(rec(1, q, i, "r" + std::to_string(i) + "@x.test", 5));
  rows.push_back(rec(2, "QOTHER", 0, "o@x.test", 5));
  ASSERT_TRUE(this->log_->record_accepted(rows).ok());
  auto ids = odd;
  ids.push_back("QNONE");
  ids.push_back(odd[0]);  // named twice: one entry
  auto got = this->log_->for_queues(ids);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->size(), odd.size() + 1);
  for (const auto& q : odd) {
    ASSERT_EQ((*got)[q].size(), 3u) << q;
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ((*got)[q][i].queue_id, q);
      EXPECT_EQ((*got)[q][i].rcpt_index, i);  // as for_queue orders them
    }
    auto one = this->log_->for_queue(q).value();
    ASSERT_EQ(one.size(), 3u);
    for (int i = 0; i < 3; ++i) EXPECT_EQ((*got)[q][i].message_id, one[i].message_id);
  }
  ASSERT_TRUE(got->count("QNONE"));
  EXPECT_TRUE((*got)["QNONE"].empty());
  EXPECT_FALSE(got->count("QOTHER"));
  auto none = this->log_->for_queues({});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TYPED_TEST(MessageLogConformance, RecordRefusesBadRowsAtomically) {
  auto good = rec(1, "QB", 0, "a@example.com", 5);
  auto bad = rec(1, "QB", 1, "b@example.com", 5);
  bad.message_id = std::string(300, 'x');  // longer than a message id may be
  auto r = this->log_->record_accepted({good, bad});
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(r.error().temporary);
  EXPECT_FALSE(this->log_->find("QB.0")->has_value());
  auto empty_id = good;
  empty_id.message_id = "";
  EXPECT_FALSE(this->log_->record_accepted({empty_id}).ok());
}

TYPED_TEST(MessageLogConformance, StatusMovesOnlyForward) {
  ASSERT_TRUE(this->log_->record_accepted({rec(1, "QS", 0, "a@example.com", 100)}).ok());
  ASSERT_TRUE(this->log_->update_status({{"QS.0", core::MessageStatus::deferred, 200}}).ok());
  EXPECT_EQ(this->log_->find("QS.0")->value().status, core::MessageStatus::deferred);
  EXPECT_EQ(this->log_->find("QS.0")->value().updated_ms, 200);
  ASSERT_TRUE(this->log_->update_status({{"QS.0", core::MessageStatus::accepted, 250}}).ok());
  EXPECT_EQ(this->log_->find("QS.0")->value().status, core::MessageStatus::deferred);
  ASSERT_TRUE(this->log_->update_status({{"QS.0", core::MessageStatus::delivered, 300}}).ok());
  EXPECT_EQ(this->log_->find("QS.0")->value().status, core::MessageStatus::delivered);
  // Late deferral or a second outcome do not replace the first outcome.
  ASSERT_TRUE(this->log_
                  ->update_status({{"QS.0", core::MessageStatus::deferred, 400},
                                   {"QS.0", core::MessageStatus::bounced, 500}})
                  .ok());
  EXPECT_EQ(this->log_->find("QS.0")->value().status, core::MessageStatus::delivered);
  EXPECT_EQ(this->log_->find("QS.0")->value().updated_ms, 300);
  // Unknown message ids are ignored.
  EXPECT_TRUE(this->log_->update_status({{"nope.0", core::MessageStatus::delivered, 1}}).ok());
}

TYPED_TEST(MessageLogConformance, ScopedByAccount) {
  ASSERT_TRUE(this->log_
                  ->record_accepted({rec(1, "Q1", 0, "a@example.com", 10),
                                     rec(2, "Q2", 0, "a@example.com", 20),
                                     rec(2, "Q3", 0, "b@example.com", 30)})
                  .ok());
  MessageQuery q;
  q.account_id = 0;
  EXPECT_EQ(this->log_->search(q)->items.size(), 3u);
  q.account_id = 1;
  auto one = this->log_->search(q);
  ASSERT_EQ(one->items.size(), 1u);
  EXPECT_EQ(one->items[0].message_id, "Q1.0");
  q.account_id = 2;
  auto two = this->log_->search(q);
  ASSERT_EQ(two->items.size(), 2u);
  EXPECT_EQ(two->items[0].message_id, "Q3.0");  // newest first
  EXPECT_EQ(two->items[1].message_id, "Q2.0");
  q.account_id = 3;
  EXPECT_TRUE(this->log_->search(q)->items.empty());

  // A cursor taken from the operator's view, used by account 1: still only account 1's rows.
  MessageQuery op;
  op.limit = 1;
  auto first = this->log_->search(op);
  ASSERT_FALSE(first->next_cursor.empty());
  MessageQuery acc1;
  acc1.account_id = 1;
  acc1.cursor = first->next_cursor;
  auto page = this->log_->search(acc1);
  ASSERT_TRUE(page.ok());
  for (const auto& r : page->items) EXPECT_EQ(r.account_id, 1);
}

TYPED_TEST(MessageLogConformance, PaginatesManyPagesWithTies) {
  // 503 rows; created_ms takes only 7 distinct values, so most page boundaries fall inside a
  // run of equal times. Rows are inserted in several batches out of order.
  std::vector<MessageRecord> batch;
  std::set<std::string> expected;
  for (int i = 0; i < 503; ++i) {
    int64_t t = 1000 + (i * 37 % 7);
    auto r = rec(5, "T" + std::to_string(i % 41), i, "r" + std::to_string(i) + "@example.com", t);
    expected.insert(r.message_id);
    batch.push_back(r);
    if (batch.size() == 60) {
      ASSERT_TRUE(this->log_->record_accepted(batch).ok());
      batch.clear();
    }
  }
  ASSERT_TRUE(this->log_->record_accepted(batch).ok());
  ASSERT_TRUE(this->log_->record_accepted({rec(6, "OTHER", 0, "x@example.com", 1003)}).ok());

  for (size_t limit : {1u, 7u, 50u, 502u, 503u, 1000u}) {
    MessageQuery q;
    q.account_id = 5;
    q.limit = limit;
    int pages = 0;
    auto rows = all_pages(*this->log_, q, &pages);
    ASSERT_EQ(rows.size(), 503u) << limit;
    EXPECT_EQ(pages, static_cast<int>((503 + limit - 1) / limit)) << limit;
    std::set<std::string> seen;
    for (size_t i = 0; i < rows.size(); ++i) {
      EXPECT_TRUE(seen.insert(rows[i].message_id).second) << "repeated " << rows[i].message_id;
      EXPECT_EQ(rows[i].account_id, 5);
      if (i > 0) {
        // Strictly descending by (created_ms, message_id).
        const auto& p = rows[i - 1];
        EXPECT_TRUE(p.created_ms > rows[i].created_ms ||
                    (p.created_ms == rows[i].created_ms && p.message_id > rows[i].message_id));
      }
    }
    EXPECT_EQ(seen, expected) << limit;
  }
  // A page exactly at the end has no next cursor.
  MessageQuery exact;
  exact.account_id = 5;
  exact.limit = 503;
  EXPECT_TRUE(this->log_->search(exact)->next_cursor.empty());
}

TYPED_TEST(MessageLogConformance, Filters) {
  auto a = rec(1, "QF1", 0, "Ann@Example.com", 100, "bulkA");
  auto b = rec(1, "QF1", 1, "bob@example.com", 100, "bulkA");
  auto c = rec(1, "QF2", 0, "ann@example.com", 200, "bulkB");
  auto d = rec(1, "QF3", 0, "Ann@example.com", 300, "bulkB");
  ASSERT_TRUE(this->log_->record_accepted({a, b, c, d}).ok());
  ASSERT_TRUE(this->log_
                  ->update_status({{"QF1.1", core::MessageStatus::bounced, 150},
                                   {"QF3.0", core::MessageStatus::delivered, 350}})
                  .ok());

  auto ids = [&](MessageQuery q) {
    q.account_id = 1;
    std::vector<std::string> out;
    auto p = this->log_->search(q);
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
    if (p.ok())
      for (auto& r : p->items) out.push_back(r.message_id);
    return out;
  };
  using V = std::vector<std::string>;
  MessageQuery q;
  q.recipient = "Ann@EXAMPLE.COM";  // domain case-insensitive, local part exact
  EXPECT_EQ(ids(q), (V{"QF3.0", "QF1.0"}));
  q = {};
  q.recipient = "ann@example.com";
  EXPECT_EQ(ids(q), (V{"QF2.0"}));
  q = {};
  q.bulk_id = "bulkA";
  EXPECT_EQ(ids(q), (V{"QF1.1", "QF1.0"}));
  q = {};
  q.status = core::MessageStatus::bounced;
  EXPECT_EQ(ids(q), (V{"QF1.1"}));
  q = {};
  q.status = core::MessageStatus::accepted;
  EXPECT_EQ(ids(q), (V{"QF2.0", "QF1.0"}));
  q = {};
  q.queue_id = "QF2";
  EXPECT_EQ(ids(q), (V{"QF2.0"}));
  q = {};
  q.from_ms = 200;
  EXPECT_EQ(ids(q), (V{"QF3.0", "QF2.0"}));
  q = {};
  q.to_ms = 200;
  EXPECT_EQ(ids(q), (V{"QF1.1", "QF1.0"}));
  q = {};
  q.from_ms = 100;
  q.to_ms = 300;
  q.bulk_id = "bulkB";
  EXPECT_EQ(ids(q), (V{"QF2.0"}));
  q = {};
  q.recipient = "x' OR 1=1 --";  // values are bound, never spliced
  EXPECT_TRUE(ids(q).empty());
}

TYPED_TEST(MessageLogConformance, HostileCursorsAndLimitsAreRefused) {
  ASSERT_TRUE(this->log_
                  ->record_accepted(
                      {rec(1, "QH", 0, "a@example.com", 1), rec(1, "QH", 1, "b@example.com", 2)})
                  .ok());
  MessageQuery q;
  q.limit = 1;
  auto p = this->log_->search(q);
  ASSERT_TRUE(p.ok());
  const std::string good = p->next_cursor;
  ASSERT_FALSE(good.empty());

  const std::vector<std::string> hostile = {
      "x",                                   // impossible length
      "!!!!",                                // outside the alphabet
      good + "=",                            // padding
      "bTE6MTpRSC4w+/",                      // standard (not URL-safe) alphabet
      std::string(600, 'A'),                 // overlong
      "bTI6MTpRSC4w",                        // "m2:1:QH.0": wrong tag
      "bTE6OlFILjA",                         // "m1::QH.0": no time
      "bTE6LTE6UUguMA",                      // "m1:-1:QH.0": sign
      "bTE6MTo",                             // "m1:1:": no id
      "bTE6OTk5OTk5OTk5OTk5OTk5OTk5OTk6UQ",  // "m1:99999999999999999999:Q": overflows
      "bTE6MTpRSC4w\n",                      // trailing control character
      "bTE6MTpRSC4wMB",                      // "m1:1:QH.00" with non-zero unused bits
      "",                                    // (empty = first page; checked below)
  };
  for (const auto& c : hostile) {
    if (c.empty()) continue;
    MessageQuery h;
    h.cursor = c;
    auto r = this->log_->search(h);
    if (r.ok()) {
      ADD_FAILURE() << "accepted cursor " << c;
      continue;
    }
    EXPECT_FALSE(r.error().temporary) << c;
    EXPECT_EQ(r.error().message, "invalid cursor") << c;
  }
  MessageQuery z;
  z.limit = 0;
  EXPECT_FALSE(this->log_->search(z).ok());
  z.limit = 1001;
  EXPECT_FALSE(this->log_->search(z).ok());
  z.limit = 1000;
  EXPECT_TRUE(this->log_->search(z).ok());

  // Well-formed cursors of ours: rows strictly older than the cursor's position.
  MessageQuery w;
  w.cursor = "bTE6MTox";  // m1:1:1 — "QH.0" (created 1) sorts after "1": nothing older
  auto wr = this->log_->search(w);
  ASSERT_TRUE(wr.ok());
  EXPECT_TRUE(wr->items.empty());
  w.cursor = "bTE6MjpRSC4x";  // m1:2:QH.1 — the second page of the query above
  wr = this->log_->search(w);
  ASSERT_TRUE(wr.ok());
  ASSERT_EQ(wr->items.size(), 1u);
  EXPECT_EQ(wr->items[0].message_id, "QH.0");
  EXPECT_EQ(w.cursor, good);
  w.cursor = "bTE6MTpRSC4wMA";  // m1:1:QH.00 — same row again, canonical encoding
  ASSERT_EQ(this->log_->search(w)->items.size(), 1u);
  w.cursor = "bTE6MTpRSC4w";  // m1:1:QH.0 — nothing older
  EXPECT_TRUE(this->log_->search(w)->items.empty());
}

TYPED_TEST(MessageLogConformance, ForQueueIsByRecipientIndex) {
  ASSERT_TRUE(this->log_
                  ->record_accepted({rec(1, "QO", 2, "c@example.com", 5),
                                     rec(1, "QO", 0, "a@example.com", 9),
                                     rec(1, "QO", 1, "b@example.com", 1)})
                  .ok());
  auto rows = this->log_->for_queue("QO").value();
  ASSERT_EQ(rows.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(rows[i].rcpt_index, i);
}

TYPED_TEST(MessageLogConformance, EveryStatusMoveFollowsTheRule) {
  // From each status to each status: the rule says whether it moves, every backend agrees.
  int n = 0;
  for (auto from : core::kMessageStatuses)
    for (auto to : core::kMessageStatuses) {
      const std::string q = "QM" + std::to_string(n++);
      auto r = rec(1, q, 0, "a@example.com", 10);
      r.status = from;
      ASSERT_TRUE(this->log_->record_accepted({r}).ok());
      ASSERT_TRUE(this->log_->update_status({{r.message_id, to, 20}}).ok());
      const auto now = this->log_->find(r.message_id).value().value();
      const bool moves = message_log_rules::status_may_move(from, to);
      EXPECT_EQ(now.status, moves ? to : from)
          << core::to_string(from) << " -> " << core::to_string(to);
      EXPECT_EQ(now.updated_ms, moves ? 20 : 10);
    }
}

// The same in one batch of many messages (PostgreSQL: one UPDATE over column arrays), and a
// batch naming one message twice, whose updates apply in order.
TYPED_TEST(MessageLogConformance, EveryStatusMoveFollowsTheRuleInOneBatch) {
  std::vector<MessageRecord> recs;
  std::vector<MessageLog::StatusUpdate> ups;
  for (auto from : core::kMessageStatuses)
    for (auto to : core::kMessageStatuses) {
      auto r = rec(1, "QB" + std::to_string(recs.size()), 0, "a@example.com", 10);
      r.status = from;
      ups.push_back({r.message_id, to, 20});
      recs.push_back(std::move(r));
    }
  ASSERT_TRUE(this->log_->record_accepted(recs).ok());
  std::reverse(ups.begin(), ups.end());  // not in message-id order
  ASSERT_TRUE(this->log_->update_status(ups).ok());
  for (const auto& u : ups) {
    const auto now = this->log_->find(u.message_id).value().value();
    const auto from = std::find_if(recs.begin(), recs.end(), [&](const auto& r) {
                        return r.message_id == u.message_id;
                      })->status;
    const bool moves = message_log_rules::status_may_move(from, u.status);
    EXPECT_EQ(now.status, moves ? u.status : from)
        << core::to_string(from) << " -> " << core::to_string(u.status);
    EXPECT_EQ(now.updated_ms, moves ? 20 : 10);
  }
  // Twice in one batch, among others: deferred then delivered ends delivered; delivered then
  // deferred stays delivered.
  ASSERT_TRUE(this->log_
                  ->record_accepted({rec(1, "QT", 0, "a@example.com", 10),
                                     rec(1, "QT", 1, "b@example.com", 10),
                                     rec(1, "QT", 2, "c@example.com", 10)})
                  .ok());
  ASSERT_TRUE(this->log_
                  ->update_status({{"QT.1", core::MessageStatus::delivered, 30},
                                   {"QT.0", core::MessageStatus::deferred, 20},
                                   {"QT.1", core::MessageStatus::deferred, 40},
                                   {"QT.0", core::MessageStatus::delivered, 30},
                                   {"QT.2", core::MessageStatus::bounced, 25}})
                  .ok());
  EXPECT_EQ(this->log_->find("QT.0")->value().status, core::MessageStatus::delivered);
  EXPECT_EQ(this->log_->find("QT.1")->value().status, core::MessageStatus::delivered);
  EXPECT_EQ(this->log_->find("QT.1")->value().updated_ms, 30);
  EXPECT_EQ(this->log_->find("QT.2")->value().status, core::MessageStatus::bounced);
}

// Text that means something in an array literal or to SQL is stored as given.
TYPED_TEST(MessageLogConformance, HostileTextRoundTrips) {
  const std::vector<std::string> nasty = hostile_texts("messages");
  std::vector<MessageRecord> recs;
  for (size_t i = 0; i < nasty.size(); ++i) {
    auto r = rec(1, "QH", static_cast<int>(i), "r" + std::to_string(i) + "@example.com", 10);
    r.subject = nasty[i];
    r.header_from = nasty[(i + 1) % nasty.size()];
    r.callback_data = nasty[(i + 2) % nasty.size()];
    r.bulk_id = nasty[(i + 3) % nasty.size()];
    recs.push_back(std::move(r));
  }
  ASSERT_TRUE(this->log_->record_accepted(recs).ok());
  for (const auto& r : recs) {
    const auto back = this->log_->find(r.message_id).value().value();
    EXPECT_EQ(back.subject, r.subject);
    EXPECT_EQ(back.header_from, r.header_from);
    EXPECT_EQ(back.callback_data, r.callback_data);
    EXPECT_EQ(back.bulk_id, r.bulk_id);
  }
}

TYPED_TEST(MessageLogConformance, TwoInstancesShareOneLog) {
  Backend other = this->open_again();
  ASSERT_TRUE(other.messages->record_accepted({rec(1, "QX", 0, "a@example.com", 5)}).ok());
  ASSERT_TRUE(this->log_->find("QX.0").value().has_value());
  ASSERT_TRUE(this->log_->update_status({{"QX.0", core::MessageStatus::delivered, 6}}).ok());
  EXPECT_EQ(other.messages->find("QX.0").value()->status, core::MessageStatus::delivered);
}

}  // namespace
}  // namespace tern::store::conformance
