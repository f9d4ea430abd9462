// The first MessageData of a message carries the merged X-IB-* options (the driver chooses the
// whole-message tracking path from them before storing anything); later pieces carry none.
#include <gtest/gtest.h>

#include "smtp/server_session.hpp"

using namespace tern;

namespace {

std::vector<smtp::MessageData> data_of(smtp::ServerSession& s,
                                       const std::vector<std::string>& writes) {
  std::vector<smtp::MessageData> out;
  for (const auto& w : writes) {
    std::vector<smtp::Action> acts = s.feed(w);
    for (auto& a : acts) {
      if (auto* d = std::get_if<smtp::MessageData>(&a)) out.push_back(std::move(*d));
      if (std::holds_alternative<smtp::CommitMessage>(a)) {
        smtp::CommitResult r;
        r.ok = true;
        s.on_commit(r);
      }
    }
  }
  return out;
}

smtp::ServerSession session(std::shared_ptr<policy::AccountContext> acc) {
  smtp::ConnectionInfo ci;
  ci.remote_ip = "192.0.2.1";
  ci.trusted_account = std::move(acc);
  smtp::SessionConfig cfg;
  cfg.tls_available = false;
  return smtp::ServerSession(cfg, ci, 1700000000);
}

std::shared_ptr<policy::AccountContext> account() {
  auto a = std::make_shared<policy::AccountContext>();
  a->id = 1;
  a->domains = {"example.com"};
  a->require_header_rcpts = false;
  return a;
}

}  // namespace

TEST(SessionOptions, FirstPieceCarriesMergedOptions) {
  auto acc = account();
  acc->defaults.notify_url = "https://n.example.com/default";
  auto s = session(acc);
  s.start();
  auto d = data_of(s, {"EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@dest.test>\r\nDATA\r\n",
                       "From: a@example.com\r\nX-IB-tracking-url: https://t.example.com/x\r\n\r\n",
                       "body line one\r\n", "body line two\r\n.\r\n"});
  ASSERT_GE(d.size(), 2u);
  ASSERT_TRUE(d[0].options.has_value());
  EXPECT_EQ(d[0].options->tracking_url, "https://t.example.com/x");
  EXPECT_EQ(d[0].options->notify_url, "https://n.example.com/default");
  EXPECT_EQ(d[0].bytes.find("X-IB-"), std::string::npos);
  for (size_t i = 1; i < d.size(); ++i) EXPECT_FALSE(d[i].options.has_value()) << i;
}

TEST(SessionOptions, AccountDefaultTrackingUrlWithoutHeader) {
  auto acc = account();
  acc->defaults.tracking_url = "https://t.example.com/default";
  auto s = session(acc);
  s.start();
  auto d = data_of(s, {"EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@dest.test>\r\nDATA\r\n"
                       "From: a@example.com\r\n\r\nhi\r\n.\r\n"});
  ASSERT_FALSE(d.empty());
  ASSERT_TRUE(d[0].options.has_value());
  EXPECT_EQ(d[0].options->tracking_url, "https://t.example.com/default");
}

TEST(SessionOptions, RefusedHeaderHandsOutNothing) {
  auto s = session(account());
  s.start();
  auto d = data_of(s, {"EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@dest.test>\r\nDATA\r\n"
                       "From: a@example.com\r\nX-IB-tracking-url: ftp://x\r\n\r\nhi\r\n.\r\n"});
  EXPECT_TRUE(d.empty());
}

// Issue 14.3: the envelope carries the Subject, RFC 2047 decoded, for the message log.
TEST(SessionOptions, EnvelopeCarriesDecodedSubject) {
  auto s = session(account());
  s.start();
  std::optional<smtp::Envelope> env;
  for (auto& a :
       s.feed("EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@dest.test>\r\nDATA\r\n"
              "From: a@example.com\r\nSubject: Re: =?UTF-8?Q?M=C3=BCller?=\r\n =?UTF-8?B?IMO8YmVy?="
              "\r\n\r\nhi\r\n.\r\n"))
    if (auto* c = std::get_if<smtp::CommitMessage>(&a)) env = c->envelope;
  ASSERT_TRUE(env.has_value());
  EXPECT_EQ(env->subject,
            "Re: M\xc3\xbcller \xc3\xbc"
            "ber");
}
