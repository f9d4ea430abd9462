// pipeline::Submission against a real spool in a temporary directory.
#include "pipeline/submission.hpp"

#include <gtest/gtest.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "core/address.hpp"
#include "dkim/signer.hpp"
#include "message/header.hpp"
#include "pipeline/key_cache.hpp"
#include "policy/options.hpp"
#include "queue/spool.hpp"
#include "tracking/token.hpp"
#include "unit/store/test_dir.hpp"

using namespace tern;

namespace {

const std::string kSecret = "tracking-secret-0123456789";

std::shared_ptr<policy::AccountContext> account() {
  auto a = std::make_shared<policy::AccountContext>();
  a->id = 7;
  a->name = "acme";
  a->domains = {"example.com"};
  return a;
}

const std::string kPlain =
    "From: Alice <alice@example.com>\r\n"
    "To: bob@dest.test, carol@dest.test\r\n"
    "Subject: hi\r\n"
    "\r\n"
    "Hello\r\n";

const std::string kHtml =
    "From: Alice <alice@example.com>\r\n"
    "To: bob@dest.test\r\n"
    "Cc: carol@dest.test, dave@dest.test\r\n"
    "Subject: tracked\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "\r\n"
    "<p><a href=\"https://example.com/offer?x=1\">offer</a></p>\r\n";

struct SubmissionTest : ::testing::Test {
  test::TempDir dir;
  std::unique_ptr<queue::Spool> spool;
  std::mutex mu;
  std::vector<queue::QueuedMessage> accepted;
  std::unique_ptr<pipeline::KeyCache> keys;
  std::shared_ptr<const dkim::PrivateKey> key =
      dkim::PrivateKey::generate(dkim::Algorithm::ed25519_sha256);

  void SetUp() override {
    queue::SpoolOptions o;
    o.sync = false;
    auto s = queue::Spool::open(dir.file("spool"), o);
    ASSERT_TRUE(s);
    spool = std::move(s.value());
  }

  pipeline::SubmissionServices services(bool sign = false) {
    pipeline::SubmissionServices svc;
    svc.spool = spool.get();
    svc.hostname = "mx.tern.test";
    svc.tracking_secret = kSecret;
    svc.public_url = "https://t.tern.test";
    svc.on_accepted = [this](const queue::QueuedMessage& m) {
      std::lock_guard lk(mu);
      accepted.push_back(m);
    };
    if (sign) {
      keys = std::make_unique<pipeline::KeyCache>(
          [this](int64_t acc,
                 const std::string& domain) -> core::Result<std::vector<pipeline::KeySpec>> {
            if (acc != 7 || domain != "example.com") return std::vector<pipeline::KeySpec>{};
            return std::vector<pipeline::KeySpec>{
                {"example.com", "tern1", dkim::Algorithm::ed25519_sha256, key->to_pem(), 1}};
          });
      svc.dkim_keys = keys.get();
    }
    return svc;
  }

  pipeline::SubmitRequest request(const std::string& msg, std::vector<std::string> rcpts) {
    pipeline::SubmitRequest r;
    r.account = account();
    r.sender = "alice@example.com";
    r.recipients = std::move(rcpts);
    r.message = msg;
    r.client_ip = "192.0.2.7";
    return r;
  }

  std::string stored(const std::string& id) {
    auto r = spool->open_content(id);
    EXPECT_TRUE(r);
    if (!r) return "";
    std::string out;
    char buf[4096];
    for (;;) {
      auto n = r.value()->read(buf, sizeof buf);
      EXPECT_TRUE(n);
      if (!n || n.value() == 0) break;
      out.append(buf, n.value());
    }
    return out;
  }
};

std::string field(const std::string& msg, std::string_view name) {
  for (const auto& f : message::parse_header_section(msg).fields)
    if (core::iequals(f.name, name)) return f.value();
  return "<none>";
}

std::string body(const std::string& msg) {
  auto hs = message::parse_header_section(msg);
  return msg.substr(hs.body_offset + 2);
}

}  // namespace

TEST_F(SubmissionTest, UntrackedMessageStoredOnceWithHeadersAdded) {
  pipeline::Submission sub(services());
  auto r = sub.submit(request(kPlain, {"bob@dest.test", "carol@DEST.test", "bob@dest.test"}));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->recipients.size(), 2u);
  const std::string qid = r->recipients[0].queue_id;
  EXPECT_EQ(r->bulk_id, qid);
  EXPECT_EQ(r->recipients[0].to, "bob@dest.test");
  EXPECT_EQ(r->recipients[0].message_id, qid + ".0");
  EXPECT_EQ(r->recipients[1].to, "carol@dest.test");
  EXPECT_EQ(r->recipients[1].message_id, qid + ".1");
  EXPECT_EQ(r->recipients[1].queue_id, qid);

  auto m = spool->get(qid);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->account_id, 7);
  EXPECT_EQ(m->sender, "alice@example.com");
  ASSERT_EQ(m->recipients.size(), 2u);
  EXPECT_EQ(m->header_from, "alice@example.com");
  EXPECT_EQ(m->message_id, "<" + qid + "@mx.tern.test>");
  auto opts = policy::options_from_json(m->options_json);
  EXPECT_EQ(opts.bulk_id, qid);

  std::string c = stored(qid);
  EXPECT_EQ(c.rfind("Received: from [192.0.2.7] (192.0.2.7) by mx.tern.test (Tern) with HTTP id " +
                        qid + "; ",
                    0),
            0u)
      << c;
  EXPECT_NE(field(c, "Date"), "<none>");
  EXPECT_EQ(field(c, "Message-ID"), "<" + qid + "@mx.tern.test>");
  EXPECT_EQ(body(c), "Hello\r\n");
  ASSERT_EQ(accepted.size(), 1u);
  EXPECT_EQ(accepted[0].id, qid);
  EXPECT_EQ(sub.accepted(), 1u);  // issue 14.5: counted for tern_messages_accepted_total
}

TEST_F(SubmissionTest, PolicyRefusalsStoreNothing) {
  pipeline::Submission sub(services());
  auto req = request(kPlain, {"bob@dest.test", "carol@dest.test"});
  req.sender = "mallory@evil.test";
  auto r = sub.submit(req);
  ASSERT_FALSE(r);
  EXPECT_FALSE(r.error().temporary);
  EXPECT_EQ(r.error().message, "550 5.7.1 Sender not authorized: <mallory@evil.test>");

  std::string spoofed = kPlain;
  spoofed.replace(spoofed.find("alice@example.com"), 17, "ceo@bank.test");
  r = sub.submit(request(spoofed, {"bob@dest.test", "carol@dest.test"}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "550 5.7.1 Sender not authorized: <ceo@bank.test>");

  r = sub.submit(request(kPlain, {"bob@dest.test"}));  // carol is in To but not a recipient
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("550 5.7.1 Recipient <carol@dest.test>"), std::string::npos);

  r = sub.submit(
      request("From: alice@example.com\nTo: bob@dest.test\n\nbare LF\n", {"bob@dest.test"}));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("550 5.6.0"), std::string::npos);

  r = sub.submit(request(kPlain, {"not an address"}));
  ASSERT_FALSE(r);

  std::string bad_opt = "X-IB-notify-url: ftp://x\r\n" + kPlain;
  r = sub.submit(request(bad_opt, {"bob@dest.test", "carol@dest.test"}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "550 5.6.0 Invalid X-IB-notify-url header: must be an http(s) URL");

  EXPECT_TRUE(spool->list().empty());
  EXPECT_TRUE(accepted.empty());
}

TEST_F(SubmissionTest, OptionHeadersApplyAndAreRemoved) {
  pipeline::Submission sub(services());
  auto req =
      request("X-IB-bulk-id: spring\r\nX-IB-callback-data: cb1\r\nX-IB-unknown: z\r\n" + kPlain,
              {"bob@dest.test", "carol@dest.test"});
  req.options.notify_url = "https://hooks.example.com/r";  // the account default
  auto r = sub.submit(req);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->bulk_id, "spring");
  auto m = spool->get(r->recipients[0].queue_id);
  ASSERT_TRUE(m);
  auto o = policy::options_from_json(m->options_json);
  EXPECT_EQ(o.bulk_id, "spring");
  EXPECT_EQ(o.callback_data, "cb1");
  EXPECT_EQ(o.notify_url, "https://hooks.example.com/r");
  std::string c = stored(m->id);
  EXPECT_EQ(c.find("X-IB-"), std::string::npos);
}

TEST_F(SubmissionTest, AccountMailFromCcBcc) {
  pipeline::Submission sub(services());
  auto req = request(kPlain, {"bob@dest.test", "carol@dest.test"});
  auto a = account();
  a->mail_from = "bounces@example.com";
  a->cc = {"archive@example.com"};
  a->bcc = {"audit@example.com", "bob@dest.test"};
  req.account = a;
  auto r = sub.submit(req);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->recipients.size(), 4u);
  EXPECT_EQ(r->recipients[2].to, "archive@example.com");
  EXPECT_EQ(r->recipients[3].to, "audit@example.com");
  auto m = spool->get(r->recipients[0].queue_id);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->sender, "bounces@example.com");
  std::string c = stored(m->id);
  EXPECT_EQ(field(c, "Cc"), "archive@example.com");
  EXPECT_EQ(c.find("audit@"), std::string::npos);
}

TEST_F(SubmissionTest, TrackedMessageGetsOneCopyPerRecipient) {
  pipeline::Submission sub(services());
  auto req = request(kHtml, {"bob@dest.test", "carol@dest.test", "dave@dest.test"});
  req.options.tracking_url = "https://hooks.example.com/track";
  req.options.callback_data = "cb";
  auto r = sub.submit(req);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->recipients.size(), 3u);
  std::set<std::string> qids;
  for (const auto& rc : r->recipients) {
    qids.insert(rc.queue_id);
    EXPECT_EQ(rc.message_id, rc.queue_id + ".0");
    auto m = spool->get(rc.queue_id);
    ASSERT_TRUE(m);
    ASSERT_EQ(m->recipients.size(), 1u);
    EXPECT_EQ(m->recipients[0].address, rc.to);
    auto o = policy::options_from_json(m->options_json);
    EXPECT_EQ(o.bulk_id, r->recipients[0].queue_id);  // shared by the copies
    EXPECT_EQ(o.tracking_url, "https://hooks.example.com/track");
    std::string c = stored(rc.queue_id);
    EXPECT_NE(c.find(" with HTTP id " + rc.queue_id + ";"), std::string::npos);
    // The click link and the pixel carry tokens naming this copy.
    auto p = c.find("https://t.tern.test/t/c/");
    ASSERT_NE(p, std::string::npos) << c;
    auto e = c.find('"', p);
    auto tok = tracking::verify_token(c.substr(p + 24, e - p - 24), kSecret);
    ASSERT_TRUE(tok);
    EXPECT_EQ(tok->message_id, rc.queue_id);
    EXPECT_EQ(tok->recipient, 0u);
    EXPECT_EQ(tok->url, "https://example.com/offer?x=1");
    // issue 14.15: the token carries the event's context (no message log needed)
    ASSERT_TRUE(tok->context.has_value());
    EXPECT_EQ(tok->context->account_id, 7);
    EXPECT_EQ(tok->context->recipient, rc.to);
    EXPECT_EQ(tok->context->bulk_id, r->recipients[0].queue_id);
    EXPECT_EQ(tok->context->tracking_url, "https://hooks.example.com/track");
    EXPECT_EQ(tok->context->callback_data, "cb");
    p = c.find("https://t.tern.test/t/o/");
    ASSERT_NE(p, std::string::npos);
    e = c.find('"', p);
    auto open = tracking::verify_token(c.substr(p + 24, e - p - 24), kSecret);
    ASSERT_TRUE(open);
    EXPECT_EQ(open->message_id, rc.queue_id);
  }
  EXPECT_EQ(qids.size(), 3u);
  EXPECT_EQ(r->bulk_id, r->recipients[0].queue_id);
  EXPECT_EQ(accepted.size(), 3u);
  EXPECT_EQ(sub.accepted(), 3u);  // one per stored copy
}

// Issue 14.3: the Subject reaches the queued message (and so the message log), decoded.
TEST_F(SubmissionTest, SubjectDecodedForTheLog) {
  pipeline::Submission sub(services());
  std::string msg = kPlain;
  const auto at = msg.find("Subject: ");
  ASSERT_NE(at, std::string::npos);
  msg.replace(at, msg.find("\r\n", at) - at, "Subject: =?UTF-8?B?R3LDvMOfZQ==?=");
  auto r = sub.submit(request(msg, {"bob@dest.test", "carol@dest.test"}));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(accepted.size(), 1u);
  EXPECT_EQ(accepted[0].subject,
            "Gr\xc3\xbc\xc3\x9f"
            "e");
  EXPECT_EQ(spool->get(accepted[0].id)->subject,
            "Gr\xc3\xbc\xc3\x9f"
            "e");
  EXPECT_EQ(sub.accepted(), 1u);
  EXPECT_EQ(stored(accepted[0].id).find("Gr\xc3\xbc"), std::string::npos);  // message unchanged
}

TEST_F(SubmissionTest, TrackingWithoutHtmlOrSecretStoresOnce) {
  {
    pipeline::Submission sub(services());
    auto req = request(kPlain, {"bob@dest.test", "carol@dest.test"});
    req.options.tracking_url = "https://hooks.example.com/track";
    auto r = sub.submit(req);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->recipients[0].queue_id, r->recipients[1].queue_id);
  }
  {
    auto svc = services();
    svc.tracking_secret.clear();
    pipeline::Submission sub(svc);
    auto req = request(kHtml, {"bob@dest.test", "carol@dest.test", "dave@dest.test"});
    req.options.tracking_url = "https://hooks.example.com/track";
    auto r = sub.submit(req);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->recipients[0].queue_id, r->recipients[2].queue_id);
    EXPECT_EQ(stored(r->recipients[0].queue_id).find("/t/c/"), std::string::npos);
  }
}

TEST_F(SubmissionTest, HeaderFinalKeepsTheSessionHeaderAndQueueId) {
  pipeline::Submission sub(services());
  std::string msg =
      "Received: from c (192.0.2.1) by mx.tern.test (Tern) with ESMTPA id QSMTP; x\r\n" + kHtml;
  auto req = request(msg, {"bob@dest.test", "carol@dest.test", "dave@dest.test"});
  req.header_final = true;
  req.queue_id = "QSMTP";
  req.sender = "anything@elsewhere.test";  // the session checked it already
  req.options.tracking_url = "https://hooks.example.com/track";
  auto r = sub.submit(req);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->recipients[0].queue_id, "QSMTP");
  EXPECT_EQ(r->bulk_id, "QSMTP");
  std::string c = stored("QSMTP");
  EXPECT_EQ(c.rfind("Received: from c (192.0.2.1)", 0), 0u);
  EXPECT_EQ(c.find("with HTTP"), std::string::npos);
  EXPECT_EQ(field(c, "Message-ID"), "<none>");  // header_final: not touched
  EXPECT_NE(c.find("/t/c/"), std::string::npos);
}

TEST_F(SubmissionTest, SignsEachCopyOverItsOwnBody) {
  pipeline::Submission sub(services(true));
  auto req = request(kHtml, {"bob@dest.test", "carol@dest.test", "dave@dest.test"});
  req.options.tracking_url = "https://hooks.example.com/track";
  auto r = sub.submit(req);
  ASSERT_TRUE(r) << r.error().message;
  std::set<std::string> hashes;
  for (const auto& rc : r->recipients) {
    std::string c = stored(rc.queue_id);
    ASSERT_EQ(c.rfind("DKIM-Signature:", 0), 0u) << c.substr(0, 200);
    auto hs = message::parse_header_section(c);
    std::string sig = hs.fields[0].value();
    auto bh = sig.find("bh=");
    ASSERT_NE(bh, std::string::npos);
    std::string bh_val = sig.substr(bh + 3, sig.find(';', bh) - bh - 3);
    dkim::BodyHasher h;
    h.update(c.substr(hs.body_offset + 2));
    EXPECT_EQ(bh_val, h.finish_b64());
    hashes.insert(bh_val);
  }
  EXPECT_EQ(hashes.size(), 3u);  // each copy's body differs (its tokens)
}

// A key that cannot be loaded is a temporary error: nothing is stored (never unsigned), and
// the next submission asks the loader again.
TEST_F(SubmissionTest, SigningKeysUnavailableDefersAndIsNotCached) {
  int loads = 0;
  bool fail = true;
  keys = std::make_unique<pipeline::KeyCache>(
      [&](int64_t, const std::string& domain) -> core::Result<std::vector<pipeline::KeySpec>> {
        ++loads;
        if (fail) return core::Error::temp("database is locked");
        return std::vector<pipeline::KeySpec>{
            {domain, "tern1", dkim::Algorithm::ed25519_sha256, key->to_pem(), 1}};
      });
  auto svc = services();
  svc.dkim_keys = keys.get();
  pipeline::Submission sub(svc);
  auto r = sub.submit(request(kPlain, {"bob@dest.test", "carol@dest.test", "dave@dest.test"}));
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().temporary);
  EXPECT_TRUE(accepted.empty());
  fail = false;
  auto again = sub.submit(request(kPlain, {"bob@dest.test", "carol@dest.test", "dave@dest.test"}));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(loads, 2);
  EXPECT_EQ(stored(again->recipients[0].queue_id).rfind("DKIM-Signature:", 0), 0u);
}

// The SMTP driver keeps a message whole only when Submission would really track it.
TEST_F(SubmissionTest, TracksOnlyWithUrlSecretAndPublicUrl) {
  policy::MessageOptions o;
  EXPECT_FALSE(pipeline::Submission(services()).tracks(o));
  o.tracking_url = "https://hooks.example.com/track";
  EXPECT_TRUE(pipeline::Submission(services()).tracks(o));
  auto no_secret = services();
  no_secret.tracking_secret.clear();
  EXPECT_FALSE(pipeline::Submission(no_secret).tracks(o));
  auto no_url = services();
  no_url.public_url.clear();
  EXPECT_FALSE(pipeline::Submission(no_url).tracks(o));
}

TEST_F(SubmissionTest, OwnMailWithoutAccountSkipsPolicy) {
  pipeline::Submission sub(services(true));
  auto req =
      request("From: noreply@mx.tern.test\r\nTo: x@dest.test\r\nSubject: verify\r\n\r\nclick\r\n",
              {"x@dest.test"});
  req.account = nullptr;
  req.sender = "noreply@mx.tern.test";
  auto r = sub.submit(req);
  ASSERT_TRUE(r) << r.error().message;
  auto m = spool->get(r->recipients[0].queue_id);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->account_id, 0);
  EXPECT_TRUE(m->prepend.empty());
}
