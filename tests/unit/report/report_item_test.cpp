// One report result as a JSON item (what the webhook outbox stores): result_to_json_item is
// exactly one element of to_json's "results"; result_from_json(item) gives the same result
// back for every event (so JSON and XML bodies rendered at send time equal those rendered
// from the original); items without the extras are accepted; hostile or damaged items (not
// JSON, not an object, missing or mistyped fields, bad times, out-of-range numbers, invalid
// UTF-8, huge or deeply nested input) are refused with an error naming the problem.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "report/report.hpp"

using namespace tern::report;
using nlohmann::json;

namespace {

ReportResult sample(const std::string& event) {
  ReportInput in;
  in.bulk_id = "bulk-1";
  in.message_id = "Q1.0";
  in.to = "rcpt@example.org";
  in.sent_at_ms = 1795341600000;
  in.done_at_ms = 1795341661234;
  in.event = *tern::core::parse_event_kind(event);
  in.code = event == "delivered" ? 250 : 550;
  in.enhanced = event == "delivered" ? "2.0.0" : "5.1.1";
  in.reply = "text with \"quotes\" <and> & \xC3\xA9";
  in.mx_host = "mx.example.org";
  in.attempt = 3;
  in.tls = true;
  in.callback_data = "cb {\"x\":1}";
  auto r = make_result(in);
  EXPECT_TRUE(r.ok());
  return r.ok() ? r.value() : ReportResult{};
}

std::string item_without(const std::string& key) {
  json o = json::parse(result_to_json_item(sample("bounced")));
  o.erase(key);
  return o.dump();
}

std::string item_with(const std::string& key, json value) {
  json o = json::parse(result_to_json_item(sample("bounced")));
  o[key] = std::move(value);
  return o.dump();
}

std::string error_of(const std::string& item) {
  auto r = result_from_json(item);
  EXPECT_FALSE(r.ok()) << item;
  return r.ok() ? "" : r.error().message;
}

TEST(ReportItem, ItemIsOneElementOfTheJsonBody) {
  auto r = sample("delivered");
  json body = json::parse(to_json({r}));
  EXPECT_EQ(json::parse(result_to_json_item(r)), body["results"][0]);
}

TEST(ReportItem, RoundTripForEveryEventGivesIdenticalBodies) {
  for (const char* ev : {"delivered", "deferred", "bounced", "expired", "rejected"}) {
    auto r = sample(ev);
    auto back = result_from_json(result_to_json_item(r));
    ASSERT_TRUE(back.ok()) << ev << ": " << back.error().message;
    EXPECT_EQ(to_json({back.value()}), to_json({r})) << ev;
    EXPECT_EQ(to_xml({back.value()}), to_xml({r})) << ev;
    EXPECT_EQ(back->status.name, r.status.name);
    EXPECT_EQ(back->error.permanent, r.error.permanent);
    EXPECT_EQ(back->attempt, 3);
    EXPECT_TRUE(back->tls);
  }
}

TEST(ReportItem, ExtrasMayBeAbsent) {
  json o = json::parse(result_to_json_item(sample("expired")));
  for (const char* k : {"smtpReply", "mxHost", "attempt", "tls"}) o.erase(k);
  auto r = result_from_json(o.dump());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->smtp_reply, "");
  EXPECT_EQ(r->attempt, 0);
  EXPECT_FALSE(r->tls);
  EXPECT_EQ(r->status.group_name, "EXPIRED");
}

TEST(ReportItem, RefusesWhatToJsonCouldNotHaveWritten) {
  EXPECT_NE(error_of("").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of("{\"bulkId\":").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of("[1,2]").find("not a JSON object"), std::string::npos);
  EXPECT_NE(error_of("\"x\"").find("not a JSON object"), std::string::npos);
  EXPECT_NE(error_of(item_without("messageId")).find("messageId missing"), std::string::npos);
  EXPECT_NE(error_of(item_without("status")).find("status missing"), std::string::npos);
  EXPECT_NE(error_of(item_with("status", "DELIVERED")).find("status not an object"),
            std::string::npos);
  EXPECT_NE(error_of(item_with("to", 5)).find("to not a string"), std::string::npos);
  EXPECT_NE(error_of(item_with("messageCount", "1")).find("messageCount not an integer"),
            std::string::npos);
  EXPECT_NE(error_of(item_with("messageCount", 1.5)).find("messageCount not an integer"),
            std::string::npos);
  EXPECT_NE(error_of(item_with("messageCount", 1e12)).find("not an integer"), std::string::npos);
  EXPECT_NE(error_of(item_with("attempt", int64_t{1} << 40)).find("attempt out of range"),
            std::string::npos);
  EXPECT_NE(error_of(item_with("attempt", uint64_t{1} << 63)).find("attempt out of range"),
            std::string::npos);
  EXPECT_NE(error_of(item_with("attempt", int64_t{-1} << 40)).find("attempt out of range"),
            std::string::npos);
  EXPECT_NE(error_of(item_with("tls", "yes")).find("tls not a boolean"), std::string::npos);
  EXPECT_NE(error_of(item_with("sentAt", "yesterday")).find("sentAt not a report time"),
            std::string::npos);
  EXPECT_NE(error_of(item_with("doneAt", "2026-11-22T10:01:01.234Z")).find("doneAt"),
            std::string::npos);
  json o = json::parse(result_to_json_item(sample("bounced")));
  o["error"].erase("permanent");
  EXPECT_NE(error_of(o.dump()).find("error.permanent missing"), std::string::npos);
  o = json::parse(result_to_json_item(sample("bounced")));
  o["status"]["id"] = "5";
  EXPECT_NE(error_of(o.dump()).find("status.id not an integer"), std::string::npos);
}

TEST(ReportItem, RefusesInvalidUtf8HugeAndDeepInput) {
  std::string bad = item_with("to", "x");
  auto pos = bad.find("\"x\"");
  ASSERT_NE(pos, std::string::npos);
  bad.replace(pos + 1, 1, "\xC3\x28");  // invalid UTF-8 inside a string
  EXPECT_NE(error_of(bad).find("not valid JSON"), std::string::npos);

  std::string huge = item_with("callbackData", std::string((1 << 20) + 1, 'a'));
  EXPECT_NE(error_of(huge).find("1 MiB"), std::string::npos);

  std::string deep(200'000, '[');  // parsed without recursion, then refused as not an object
  deep += std::string(200'000, ']');
  EXPECT_NE(error_of(deep).find("not a JSON object"), std::string::npos);
}

}  // namespace

// Issue 14: items queued by a version without the vendor fields still render (smsCount from
// messageCount, no price), and the new fields survive a round trip.
TEST(ReportItem, OldItemsWithoutVendorFieldsStillRender) {
  json o = json::parse(result_to_json_item(sample("delivered")));
  for (const char* k : {"smsCount", "price", "sendingIp", "attemptCount", "timeToFirstAttempt"})
    o.erase(k);
  o["callbackData"] = "";  // what older versions wrote when none was given
  auto r = result_from_json(o.dump());
  ASSERT_TRUE(r.ok()) << r.error().message;
  json body = json::parse(to_json({r.value()}))["results"][0];
  EXPECT_EQ(body["smsCount"], 1);
  EXPECT_EQ(body["attemptCount"], 3);
  EXPECT_FALSE(body.contains("price"));
  EXPECT_FALSE(body.contains("callbackData"));
}

TEST(ReportItem, VendorFieldsRoundTrip) {
  auto r = sample("deferred");
  r.sending_ip = "198.51.100.7";
  r.time_to_first_attempt_ms = 123456;
  r.price = Price{0.5, "GBP"};
  auto back = result_from_json(result_to_json_item(r));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->sending_ip, "198.51.100.7");
  EXPECT_EQ(back->time_to_first_attempt_ms, 123456);
  ASSERT_TRUE(back->price.has_value());
  EXPECT_EQ(back->price->currency, "GBP");
  EXPECT_EQ(to_json({back.value()}), to_json({r}));
  EXPECT_EQ(to_xml({back.value()}), to_xml({r}));
  EXPECT_NE(error_of(item_with("price", "free")).find("price not an object"), std::string::npos);
  json o = json::parse(result_to_json_item(r));
  std::string huge = o.dump();
  huge.replace(huge.find("0.5"), 3, "1e400");  // no finite double: refused, never inf
  EXPECT_NE(error_of(huge), "");
  EXPECT_NE(error_of(item_with("timeToFirstAttempt", "1")).find("not an integer"),
            std::string::npos);
}
