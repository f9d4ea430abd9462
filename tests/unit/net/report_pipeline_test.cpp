// net::ReportPipeline over a real SQLite store in a temporary directory: an accepted message
// becomes message log rows and "accepted" events; delivery events update the status and put
// report items in the outbox (only where a report is due) and poke the sender; a recovered
// message already logged is not logged twice; events of unknown messages (bounce notices) are
// ignored; account defaults supply the notify URL.
#include "net/report_pipeline.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "store/backend.hpp"
#include "store/message_log.hpp"
#include "store/outbox.hpp"
#include "store/store.hpp"

namespace tern::net {
namespace {

class ReportPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tern-rp-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    const std::string db = (dir_ / "tern.db").string();
    backend_ = std::move(store::open_backend("sqlite:" + db)).value();
    store_ = backend_.store.get();
    acct_ = store_->accounts.create("acme").value().account.id;
    log_ = backend_.messages.get();
    outbox_ = backend_.outbox.get();
    ReportPipelineServices svc{store_, log_, outbox_, [this] { ++pokes_; }, 20};
    rp_ = std::make_unique<ReportPipeline>(svc);
  }
  void TearDown() override {
    rp_.reset();
    std::filesystem::remove_all(dir_);
  }
  queue::QueuedMessage message(const std::string& id, const std::string& opts) {
    queue::QueuedMessage m;
    m.id = id;
    m.account_id = acct_;
    m.sender = "s@example.com";
    m.received_ms = 1795341600000;
    m.options_json = opts;
    for (const char* a : {"a@example.org", "b@example.org"}) {
      queue::Recipient r;
      r.address = a;
      m.recipients.push_back(r);
    }
    return m;
  }
  store::DeliveryEvent ev(const std::string& q, const std::string& rcpt, const std::string& name) {
    store::DeliveryEvent e;
    e.time_ms = 1795341601000;
    e.queue_id = q;
    e.account_id = acct_;
    e.recipient = rcpt;
    e.event = *core::parse_event_kind(name);
    e.attempt = 1;
    e.code = name == "delivered" ? 250 : name == "deferred" ? 451 : 550;
    e.enhanced = name == "delivered" ? "2.0.0" : name == "deferred" ? "4.0.0" : "5.1.1";
    e.reply = "reply";
    return e;
  }
  std::vector<store::OutboxItem> items(const std::string& mid) {
    return outbox_->for_message(mid).value();
  }

  std::filesystem::path dir_;
  store::Backend backend_;
  store::Store* store_ = nullptr;
  store::MessageLog* log_ = nullptr;
  store::Outbox* outbox_ = nullptr;
  std::unique_ptr<ReportPipeline> rp_;
  std::atomic<int> pokes_{0};
  int64_t acct_ = 0;
};

TEST_F(ReportPipelineTest, AcceptedThenDeliveredAndBounced) {
  rp_->accepted(message("Q1", R"({"notifyUrl":"http://h.example/r","callbackData":"cb"})"));
  rp_->events({ev("Q1", "a@example.org", "delivered"), ev("Q1", "b@example.org", "deferred")});
  rp_->flush();
  auto rows = log_->for_queue("Q1").value();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].status, core::MessageStatus::delivered);
  EXPECT_EQ(rows[1].status, core::MessageStatus::deferred);
  auto evs = store_->events.for_queue("Q1").value();
  int accepted = 0;
  for (auto& e : evs) accepted += e.event == core::EventKind::accepted;
  EXPECT_EQ(accepted, 2);
  auto a = items("Q1.0");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].url, "http://h.example/r");
  EXPECT_EQ(a[0].kind, store::OutboxKind::report);
  auto j = nlohmann::json::parse(a[0].item);
  EXPECT_EQ(j["status"]["groupId"], 3);
  EXPECT_EQ(j["callbackData"], "cb");
  EXPECT_TRUE(items("Q1.1").empty());  // no intermediate reports asked
  EXPECT_GE(pokes_.load(), 1);
  rp_->events({ev("Q1", "b@example.org", "bounced")});
  rp_->flush();
  EXPECT_EQ(log_->find("Q1.1").value()->status, core::MessageStatus::bounced);
  ASSERT_EQ(items("Q1.1").size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(items("Q1.1")[0].item)["status"]["groupId"], 2);
  EXPECT_EQ(rp_->counters().reports, 2u);
  EXPECT_EQ(rp_->counters().messages, 1u);
}

// A stored message whose notify URL no way in would accept now (longer than the outbox takes)
// loses its own report, logged and counted, and never the reports written with it.
TEST_F(ReportPipelineTest, AnUnsendableReportIsLeftOutAloneNotWithItsBatch) {
  const std::string too_long = "http://h.example/" + std::string(store::kMaxOutboxUrl, 'x');
  rp_->accepted(message("QL", R"({"notifyUrl":")" + too_long + R"("})"));
  rp_->accepted(message("QG", R"({"notifyUrl":"http://h.example/r"})"));
  rp_->flush();
  const uint64_t errors = rp_->counters().errors;
  rp_->events({ev("QL", "a@example.org", "delivered"), ev("QG", "a@example.org", "delivered")});
  rp_->flush();
  EXPECT_TRUE(items("QL.0").empty());
  ASSERT_EQ(items("QG.0").size(), 1u);
  EXPECT_EQ(items("QG.0")[0].url, "http://h.example/r");
  EXPECT_EQ(rp_->counters().errors, errors + 1);
  EXPECT_EQ(log_->find("QL.0").value()->status, core::MessageStatus::delivered);
}

TEST_F(ReportPipelineTest, IntermediateReportsAndAccountDefault) {
  ASSERT_TRUE(
      store_->settings
          .set(acct_, {{"notify_url", "https://acct.example/n"}, {"intermediate_report", "on"}})
          .ok());
  rp_->accepted(message("Q2", "{}"));
  rp_->events({ev("Q2", "a@example.org", "deferred")});
  rp_->flush();
  auto a = items("Q2.0");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].url, "https://acct.example/n");
  EXPECT_EQ(nlohmann::json::parse(a[0].item)["status"]["groupName"], "PENDING");
}

TEST_F(ReportPipelineTest, AChangedNotifyUrlIsUsedAtOnceWhenTheChangeIsAnnounced) {
  ASSERT_TRUE(store_->settings.set(acct_, {{"notify_url", "https://old.example/n"}}).ok());
  rp_->accepted(message("Q5", "{}"));
  rp_->events({ev("Q5", "a@example.org", "delivered")});
  rp_->flush();
  ASSERT_EQ(items("Q5.0").size(), 1u);
  EXPECT_EQ(items("Q5.0")[0].url, "https://old.example/n");  // now in the 30 s copy
  ASSERT_TRUE(store_->settings.set(acct_, {{"notify_url", "https://new.example/n"}}).ok());
  // Not announced: the copy is still used (this is what settings_changed is for).
  rp_->events({ev("Q5", "b@example.org", "delivered")});
  rp_->flush();
  ASSERT_EQ(items("Q5.1").size(), 1u);
  EXPECT_EQ(items("Q5.1")[0].url, "https://old.example/n");
  rp_->settings_changed(acct_);
  rp_->accepted(message("Q6", "{}"));
  rp_->events({ev("Q6", "a@example.org", "delivered")});
  rp_->flush();
  ASSERT_EQ(items("Q6.0").size(), 1u);
  EXPECT_EQ(items("Q6.0")[0].url, "https://new.example/n");
}

TEST_F(ReportPipelineTest, RecoveredIsLoggedOnceAndUnknownMessagesIgnored) {
  rp_->accepted(message("Q3", "{}"));
  rp_->flush();
  rp_->recovered(message("Q3", "{}"));
  rp_->recovered(message("Q4", "{}"));  // lost before its batch was written
  rp_->events({ev("NOTICE", "s@example.com", "delivered")});
  rp_->flush();
  int accepted = 0;
  const auto q3 = store_->events.for_queue("Q3").value();
  for (const auto& e : q3) accepted += e.event == core::EventKind::accepted;
  EXPECT_EQ(accepted, 2);
  EXPECT_EQ(log_->for_queue("Q4").value().size(), 2u);
  EXPECT_TRUE(log_->for_queue("NOTICE").value().empty());
  EXPECT_EQ(rp_->counters().reports, 0u);
}

TEST_F(ReportPipelineTest, StopHandlesWhatIsQueued) {
  rp_->accepted(message("Q5", R"({"notifyUrl":"http://h.example/r"})"));
  rp_->events({ev("Q5", "a@example.org", "delivered")});
  rp_->stop();
  EXPECT_EQ(items("Q5.0").size(), 1u);
  rp_->accepted(message("Q6", "{}"));  // after stop: dropped, no crash
  EXPECT_TRUE(log_->for_queue("Q6").value().empty());
}

}  // namespace
}  // namespace tern::net
