// app/queue_router: queue actions in a region reach the node whose spool holds the message.
// Fakes only: each "node" is a fake queue (the engine's QueueControl) and a router; the nodes
// share one MemoryNodeCommands table and one message log that says who holds what. The
// waiting side's sleep seam runs the holders' run_pending() (their upkeep ticks), so every
// exchange is deterministic.
#include "app/queue_router.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace tern::app {
namespace {

using delivery::QueueAction;
using delivery::QueueSelector;

// A node's queue: messages by id with their account; records every action it was given.
class FakeQueue final : public delivery::QueueControl {
 public:
  struct Msg {
    int64_t account = 0;
    bool held = false;
    std::string destination = "mx:example.com";
  };
  std::map<std::string, Msg> msgs;
  std::vector<std::pair<QueueAction, QueueSelector>> actions;
  bool fail = false;

  std::vector<delivery::QueueMessageView> queue_snapshot(const delivery::QueueFilter& f) override {
    std::vector<delivery::QueueMessageView> out;
    for (const auto& [id, m] : msgs)
      if (f.account_id == 0 || f.account_id == m.account) {
        delivery::QueueMessageView v;
        v.id = id;
        v.account_id = m.account;
        v.held = m.held;
        out.push_back(v);
      }
    return out;
  }
  delivery::QueueActionResult queue_action(QueueAction a, const QueueSelector& s) override {
    actions.emplace_back(a, s);
    delivery::QueueActionResult r;
    if (fail) {
      r.ok = false;
      r.message = "the spool is full";
      return r;
    }
    for (auto& [id, m] : msgs) {
      const bool picked = !s.ids.empty() ? std::count(s.ids.begin(), s.ids.end(), id) > 0
                                         : (!s.destination.empty() ? m.destination == s.destination
                                                                   : m.account == s.account_id);
      if (!picked) continue;
      if (a == QueueAction::hold && !m.held) {
        m.held = true;
        ++r.count;
      } else if (a == QueueAction::release && m.held) {
        m.held = false;
        ++r.count;
      } else if (a == QueueAction::retry) {
        ++r.count;
      }
    }
    if (a == QueueAction::remove)
      for (const auto& id : s.ids) r.count += msgs.erase(id);
    return r;
  }
};

// Only for_queue is used by the router.
class FakeLog final : public store::MessageLog {
 public:
  std::map<std::string, std::pair<std::string, int64_t>> holders;  // queue id → (node, account)
  core::Result<void> record_accepted(const std::vector<store::MessageRecord>&) override {
    return core::ok();
  }
  core::Result<void> update_status(const std::vector<StatusUpdate>&) override { return core::ok(); }
  core::Result<std::optional<store::MessageRecord>> find(const std::string&) override {
    return std::optional<store::MessageRecord>();
  }
  core::Result<std::vector<store::MessageRecord>> for_queue(const std::string& q) override {
    std::vector<store::MessageRecord> out;
    if (auto it = holders.find(q); it != holders.end()) {
      store::MessageRecord r;
      r.queue_id = q;
      r.node_id = it->second.first;
      r.account_id = it->second.second;
      out.push_back(r);
    }
    return out;
  }
  core::Result<store::MessagePage> search(const store::MessageQuery&) override {
    return store::MessagePage{};
  }
};

struct Region {
  core::FakeClock clock;
  FakeLog log;
  store::MemoryNodeCommands commands;
  std::map<std::string, FakeQueue> queues;
  std::map<std::string, std::unique_ptr<QueueRouter>> routers;
  std::set<std::string> alive;      // the registry
  std::set<std::string> answering;  // nodes whose upkeep runs their commands
  std::set<std::string> loading;    // nodes whose engine is still reading the spool
  int sleeps = 0;

  explicit Region(std::vector<std::string> nodes) {
    for (const auto& n : nodes) {
      queues[n];
      alive.insert(n);
      answering.insert(n);
    }
    for (const auto& n : nodes)
      routers[n] = std::make_unique<QueueRouter>(
          queues[n], log, commands, clock, QueueRouter::Options{.node_id = n},
          QueueRouter::Seams{
              .live_nodes = [this] { return std::vector<std::string>(alive.begin(), alive.end()); },
              .sleep =
                  [this](int64_t ms) {
                    ++sleeps;
                    for (const auto& a : answering) routers[a]->run_pending();
                    clock.advance_ms(ms);
                  },
              .ready = [this, n] { return loading.count(n) == 0; }});
  }
  void put(const std::string& node, const std::string& id, int64_t account, bool held = false) {
    queues[node].msgs[id] = {account, held};
    log.holders[id] = {node, account};
  }
};

QueueSelector ids(std::vector<std::string> v, int64_t account = 0) {
  QueueSelector s;
  s.ids = std::move(v);
  s.account_id = account;
  return s;
}

TEST(QueueRouter, AMessageHeldOnAnotherNodeIsChangedThere) {
  Region r({"n1", "n2", "n3"});
  r.put("n1", "Q1", 7, /*held=*/true);
  auto res = r.routers["n3"]->queue_action(QueueAction::release, ids({"Q1"}));
  EXPECT_TRUE(res.ok) << res.message;
  EXPECT_EQ(res.count, 1u);
  EXPECT_TRUE(res.pending.empty());
  EXPECT_FALSE(r.queues["n1"].msgs["Q1"].held);
  EXPECT_TRUE(r.queues["n3"].actions.empty());  // nothing ran on the node that was asked
  EXPECT_TRUE(r.queues["n2"].actions.empty());
  auto row = r.commands.get(1).value();
  ASSERT_TRUE(row);
  EXPECT_EQ(row->node_id, "n1");
  EXPECT_EQ(row->state, "done");
  EXPECT_EQ(row->command, "release");
  EXPECT_EQ(row->queue_id, "Q1");
  // Delete goes the same way.
  res = r.routers["n3"]->queue_action(QueueAction::remove, ids({"Q1"}));
  EXPECT_EQ(res.count, 1u);
  EXPECT_EQ(r.queues["n1"].msgs.count("Q1"), 0u);
}

TEST(QueueRouter, LocalAndUnknownIdsRunHereWithoutACommand) {
  Region r({"n1", "n2"});
  r.put("n2", "Q2", 7);
  r.queues["n2"].msgs["OLD"] = {7, false};  // logged before nodes had ids: node ""
  r.log.holders["OLD"] = {"", 7};
  auto res = r.routers["n2"]->queue_action(QueueAction::hold, ids({"Q2", "OLD", "NOPE"}));
  EXPECT_EQ(res.count, 2u);
  EXPECT_EQ(r.sleeps, 0);  // nobody waited for
  EXPECT_FALSE(r.commands.get(1).value().has_value());
  ASSERT_EQ(r.queues["n2"].actions.size(), 1u);
  EXPECT_EQ(r.queues["n2"].actions[0].second.ids.size(), 3u);
}

TEST(QueueRouter, IdsSplitByHolderAndCountsAdd) {
  Region r({"n1", "n2", "n3"});
  r.put("n1", "A", 7);
  r.put("n2", "B", 7);
  r.put("n3", "C", 7);
  auto res = r.routers["n3"]->queue_action(QueueAction::hold, ids({"A", "B", "C"}));
  EXPECT_TRUE(res.ok);
  EXPECT_EQ(res.count, 3u);
  for (const auto* n : {"n1", "n2", "n3"}) {
    ASSERT_EQ(r.queues[n].actions.size(), 1u) << n;
    EXPECT_EQ(r.queues[n].actions[0].second.ids.size(), 1u) << n;
  }
}

TEST(QueueRouter, ASilentHolderIsReportedPendingAndRunsTheCommandLater) {
  Region r({"n1", "n3"});
  r.put("n1", "Q1", 7);
  r.answering.erase("n1");  // alive in the registry, but its upkeep does not get to it
  const int64_t t0 = r.clock.now_ms();
  auto res = r.routers["n3"]->queue_action(QueueAction::hold, ids({"Q1"}));
  EXPECT_TRUE(res.ok);
  EXPECT_EQ(res.count, 0u);
  ASSERT_EQ(res.pending.size(), 1u);
  EXPECT_EQ(res.pending[0].node, "n1");
  EXPECT_TRUE(res.pending[0].alive);
  EXPECT_GE(r.clock.now_ms() - t0, 3'000);  // waited the bound, no more
  EXPECT_LE(r.clock.now_ms() - t0, 3'100);
  EXPECT_NE(r.routers["n3"]->pending_note(res).find("node n1"), std::string::npos);
  EXPECT_FALSE(r.queues["n1"].msgs["Q1"].held);
  // n1 gets to it: the command was kept and runs now.
  EXPECT_EQ(r.routers["n1"]->run_pending(), 1u);
  EXPECT_TRUE(r.queues["n1"].msgs["Q1"].held);
  EXPECT_EQ(r.commands.get(res.pending[0].command).value()->state, "done");
  EXPECT_EQ(r.routers["n1"]->run_pending(), 0u);  // once
}

TEST(QueueRouter, ARestartingHolderRunsNothingUntilItsQueueIsLoaded) {
  Region r({"n1", "n3"});
  r.put("n1", "Q1", 7);
  r.loading.insert("n1");
  auto res = r.routers["n3"]->queue_action(QueueAction::hold, ids({"Q1"}));
  ASSERT_EQ(res.pending.size(), 1u);
  EXPECT_TRUE(r.queues["n1"].actions.empty());  // not run against a queue not read yet
  EXPECT_EQ(r.commands.get(res.pending[0].command).value()->state, "pending");
  r.loading.clear();
  EXPECT_EQ(r.routers["n1"]->run_pending(), 1u);
  EXPECT_TRUE(r.queues["n1"].msgs["Q1"].held);
}

TEST(QueueRouter, ADownHolderIsNotWaitedForAndItsCommandExpires) {
  Region r({"n1", "n3"});
  r.put("n1", "Q1", 7);
  r.alive.erase("n1");
  r.answering.erase("n1");
  auto res = r.routers["n3"]->queue_action(QueueAction::hold, ids({"Q1"}));
  EXPECT_EQ(r.sleeps, 0);
  ASSERT_EQ(res.pending.size(), 1u);
  EXPECT_FALSE(res.pending[0].alive);
  EXPECT_NE(r.routers["n3"]->pending_note(res).find("down"), std::string::npos);
  // It comes back after the expiry: the hold is dropped, not applied late.
  r.clock.advance_ms(900'001);
  EXPECT_EQ(r.routers["n1"]->run_pending(), 0u);
  EXPECT_FALSE(r.queues["n1"].msgs["Q1"].held);
  EXPECT_TRUE(r.queues["n1"].actions.empty());
  EXPECT_EQ(r.commands.get(res.pending[0].command).value()->state, "expired");
}

TEST(QueueRouter, ADestinationOrAccountReachesEveryLiveNode) {
  Region r({"n1", "n2", "n3"});
  r.put("n1", "A", 7);
  r.put("n2", "B", 8);
  r.put("n3", "C", 7);
  QueueSelector acct;
  acct.account_id = 7;
  auto res = r.routers["n2"]->queue_action(QueueAction::hold, acct);
  EXPECT_EQ(res.count, 2u);
  EXPECT_TRUE(r.queues["n1"].msgs["A"].held);
  EXPECT_TRUE(r.queues["n3"].msgs["C"].held);
  EXPECT_FALSE(r.queues["n2"].msgs["B"].held);
  QueueSelector dest;
  dest.destination = "mx:example.com";
  res = r.routers["n1"]->queue_action(QueueAction::retry, dest);
  EXPECT_EQ(res.count, 3u);
  for (const auto* n : {"n1", "n2", "n3"}) {
    ASSERT_FALSE(r.queues[n].actions.empty()) << n;
    EXPECT_EQ(r.queues[n].actions.back().second.destination, "mx:example.com") << n;
  }
}

TEST(QueueRouter, AScopedCommandReachesOnlyThatAccountsMessages) {
  Region r({"n1", "n3"});
  r.put("n1", "A1", 7);
  r.put("n1", "B1", 8);
  // Account 7 names account 8's message through n3: the log says it is 8's; nothing is sent.
  auto res = r.routers["n3"]->queue_action(QueueAction::remove, ids({"B1"}, 7));
  EXPECT_EQ(res.count, 0u);
  EXPECT_FALSE(r.commands.get(1).value().has_value());
  EXPECT_EQ(r.queues["n1"].msgs.count("B1"), 1u);
  // Its own message goes through.
  res = r.routers["n3"]->queue_action(QueueAction::hold, ids({"A1"}, 7));
  EXPECT_EQ(res.count, 1u);
  EXPECT_TRUE(r.queues["n1"].msgs["A1"].held);
  // A command row naming another account's message (a log that lags, a forged row): the
  // holder checks its own queue and changes nothing.
  store::NodeCommand forged;
  forged.node_id = "n1";
  forged.command = "delete";
  forged.args = R"({"ids":["B1"],"account":7})";
  forged.created_ms = r.clock.now_ms();
  const int64_t id = r.commands.enqueue(forged).value();
  EXPECT_EQ(r.routers["n1"]->run_pending(), 1u);
  EXPECT_EQ(r.queues["n1"].msgs.count("B1"), 1u);
  auto row = r.commands.get(id).value();
  EXPECT_EQ(row->state, "done");
  EXPECT_EQ(row->result, R"({"count":0})");
}

TEST(QueueRouter, MalformedCommandsFailAndAHoldersErrorIsReported) {
  Region r({"n1", "n3"});
  r.put("n1", "Q1", 7);
  for (const char* args :
       {"", "[]", R"({"ids":"Q1"})", R"({"ids":[]})", R"({})", R"({"account":"7"})"}) {
    store::NodeCommand c;
    c.node_id = "n1";
    c.command = "hold";
    c.args = args;
    c.created_ms = r.clock.now_ms();
    const int64_t id = r.commands.enqueue(c).value();
    r.routers["n1"]->run_pending();
    EXPECT_EQ(r.commands.get(id).value()->state, "failed") << args;
  }
  store::NodeCommand c;
  c.node_id = "n1";
  c.command = "explode";
  c.args = R"({"ids":["Q1"]})";
  c.created_ms = r.clock.now_ms();
  const int64_t bad = r.commands.enqueue(c).value();
  r.routers["n1"]->run_pending();
  EXPECT_EQ(r.commands.get(bad).value()->state, "failed");
  EXPECT_TRUE(r.queues["n1"].actions.empty());
  r.queues["n1"].fail = true;
  auto res = r.routers["n3"]->queue_action(QueueAction::hold, ids({"Q1"}));
  EXPECT_FALSE(res.ok);
  EXPECT_EQ(res.message, "node n1: the spool is full");
  EXPECT_TRUE(res.pending.empty());
}

TEST(QueueRouter, TheControlSocketsSingleIdCommand) {
  Region r({"n1", "n3"});
  r.put("n1", "Q1", 7);
  r.put("n3", "Q3", 7);
  int local_calls = 0;
  auto local = [&] {
    ++local_calls;
    return delivery::ControlReply{true, 1, "", ""};
  };
  // Held here, unknown, or --all (""): the engine's own command.
  EXPECT_EQ(r.routers["n3"]->control("hold", "Q3", local).count, 1u);
  EXPECT_EQ(r.routers["n3"]->control("hold", "NOPE", local).count, 1u);
  EXPECT_EQ(r.routers["n3"]->control("hold", "", local).count, 1u);
  EXPECT_EQ(local_calls, 3);
  // Held on n1: routed.
  auto rep = r.routers["n3"]->control("hold", "Q1", local);
  EXPECT_EQ(local_calls, 3);
  EXPECT_TRUE(rep.ok);
  EXPECT_EQ(rep.count, 1u);
  EXPECT_TRUE(rep.note.empty());
  EXPECT_TRUE(r.queues["n1"].msgs["Q1"].held);
  // n1 silent: ok with a note saying so.
  r.answering.erase("n1");
  rep = r.routers["n3"]->control("release", "Q1", local);
  EXPECT_TRUE(rep.ok);
  EXPECT_EQ(rep.count, 0u);
  EXPECT_NE(rep.note.find("node n1"), std::string::npos) << rep.note;
  EXPECT_TRUE(r.queues["n1"].msgs["Q1"].held);
}

}  // namespace
}  // namespace tern::app
