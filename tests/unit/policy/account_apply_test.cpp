// Shared pieces of the SMTP and HTTP submission paths: account CC/BCC/Mail-From and the options
// JSON stored with a message.
#include "policy/account_apply.hpp"

#include <gtest/gtest.h>

#include "message/header.hpp"
#include "policy/options.hpp"

using namespace tern;

TEST(AccountApply, CcJoinsTheExistingFieldOrIsAdded) {
  auto hs = message::parse_header_section("From: a@x.test\r\nCc: b@y.test\r\nSubject: s\r\n\r\n");
  std::vector<const message::HeaderField*> f;
  for (const auto& x : hs.fields) f.push_back(&x);
  EXPECT_EQ(policy::merge_account_cc(f, {"c@x.test", "d@x.test"}),
            "From: a@x.test\r\nCc: b@y.test,\r\n c@x.test,\r\n d@x.test\r\nSubject: s\r\n");
  EXPECT_EQ(policy::merge_account_cc(f, {}), "From: a@x.test\r\nCc: b@y.test\r\nSubject: s\r\n");
  f.erase(f.begin() + 1);
  EXPECT_EQ(policy::merge_account_cc(f, {"c@x.test", "d@x.test"}),
            "From: a@x.test\r\nSubject: s\r\nCc: c@x.test,\r\n d@x.test\r\n");
}

TEST(AccountApply, Envelope) {
  policy::AccountContext a;
  std::string sender = "a@x.test";
  std::vector<std::string> r{"b@y.test"};
  policy::apply_account_envelope(a, sender, r);
  EXPECT_EQ(sender, "a@x.test");
  EXPECT_EQ(r.size(), 1u);
  a.mail_from = "bounce@x.test";
  a.cc = {"c@x.test", "b@y.test"};
  a.bcc = {"d@x.test", "c@x.test"};
  // Not the account's to use (no verified x.test): ignored, the client's sender stays.
  policy::apply_account_envelope(a, sender, r);
  EXPECT_EQ(sender, "a@x.test");
  a.domains = {"x.test"};
  r = {"b@y.test"};
  policy::apply_account_envelope(a, sender, r);
  EXPECT_EQ(sender, "bounce@x.test");
  EXPECT_EQ(r, (std::vector<std::string>{"b@y.test", "c@x.test", "d@x.test"}));
}

TEST(OptionsJson, RoundTrip) {
  policy::MessageOptions o;
  EXPECT_EQ(policy::to_json(o), R"({"intermediateReport":false})");
  o.bulk_id = "b1";
  o.tracking_url = "https://t.example/x";
  o.notify_url = "https://n.example/y";
  o.notify_content_type = "application/xml";
  o.callback_data = "cb \"quoted\"";
  o.intermediate_report = true;
  auto back = policy::options_from_json(policy::to_json(o));
  EXPECT_EQ(back.bulk_id, o.bulk_id);
  EXPECT_EQ(back.tracking_url, o.tracking_url);
  EXPECT_EQ(back.notify_url, o.notify_url);
  EXPECT_EQ(back.notify_content_type, o.notify_content_type);
  EXPECT_EQ(back.callback_data, o.callback_data);
  EXPECT_TRUE(back.intermediate_report);
  EXPECT_EQ(policy::options_from_json("not json").bulk_id, "");
  EXPECT_EQ(policy::options_from_json(R"({"bulkId":5})").bulk_id, "");
}
