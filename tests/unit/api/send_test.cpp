// api::handle_send over a real SQLite store and a real spool with pipeline::Submission: the
// JSON shape, options validated like X-IB-* headers and merged over account defaults, header
// injection and hostile input refused with nothing queued, tracked copies per recipient.
#include "api/send.hpp"

#include <gtest/gtest.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "core/base64.hpp"
#include "core/clock.hpp"
#include "pipeline/submission.hpp"
#include "policy/options.hpp"
#include "queue/envelope.hpp"
#include "queue/spool.hpp"
#include "store/backend.hpp"
#include "store/store.hpp"
#include "unit/store/test_dir.hpp"

namespace tern::api {
namespace {

using nlohmann::json;

class SendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::open_backend("sqlite:" + dir_.file("tern.db"));
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    backend_ = std::move(opened).value();
    store_ = backend_.store.get();
    queue::SpoolOptions so;
    so.sync = false;
    auto sp = queue::Spool::open(dir_.file("spool"), so);
    ASSERT_TRUE(sp.ok()) << sp.error().message;
    spool_ = std::move(sp).value();
    pipeline::SubmissionServices ss;
    ss.spool = spool_.get();
    ss.hostname = "mx.test";
    ss.public_url = "https://tern.test";
    ss.tracking_secret = "tracking-secret-0123456789";
    ss.on_accepted = [this](const queue::QueuedMessage& m) {
      std::lock_guard lk(mu_);
      accepted_.push_back(m);
    };
    submission_ = std::make_unique<pipeline::Submission>(ss);
    auto a = store_->accounts.create("acme");
    ASSERT_TRUE(a.ok());
    acme_ = a->account.id;
    ASSERT_TRUE(store_->domains.add(acme_, "acme.test", true).ok());
    svc_.store = store_;
    svc_.submission = submission_.get();
    svc_.clock = &clock_;
    svc_.hostname = "mx.test";
    svc_.public_url = "https://tern.test";
    svc_.platform_domains = {"platform.test"};
  }

  json base() {
    return {{"from", "Acme <news@acme.test>"},
            {"to", json::array({"bob@dest.test"})},
            {"subject", "Hello"},
            {"text", "Hi Bob"}};
  }

  net::HttpResponse post(const std::string& body) {
    net::HttpRequest r;
    r.method = "POST";
    r.target = "/api/v1/messages";
    r.body = body;
    r.remote_ip = "198.51.100.9";
    return handle_send(svc_, acme_, r);
  }
  net::HttpResponse post(const json& j) { return post(j.dump()); }

  // 400 with this error code and a message containing `what`; nothing queued.
  void expect_400(const json& j, const std::string& code, const std::string& what) {
    auto r = post(j);
    EXPECT_EQ(r.status, 400) << j.dump() << " -> " << r.body;
    auto b = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(b.is_object()) << r.body;
    EXPECT_EQ(b["error"]["code"], code) << r.body;
    EXPECT_NE(b["error"]["message"].get<std::string>().find(what), std::string::npos) << r.body;
    EXPECT_TRUE(spool_->list().empty());
  }

  std::string content(const std::string& id) {
    std::string out;
    EXPECT_TRUE(spool_->read_content(id, [&](std::string_view p) { out.append(p); }).ok());
    return out;
  }

  test::TempDir dir_;
  store::Backend backend_;
  store::Store* store_ = nullptr;
  std::unique_ptr<queue::Spool> spool_;
  std::unique_ptr<pipeline::Submission> submission_;
  core::FakeClock clock_;
  std::mutex mu_;
  std::vector<queue::QueuedMessage> accepted_;
  ApiServices svc_;
  int64_t acme_ = 0;
};

TEST_F(SendTest, AcceptsAndAnswersPerRecipient) {
  json j = base();
  j["to"] = json::array({"bob@dest.test", "Carol <carol@dest.test>"});
  j["cc"] = "dave@dest.test";
  j["bcc"] = json::array({"eve@dest.test"});
  j["html"] = "<p>Hi</p>";
  j["attachments"] =
      json::array({{{"filename", "a.bin"},
                    {"contentType", "application/octet-stream"},
                    {"content", core::base64_encode(std::string("\x00\x01\xff", 3))}}});
  j["headers"] = {{"X-Campaign", "spring"}};
  auto r = post(j);
  ASSERT_EQ(r.status, 200) << r.body;
  auto b = json::parse(r.body);
  ASSERT_EQ(b["messages"].size(), 4u);
  const std::string bulk = b["bulkId"];
  EXPECT_FALSE(bulk.empty());
  std::vector<std::string> to;
  for (const auto& m : b["messages"]) {
    to.push_back(m["to"]);
    EXPECT_EQ(m["status"], json({{"groupId", 1},
                                 {"groupName", "PENDING"},
                                 {"id", 26},
                                 {"name", "PENDING_ACCEPTED"},
                                 {"description", "Message accepted"}}));
  }
  EXPECT_EQ(to, (std::vector<std::string>{"bob@dest.test", "carol@dest.test", "dave@dest.test",
                                          "eve@dest.test"}));
  EXPECT_EQ(b["messages"][0]["messageId"], bulk + ".0");  // bulkId defaults to the queue id
  EXPECT_EQ(b["messages"][3]["messageId"], bulk + ".3");

  auto list = spool_->list();
  ASSERT_EQ(list.size(), 1u);
  const auto& m = list[0];
  EXPECT_EQ(m.id, bulk);
  EXPECT_EQ(m.account_id, acme_);
  EXPECT_EQ(m.sender, "news@acme.test");
  EXPECT_EQ(m.recipients.size(), 4u);
  EXPECT_EQ(m.message_id, "<" + m.id + "@mx.test>");
  EXPECT_EQ(m.client_ip, "198.51.100.9");
  std::string c = content(m.id);
  EXPECT_NE(c.find("with HTTP id " + m.id), std::string::npos);
  EXPECT_NE(c.find("X-Campaign: spring\r\n"), std::string::npos);
  EXPECT_NE(c.find("AAH/"), std::string::npos);  // the attachment's base64
  EXPECT_EQ(c.find("eve@"), std::string::npos);
  EXPECT_EQ(accepted_.size(), 1u);
}

TEST_F(SendTest, OptionsValidatedAndMergedOverAccountDefaults) {
  ASSERT_TRUE(
      store_->settings
          .set(acme_, {{"notify_url", "https://hooks.acme.test/r"}, {"intermediate_report", "on"}})
          .ok());
  json j = base();
  j["bulkId"] = "spring-2026";
  j["callbackData"] = "cb-1";
  j["notifyContentType"] = "application/xml";
  j["intermediateReport"] = false;
  auto r = post(j);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["bulkId"], "spring-2026");
  auto list = spool_->list();
  ASSERT_EQ(list.size(), 1u);
  auto o = policy::options_from_json(list[0].options_json);
  EXPECT_EQ(o.bulk_id, "spring-2026");
  EXPECT_EQ(o.callback_data, "cb-1");
  EXPECT_EQ(o.notify_url, "https://hooks.acme.test/r");  // account default
  EXPECT_EQ(o.notify_content_type, "application/xml");
  EXPECT_FALSE(o.intermediate_report);  // request overrides the default
}

TEST_F(SendTest, BadOptionsRefused) {
  json j = base();
  j["notifyUrl"] = "ftp://x.test/";
  expect_400(j, "bad_request", "notifyUrl: must be an http(s) URL");
  j = base();
  j["trackingUrl"] = "https://x.test/\r\nX: y";
  expect_400(j, "bad_request", "trackingUrl: ");
  j = base();
  j["bulkId"] = "a\nb";
  expect_400(j, "bad_request", "bulkId: ");
  j = base();
  j["callbackData"] = std::string("x\0y", 3);
  expect_400(j, "bad_request", "callbackData: ");
  j = base();
  j["intermediateReport"] = "maybe";
  expect_400(j, "bad_request", "intermediateReport: must be true or false");
  j = base();
  j["notifyContentType"] = "text/html";
  expect_400(j, "bad_request", "notifyContentType: ");
}

TEST_F(SendTest, HeaderInjectionRefusedNothingQueued) {
  json j = base();
  j["subject"] = "Hi\r\nBcc: victim@evil.test";
  expect_400(j, "bad_request", "subject: must not contain CR, LF or NUL");
  j = base();
  j["to"] = json::array({"bob@dest.test\r\nBcc: victim@evil.test"});
  expect_400(j, "bad_request", "to[0]: must not contain CR, LF or NUL");
  j = base();
  j["from"] = "news@acme.test\nBcc: x@evil.test";
  expect_400(j, "bad_request", "from: ");
  j = base();
  j["headers"] = {{"X-Note", "a\r\nBcc: victim@evil.test"}};
  expect_400(j, "bad_request", "headers: ");
  j = base();
  j["headers"] = {{"Bcc", "victim@evil.test"}};
  expect_400(j, "bad_request", "Bcc is set by Tern");
  j = base();
  j["attachments"] =
      json::array({{{"filename", "a\r\nContent-Type: text/html"}, {"content", "aGk="}}});
  expect_400(j, "bad_request", "attachments[0].filename: ");
  j = base();
  j["replyTo"] = std::string("a@acme.test\0", 12);
  expect_400(j, "bad_request", "replyTo: ");
}

TEST_F(SendTest, HostileBodiesRefused) {
  auto r = post(std::string("{not json"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "bad_request");
  EXPECT_EQ(post(std::string("[1,2]")).status, 400);
  EXPECT_EQ(post(std::string("")).status, 400);
  json j = base();
  j["to"] = 5;
  expect_400(j, "bad_request", "to: must be a string or an array of strings");
  j = base();
  j["subject"] = json::array();
  expect_400(j, "bad_request", "subject: must be a string");
  j = base();
  j.erase("from");
  expect_400(j, "bad_request", "from: is required");
  j = base();
  j.erase("to");
  expect_400(j, "bad_request", "to: at least one recipient");
  j = base();
  j.erase("text");
  expect_400(j, "bad_request", "text or html is required");
  j = base();
  j["attachments"] = json::array({{{"filename", "a.bin"}, {"content", "***"}}});
  expect_400(j, "bad_request", "attachments[0].content: invalid base64");
  j = base();
  j["attachments"] = json::array({"x"});
  expect_400(j, "bad_request", "attachments[0]: must be an object");
  j = base();
  j["headers"] = {{"X-A", 1}};
  expect_400(j, "bad_request", "headers: must be an object of strings");
  j = base();
  j["to"] = json::array({"not-an-address"});
  expect_400(j, "bad_request", "to[0]: invalid address");
}

TEST_F(SendTest, UnauthorizedSenderRefused) {
  json j = base();
  j["from"] = "ceo@bank.test";
  expect_400(j, "sender_not_authorized", "ceo@bank.test");
  j["from"] = "noreply@platform.test";  // a platform domain any account may use
  EXPECT_EQ(post(j).status, 200);
}

TEST_F(SendTest, TrackingUrlGivesOneCopyPerRecipient) {
  json j = base();
  j["to"] = json::array({"bob@dest.test", "carol@dest.test"});
  j["html"] = "<p><a href=\"https://acme.test/offer\">offer</a></p>";
  j["trackingUrl"] = "https://hooks.acme.test/track";
  auto r = post(j);
  ASSERT_EQ(r.status, 200) << r.body;
  auto b = json::parse(r.body);
  const std::string bulk = b["bulkId"];
  ASSERT_EQ(b["messages"].size(), 2u);
  EXPECT_EQ(b["messages"][0]["messageId"], bulk + ".0");
  const std::string second = b["messages"][1]["messageId"];
  EXPECT_NE(second.substr(0, second.size() - 2), bulk);
  EXPECT_EQ(second.substr(second.size() - 2), ".0");
  auto list = spool_->list();
  ASSERT_EQ(list.size(), 2u);
  for (const auto& m : list) {
    EXPECT_EQ(m.recipients.size(), 1u);
    EXPECT_EQ(policy::options_from_json(m.options_json).bulk_id, bulk);
    EXPECT_NE(content(m.id).find("https://tern.test/t/c/"), std::string::npos);
  }
}

TEST_F(SendTest, NoSubmissionIsUnavailable) {
  svc_.submission = nullptr;
  EXPECT_EQ(post(base()).status, 503);
}

}  // namespace
}  // namespace tern::api
