// Delivery report results and bodies: the status/error table per event, vendor time format,
// refusal of unknown events and out-of-range times, JSON shape (parsed back with nlohmann),
// XML shape (parsed back with a strict little well-formedness checker here, and with Python's
// expat when /usr/bin/python3 exists), batching, and hostile remote text (<, &, quotes,
// control characters, invalid UTF-8) that must leave both bodies well formed.
#include "report/report.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

using namespace tern::report;
using nlohmann::json;

namespace {

constexpr int64_t kSent = 1795341600000;  // 2026-11-22T10:00:00.000Z
constexpr int64_t kDone = 1795341661234;  // 2026-11-22T10:01:01.234Z

ReportInput input(std::string event) {
  ReportInput in;
  in.bulk_id = "bulk-1";
  in.message_id = "msg-1";
  in.to = "rcpt@example.org";
  in.sent_at_ms = kSent;
  in.done_at_ms = kDone;
  // Names that are no event kind stay "delivered" here; UnknownEventRefused uses kinds.
  in.event = tern::core::parse_event_kind(event).value_or(tern::core::EventKind::delivered);
  in.callback_data = "cb";
  in.attempt = 2;
  in.mx_host = "mx.example.org";
  return in;
}

ReportResult result(ReportInput in) {
  auto r = make_result(in);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? r.value() : ReportResult{};
}

// Minimal strict XML 1.0 checker for what to_xml emits: an XML declaration, elements without
// attributes, text with only the five predefined entities and numeric character references,
// tags balanced. Returns "" when well formed, else what is wrong.
std::string xml_problem(const std::string& x) {
  const std::string decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";
  if (x.rfind(decl, 0) != 0) return "no declaration";
  std::vector<std::string> stack;
  size_t i = decl.size();
  bool root_seen = false;
  while (i < x.size()) {
    char c = x[i];
    if (c == '<') {
      size_t close = x.find('>', i);
      if (close == std::string::npos) return "unterminated tag";
      std::string tag = x.substr(i + 1, close - i - 1);
      if (tag.empty()) return "empty tag";
      if (tag[0] == '/') {
        if (stack.empty() || stack.back() != tag.substr(1)) return "mismatched </" + tag + ">";
        stack.pop_back();
      } else {
        for (char t : tag)
          if (!isalnum(static_cast<unsigned char>(t))) return "odd tag name " + tag;
        if (stack.empty() && root_seen) return "second root";
        root_seen = true;
        stack.push_back(tag);
      }
      i = close + 1;
    } else if (c == '&') {
      size_t semi = x.find(';', i);
      if (semi == std::string::npos) return "unterminated entity";
      std::string ent = x.substr(i + 1, semi - i - 1);
      if (ent != "lt" && ent != "gt" && ent != "amp" && ent != "quot" && ent != "apos" &&
          ent != "#xD")
        return "unknown entity " + ent;
      i = semi + 1;
    } else {
      auto u = static_cast<unsigned char>(c);
      if (u < 0x20 && c != '\t' && c != '\n') return "control character in text";
      if (c == '>' || c == '"' || c == '\'') return "unescaped special character";
      if (stack.empty()) return "text outside the root";
      ++i;
    }
  }
  if (!stack.empty()) return "unclosed " + stack.back();
  return "";
}

bool python_parses_xml(const std::string& x) {
  if (access("/usr/bin/python3", X_OK) != 0) return true;  // nothing to ask
  char path[] = "/tmp/tern_report_xml_XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return false;
  close(fd);
  { std::ofstream(path, std::ios::binary) << x; }
  std::string cmd = std::string(
                        "/usr/bin/python3 -c 'import sys,xml.dom.minidom as m; "
                        "m.parse(sys.argv[1])' ") +
                    path + " 2>/dev/null";
  int rc = std::system(cmd.c_str());
  unlink(path);
  return rc == 0;
}

}  // namespace

TEST(ReportTime, VendorFormat) {
  EXPECT_EQ(format_time(kSent).value(), "2026-11-22T10:00:00.000+0000");
  EXPECT_EQ(format_time(kDone).value(), "2026-11-22T10:01:01.234+0000");
  EXPECT_EQ(format_time(0).value(), "1970-01-01T00:00:00.000+0000");
  EXPECT_EQ(format_time(951782400007).value(), "2000-02-29T00:00:00.007+0000");  // leap day
  EXPECT_EQ(format_time(253402300799999).value(), "9999-12-31T23:59:59.999+0000");
}

TEST(ReportTime, OutOfRangeRefused) {
  EXPECT_FALSE(format_time(-1).ok());
  EXPECT_FALSE(format_time(253402300800000).ok());
  EXPECT_FALSE(format_time(INT64_MAX).ok());
  auto in = input("delivered");
  in.done_at_ms = -5;
  auto r = make_result(in);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("out of range"), std::string::npos);
}

TEST(ReportStatus, EveryEventMapsToItsGroup) {
  struct Case {
    const char* event;
    int group;
    const char* group_name;
    int id;
    const char* name;
    bool perm;
  };
  const Case cases[] = {
      {"delivered", 3, "DELIVERED", 5, "DELIVERED_TO_HANDSET", false},
      {"deferred", 1, "PENDING", 3, "PENDING_WAITING_DELIVERY", false},
      {"bounced", 2, "UNDELIVERABLE", 9, "UNDELIVERABLE_NOT_DELIVERED", true},
      {"expired", 4, "EXPIRED", 15, "EXPIRED_EXPIRED", false},
      {"rejected", 5, "REJECTED", 14, "REJECTED_DESTINATION", true},
  };
  for (const Case& c : cases) {
    auto in = input(c.event);
    if (std::string(c.event) != "delivered") {
      in.code = 550;
      in.enhanced = "5.1.1";
    }
    ReportResult r = result(in);
    EXPECT_EQ(r.status.group_id, c.group) << c.event;
    EXPECT_EQ(r.status.group_name, c.group_name) << c.event;
    EXPECT_EQ(r.status.id, c.id) << c.event;
    EXPECT_EQ(r.status.name, c.name) << c.event;
    EXPECT_FALSE(r.status.description.empty());
    EXPECT_EQ(r.error.permanent, c.perm) << c.event;
  }
}

TEST(ReportStatus, EventsThatAreNoOutcomeAreRefused) {
  for (tern::core::EventKind k : {tern::core::EventKind::accepted, tern::core::EventKind::opened,
                                  tern::core::EventKind::clicked, tern::core::EventKind::webhook}) {
    auto in = input("delivered");
    in.event = k;
    auto r = make_result(in);
    ASSERT_FALSE(r.ok()) << tern::core::to_string(k);
    EXPECT_TRUE(r.error().is(tern::core::ErrorCode::invalid));
  }
}

TEST(ReportError, DeliveredIsNoError) {
  auto in = input("delivered");
  in.code = 250;
  in.enhanced = "2.0.0";
  in.reply = "Ok: queued as ABC";
  in.tls = true;
  ReportResult r = result(in);
  EXPECT_EQ(r.error.group_id, 0);
  EXPECT_EQ(r.error.group_name, "OK");
  EXPECT_EQ(r.error.id, 0);
  EXPECT_EQ(r.error.name, "NO_ERROR");
  EXPECT_FALSE(r.error.permanent);
  EXPECT_EQ(r.smtp_reply, "250 2.0.0 Ok: queued as ABC");
  EXPECT_TRUE(r.tls);
}

TEST(ReportError, ClassifiedByEnhancedStatus) {
  struct Case {
    const char* event;
    int code;
    const char* enh;
    const char* phase;
    int group;
    int id;
  };
  const Case cases[] = {
      {"bounced", 550, "5.1.1", "rcpt", 1, 7001},
      {"bounced", 550, "5.1.2", "rcpt", 1, 7002},
      {"bounced", 0, "5.1.2", "dns", 1, 7002},
      {"bounced", 0, "5.4.4", "dns", 1, 7002},  // dns phase without an address subject
      {"deferred", 452, "4.2.2", "rcpt", 1, 7003},
      {"bounced", 550, "5.2.1", "rcpt", 1, 7004},
      {"bounced", 552, "5.3.4", "data-end", 2, 7006},
      {"bounced", 554, "5.7.1", "data-end", 2, 7005},
      {"bounced", 554, "5.6.0", "data-end", 2, 7007},
      {"deferred", 0, "4.4.1", "connect", 3, 7008},
      {"deferred", 0, "", "connect", 3, 7008},
      {"deferred", 421, "4.3.2", "greeting", 3, 7009},
      {"bounced", 554, "", "data-end", 3, 7009},
      {"bounced", 554, "5.1.1junk", "rcpt", 3, 7009},  // not an enhanced status
      {"bounced", 554, "9.1.1", "rcpt", 3, 7009},      // no such class
  };
  for (const Case& c : cases) {
    ErrorInfo e = classify_error(*tern::core::parse_event_kind(c.event), c.code, c.enh,
                                 *tern::core::parse_phase(c.phase));
    EXPECT_EQ(e.group_id, c.group) << c.enh << " " << c.phase;
    EXPECT_EQ(e.id, c.id) << c.enh << " " << c.phase;
    EXPECT_FALSE(e.name.empty());
    EXPECT_FALSE(e.description.empty());
  }
  using tern::core::EventKind;
  using tern::core::Phase;
  EXPECT_TRUE(classify_error(EventKind::bounced, 550, "5.1.1", Phase::rcpt).permanent);
  EXPECT_FALSE(classify_error(EventKind::deferred, 450, "4.2.0", Phase::rcpt).permanent);
  EXPECT_FALSE(classify_error(EventKind::expired, 450, "4.2.0", Phase::rcpt).permanent);
}

TEST(ReportJson, ShapeAndValues) {
  auto in = input("bounced");
  in.code = 550;
  in.enhanced = "5.1.1";
  in.reply = "No such user";
  std::string body = to_json({result(in)});
  json j = json::parse(body);
  ASSERT_EQ(j["results"].size(), 1u);
  const json& r = j["results"][0];
  EXPECT_EQ(r["bulkId"], "bulk-1");
  EXPECT_EQ(r["messageId"], "msg-1");
  EXPECT_EQ(r["to"], "rcpt@example.org");
  EXPECT_EQ(r["sentAt"], "2026-11-22T10:00:00.000+0000");
  EXPECT_EQ(r["doneAt"], "2026-11-22T10:01:01.234+0000");
  EXPECT_EQ(r["messageCount"], 1);
  EXPECT_EQ(r["status"]["groupId"], 2);
  EXPECT_EQ(r["status"]["groupName"], "UNDELIVERABLE");
  EXPECT_EQ(r["status"]["id"], 9);
  EXPECT_EQ(r["status"]["name"], "UNDELIVERABLE_NOT_DELIVERED");
  EXPECT_TRUE(r["status"]["description"].is_string());
  EXPECT_EQ(r["error"]["groupId"], 1);
  EXPECT_EQ(r["error"]["groupName"], "HANDSET_ERRORS");
  EXPECT_EQ(r["error"]["id"], 7001);
  EXPECT_EQ(r["error"]["name"], "EC_MAILBOX_UNKNOWN");
  EXPECT_EQ(r["error"]["permanent"], true);
  EXPECT_EQ(r["channel"], "EMAIL");
  EXPECT_EQ(r["callbackData"], "cb");
  EXPECT_EQ(r["smtpReply"], "550 5.1.1 No such user");
  EXPECT_EQ(r["mxHost"], "mx.example.org");
  EXPECT_EQ(r["attempt"], 2);
  EXPECT_EQ(r["tls"], false);
}

TEST(ReportJson, BatchKeepsOrderAndEmptyIsEmpty) {
  std::vector<ReportResult> rs;
  for (const char* e : {"delivered", "deferred", "bounced", "expired", "rejected"}) {
    auto in = input(e);
    in.message_id = std::string("m-") + e;
    rs.push_back(result(in));
  }
  json j = json::parse(to_json(rs));
  ASSERT_EQ(j["results"].size(), 5u);
  EXPECT_EQ(j["results"][0]["messageId"], "m-delivered");
  EXPECT_EQ(j["results"][4]["messageId"], "m-rejected");
  EXPECT_EQ(j["results"][4]["status"]["groupId"], 5);
  EXPECT_EQ(json::parse(to_json({})), json::parse(R"({"results":[]})"));
}

TEST(ReportHostile, RemoteTextKeepsJsonValid) {
  auto in = input("deferred");
  in.code = 451;
  in.reply = std::string("<b>&amp;\"quote\" 'x'\r\nX-Evil: 1\x01\x1b\x7f tab\t nul") +
             std::string(1, '\0') + "\xff\xfe bad \xc0\xaf overlong \xed\xa0\x80 surrogate " +
             "ok \xc3\xa9";
  in.mx_host = "mx\"}]<x>";
  in.callback_data = "{\"a\":1}\x80";
  std::string body = to_json({result(in)});
  json j;
  ASSERT_NO_THROW(j = json::parse(body));
  std::string reply = j["results"][0]["smtpReply"];
  EXPECT_NE(reply.find("<b>&amp;\"quote\" 'x'\r\nX-Evil: 1"), std::string::npos);
  EXPECT_NE(reply.find("\xef\xbf\xbd bad"), std::string::npos);  // U+FFFD for \xff
  EXPECT_NE(reply.find("ok \xc3\xa9"), std::string::npos);       // valid UTF-8 survives
  EXPECT_EQ(reply.find("\xc0\xaf"), std::string::npos);
  EXPECT_EQ(reply.find("\xed\xa0\x80"), std::string::npos);
  EXPECT_EQ(j["results"][0]["mxHost"], "mx\"}]<x>");
  EXPECT_EQ(j["results"][0]["callbackData"], "{\"a\":1}\xef\xbf\xbd");
}

TEST(ReportXml, ShapeAndValues) {
  auto in = input("delivered");
  in.code = 250;
  in.reply = "ok";
  std::string x = to_xml({result(in), result(input("expired"))});
  EXPECT_EQ(xml_problem(x), "");
  EXPECT_TRUE(python_parses_xml(x));
  EXPECT_EQ(x.find("<?xml version=\"1.0\" encoding=\"UTF-8\"?><reportResponse><results><result>"
                   "<bulkId>bulk-1</bulkId><messageId>msg-1</messageId>"
                   "<to>rcpt@example.org</to><sentAt>2026-11-22T10:00:00.000+0000</sentAt>"
                   "<doneAt>2026-11-22T10:01:01.234+0000</doneAt><smsCount>1</smsCount>"
                   "<messageCount>1</messageCount><price><pricePerMessage>0</pricePerMessage>"
                   "<currency>EUR</currency></price><status><groupId>3</"
                   "groupId><groupName>DELIVERED</groupName><id>5</id>"
                   "<name>DELIVERED_TO_HANDSET</name>"),
            0u);
  EXPECT_NE(x.find("<error><groupId>0</groupId><groupName>OK</groupName><id>0</id>"
                   "<name>NO_ERROR</name>"),
            std::string::npos);
  EXPECT_NE(x.find("<permanent>false</permanent></error><channel>EMAIL</channel>"
                   "<callbackData>cb</callbackData><attemptCount>2</attemptCount>"
                   "<smtpReply>250 ok</smtpReply>"),
            std::string::npos);
  EXPECT_NE(x.find("</result><result>"), std::string::npos);  // two results in one body
  EXPECT_NE(x.find("<groupName>EXPIRED</groupName>"), std::string::npos);
  EXPECT_EQ(x.substr(x.size() - 27), "</results></reportResponse>");
}

TEST(ReportXml, EmptyBatchWellFormed) {
  std::string x = to_xml({});
  EXPECT_EQ(xml_problem(x), "");
  EXPECT_TRUE(python_parses_xml(x));
}

TEST(ReportHostile, RemoteTextKeepsXmlWellFormed) {
  auto in = input("bounced");
  in.code = 550;
  in.reply = std::string("</smtpReply><injected/>]]><!-- & &amp; \"q\" 'a' \r\n\x01\x0b\x1f") +
             std::string(1, '\0') + "\xff \xc0\x80 \xef\xbf\xbe end \xe2\x82\xac";
  in.to = "<to>@x";
  in.callback_data = "a&b<c>d";
  in.bulk_id = "\x80\x80";
  std::string x = to_xml({result(in)});
  EXPECT_EQ(xml_problem(x), "") << x;
  EXPECT_TRUE(python_parses_xml(x)) << x;
  EXPECT_NE(x.find("&lt;/smtpReply&gt;&lt;injected/&gt;]]&gt;&lt;!-- &amp; &amp;amp; "
                   "&quot;q&quot; &apos;a&apos; &#xD;\n"),
            std::string::npos);
  EXPECT_NE(x.find("end \xe2\x82\xac</smtpReply>"), std::string::npos);  // valid UTF-8 kept
  EXPECT_EQ(x.find("\xef\xbf\xbe"), std::string::npos);  // U+FFFE is not an XML character
  EXPECT_NE(x.find("<callbackData>a&amp;b&lt;c&gt;d</callbackData>"), std::string::npos);
  EXPECT_NE(x.find("<bulkId>\xef\xbf\xbd\xef\xbf\xbd</bulkId>"), std::string::npos);
  EXPECT_EQ(x.find(std::string(1, '\0')), std::string::npos);
}

TEST(ReportEscape, Utf8Validation) {
  EXPECT_EQ(valid_utf8("plain"), "plain");
  EXPECT_EQ(valid_utf8("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");  // 4-byte kept
  EXPECT_EQ(valid_utf8("\xf4\x90\x80\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(valid_utf8("a\xe2\x82"), "a\xef\xbf\xbd\xef\xbf\xbd");  // truncated at the end
  EXPECT_EQ(xml_escape("\t\n"), "\t\n");
  EXPECT_EQ(xml_escape("\x08"), "\xef\xbf\xbd");
}

// Issue 14: the vendor's field names and types (its published clients' EmailWebhookDeliveryReport
// and DeliveryReport models), with Tern's extras kept.
TEST(ReportVendorFields, JsonNamesAndTypes) {
  auto in = input("delivered");
  in.code = 250;
  in.sending_ip = "192.0.2.25";
  in.first_attempt_ms = kSent + 1500;
  auto r = make_result(in, Price{0.0012, "USD"});
  ASSERT_TRUE(r.ok());
  json j = json::parse(to_json({r.value()}))["results"][0];
  ASSERT_TRUE(j["smsCount"].is_number_integer());
  EXPECT_EQ(j["smsCount"], 1);
  ASSERT_TRUE(j["attemptCount"].is_number_integer());
  EXPECT_EQ(j["attemptCount"], 2);
  ASSERT_TRUE(j["price"].is_object());
  ASSERT_TRUE(j["price"]["pricePerMessage"].is_number());
  EXPECT_DOUBLE_EQ(j["price"]["pricePerMessage"].get<double>(), 0.0012);
  EXPECT_EQ(j["price"]["currency"], "USD");
  EXPECT_EQ(j["sendingIp"], "192.0.2.25");
  ASSERT_TRUE(j["timeToFirstAttempt"].is_number_integer());
  EXPECT_EQ(j["timeToFirstAttempt"], 1500);
  // Tern's extras stay.
  EXPECT_EQ(j["messageCount"], 1);
  EXPECT_EQ(j["attempt"], 2);
  EXPECT_EQ(j["channel"], "EMAIL");
  EXPECT_TRUE(j.contains("smtpReply"));
}

TEST(ReportVendorFields, AbsentWhenThereIsNothingToSay) {
  auto in = input("rejected");  // suppressed: no connection, no attempt
  in.callback_data = "";
  json j = json::parse(to_json({result(in)}))["results"][0];
  EXPECT_FALSE(j.contains("callbackData")) << j.dump();  // the vendor omits it; "" was wrong
  EXPECT_FALSE(j.contains("sendingIp"));
  EXPECT_FALSE(j.contains("timeToFirstAttempt"));
  EXPECT_EQ(j["price"]["pricePerMessage"], 0);  // self-hosted default: free, in EUR
  EXPECT_EQ(j["price"]["currency"], "EUR");
  std::string x = to_xml({result(in)});
  EXPECT_EQ(xml_problem(x), "");
  EXPECT_EQ(x.find("callbackData"), std::string::npos);
  EXPECT_EQ(x.find("sendingIp"), std::string::npos);
  EXPECT_EQ(x.find("timeToFirstAttempt"), std::string::npos);
}

TEST(ReportVendorFields, XmlCarriesTheSameFields) {
  auto in = input("bounced");
  in.code = 550;
  in.sending_ip = "2001:db8::25";
  in.first_attempt_ms = kSent + 42;
  auto r = make_result(in, Price{2.5, "CHF"});
  ASSERT_TRUE(r.ok());
  std::string x = to_xml({r.value()});
  EXPECT_EQ(xml_problem(x), "") << x;
  EXPECT_TRUE(python_parses_xml(x));
  EXPECT_NE(x.find("<smsCount>1</smsCount>"), std::string::npos) << x;
  EXPECT_NE(x.find("<price><pricePerMessage>2.5</pricePerMessage><currency>CHF</currency>"
                   "</price>"),
            std::string::npos);
  EXPECT_NE(x.find("<sendingIp>2001:db8::25</sendingIp><attemptCount>2</attemptCount>"
                   "<timeToFirstAttempt>42</timeToFirstAttempt>"),
            std::string::npos);
}

TEST(ReportVendorFields, FirstAttemptBeforeAcceptanceIsZeroNotNegative) {
  auto in = input("delivered");
  in.first_attempt_ms = kSent - 5;  // clocks of two nodes
  json j = json::parse(to_json({result(in)}))["results"][0];
  EXPECT_EQ(j["timeToFirstAttempt"], 0);
}
