// The fake resolver answers like a recursive resolver would: statuses, CNAME chains, TXT
// strings joined, MX order, SERVFAIL markers.
#include <gtest/gtest.h>

#include <stdexcept>

#include "dns/resolver.hpp"

using namespace tern::dns;
using S = Answer::Status;

namespace {

const char* kZone = R"(
# comment lines and blank lines are skipped
example.com MX 20 mx2.example.com
example.com MX 10 MX1.Example.COM.
example.com TXT "v=spf1 " "ip4:192.0.2.0/24 -all"
example.com TXT "second record"
mx1.example.com A 192.0.2.10
mx1.example.com AAAA 2001:db8::10
sel._domainkey.example.com CNAME sel-acme._domainkey.dkim.platform.test
sel-acme._domainkey.dkim.platform.test TXT "v=DKIM1; k=rsa; " "p=AAAA"
hop1.example.com CNAME hop2.example.com
hop2.example.com CNAME mx1.example.com
loop1.example.com CNAME loop2.example.com
loop2.example.com CNAME loop1.example.com
broken.example.com SERVFAIL
via.example.com CNAME broken.example.com
dangling.example.com CNAME nowhere.example.net
esc.example.com TXT "quote \" backslash \\ byte \065"
)";

}  // namespace

TEST(FakeResolver, TxtStringsAreConcatenatedPerRecord) {
  auto r = make_fake_resolver(kZone);
  Answer a = r->query("example.com", RType::TXT);
  ASSERT_EQ(a.status, S::ok);
  ASSERT_EQ(a.txt.size(), 2u);
  EXPECT_EQ(a.txt[0], "v=spf1 ip4:192.0.2.0/24 -all");
  EXPECT_EQ(a.txt[1], "second record");
  EXPECT_EQ(a.canonical_name, "example.com");
  EXPECT_TRUE(a.cnames.empty());
}

TEST(FakeResolver, TxtEscapes) {
  auto r = make_fake_resolver(kZone);
  Answer a = r->query("esc.example.com", RType::TXT);
  ASSERT_EQ(a.status, S::ok);
  EXPECT_EQ(a.txt.at(0), "quote \" backslash \\ byte A");
}

TEST(FakeResolver, MxSortedByPreferenceAndNormalised) {
  auto r = make_fake_resolver(kZone);
  Answer a = r->query("EXAMPLE.com.", RType::MX);
  ASSERT_EQ(a.status, S::ok);
  ASSERT_EQ(a.mx.size(), 2u);
  EXPECT_EQ(a.mx[0].preference, 10);
  EXPECT_EQ(a.mx[0].host, "mx1.example.com");
  EXPECT_EQ(a.mx[1].preference, 20);
  EXPECT_EQ(a.mx[1].host, "mx2.example.com");
}

TEST(FakeResolver, AddressesByFamily) {
  auto r = make_fake_resolver(kZone);
  EXPECT_EQ(r->query("mx1.example.com", RType::A).addrs, std::vector<std::string>{"192.0.2.10"});
  EXPECT_EQ(r->query("mx1.example.com", RType::AAAA).addrs,
            std::vector<std::string>{"2001:db8::10"});
}

TEST(FakeResolver, FollowsCnameIntoAnotherZone) {
  auto r = make_fake_resolver(kZone);
  Answer a = r->query("sel._domainkey.example.com", RType::TXT);
  ASSERT_EQ(a.status, S::ok);
  EXPECT_EQ(a.cnames, std::vector<std::string>{"sel-acme._domainkey.dkim.platform.test"});
  EXPECT_EQ(a.canonical_name, "sel-acme._domainkey.dkim.platform.test");
  EXPECT_EQ(a.txt, std::vector<std::string>{"v=DKIM1; k=rsa; p=AAAA"});
}

TEST(FakeResolver, ChainOfTwoReportedInOrder) {
  auto r = make_fake_resolver(kZone);
  Answer a = r->query("hop1.example.com", RType::A);
  ASSERT_EQ(a.status, S::ok);
  EXPECT_EQ(a.cnames, (std::vector<std::string>{"hop2.example.com", "mx1.example.com"}));
  EXPECT_EQ(a.addrs, std::vector<std::string>{"192.0.2.10"});
}

TEST(FakeResolver, CnameQueryIsNotFollowed) {
  auto r = make_fake_resolver(kZone);
  Answer a = r->query("hop1.example.com", RType::CNAME);
  ASSERT_EQ(a.status, S::ok);
  EXPECT_EQ(a.cnames, std::vector<std::string>{"hop2.example.com"});
  EXPECT_EQ(r->query("mx1.example.com", RType::CNAME).status, S::nodata);
}

TEST(FakeResolver, CnameLoopIsTempError) {
  auto r = make_fake_resolver(kZone);
  Answer a = r->query("loop1.example.com", RType::A);
  EXPECT_EQ(a.status, S::temp_error);
  EXPECT_NE(a.error.find("loop"), std::string::npos);
}

TEST(FakeResolver, NxdomainVersusNodata) {
  auto r = make_fake_resolver(kZone);
  EXPECT_EQ(r->query("missing.example.com", RType::TXT).status, S::nxdomain);
  EXPECT_EQ(r->query("mx1.example.com", RType::TXT).status, S::nodata);
  // An empty non-terminal exists (RFC 8020): names below it have records.
  EXPECT_EQ(r->query("_domainkey.example.com", RType::TXT).status, S::nodata);
  Answer d = r->query("dangling.example.com", RType::A);
  EXPECT_EQ(d.status, S::nxdomain);
  EXPECT_EQ(d.cnames, std::vector<std::string>{"nowhere.example.net"});
}

TEST(FakeResolver, ServfailMarkerAlsoThroughCname) {
  auto r = make_fake_resolver(kZone);
  EXPECT_EQ(r->query("broken.example.com", RType::TXT).status, S::temp_error);
  EXPECT_EQ(r->query("broken.example.com", RType::A).status, S::temp_error);
  EXPECT_EQ(r->query("via.example.com", RType::MX).status, S::temp_error);
}

TEST(FakeResolver, BadZoneTextThrows) {
  EXPECT_THROW(make_fake_resolver("x.test A not-an-ip"), std::invalid_argument);
  EXPECT_THROW(make_fake_resolver("x.test AAAA 192.0.2.1"), std::invalid_argument);
  EXPECT_THROW(make_fake_resolver("x.test TXT \"unterminated"), std::invalid_argument);
  EXPECT_THROW(make_fake_resolver("x.test MX ten host.test"), std::invalid_argument);
  EXPECT_THROW(make_fake_resolver("x.test SRV 1 2 3 x"), std::invalid_argument);
  EXPECT_THROW(make_fake_resolver("x.test"), std::invalid_argument);
}
