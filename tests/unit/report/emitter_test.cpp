// report::records_for / record_for_event / report_for: message log rows from an accepted message
// (ids, bulk id default, callback data, options kept), which events give a report (finals with a
// URL; deferred only with intermediate reports, message option over account default), where the
// URL and format come from, and the exact item (status group/id, error, echoed fields).
#include "report/emitter.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

using namespace tern;
using nlohmann::json;

namespace {

queue::QueuedMessage message(const std::string& options_json) {
  queue::QueuedMessage m;
  m.id = "QID1";
  m.account_id = 7;
  m.sender = "bounce@example.com";
  m.header_from = "Shop <shop@example.com>";
  m.subject = "Sale: 20 % off";
  m.received_ms = 1795341600000;
  m.options_json = options_json;
  for (const char* a : {"ann@Example.ORG", "bob@example.org"}) {
    queue::Recipient r;
    r.address = a;
    m.recipients.push_back(r);
  }
  return m;
}

store::DeliveryEvent event(const std::string& name, const std::string& rcpt) {
  store::DeliveryEvent e;
  e.time_ms = 1795341661234;
  e.queue_id = "QID1";
  e.account_id = 7;
  e.recipient = rcpt;
  e.event = *core::parse_event_kind(name);
  e.attempt = 2;
  if (name == "delivered") {
    e.code = 250;
    e.enhanced = "2.0.0";
    e.reply = "Ok queued";
  } else if (name == "deferred") {
    e.code = 451;
    e.enhanced = "4.7.1";
    e.reply = "try later";
  } else {
    e.code = 550;
    e.enhanced = "5.1.1";
    e.reply = "no such user";
  }
  e.mx_host = "mx.example.org";
  e.tls = true;
  return e;
}

const char* kOpts =
    R"({"bulkId":"B-42","notifyUrl":"https://hooks.example.net/r","callbackData":"cb-1",)"
    R"("intermediateReport":false})";

TEST(Emitter, RecordsPerRecipient) {
  auto recs = report::records_for(message(kOpts));
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].message_id, "QID1.0");
  EXPECT_EQ(recs[1].message_id, "QID1.1");
  EXPECT_EQ(recs[1].rcpt_index, 1);
  EXPECT_EQ(recs[0].queue_id, "QID1");
  EXPECT_EQ(recs[0].account_id, 7);
  EXPECT_EQ(recs[0].bulk_id, "B-42");
  EXPECT_EQ(recs[0].callback_data, "cb-1");
  EXPECT_EQ(recs[0].sender, "bounce@example.com");
  EXPECT_EQ(recs[0].recipient, "ann@Example.ORG");
  EXPECT_EQ(recs[0].header_from, "Shop <shop@example.com>");
  EXPECT_EQ(recs[0].subject, "Sale: 20 % off");  // issue 14.3: was always ""
  EXPECT_EQ(recs[1].subject, "Sale: 20 % off");
  EXPECT_EQ(recs[0].status, core::MessageStatus::accepted);
  EXPECT_EQ(recs[0].options_json, kOpts);
  EXPECT_EQ(recs[0].created_ms, 1795341600000);
  // Without X-IB-bulk-id the bulk id is the queue id (stable when the spool replays).
  auto plain = report::records_for(message("{}"));
  EXPECT_EQ(plain[0].bulk_id, "QID1");
  EXPECT_EQ(plain[1].bulk_id, "QID1");
  EXPECT_EQ(plain[0].callback_data, "");
  // Malformed options: defaults, never a crash.
  EXPECT_EQ(report::records_for(message("{not json"))[0].bulk_id, "QID1");
}

TEST(Emitter, RecordForEventMatchesRecipientDomainCaseInsensitively) {
  auto recs = report::records_for(message(kOpts));
  auto* r = report::record_for_event(recs, event("delivered", "ann@example.org"));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->message_id, "QID1.0");
  EXPECT_EQ(report::record_for_event(recs, event("delivered", "bob@EXAMPLE.org"))->message_id,
            "QID1.1");
  EXPECT_EQ(report::record_for_event(recs, event("delivered", "Ann@example.org")), nullptr);
  auto other = event("delivered", "bob@example.org");
  other.queue_id = "QID2";
  EXPECT_EQ(report::record_for_event(recs, other), nullptr);
}

TEST(Emitter, DeliveredItemHasExactFields) {
  auto recs = report::records_for(message(kOpts));
  auto item = report::report_for(event("delivered", "bob@example.org"), recs[1], {});
  ASSERT_TRUE(item.ok()) << item.error().message;
  ASSERT_TRUE(item->has_value());
  const store::OutboxItem& it = **item;
  EXPECT_EQ(it.kind, store::OutboxKind::report);
  EXPECT_EQ(it.account_id, 7);
  EXPECT_EQ(it.url, "https://hooks.example.net/r");
  EXPECT_EQ(it.content_type, "application/json");
  EXPECT_EQ(it.message_id, "QID1.1");
  EXPECT_EQ(it.queue_id, "QID1");
  EXPECT_EQ(it.recipient, "bob@example.org");
  json j = json::parse(it.item);
  EXPECT_EQ(j["bulkId"], "B-42");
  EXPECT_EQ(j["messageId"], "QID1.1");
  EXPECT_EQ(j["to"], "bob@example.org");
  EXPECT_EQ(j["sentAt"], "2026-11-22T10:00:00.000+0000");
  EXPECT_EQ(j["doneAt"], "2026-11-22T10:01:01.234+0000");
  EXPECT_EQ(j["status"]["groupId"], 3);
  EXPECT_EQ(j["status"]["groupName"], "DELIVERED");
  EXPECT_EQ(j["status"]["id"], 5);
  EXPECT_EQ(j["status"]["name"], "DELIVERED_TO_HANDSET");
  EXPECT_EQ(j["error"]["id"], 0);
  EXPECT_EQ(j["error"]["permanent"], false);
  EXPECT_EQ(j["callbackData"], "cb-1");
  EXPECT_EQ(j["channel"], "EMAIL");
  EXPECT_EQ(j["mxHost"], "mx.example.org");
  EXPECT_EQ(j["attempt"], 2);
}

TEST(Emitter, FinalEventsReportedWithTheirGroups) {
  auto recs = report::records_for(message(kOpts));
  struct Case {
    const char* ev;
    int group;
    int id;
    bool permanent;
  };
  for (auto c : {Case{"bounced", 2, 9, true}, Case{"expired", 4, 15, false},
                 Case{"rejected", 5, 14, true}}) {
    auto item = report::report_for(event(c.ev, "ann@example.org"), recs[0], {});
    ASSERT_TRUE(item.ok()) << c.ev;
    ASSERT_TRUE(item->has_value()) << c.ev;
    json j = json::parse((*item)->item);
    EXPECT_EQ(j["status"]["groupId"], c.group) << c.ev;
    EXPECT_EQ(j["status"]["id"], c.id) << c.ev;
    EXPECT_EQ(j["error"]["permanent"], c.permanent) << c.ev;
    EXPECT_NE(j["error"]["id"], 0) << c.ev;
    EXPECT_EQ(j["to"], "ann@Example.ORG");
  }
}

TEST(Emitter, PhaseOfTheOutcomeChoosesTheErrorClass) {
  // A bounce found in DNS (no such domain, no enhanced code of the remote) is "domain unknown";
  // the same words from a remote server at RCPT are a remote error.
  auto recs = report::records_for(message(kOpts));
  auto e = event("bounced", "ann@example.org");
  e.code = 0;
  e.enhanced = "";
  e.reply = "example.org: no such domain";
  e.mx_host = "";
  e.phase = core::Phase::dns;
  auto dns = report::report_for(e, recs[0], {});
  ASSERT_TRUE(dns.ok() && dns->has_value());
  EXPECT_EQ(json::parse((*dns)->item)["error"]["id"], 7002);
  e.code = 550;
  e.phase = core::Phase::rcpt;
  auto rcpt = report::report_for(e, recs[0], {});
  ASSERT_TRUE(rcpt.ok() && rcpt->has_value());
  EXPECT_EQ(json::parse((*rcpt)->item)["error"]["id"], 7009);
}

TEST(Emitter, NoReportForNonReportEventsOrWithoutUrl) {
  auto recs = report::records_for(message(kOpts));
  for (const char* ev : {"accepted", "opened", "clicked", "webhook", "deferred"}) {
    auto item = report::report_for(event(ev, "ann@example.org"), recs[0], {});
    ASSERT_TRUE(item.ok()) << ev;
    EXPECT_FALSE(item->has_value()) << ev;
  }
  auto none = report::records_for(message("{}"));
  auto item = report::report_for(event("delivered", "ann@example.org"), none[0], {});
  ASSERT_TRUE(item.ok());
  EXPECT_FALSE(item->has_value());
}

TEST(Emitter, AccountDefaultsFillWhatTheMessageDoesNotSay) {
  auto recs = report::records_for(message(R"({"callbackData":"x"})"));
  report::AccountReportDefaults acct;
  acct.notify_url = "http://acct.example.net/n";
  acct.report_format = store::ReportFormat::xml;
  acct.intermediate_report = true;
  auto item = report::report_for(event("delivered", "ann@example.org"), recs[0], acct);
  ASSERT_TRUE(item.ok() && item->has_value());
  EXPECT_EQ((*item)->url, "http://acct.example.net/n");
  EXPECT_EQ((*item)->content_type, "application/xml");
  // intermediateReport absent from the message: the account's default decides.
  auto pending = report::report_for(event("deferred", "ann@example.org"), recs[0], acct);
  ASSERT_TRUE(pending.ok() && pending->has_value());
  json j = json::parse((*pending)->item);
  EXPECT_EQ(j["status"]["groupId"], 1);
  EXPECT_EQ(j["status"]["groupName"], "PENDING");
  EXPECT_EQ(j["error"]["permanent"], false);
  EXPECT_NE(j["error"]["id"], 0);  // the temporary error is carried
  // The message's own URL, format and explicit intermediateReport=false win.
  auto own = report::records_for(
      message(R"({"notifyUrl":"https://m.example.net/","notifyContentType":"application/json",)"
              R"("intermediateReport":false})"));
  auto it2 = report::report_for(event("delivered", "ann@example.org"), own[0], acct);
  ASSERT_TRUE(it2.ok() && it2->has_value());
  EXPECT_EQ((*it2)->url, "https://m.example.net/");
  EXPECT_EQ((*it2)->content_type, "application/json");
  auto no_pending = report::report_for(event("deferred", "ann@example.org"), own[0], acct);
  ASSERT_TRUE(no_pending.ok());
  EXPECT_FALSE(no_pending->has_value());
  // Message asks for intermediate reports, account does not.
  auto asks = report::records_for(
      message(R"({"notifyUrl":"https://m.example.net/","notifyContentType":"application/xml",)"
              R"("intermediateReport":true})"));
  auto p2 = report::report_for(event("deferred", "ann@example.org"), asks[0], {});
  ASSERT_TRUE(p2.ok() && p2->has_value());
  EXPECT_EQ((*p2)->content_type, "application/xml");
}

TEST(Emitter, UnformattableTimeIsAnError) {
  auto recs = report::records_for(message(kOpts));
  auto e = event("delivered", "ann@example.org");
  e.time_ms = -5;
  EXPECT_FALSE(report::report_for(e, recs[0], {}).ok());
}

}  // namespace

// Issue 14: the engine's sending address and first-attempt time, and the operator's price, reach
// the report item in the vendor's fields.
TEST(Emitter, SendingIpFirstAttemptAndPriceReachTheItem) {
  auto recs = report::records_for(message(kOpts));
  auto e = event("delivered", "bob@example.org");
  e.sending_ip = "203.0.113.9";
  e.first_attempt_ms = 1795341600000 + 2500;  // 2.5 s after acceptance
  auto item = report::report_for(e, recs[1], {}, report::Price{0.25, "USD"});
  ASSERT_TRUE(item.ok() && item->has_value());
  json j = json::parse((*item)->item);
  EXPECT_EQ(j["sendingIp"], "203.0.113.9");
  EXPECT_EQ(j["timeToFirstAttempt"], 2500);
  EXPECT_EQ(j["attemptCount"], 2);
  EXPECT_EQ(j["smsCount"], 1);
  EXPECT_EQ(j["price"]["currency"], "USD");
  EXPECT_DOUBLE_EQ(j["price"]["pricePerMessage"].get<double>(), 0.25);
}
