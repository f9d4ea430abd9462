// The report pipeline with its node-local journal (issue 12) over a real SQLite store whose
// message log and outbox can be made to answer "unavailable" (a database outage) or to commit
// and then report a lost connection (an unknown commit outcome): nothing the pipeline was
// handed is lost, and nothing is applied twice — the retries and the replays re-apply whole
// entries, and the idempotency keys keep the second copies out.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <thread>

#include "events/journal_entry.hpp"
#include "journal/journal.hpp"
#include "net/report_pipeline.hpp"
#include "queue/file_ops.hpp"
#include "store/backend.hpp"
#include "store/message_log.hpp"
#include "store/outbox.hpp"
#include "store/store.hpp"
#include "unit/net/forwarding_outbox.hpp"
#include "unit/store/test_dir.hpp"

namespace tern::net {
namespace {

// How a flaky piece answers its next writes.
struct Weather {
  std::atomic<bool> down{false};  // every write: unavailable, nothing written
  std::atomic<int> lose_ack{0};   // these many writes: done, then unavailable
  std::atomic<int> failures{0};   // answers given as unavailable
  core::Result<void> gate() {
    if (down) {
      ++failures;
      return core::Error::unavailable("database connection lost (test)");
    }
    return core::ok();
  }
  core::Result<void> after(core::Result<void> r) {
    if (r && lose_ack > 0) {
      --lose_ack;
      ++failures;
      return core::Error::unavailable("connection lost before COMMIT was acknowledged (test)");
    }
    return r;
  }
};

class FlakyLog final : public store::MessageLog {
 public:
  FlakyLog(store::MessageLog& in, Weather& w) : in_(in), w_(w) {}
  core::Result<void> record_accepted(const std::vector<store::MessageRecord>& r) override {
    if (auto g = w_.gate(); !g) return g;
    return w_.after(in_.record_accepted(r));
  }
  core::Result<void> update_status(const std::vector<StatusUpdate>& u) override {
    if (auto g = w_.gate(); !g) return g;
    return w_.after(in_.update_status(u));
  }
  core::Result<std::optional<store::MessageRecord>> find(const std::string& id) override {
    if (auto g = w_.gate(); !g) return g.error();
    return in_.find(id);
  }
  core::Result<std::vector<store::MessageRecord>> for_queue(const std::string& q) override {
    if (auto g = w_.gate(); !g) return g.error();
    return in_.for_queue(q);
  }
  core::Result<store::MessagePage> search(const store::MessageQuery& q) override {
    return in_.search(q);
  }

 private:
  store::MessageLog& in_;
  Weather& w_;
};

class FlakyOutbox final : public test::ForwardingOutbox {
 public:
  FlakyOutbox(store::Outbox& in, Weather& w) : ForwardingOutbox(in), w_(w) {}
  core::Result<void> enqueue(const std::vector<store::OutboxItem>& items, int64_t now) override {
    if (auto g = w_.gate(); !g) return g;
    return w_.after(in_.enqueue(items, now));
  }

 private:
  Weather& w_;
};

class ReportJournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_ = std::move(store::open_backend("sqlite:" + tmp_.file("tern.db"))).value();
    store_ = backend_.store.get();
    acct_ = store_->accounts.create("acme").value().account.id;
    log_ = std::make_unique<FlakyLog>(*backend_.messages, log_weather_);
    outbox_ = std::make_unique<FlakyOutbox>(*backend_.outbox, outbox_weather_);
  }
  void TearDown() override { rp_.reset(); }

  void start(std::shared_ptr<queue::FileOps> ops = nullptr) {
    ReportPipelineServices svc{store_, log_.get(), outbox_.get(), [] {}, 20};
    svc.journal_dir = tmp_.file("journal");
    svc.journal_ops = std::move(ops);
    svc.record_events = true;
    svc.node_id = "n1";
    rp_ = std::make_unique<ReportPipeline>(svc);
  }

  queue::QueuedMessage message(const std::string& id) {
    queue::QueuedMessage m;
    m.id = id;
    m.account_id = acct_;
    m.sender = "s@example.com";
    m.received_ms = 1795341600000;
    m.options_json = R"({"notifyUrl":"http://h.example/r"})";
    for (const char* a : {"a@example.org", "b@example.org"}) {
      queue::Recipient r;
      r.address = a;
      m.recipients.push_back(r);
    }
    return m;
  }
  store::DeliveryEvent ev(const std::string& q, const std::string& rcpt, core::EventKind k) {
    store::DeliveryEvent e;
    e.time_ms = 1795341601000;
    e.queue_id = q;
    e.account_id = acct_;
    e.recipient = rcpt;
    e.event = k;
    e.attempt = 1;
    e.code = k == core::EventKind::delivered ? 250 : 550;
    e.enhanced = k == core::EventKind::delivered ? "2.0.0" : "5.1.1";
    e.reply = "reply";
    return e;
  }
  // Every event of q as "recipient:event", in stored order.
  std::vector<std::string> events_of(const std::string& q) {
    std::vector<std::string> out;
    const auto all = store_->events.for_queue(q).value();
    for (const auto& e : all)
      out.push_back(e.recipient + ":" + std::string(core::to_string(e.event)));
    return out;
  }
  size_t items_of(const std::string& mid) { return backend_.outbox->for_message(mid)->size(); }
  // Every row q's entries can touch, with the fields a second apply would change (ids of
  // events and items, statuses and times, the suppression's fields), and the table sizes.
  std::string snapshot(const std::string& q) {
    std::string out;
    const auto msgs = backend_.messages->for_queue(q).value();
    for (const auto& r : msgs)
      out += fmt::format("msg {} {} {} {} {}\n", r.message_id, core::to_string(r.status),
                         r.created_ms, r.updated_ms, r.node_id);
    const auto evs = store_->events.for_queue(q).value();
    for (const auto& e : evs)
      out += fmt::format("ev {} {} {} {}\n", e.recipient, core::to_string(e.event), e.time_ms,
                         e.attempt);
    for (const char* i : {".0", ".1"}) {
      const auto items = backend_.outbox->for_message(q + i).value();
      for (const auto& it : items)
        out += fmt::format("item {} {} {} {}\n", it.id, it.message_id, it.created_ms, it.item);
    }
    const auto sups = store_->suppressions.list(acct_).value();
    for (const auto& s : sups)
      out += fmt::format("sup {} {} {} {}\n", s.address, s.reason, s.queue_id, s.created_ms);
    out += fmt::format("backlog {}\n", backend_.outbox->backlog().value());
    return out;
  }
  // The three entries of hand_over(q), with fixed keys (as a journal would hold them).
  std::vector<std::string> entries_of(const std::string& q) {
    events::JournalEntry acc{"0123456789abcdef0123456789abcdef",
                             events::JournalAccepted{message(q), false}};
    events::JournalEntry evs{
        "fedcba9876543210fedcba9876543210",
        events::JournalEvents{{ev(q, "a@example.org", core::EventKind::delivered),
                               ev(q, "b@example.org", core::EventKind::bounced)}}};
    events::JournalEntry sup{
        "00000000000000001111111111111111",
        events::JournalSuppression{
            {acct_, "b@example.org", "550 5.1.1 no such user", q, 1795341601000}}};
    return {events::encode_entry(acc), events::encode_entry(evs), events::encode_entry(sup)};
  }
  // Appends payloads to the journal by hand, while no pipeline has it open.
  void journal_by_hand(const std::vector<std::string>& payloads) {
    std::vector<journal::Replayed> ignored;
    auto j = journal::Journal::open(tmp_.file("journal"), {}, &ignored).value();
    ASSERT_TRUE(j->append(payloads).ok());
  }
  // Whether a file in the journal directory holds bytes.
  bool journal_dir_holds(const std::string& bytes) {
    for (const auto& e : std::filesystem::directory_iterator(tmp_.file("journal"))) {
      std::ifstream in(e.path(), std::ios::binary);
      const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (all.find(bytes) != std::string::npos) return true;
    }
    return false;
  }
  size_t journal_files() {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(tmp_.file("journal")))
      n += e.path().extension() == ".log";
    return n;
  }
  // One message, its two outcomes and a suppression: what one test round hands the pipeline.
  void hand_over(const std::string& q) {
    rp_->accepted(message(q));
    rp_->events({ev(q, "a@example.org", core::EventKind::delivered),
                 ev(q, "b@example.org", core::EventKind::bounced)});
    rp_->suppressed({acct_, "b@example.org", "550 5.1.1 no such user", q, 1795341601000});
  }
  void expect_applied_once(const std::string& q) {
    auto rows = backend_.messages->for_queue(q).value();
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].status, core::MessageStatus::delivered);
    EXPECT_EQ(rows[1].status, core::MessageStatus::bounced);
    EXPECT_EQ(rows[0].node_id, "n1");
    EXPECT_EQ(events_of(q),
              (std::vector<std::string>{"a@example.org:accepted", "b@example.org:accepted",
                                        "a@example.org:delivered", "b@example.org:bounced"}));
    EXPECT_EQ(items_of(q + ".0"), 1u);
    EXPECT_EQ(items_of(q + ".1"), 1u);
    EXPECT_TRUE(store_->suppressions.listed(acct_, {"b@example.org"})->size() == 1);
  }

  test::TempDir tmp_;
  store::Backend backend_;
  store::Store* store_ = nullptr;
  Weather log_weather_, outbox_weather_;
  std::unique_ptr<FlakyLog> log_;
  std::unique_ptr<FlakyOutbox> outbox_;
  std::unique_ptr<ReportPipeline> rp_;
  int64_t acct_ = 0;
};

TEST_F(ReportJournalTest, WritesWaitWhileTheStoreIsAwayAndAreAppliedOnceWhenItReturns) {
  start();
  log_weather_.down = true;
  outbox_weather_.down = true;
  hand_over("Q1");
  // The positive marker of "nothing applied yet": the applier has met the outage (and
  // waited) at least twice, and the message log still has no row.
  for (int i = 0; i < 400 && log_weather_.failures < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_GE(log_weather_.failures.load(), 2);
  EXPECT_TRUE(backend_.messages->for_queue("Q1")->empty());
  EXPECT_GE(rp_->counters().pending, 1u);
  EXPECT_GE(rp_->counters().retries, 1u);
  log_weather_.down = false;
  outbox_weather_.down = false;
  rp_->flush();
  expect_applied_once("Q1");
  EXPECT_EQ(rp_->counters().errors, 0u);
  EXPECT_EQ(rp_->counters().pending, 0u);
}

TEST_F(ReportJournalTest, ABoundedFlushDoesNotWaitForTheDatabase) {
  // The delivery pool paces its recovery with flush_for: while the store is away it must get
  // its thread back (else the pool, and a shutdown joining it, would wait for the database).
  start();
  log_weather_.down = true;
  outbox_weather_.down = true;
  hand_over("Q9");
  EXPECT_FALSE(rp_->flush_for(std::chrono::milliseconds(300)));
  EXPECT_TRUE(backend_.messages->for_queue("Q9")->empty());
  log_weather_.down = false;
  outbox_weather_.down = false;
  EXPECT_TRUE(rp_->flush_for(std::chrono::seconds(60)));  // the abandoned marker is harmless
  expect_applied_once("Q9");
}

TEST_F(ReportJournalTest, ALostCommitAcknowledgementIsRetriedWithoutASecondCopy) {
  start();
  // The outbox write commits, then the connection drops: the whole group is applied again
  // (rows, events, statuses, items): the keys keep every second copy out.
  outbox_weather_.lose_ack = 1;
  hand_over("Q2");
  rp_->flush();
  EXPECT_EQ(outbox_weather_.failures.load(), 1);
  expect_applied_once("Q2");
}

TEST_F(ReportJournalTest, WhatWasNotAppliedBeforeAStopIsReplayedAtTheNextStart) {
  start();
  log_weather_.down = true;
  hand_over("Q3");
  rp_->stop();  // gives up after a few tries: the entries stay in the journal
  EXPECT_TRUE(backend_.messages->for_queue("Q3")->empty());
  rp_.reset();
  log_weather_.down = false;
  start();
  EXPECT_EQ(rp_->counters().replayed, 3u);
  rp_->flush();
  expect_applied_once("Q3");
  // Applied and marked: a third start replays nothing.
  rp_.reset();
  start();
  EXPECT_EQ(rp_->counters().replayed, 0u);
  rp_->flush();
  expect_applied_once("Q3");
}

// A crash between applying entries and marking them: the same entries (same keys) come back,
// here twice. The replay must change nothing: every row they touch (event and item ids,
// statuses, times, the suppression) and the table sizes are compared before and after, so a
// second event, item or status move would show.
TEST_F(ReportJournalTest, ReplayingEntriesAlreadyAppliedChangesNothing) {
  const auto payloads = entries_of("Q5");
  journal_by_hand(payloads);
  start();
  EXPECT_EQ(rp_->counters().replayed, 3u);
  rp_->flush();
  expect_applied_once("Q5");
  const std::string before = snapshot("Q5");
  rp_.reset();
  journal_by_hand(payloads);  // applied, then found again after a crash
  journal_by_hand(payloads);
  start();
  EXPECT_EQ(rp_->counters().replayed, 6u);
  rp_->flush();
  EXPECT_EQ(rp_->counters().pending, 0u);
  EXPECT_EQ(snapshot("Q5"), before);
  expect_applied_once("Q5");
}

// The file seam of the journal: appends refused with ENOSPC while full is set.
class FullDisk : public queue::FileOps {
 public:
  ssize_t pwritev(int fd, const struct iovec* iov, int n, off_t off) override {
    if (full) {
      ++refused;
      errno = ENOSPC;
      return -1;
    }
    return queue::FileOps::pwritev(fd, iov, n, off);
  }
  std::atomic<bool> full{false};
  std::atomic<int> refused{0};
};

// The review's case: an entry whose append failed used to be applied from memory and never
// journaled, so a restart while the database was away lost it. Now it waits in memory,
// unapplied, is appended again once the disk has room, and a restart replays it.
TEST_F(ReportJournalTest, AnAppendRefusedByAFullDiskIsRetriedAndSurvivesARestart) {
  auto disk = std::make_shared<FullDisk>();
  disk->full = true;
  log_weather_.down = true;
  outbox_weather_.down = true;
  start(disk);
  hand_over("Q8");
  // Positive marker: the append was tried again after failing.
  for (int i = 0; i < 1000 && disk->refused < 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_GE(disk->refused.load(), 3);
  // Nothing was handed to the store before it was durable.
  EXPECT_EQ(log_weather_.failures.load(), 0);
  disk->full = false;
  // The applier meets the outage only once the entries are journaled.
  for (int i = 0; i < 1000 && log_weather_.failures < 1; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_GE(log_weather_.failures.load(), 1);
  EXPECT_GE(rp_->counters().journal_errors, 3u);
  EXPECT_EQ(rp_->counters().unjournaled, 0u);
  // A restart with the database still away: everything is in the journal.
  rp_.reset();
  start();
  EXPECT_EQ(rp_->counters().replayed, 3u);
  log_weather_.down = false;
  outbox_weather_.down = false;
  rp_->flush();
  expect_applied_once("Q8");
}

// The review's case: a tagged entry this binary cannot decode (a newer binary wrote it) used to
// be passed over and trimmed with the rest. It is kept as <seq>.undecodable, counted, and the
// entries around it are applied.
TEST_F(ReportJournalTest, AnUndecodableEntryIsSetAsideNotThrownAway) {
  const std::string future =
      R"({"k":"0123456789abcdef0123456789abcdef","t":"from-a-newer-binary","x":1})";
  auto payloads = entries_of("Q10");
  payloads.insert(payloads.begin() + 1, future);
  journal_by_hand(payloads);
  start();
  rp_->flush();
  expect_applied_once("Q10");
  EXPECT_EQ(rp_->counters().undecodable, 1u);
  EXPECT_TRUE(std::filesystem::exists(tmp_.file("journal") + "/00000000000000000002.undecodable"));
  rp_.reset();
  EXPECT_TRUE(journal_dir_holds(future));
  start();  // set aside: the journal moved past it
  EXPECT_EQ(rp_->counters().replayed, 0u);
  EXPECT_TRUE(journal_dir_holds(future));
}

// The directory sync refused while fail is set (setting an entry aside needs it).
class NoDirSync : public queue::FileOps {
 public:
  int fsync(int fd) override {
    if (fail) {
      errno = EIO;
      return -1;
    }
    return queue::FileOps::fsync(fd);
  }
  std::atomic<bool> fail{false};
};

TEST_F(ReportJournalTest, AnUndecodableEntryThatCannotBeSetAsideStaysInTheJournal) {
  const std::string future =
      R"({"k":"0123456789abcdef0123456789abcdef","t":"from-a-newer-binary","x":2})";
  auto payloads = entries_of("Q11");
  payloads.insert(payloads.begin() + 1, future);
  journal_by_hand(payloads);
  auto ops = std::make_shared<NoDirSync>();
  ops->fail = true;
  start(ops);
  ops->fail = false;
  rp_->flush();
  expect_applied_once("Q11");
  EXPECT_EQ(rp_->counters().undecodable, 1u);
  hand_over("Q12");  // later entries are applied, the journal still holds the unread one
  rp_->flush();
  expect_applied_once("Q12");
  rp_.reset();
  start();
  EXPECT_EQ(rp_->counters().undecodable, 1u);  // found again: now set aside
  EXPECT_GE(rp_->counters().replayed, 3u);
  rp_->flush();
  expect_applied_once("Q11");
  expect_applied_once("Q12");
  EXPECT_TRUE(journal_dir_holds(future));
}

// After a crash, a message can come back twice: in a journal entry not yet applied and from
// the spool (recovered) while the log does not know it yet. It is logged once.
TEST_F(ReportJournalTest, AMessageInTheJournalAndRecoveredFromTheSpoolIsLoggedOnce) {
  {
    std::vector<journal::Replayed> none;
    auto j = journal::Journal::open(tmp_.file("journal"), {}, &none).value();
    events::JournalEntry acc{events::new_entry_key(),
                             events::JournalAccepted{message("Q6"), false}};
    ASSERT_TRUE(j->append({events::encode_entry(acc)}).ok());
  }
  start();
  rp_->recovered(message("Q6"));
  rp_->flush();
  EXPECT_EQ(events_of("Q6"),
            (std::vector<std::string>{"a@example.org:accepted", "b@example.org:accepted"}));
  EXPECT_EQ(backend_.messages->for_queue("Q6")->size(), 2u);
}

// Rows made elsewhere (a tracking event and its item, webhook attempt events) are written as
// they are, once, also when the outbox's commit acknowledgement is lost.
TEST_F(ReportJournalTest, RowsMadeElsewhereAreWrittenOnce) {
  start();
  rp_->accepted(message("Q7"));
  auto open = ev("Q7", "a@example.org", core::EventKind::opened);
  store::OutboxItem item;
  item.account_id = acct_;
  item.kind = store::OutboxKind::tracking;
  item.url = "http://h.example/t";
  item.content_type = "application/json";
  item.message_id = "Q7.0";
  item.queue_id = "Q7";
  item.recipient = "a@example.org";
  item.item = R"({"type":"OPENED"})";
  outbox_weather_.lose_ack = 1;
  rp_->rows({open}, {item});
  rp_->rows({ev("Q7", "a@example.org", core::EventKind::webhook)}, {});
  rp_->flush();
  EXPECT_EQ(outbox_weather_.failures.load(), 1);
  EXPECT_EQ(events_of("Q7"),
            (std::vector<std::string>{"a@example.org:accepted", "b@example.org:accepted",
                                      "a@example.org:opened", "a@example.org:webhook"}));
  auto items = backend_.outbox->for_message("Q7.0").value();
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].kind, store::OutboxKind::tracking);
  EXPECT_EQ(items[0].item, R"({"type":"OPENED"})");
}

TEST_F(ReportJournalTest, AppliedSegmentsAreTrimmed) {
  start();
  for (int i = 0; i < 20; ++i) hand_over("T" + std::to_string(i));
  rp_->flush();
  for (int i = 0; i < 20; ++i) expect_applied_once("T" + std::to_string(i));
  EXPECT_LE(journal_files(), 1u);  // only the segment being appended to
  rp_.reset();
  start();
  EXPECT_EQ(rp_->counters().replayed, 0u);
}

TEST(JournalEntry, RoundTripAndRefusals) {
  queue::QueuedMessage m;
  m.id = "Qx";
  m.account_id = 7;
  m.prepend = "DKIM-Signature: dropped\r\n";
  queue::Recipient r;
  r.address = "r@example.org";
  m.recipients.push_back(r);
  events::JournalEntry a{events::new_entry_key(), events::JournalAccepted{m, true}};
  auto back = events::decode_entry(events::encode_entry(a)).value();
  EXPECT_EQ(back.key, a.key);
  const auto& ba = std::get<events::JournalAccepted>(back.body);
  EXPECT_TRUE(ba.recovered);
  EXPECT_EQ(ba.m.id, "Qx");
  EXPECT_EQ(ba.m.prepend, "");
  store::DeliveryEvent e;
  e.queue_id = "Qx";
  e.time_ms = 5;
  e.event = core::EventKind::deferred;
  e.phase = core::Phase::rcpt;
  e.code = 451;
  e.sending_ip = "192.0.2.1";
  e.first_attempt_ms = 4;
  events::JournalEntry b{events::new_entry_key(), events::JournalEvents{{e}}};
  auto bb = std::get<events::JournalEvents>(events::decode_entry(events::encode_entry(b))->body);
  ASSERT_EQ(bb.events.size(), 1u);
  EXPECT_EQ(bb.events[0].phase, core::Phase::rcpt);
  EXPECT_EQ(bb.events[0].sending_ip, "192.0.2.1");
  EXPECT_EQ(bb.events[0].first_attempt_ms, 4);
  EXPECT_NE(a.key, b.key);
  store::OutboxItem it;
  it.account_id = 3;
  it.kind = store::OutboxKind::tracking;
  it.url = "https://t.example/";
  it.item = "{}";
  it.created_ms = 9;
  events::JournalEntry c{events::new_entry_key(), events::JournalRows{{e}, {it}}};
  auto bc = std::get<events::JournalRows>(events::decode_entry(events::encode_entry(c))->body);
  ASSERT_EQ(bc.items.size(), 1u);
  EXPECT_EQ(bc.items[0].kind, store::OutboxKind::tracking);
  EXPECT_EQ(bc.items[0].url, "https://t.example/");
  EXPECT_EQ(bc.items[0].created_ms, 9);
  EXPECT_EQ(bc.events.size(), 1u);
  for (const char* bad :
       {"", "[]", "{}", R"({"k":"short","t":"events","e":[]})",
        R"({"k":"0123456789abcdef0123456789abcdef","t":"what"})",
        R"({"k":"0123456789abcdef0123456789abcdef","t":"events","e":[{"e":"nope"}]})",
        R"({"k":"0123456789abcdef0123456789abcdef","t":"events","e":[{"e":"delivered","t":-1}]})",
        R"({"k":"0123456789abcdef0123456789abcdef","t":"suppression","s":{"a":"x"}})",
        R"({"k":"0123456789abcdef0123456789abcdef","t":"rows","e":[],"o":[{"k":"nope"}]})",
        R"({"k":"0123456789abcdef0123456789abcdef","t":"rows","e":{},"o":[]})"}) {
    auto r = events::decode_entry(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_TRUE(r.error().is(core::ErrorCode::corrupt)) << bad;
  }
}

}  // namespace
}  // namespace tern::net
