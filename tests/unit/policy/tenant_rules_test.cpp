// Tenant-vs-tenant rules in policy/ (issue 10): the shared header rules (hops, identity
// fields, removed fields) and the per-account rate limiter of the test email.
#include <gtest/gtest.h>

#include "core/clock.hpp"
#include "message/header.hpp"
#include "policy/header_rules.hpp"
#include "policy/rate_limiter.hpp"

using namespace tern::policy;

namespace {
AccountContext ctx() {
  AccountContext c;
  c.domains = {"acme.test"};
  c.senders = {"boss@gmail.test"};
  c.platform_domains = {"platform.test"};
  return c;
}
std::vector<tern::message::HeaderField> fields(const std::string& t) {
  return tern::message::parse_header_section(t).fields;
}
HeaderRules rules() {
  HeaderRules r;
  r.authserv_id = "mx.tern.test";
  r.require_header_rcpts = false;
  return r;
}
std::vector<std::string> kept_names(const HeaderVerdict& v) {
  std::vector<std::string> out;
  for (const auto* f : v.kept) out.push_back(f->name);
  return out;
}
}  // namespace

TEST(HeaderRulesTenant, HopCount) {
  auto c = ctx();
  std::string h = "From: a@acme.test\r\n";
  for (int i = 0; i < 49; ++i) h += "Received: from x by y; Mon, 1 Jan 2024 00:00:00 +0000\r\n";
  EXPECT_TRUE(apply_header_rules(&c, fields(h), {}, rules(), {}).status.ok());
  h += "received: from x by y; Mon, 1 Jan 2024 00:00:00 +0000\r\n";
  auto v = apply_header_rules(&c, fields(h), {}, rules(), {});
  EXPECT_EQ(v.status.line(), "554 5.4.6 Too many hops");
  // Also for Tern's own mail.
  EXPECT_EQ(apply_header_rules(nullptr, fields(h), {}, rules(), {}).status.code, 554);
}

TEST(HeaderRulesTenant, SenderAndResentFromFollowTheFromPolicy) {
  auto c = ctx();
  const std::string from = "From: a@acme.test\r\n";
  EXPECT_TRUE(apply_header_rules(&c, fields(from + "Sender: x@acme.test\r\n"), {}, rules(), {})
                  .status.ok());
  EXPECT_TRUE(apply_header_rules(&c, fields(from + "Sender: boss@gmail.test\r\n"), {}, rules(), {})
                  .status.ok());
  EXPECT_EQ(apply_header_rules(&c, fields(from + "Sender: ceo@other.test\r\n"), {}, rules(), {})
                .status.line(),
            "550 5.7.1 Sender not authorized: <ceo@other.test>");
  EXPECT_EQ(apply_header_rules(&c, fields(from + "Resent-From: a@acme.test, ceo@other.test\r\n"),
                               {}, rules(), {})
                .status.line(),
            "550 5.7.1 Sender not authorized: <ceo@other.test>");
  EXPECT_EQ(
      apply_header_rules(&c, fields(from + "resent-sender: ceo@other.test\r\n"), {}, rules(), {})
          .status.code,
      550);
  EXPECT_EQ(
      apply_header_rules(&c, fields(from + "Sender: garbage\r\n"), {}, rules(), {}).status.enhanced,
      "5.6.0");
  // From itself: as before.
  EXPECT_EQ(
      apply_header_rules(&c, fields("From: ceo@other.test\r\n"), {}, rules(), {}).status.line(),
      "550 5.7.1 Sender not authorized: <ceo@other.test>");
}

TEST(HeaderRulesTenant, SpoofingAidsAreRemoved) {
  auto c = ctx();
  auto f = fields(
      "From: a@acme.test\r\n"
      "Return-Path: <ceo@other.test>\r\n"
      "Authentication-Results: MX.Tern.Test; dkim=pass header.d=other.test\r\n"
      "Authentication-Results: mx.other.example (version 1); spf=pass\r\n"
      "Authentication-Results: (comment) mx.tern.test 1; dmarc=pass\r\n"
      "DKIM-Signature: v=1; a=rsa-sha256; d=other.test; s=x; b=AAAA\r\n"
      "DKIM-Signature: v=1; a=rsa-sha256; d = ACME.test ; s=x; b=BBBB\r\n"
      "DKIM-Signature: v=1; a=rsa-sha256; d=platform.test.; s=x; b=CCCC\r\n"
      "Subject: hi\r\n");
  auto v = apply_header_rules(&c, f, {}, rules(), {});
  ASSERT_TRUE(v.status.ok()) << v.status.line();
  EXPECT_EQ(kept_names(v),
            (std::vector<std::string>{"From", "Authentication-Results", "DKIM-Signature",
                                      "DKIM-Signature", "Subject"}));
  EXPECT_NE(v.kept[1]->raw.find("mx.other.example"), std::string::npos);
  EXPECT_NE(v.kept[2]->raw.find("ACME.test"), std::string::npos);
  EXPECT_NE(v.kept[3]->raw.find("platform.test"), std::string::npos);
  // Tern's own mail keeps its DKIM-Signature fields; Return-Path still goes.
  auto own = apply_header_rules(nullptr, f, {}, rules(), {});
  EXPECT_EQ(own.kept.size(), 6u);
}

TEST(HeaderRulesTenant, Parsers) {
  EXPECT_EQ(authserv_id(" mx.tern.test; spf=pass"), "mx.tern.test");
  EXPECT_EQ(authserv_id("mx.tern.test 1 ; none"), "mx.tern.test");
  EXPECT_EQ(authserv_id("(c (nested)) Mx.Tern.Test.;none"), "mx.tern.test");
  EXPECT_EQ(authserv_id(""), "");
  EXPECT_EQ(dkim_domain("v=1; a=rsa-sha256; d=Example.COM; s=sel"), "example.com");
  EXPECT_EQ(dkim_domain("v=1;\r\n\td=\r\n example.org;"), "example.org");
  EXPECT_EQ(dkim_domain("v=1; s=x"), "");
}

TEST(RateLimiter, BurstThenSteadyPerKey) {
  tern::core::FakeClock clock;
  RateLimiter rl(clock, {5, 5});
  for (int i = 0; i < 5; ++i) EXPECT_EQ(rl.take(1), 0) << i;
  const int64_t wait = rl.take(1);
  EXPECT_GT(wait, 0);
  EXPECT_LE(wait, 12'000);
  EXPECT_EQ(rl.take(2), 0);  // another account has its own bucket
  clock.advance_ms(12'000);
  EXPECT_EQ(rl.take(1), 0);
  EXPECT_GT(rl.take(1), 0);
  clock.advance_ms(3'600'000);  // never more than the burst after a long pause
  for (int i = 0; i < 5; ++i) EXPECT_EQ(rl.take(1), 0) << i;
  EXPECT_GT(rl.take(1), 0);
  RateLimiter off(clock, {0, 0});
  for (int i = 0; i < 100; ++i) EXPECT_EQ(off.take(1), 0);
}

// Only the sender policy's refusals are marked as such (the HTTP API answers them with
// sender_not_authorized); a malformed identity field or a recipient rule is not.
TEST(HeaderRulesTenant, SenderRefusedMarksOnlyThePolicysRefusal) {
  auto c = ctx();
  auto v = apply_header_rules(&c, fields("From: ceo@bank.test\r\n"), {}, rules(), {});
  EXPECT_EQ(v.status.enhanced, "5.7.1");
  EXPECT_TRUE(v.sender_refused);
  v = apply_header_rules(&c, fields("From: a@acme.test\r\nSender: x@evil.test\r\n"), {}, rules(),
                         {});
  EXPECT_TRUE(v.sender_refused);
  v = apply_header_rules(&c, fields("From: garbage\r\n"), {}, rules(), {});
  EXPECT_EQ(v.status.enhanced, "5.6.0");
  EXPECT_FALSE(v.sender_refused);
  auto r = rules();
  r.require_header_rcpts = true;
  c.require_header_rcpts = true;
  v = apply_header_rules(&c, fields("From: a@acme.test\r\nTo: z@else.test\r\n"), {"y@else.test"}, r,
                         {});
  EXPECT_EQ(v.status.enhanced, "5.7.1");
  EXPECT_FALSE(v.sender_refused);
  // The first refusal decides: a malformed From before a foreign Sender is not the policy's.
  v = apply_header_rules(&c, fields("From: garbage\r\nSender: x@evil.test\r\n"), {}, rules(), {});
  EXPECT_FALSE(v.sender_refused);
  EXPECT_TRUE(apply_header_rules(&c, fields("From: a@acme.test\r\n"), {}, rules(), {}).status.ok());
}
