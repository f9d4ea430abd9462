#include "queue/envelope.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

using namespace tern::queue;
using nlohmann::json;

namespace {
QueuedMessage sample() {
  QueuedMessage m;
  m.id = "0ABCDEFGH1234567890Z";
  m.account_id = 42;
  m.account_name = "acme";
  m.sender = "bounce@acme.example";
  m.recipients = {{"a@x.example", RcptState::pending, 0, 0, ""},
                  {"b@y.example", RcptState::deferred, 2, 1700000100000, "451 4.7.1 try later"}};
  m.received_ms = 1700000000000;
  m.client_ip = "192.0.2.7";
  m.helo = "mail.acme.example";
  m.message_id = "<1@acme.example>";
  m.header_from = "news@acme.example";
  m.subject =
      "Gr\xc3\xbc\xc3\x9f"
      "e";
  m.smtputf8 = true;
  m.eightbit = true;
  m.held = true;
  m.options_json = R"({"track_opens":true,"tag":"x"})";
  m.content_size = 1234;
  return m;
}
}  // namespace

TEST(Envelope, ExactFieldNames) {
  json j = sample();
  std::set<std::string> keys;
  for (auto& [k, v] : j.items()) keys.insert(k);
  EXPECT_EQ(keys, (std::set<std::string>{"id", "account_id", "account", "sender", "recipients",
                                         "received_ms", "client_ip", "helo", "message_id",
                                         "header_from", "subject", "smtputf8", "eightbit", "held",
                                         "options", "prepend", "size"}));
  ASSERT_TRUE(j["options"].is_object());
  EXPECT_EQ(j["options"]["tag"], "x");
  EXPECT_EQ(j["size"], 1234);
  EXPECT_EQ(j["account"], "acme");
  std::set<std::string> rkeys;
  for (auto& [k, v] : j["recipients"][1].items()) rkeys.insert(k);
  EXPECT_EQ(rkeys, (std::set<std::string>{"address", "state", "attempts", "next_attempt_ms",
                                          "last_reply", "first_attempt_ms"}));
  EXPECT_EQ(j["recipients"][1]["state"], "deferred");
  EXPECT_EQ(j["recipients"][0]["state"], "pending");
}

TEST(Envelope, RoundTrip) {
  QueuedMessage m = sample();
  QueuedMessage back = json(m).get<QueuedMessage>();
  EXPECT_EQ(json(back), json(m));
  EXPECT_EQ(back.recipients[1].last_reply, "451 4.7.1 try later");
  EXPECT_EQ(back.recipients[1].next_attempt_ms, 1700000100000);
  EXPECT_TRUE(back.smtputf8);
  EXPECT_TRUE(back.eightbit);
  EXPECT_EQ(back.subject, m.subject);
  EXPECT_EQ(json::parse(back.options_json), json::parse(m.options_json));
}

TEST(Envelope, StateNames) {
  for (RcptState s : {RcptState::pending, RcptState::delivered, RcptState::deferred,
                      RcptState::bounced, RcptState::expired, RcptState::rejected}) {
    RcptState out = RcptState::pending;
    ASSERT_TRUE(parse_rcpt_state(to_string(s), out));
    EXPECT_EQ(out, s);
  }
  RcptState out;
  EXPECT_FALSE(parse_rcpt_state("Delivered", out));
  EXPECT_FALSE(parse_rcpt_state("", out));
  EXPECT_TRUE(is_final(RcptState::delivered));
  EXPECT_TRUE(is_final(RcptState::rejected));
  EXPECT_FALSE(is_final(RcptState::deferred));
  EXPECT_FALSE(is_final(RcptState::pending));
}

TEST(Envelope, HostileJson) {
  json j = sample();
  j["recipients"][0]["state"] = "teleported";
  EXPECT_ANY_THROW(j.get<QueuedMessage>());
  json k = sample();
  k.erase("id");
  EXPECT_ANY_THROW(k.get<QueuedMessage>());
  json l = sample();
  l["account_id"] = "not a number";
  EXPECT_ANY_THROW(l.get<QueuedMessage>());
  // Options that are not an object are not trusted.
  json o = sample();
  o["options"] = "{\"x\":1}";
  EXPECT_EQ(o.get<QueuedMessage>().options_json, "{}");
  // Invalid options text never produces invalid JSON.
  QueuedMessage m = sample();
  m.options_json = "{not json";
  EXPECT_TRUE(json(m)["options"].is_object());
  // Minimal object: everything else defaults.
  QueuedMessage min = json{{"id", "X"}}.get<QueuedMessage>();
  EXPECT_EQ(min.id, "X");
  EXPECT_TRUE(min.recipients.empty());
  EXPECT_EQ(min.options_json, "{}");
}

// Issue 14: the first attempt's time survives the spool; records written before it existed read
// as "no attempt yet".
TEST(Envelope, FirstAttemptTimeRoundTripsAndDefaultsToNone) {
  QueuedMessage m = sample();
  m.recipients[1].first_attempt_ms = 1700000050000;
  QueuedMessage back = json(m).get<QueuedMessage>();
  EXPECT_EQ(back.recipients[1].first_attempt_ms, 1700000050000);
  json old = json(m);
  old["recipients"][1].erase("first_attempt_ms");
  EXPECT_EQ(old.get<QueuedMessage>().recipients[1].first_attempt_ms, 0);
}

// Found by envelope_fuzz: a number the field's type cannot hold (1e10 attempts, a fraction, a
// negative size) was converted silently (undefined behaviour for 1e10 → int). Such an
// envelope is corrupt: decoding refuses it, so recovery quarantines the message.
TEST(Envelope, NumbersOutOfRangeOrNotWholeAreRefused) {
  const json good = sample();
  for (const auto& [path, bad] :
       std::vector<std::pair<std::string, json>>{{"/recipients/0/attempts", 1e10},
                                                 {"/recipients/0/attempts", 2.5},
                                                 {"/recipients/0/attempts", -1},
                                                 {"/recipients/0/attempts", 4294967296LL},
                                                 {"/recipients/1/next_attempt_ms", "5"},
                                                 {"/recipients/1/next_attempt_ms", 1.7e12},
                                                 {"/recipients/1/first_attempt_ms", -1},
                                                 {"/recipients/1/first_attempt_ms", "0"},
                                                 {"/account_id", 18446744073709551615ULL},
                                                 {"/received_ms", -1},
                                                 {"/size", -5},
                                                 {"/size", 1e300}}) {
    json j = good;
    j[json::json_pointer(path)] = bad;
    EXPECT_THROW(j.get<QueuedMessage>(), json::exception) << path << " = " << bad.dump();
  }
  // Whole numbers in range (and absent fields) still decode.
  json j = good;
  j["recipients"][0]["attempts"] = 2147483647;
  j["account_id"] = 9223372036854775807LL;
  j.erase("received_ms");
  QueuedMessage m = j.get<QueuedMessage>();
  EXPECT_EQ(m.recipients[0].attempts, 2147483647);
  EXPECT_EQ(m.account_id, 9223372036854775807LL);
  EXPECT_EQ(m.received_ms, 0);
}
