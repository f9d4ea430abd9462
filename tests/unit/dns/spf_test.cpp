// SPF check_host() (RFC 7208) against zones given as text to the fake resolver.
#include "dns/spf.hpp"

#include <gtest/gtest.h>

#include <string>

#include "dns/resolver.hpp"

using namespace tern::dns;
using O = SpfOutcome;

namespace {

SpfResult spf(const std::string& zone, const std::string& ip,
              const std::string& domain = "example.com") {
  auto r = make_fake_resolver(zone);
  return check_host(*r, ip, domain);
}

// One-record zone: example.com TXT "<record>".
std::string rec(const std::string& record, const std::string& extra = "") {
  return "example.com TXT \"" + record + "\"\n" + extra;
}

// Compares outcomes by name so a failure prints "pass" vs "fail", with the explanation.
testing::AssertionResult SpfIs(const char* expr, const char*, const SpfResult& r, O expected) {
  if (r.outcome == expected) return testing::AssertionSuccess();
  return testing::AssertionFailure() << expr << " is " << to_string(r.outcome) << ", expected "
                                     << to_string(expected) << " (" << r.explanation << ")";
}
#define EXPECT_SPF(result, expected) EXPECT_PRED_FORMAT2(SpfIs, result, expected)

}  // namespace

TEST(Spf, NoRecordIsNone) {
  EXPECT_SPF(spf("", "192.0.2.1"), O::none);  // NXDOMAIN
  EXPECT_SPF(spf("example.com TXT \"google-site-verification=x\"", "192.0.2.1"), O::none);
  EXPECT_SPF(spf("example.com A 192.0.2.1", "192.0.2.1"), O::none);  // no TXT
  // "v=spf10" is not a version 1 record.
  EXPECT_SPF(spf(rec("v=spf10 +all"), "192.0.2.1"), O::none);
  EXPECT_SPF(spf(rec("+all"), "192.0.2.1", "localhost"), O::none);  // single label
  EXPECT_SPF(spf("", "192.0.2.1", "a..b.com"), O::none);
}

TEST(Spf, TwoRecordsArePermerror) {
  auto zone = rec("v=spf1 +all") + "example.com TXT \"V=SPF1 -all\"\n";
  SpfResult r = spf(zone, "192.0.2.1");
  EXPECT_SPF(r, O::permerror);
  EXPECT_NE(r.explanation.find("2 SPF records"), std::string::npos) << r.explanation;
  // Other TXT records next to one SPF record are fine.
  EXPECT_SPF(spf(rec("v=spf1 +all") + "example.com TXT \"v=DMARC1\"\n", "192.0.2.1"), O::pass);
}

TEST(Spf, QualifiersAndDefault) {
  EXPECT_SPF(spf(rec("v=spf1 ip4:192.0.2.1 -all"), "192.0.2.1"), O::pass);
  EXPECT_SPF(spf(rec("v=spf1 ip4:192.0.2.1 -all"), "192.0.2.2"), O::fail);
  EXPECT_SPF(spf(rec("v=spf1 ip4:192.0.2.1 ~all"), "192.0.2.2"), O::softfail);
  EXPECT_SPF(spf(rec("v=spf1 ip4:192.0.2.1 ?all"), "192.0.2.2"), O::neutral);
  EXPECT_SPF(spf(rec("v=spf1 -ip4:192.0.2.1 +all"), "192.0.2.1"), O::fail);
  EXPECT_SPF(spf(rec("v=spf1 ip4:192.0.2.1"), "192.0.2.2"), O::neutral);  // nothing matched
  EXPECT_SPF(spf(rec("v=spf1"), "192.0.2.2"), O::neutral);
  // Case-insensitive names, several spaces between terms.
  EXPECT_SPF(spf(rec("V=SPF1   IP4:192.0.2.1   -ALL"), "192.0.2.1"), O::pass);
}

TEST(Spf, Ip4CidrEdges) {
  auto z = rec("v=spf1 ip4:192.0.2.64/26 -all");
  EXPECT_SPF(spf(z, "192.0.2.64"), O::pass);
  EXPECT_SPF(spf(z, "192.0.2.127"), O::pass);
  EXPECT_SPF(spf(z, "192.0.2.63"), O::fail);
  EXPECT_SPF(spf(z, "192.0.2.128"), O::fail);
  EXPECT_SPF(spf(rec("v=spf1 ip4:10.0.0.0/0 -all"), "203.0.113.9"), O::pass);
  EXPECT_SPF(spf(rec("v=spf1 ip4:192.0.2.1/32 -all"), "192.0.2.1"), O::pass);
  EXPECT_SPF(spf(rec("v=spf1 ip4:192.0.2.1/32 -all"), "192.0.2.0"), O::fail);
  // IPv4 rules do not match an IPv6 client, and the other way round.
  EXPECT_SPF(spf(rec("v=spf1 ip4:0.0.0.0/0 -all"), "2001:db8::1"), O::fail);
  EXPECT_SPF(spf(rec("v=spf1 ip6:::/0 -all"), "192.0.2.1"), O::fail);
  // An IPv4-mapped IPv6 client is evaluated as IPv4.
  EXPECT_SPF(spf(rec("v=spf1 ip4:192.0.2.0/24 -all"), "::ffff:192.0.2.7"), O::pass);
}

TEST(Spf, Ip6CidrEdges) {
  auto z = rec("v=spf1 ip6:2001:db8:1::/48 -all");
  EXPECT_SPF(spf(z, "2001:db8:1::1"), O::pass);
  EXPECT_SPF(spf(z, "2001:db8:1:ffff:ffff:ffff:ffff:ffff"), O::pass);
  EXPECT_SPF(spf(z, "2001:db8:2::"), O::fail);
  EXPECT_SPF(spf(rec("v=spf1 ip6:2001:db8::1/128 -all"), "2001:db8::1"), O::pass);
  EXPECT_SPF(spf(rec("v=spf1 ip6:2001:db8::1/128 -all"), "2001:db8::2"), O::fail);
  EXPECT_SPF(spf(rec("v=spf1 ip6:2001:db8::/127 -all"), "2001:db8::1"), O::pass);
  EXPECT_SPF(spf(rec("v=spf1 ip6:2001:db8::/31 -all"), "2001:db9::1"), O::pass);
  EXPECT_SPF(spf(rec("v=spf1 ip6:2001:db8::/32 -all"), "2001:db9::1"), O::fail);
}

TEST(Spf, BadNetworksArePermerror) {
  for (const char* r :
       {"v=spf1 ip4:192.0.2.1/33", "v=spf1 ip4:192.0.2.1/", "v=spf1 ip4:192.0.2",
        "v=spf1 ip4:192.0.2.1/024", "v=spf1 ip4:2001:db8::1", "v=spf1 ip6:192.0.2.1",
        "v=spf1 ip6:2001:db8::/129", "v=spf1 ip4:", "v=spf1 ip4", "v=spf1 ip4:192.0.2.1//24",
        "v=spf1 a/33", "v=spf1 a//129", "v=spf1 ip4:256.0.0.1"})
    EXPECT_SPF(spf(rec(r), "192.0.2.1"), O::permerror) << r;
}

TEST(Spf, AAndMxMechanismsWithDualCidr) {
  std::string z = rec("v=spf1 a mx:mail.example.net/24 a:v6.example.com//64 -all",
                      "example.com A 198.51.100.5\n"
                      "mail.example.net MX 10 mx.mail.example.net\n"
                      "mx.mail.example.net A 203.0.113.10\n"
                      "v6.example.com AAAA 2001:db8:5::1\n");
  EXPECT_SPF(spf(z, "198.51.100.5"), O::pass);
  EXPECT_SPF(spf(z, "198.51.100.6"), O::fail);
  EXPECT_SPF(spf(z, "203.0.113.200"), O::pass);  // /24 around the MX host
  EXPECT_SPF(spf(z, "203.0.114.10"), O::fail);
  EXPECT_SPF(spf(z, "2001:db8:5::ffff"), O::pass);  // //64
  EXPECT_SPF(spf(z, "2001:db8:6::1"), O::fail);
  SpfResult r = spf(z, "203.0.113.200");
  EXPECT_NE(r.explanation.find("mx:mail.example.net/24"), std::string::npos) << r.explanation;
}

TEST(Spf, IncludeChainThreeDeep) {
  std::string z = rec("v=spf1 include:_spf.provider.test ~all",
                      "_spf.provider.test TXT \"v=spf1 include:_net1.provider.test -all\"\n"
                      "_net1.provider.test TXT \"v=spf1 include:_net2.provider.test ?all\"\n"
                      "_net2.provider.test TXT \"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32\"\n");
  SpfResult r = spf(z, "192.0.2.77");
  EXPECT_SPF(r, O::pass);
  EXPECT_EQ(r.dns_lookups, 3);
  EXPECT_NE(r.explanation.find("_net2.provider.test: ip4:192.0.2.0/24"), std::string::npos)
      << r.explanation;
  // Not listed: the inner -all / ?all only make the include not match; the outer ~all decides.
  EXPECT_SPF(spf(z, "198.51.100.1"), O::softfail);
  EXPECT_SPF(spf(z, "2001:db8::25"), O::pass);
}

TEST(Spf, IncludeErrorsPropagate) {
  // Include target without a record → permerror (RFC 7208 §5.2).
  EXPECT_SPF(spf(rec("v=spf1 include:nothing.test -all"), "192.0.2.1"), O::permerror);
  // Temporary failure inside an include → temperror, even with -all behind it.
  EXPECT_SPF(spf(rec("v=spf1 include:broken.test -all", "broken.test SERVFAIL\n"), "192.0.2.1"),
             O::temperror);
  // Syntax error inside an include → permerror.
  EXPECT_SPF(
      spf(rec("v=spf1 include:bad.test -all", "bad.test TXT \"v=spf1 bogus:x\"\n"), "192.0.2.1"),
      O::permerror);
  // TXT lookup of the domain itself failing → temperror.
  EXPECT_SPF(spf("example.com SERVFAIL", "192.0.2.1"), O::temperror);
  // a / mx / exists lookups failing → temperror.
  EXPECT_SPF(spf(rec("v=spf1 a:down.test -all", "down.test SERVFAIL\n"), "192.0.2.1"),
             O::temperror);
  EXPECT_SPF(
      spf(rec("v=spf1 mx -all", "example.com MX 10 down.test\ndown.test SERVFAIL\n"), "192.0.2.1"),
      O::temperror);
  // A failure after a matching mechanism is never reached.
  EXPECT_SPF(spf(rec("v=spf1 ip4:192.0.2.1 a:down.test -all", "down.test SERVFAIL\n"), "192.0.2.1"),
             O::pass);
}

TEST(Spf, Redirect) {
  std::string z = rec("v=spf1 redirect=_spf.provider.test",
                      "_spf.provider.test TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n");
  EXPECT_SPF(spf(z, "192.0.2.9"), O::pass);
  EXPECT_SPF(spf(z, "198.51.100.9"), O::fail);  // the target's -all applies, unlike include
  // Mechanisms before the redirect are tried first; "all" makes the redirect unreachable.
  EXPECT_SPF(spf(rec("v=spf1 ip4:198.51.100.9 redirect=_spf.provider.test",
                     "_spf.provider.test TXT \"v=spf1 -all\"\n"),
                 "198.51.100.9"),
             O::pass);
  EXPECT_SPF(spf(rec("v=spf1 ?all redirect=_spf.provider.test",
                     "_spf.provider.test TXT \"v=spf1 -all\"\n"),
                 "198.51.100.9"),
             O::neutral);
  // Target without a record → permerror; two redirects → permerror.
  EXPECT_SPF(spf(rec("v=spf1 redirect=nothing.test"), "192.0.2.1"), O::permerror);
  EXPECT_SPF(spf(rec("v=spf1 redirect=a.test redirect=b.test"), "192.0.2.1"), O::permerror);
  // exp= is accepted and ignored; twice → permerror.
  EXPECT_SPF(spf(rec("v=spf1 exp=explain.example.com -all"), "192.0.2.1"), O::fail);
  EXPECT_SPF(spf(rec("v=spf1 exp=a.test exp=b.test -all"), "192.0.2.1"), O::permerror);
  // Unknown modifiers are ignored (RFC 7208 §6).
  EXPECT_SPF(spf(rec("v=spf1 foo.bar=baz%{d} +all"), "192.0.2.1"), O::pass);
}

TEST(Spf, LookupLimit) {
  // 10 DNS-querying terms are allowed; the 11th gives permerror.
  std::string zone;
  std::string ten = "v=spf1";
  for (int i = 0; i < 10; ++i) {
    ten += " a:h" + std::to_string(i) + ".example.com";
    zone += "h" + std::to_string(i) + ".example.com A 198.51.100." + std::to_string(i) + "\n";
  }
  SpfResult ok = spf(rec(ten + " ip4:192.0.2.1 -all", zone), "192.0.2.1");
  EXPECT_SPF(ok, O::pass);
  EXPECT_EQ(ok.dns_lookups, 10);
  SpfResult over = spf(rec(ten + " a:h0.example.com ip4:192.0.2.1 -all", zone), "192.0.2.1");
  EXPECT_SPF(over, O::permerror);
  EXPECT_NE(over.explanation.find("more than 10"), std::string::npos) << over.explanation;

  // The count is shared across includes: 4 includes each with 2 lookups + the 4 = 12.
  std::string z2 =
      rec("v=spf1 include:i1.test include:i2.test include:i3.test include:i4.test -all");
  for (int i = 1; i <= 4; ++i)
    z2 += "i" + std::to_string(i) + ".test TXT \"v=spf1 a:h0.example.com a:h1.example.com\"\n";
  z2 += zone;
  EXPECT_SPF(spf(z2, "192.0.2.1"), O::permerror);
  // ip4/ip6/all do not count.
  std::string many = "v=spf1";
  for (int i = 0; i < 50; ++i) many += " ip4:198.51.100." + std::to_string(i);
  EXPECT_SPF(spf(rec(many + " ip4:192.0.2.1 -all"), "192.0.2.1"), O::pass);
}

TEST(Spf, MxHostLimit) {
  std::string z = rec("v=spf1 mx -all");
  for (int i = 0; i < 11; ++i)
    z += "example.com MX " + std::to_string(i) + " mx" + std::to_string(i) + ".example.com\n";
  EXPECT_SPF(spf(z, "192.0.2.1"), O::permerror);
}

TEST(Spf, VoidLookupLimit) {
  // Two void lookups are tolerated, the third is permerror.
  EXPECT_SPF(spf(rec("v=spf1 a:n1.test a:n2.test ip4:192.0.2.1 -all"), "192.0.2.1"), O::pass);
  SpfResult r =
      spf(rec("v=spf1 a:n1.test a:n2.test exists:n3.test ip4:192.0.2.1 -all"), "192.0.2.1");
  EXPECT_SPF(r, O::permerror);
  EXPECT_EQ(r.void_lookups, 3);
  // nodata counts as void too.
  EXPECT_SPF(spf(rec("v=spf1 a:d.test mx:d.test a:d.test -all", "d.test TXT \"x\"\n"), "192.0.2.1"),
             O::permerror);
}

TEST(Spf, LoopsArePermerror) {
  EXPECT_SPF(spf(rec("v=spf1 include:example.com -all"), "192.0.2.1"), O::permerror);
  SpfResult r =
      spf(rec("v=spf1 include:b.test -all",
              "b.test TXT \"v=spf1 include:c.test\"\nc.test TXT \"v=spf1 redirect=example.com\"\n"),
          "192.0.2.1");
  EXPECT_SPF(r, O::permerror);
  EXPECT_NE(r.explanation.find("loop"), std::string::npos) << r.explanation;
  // The same target included twice (no loop) is fine.
  EXPECT_SPF(spf(rec("v=spf1 include:b.test include:b.test ip4:192.0.2.1 -all",
                     "b.test TXT \"v=spf1 ip4:198.51.100.1\"\n"),
                 "192.0.2.1"),
             O::pass);
}

TEST(Spf, ExistsAndPtr) {
  std::string z = rec("v=spf1 exists:%{i}.allow.test -all", "192.0.2.3.allow.test A 127.0.0.2\n");
  EXPECT_SPF(spf(z, "192.0.2.3"), O::pass);
  EXPECT_SPF(spf(z, "192.0.2.4"), O::fail);
  // ptr never matches but counts as a lookup.
  SpfResult p = spf(rec("v=spf1 ptr ptr:example.com ?all"), "192.0.2.1");
  EXPECT_SPF(p, O::neutral);
  EXPECT_EQ(p.dns_lookups, 2);
}

TEST(Spf, Macros) {
  // %{d} is the current domain (the include target inside an include).
  EXPECT_SPF(
      spf(rec("v=spf1 include:sub.%{d} -all",
              "sub.example.com TXT \"v=spf1 exists:ok.%{d}\"\nok.sub.example.com A 127.0.0.1\n"),
          "192.0.2.1"),
      O::pass);
  // %{ir} reverses the address; %{i2} keeps the two rightmost parts; %{v} is in-addr / ip6.
  EXPECT_SPF(
      spf(rec("v=spf1 exists:%{ir}.%{v}.rbl.test -all", "1.2.0.192.in-addr.rbl.test A 127.0.0.2\n"),
          "192.0.2.1"),
      O::pass);
  EXPECT_SPF(spf(rec("v=spf1 exists:%{i2}.x.test -all", "2.1.x.test A 127.0.0.2\n"), "192.0.2.1"),
             O::pass);
  // IPv6 %{i}: dot-separated nibbles.
  std::string nib = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2";
  EXPECT_SPF(
      spf(rec("v=spf1 exists:%{ir}.v6.test -all", nib + ".v6.test A 127.0.0.2\n"), "2001:db8::1"),
      O::pass);
  // %{s}, %{l}, %{o} use postmaster@<domain>; %{o} with delimiter and reverse.
  EXPECT_SPF(spf(rec("v=spf1 exists:%{l}.%{or}.s.test -all",
                     "postmaster.com.example.s.test A 127.0.0.1\n"),
                 "192.0.2.1"),
             O::pass);
  // %% is a literal '%'.
  EXPECT_SPF(spf(rec("v=spf1 exists:%%.x.test -all", "%.x.test A 127.0.0.2\n"), "192.0.2.1"),
             O::pass);
  EXPECT_SPF(spf(rec("v=spf1 exists:%%.x.test -all"), "192.0.2.1"), O::fail);
}

TEST(Spf, MacroErrors) {
  for (const char* r : {"v=spf1 exists:%{x}.test", "v=spf1 exists:%{d0}.test", "v=spf1 exists:%{d",
                        "v=spf1 exists:%{c}.test", "v=spf1 include:%{t}.test", "v=spf1 a:%x.test",
                        "v=spf1 exists:%{d;}.test", "v=spf1 exists:%"})
    EXPECT_SPF(spf(rec(r), "192.0.2.1"), O::permerror) << r;
  // %{h} is valid syntax but unknown here: permerror only when evaluated.
  EXPECT_SPF(spf(rec("v=spf1 exists:%{h}.test -all"), "192.0.2.1"), O::permerror);
  EXPECT_SPF(spf(rec("v=spf1 ip4:192.0.2.1 exists:%{h}.test -all"), "192.0.2.1"), O::pass);
}

TEST(Spf, SyntaxErrorsAnywhereArePermerror) {
  // Even when an earlier mechanism would match (RFC 7208 §4.6: parse first).
  for (const char* r : {"v=spf1 +all bogus", "v=spf1 +all include", "v=spf1 +all include:",
                        "v=spf1 +all all:x", "v=spf1 +all a:example", "v=spf1 +all mx:-bad-.",
                        "v=spf1 +all !all", "v=spf1 +all ++all", "v=spf1 +all =x",
                        "v=spf1 +all redirect=", "v=spf1 +all a:exa\tmple.com", "v=spf1 +all 1x=y"})
    EXPECT_SPF(spf(rec(r), "192.0.2.1"), O::permerror) << r;
}

TEST(Spf, HostileTxt) {
  // NUL inside the record.
  EXPECT_SPF(spf(rec("v=spf1 +all \\000"), "192.0.2.1"), O::permerror);
  EXPECT_SPF(spf(rec("v=spf1 ip4:192.0.2.1\\000 +all"), "192.0.2.1"), O::permerror);
  // Non-ASCII bytes.
  EXPECT_SPF(spf(rec("v=spf1 a:\\200\\201.test +all"), "192.0.2.1"), O::permerror);
  // Very long record (64 KiB of ip4 terms) with a garbage term at the end.
  std::string big = "v=spf1";
  while (big.size() < 65000) big += " ip4:198.51.100.1";
  EXPECT_SPF(spf(rec(big + " +all"), "192.0.2.1"), O::pass);
  EXPECT_SPF(spf(rec(big + " +all %%%garbage"), "192.0.2.1"), O::permerror);
  // A name so long after macro expansion that it is cut from the left (§4.8) still works.
  std::string longlabel(60, 'a');
  std::string spec;
  for (int i = 0; i < 6; ++i) spec += longlabel + ".";
  EXPECT_SPF(spf(rec("v=spf1 exists:" + spec + "%{d} -all"), "192.0.2.1"), O::fail);
  // Long TXT of pure garbage that does not start with v=spf1: not an SPF record.
  EXPECT_SPF(spf(rec(std::string(5000, '\x7f')), "192.0.2.1"), O::none);
  // Bad input address.
  EXPECT_SPF(spf(rec("v=spf1 +all"), "not-an-ip"), O::permerror);
  EXPECT_SPF(spf(rec("v=spf1 +all"), std::string("192.0.2.1\0x", 11)), O::permerror);
}

TEST(Spf, EvaluatePlatform) {
  std::string z = rec("v=spf1 include:_spf.platform.test ~all",
                      "_spf.platform.test TXT \"v=spf1 ip4:192.0.2.10 ip6:2001:db8::10\"\n");
  auto r = make_fake_resolver(z);
  SpfVerdict all = evaluate_platform(*r, "example.com", {"192.0.2.10", "2001:db8::10"});
  EXPECT_TRUE(all.all_pass);
  ASSERT_EQ(all.results.size(), 2u);
  EXPECT_EQ(all.results[1].ip, "2001:db8::10");
  EXPECT_EQ(all.results[1].result.outcome, O::pass);

  SpfVerdict some = evaluate_platform(*r, "example.com", {"192.0.2.10", "192.0.2.11"});
  EXPECT_FALSE(some.all_pass);
  EXPECT_EQ(some.results[0].result.outcome, O::pass);
  EXPECT_EQ(some.results[1].result.outcome, O::softfail);

  EXPECT_FALSE(evaluate_platform(*r, "example.com", {}).all_pass);
  EXPECT_FALSE(evaluate_platform(*r, "missing.test", {"192.0.2.10"}).all_pass);
}
