// MX selection against the fake resolver: preference order, seeded shuffles among equals,
// implicit and null MX, NXDOMAIN, temporary failures, unresolvable hosts, IP literals, CNAMEs,
// CNAME loops, loopback, and bounded work for hostile zones.
#include "dns/mx.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

using namespace tern;
using namespace tern::dns;
using core::DeliveryOutcome;

namespace {

const char* kZone = R"(
# preference order and equal preferences
example.com MX 20 backup.example.com
example.com MX 10 mx-a.example.com
example.com MX 10 mx-b.example.com
example.com MX 10 mx-c.example.com
mx-a.example.com A 192.0.2.1
mx-b.example.com A 192.0.2.2
mx-b.example.com AAAA 2001:db8::2
mx-c.example.com AAAA 2001:db8::3
mx-c.example.com A 192.0.2.3
mx-c.example.com A 192.0.2.3
backup.example.com A 192.0.2.9

# implicit MX
implicit.test A 198.51.100.7
implicit6.test AAAA 2001:db8::7
nothing.test TXT "v=spf1 -all"
sub.parent.test A 198.51.100.8

# null MX
nullmx.test MX 0 .
nullmx.test A 198.51.100.9
nullmx10.test MX 10 .
mixednull.test MX 0 .
mixednull.test MX 10 mx.mixednull.test
mx.mixednull.test A 198.51.100.10

# temporary failures
servfail.test SERVFAIL
halfbroken.test MX 10 broken.halfbroken.test
halfbroken.test MX 20 ok.halfbroken.test
broken.halfbroken.test SERVFAIL
ok.halfbroken.test A 198.51.100.11
allbroken.test MX 10 broken.allbroken.test
broken.allbroken.test SERVFAIL
implicitbroken.test SERVFAIL

# unresolvable hosts
noaddr.test MX 10 nowhere.noaddr.test
noaddr.test MX 20 ghost.elsewhere.test
nowhere.noaddr.test TXT "no address here"
partial.test MX 10 nowhere.partial.test
partial.test MX 20 good.partial.test
good.partial.test A 198.51.100.12

# IP literal and CNAME targets
literal.test MX 10 192.0.2.55
cname.test MX 10 alias.cname.test
alias.cname.test CNAME real.cname.test
real.cname.test A 198.51.100.13
loop.test MX 10 l1.loop.test
l1.loop.test CNAME l2.loop.test
l2.loop.test CNAME l1.loop.test
domaincname.test CNAME target.test
target.test MX 5 mx.target.test
mx.target.test A 198.51.100.14

# loopback
local.test MX 10 localhost
localhost A 127.0.0.1
localhost AAAA ::1
mixedlocal.test MX 10 localhost
mixedlocal.test MX 20 remote.mixedlocal.test
remote.mixedlocal.test A 198.51.100.15

# duplicates
dup.test MX 30 mx.dup.test
dup.test MX 10 mx.dup.test
mx.dup.test A 198.51.100.16
)";

class MxTest : public ::testing::Test {
 protected:
  std::unique_ptr<Resolver> r = make_fake_resolver(kZone);
  SplitMixRng rng{42};
};

std::vector<std::string> hosts(const MxPlan& p) {
  std::vector<std::string> v;
  for (const auto& h : p.hosts) v.push_back(h.host);
  return v;
}

// Counts queries so a test can check the work done for a hostile zone.
class CountingResolver final : public Resolver {
 public:
  explicit CountingResolver(Resolver& inner) : inner_(inner) {}
  Answer query(const std::string& name, RType type) override {
    ++count;
    return inner_.query(name, type);
  }
  int count = 0;

 private:
  Resolver& inner_;
};

}  // namespace

TEST_F(MxTest, PreferenceOrderAndAddresses) {
  MxPlan p = plan_mx(*r, "Example.COM.", rng);
  ASSERT_TRUE(p.ok()) << p.error->text;
  EXPECT_EQ(p.domain, "example.com");
  EXPECT_FALSE(p.implicit);
  ASSERT_EQ(p.hosts.size(), 4u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(p.hosts[i].preference, 10);
  EXPECT_EQ(p.hosts[3].host, "backup.example.com");
  EXPECT_EQ(p.hosts[3].preference, 20);
  std::set<std::string> first3;
  for (int i = 0; i < 3; ++i) first3.insert(p.hosts[i].host);
  EXPECT_EQ(first3,
            (std::set<std::string>{"mx-a.example.com", "mx-b.example.com", "mx-c.example.com"}));
  for (const auto& h : p.hosts) {
    if (h.host == "mx-b.example.com") {  // IPv4 first, then IPv6
      EXPECT_EQ(h.addrs, (std::vector<std::string>{"192.0.2.2", "2001:db8::2"}));
    }
    if (h.host == "mx-c.example.com") {  // IPv4 first even when AAAA is listed first; deduped
      EXPECT_EQ(h.addrs, (std::vector<std::string>{"192.0.2.3", "2001:db8::3"}));
    }
  }
  EXPECT_TRUE(p.skipped.empty());
}

TEST_F(MxTest, EqualPreferencesShuffleDeterministicallyAndFairly) {
  SplitMixRng a(7), b(7);
  EXPECT_EQ(hosts(plan_mx(*r, "example.com", a)), hosts(plan_mx(*r, "example.com", b)));
  std::map<std::string, int> first;
  std::set<std::vector<std::string>> orders;
  for (uint64_t seed = 0; seed < 3000; ++seed) {
    SplitMixRng s(seed);
    auto h = hosts(plan_mx(*r, "example.com", s));
    ASSERT_EQ(h.size(), 4u);
    ASSERT_EQ(h[3], "backup.example.com");  // never shuffled across preferences
    first[h[0]]++;
    orders.insert(h);
  }
  EXPECT_EQ(orders.size(), 6u);  // all 3! orders of the equal hosts occur
  for (const auto& [host, n] : first) {
    EXPECT_GT(n, 850) << host;  // about 1000 each
    EXPECT_LT(n, 1150) << host;
  }
}

TEST(MxRng, BelowIsInRangeAndCoversIt) {
  SplitMixRng g(1);
  std::set<uint64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    uint64_t v = g.below(7);
    ASSERT_LT(v, 7u);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 7u);
  EXPECT_EQ(g.below(1), 0u);
  EXPECT_EQ(g.below(0), 0u);
  SplitMixRng x(5), y(5), z(6);
  EXPECT_EQ(x.next_u64(), y.next_u64());
  EXPECT_NE(SplitMixRng(5).next_u64(), z.next_u64());
}

TEST_F(MxTest, ImplicitMxOnlyWithAddresses) {
  MxPlan p = plan_mx(*r, "implicit.test", rng);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p.implicit);
  ASSERT_EQ(p.hosts.size(), 1u);
  EXPECT_EQ(p.hosts[0].host, "implicit.test");
  EXPECT_EQ(p.hosts[0].preference, 0);
  EXPECT_EQ(p.hosts[0].addrs, std::vector<std::string>{"198.51.100.7"});

  p = plan_mx(*r, "implicit6.test", rng);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.hosts[0].addrs, std::vector<std::string>{"2001:db8::7"});

  // Exists (TXT) but no MX and no address: unable to route, permanent.
  p = plan_mx(*r, "nothing.test", rng);
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(p.error->is_perm());
  EXPECT_EQ(p.error->enhanced, "5.4.4");
  EXPECT_EQ(p.error->phase, core::Phase::dns);
  EXPECT_TRUE(p.hosts.empty());

  // An empty non-terminal ("parent.test" only has names below it) is nodata: same.
  p = plan_mx(*r, "parent.test", rng);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error->enhanced, "5.4.4");

  // The implicit host's address lookup failing temporarily is temporary, not a bounce.
  // (implicitbroken.test answers SERVFAIL for every type, so the MX query already fails.)
  p = plan_mx(*r, "implicitbroken.test", rng);
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(p.error->is_temp());
  EXPECT_EQ(p.error->enhanced, "4.4.3");
}

TEST_F(MxTest, NullMxBouncesWithoutAddressFallback) {
  for (const char* d : {"nullmx.test", "nullmx10.test"}) {
    MxPlan p = plan_mx(*r, d, rng);
    ASSERT_FALSE(p.ok()) << d;
    EXPECT_TRUE(p.error->is_perm());
    EXPECT_EQ(p.error->enhanced, "5.1.10");
    EXPECT_EQ(p.error->code, 0);  // no remote reply
    EXPECT_NE(p.error->text.find("does not accept mail"), std::string::npos);
    EXPECT_TRUE(p.hosts.empty());
  }
  // "." next to real MX records (RFC 7505 §3 violation): the real ones are used.
  MxPlan p = plan_mx(*r, "mixednull.test", rng);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(hosts(p), std::vector<std::string>{"mx.mixednull.test"});
}

TEST_F(MxTest, NxdomainIsPermanentAndTempErrorsAreTemporary) {
  MxPlan p = plan_mx(*r, "no-such-domain.test", rng);
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(p.error->is_perm());
  EXPECT_EQ(p.error->enhanced, "5.1.2");

  p = plan_mx(*r, "servfail.test", rng);
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(p.error->is_temp());
  EXPECT_EQ(p.error->enhanced, "4.4.3");
  EXPECT_NE(p.error->text.find("SERVFAIL"), std::string::npos);

  // The preferred host's lookup fails: the backup is used, the failure noted.
  p = plan_mx(*r, "halfbroken.test", rng);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(hosts(p), std::vector<std::string>{"ok.halfbroken.test"});
  ASSERT_EQ(p.skipped.size(), 1u);
  EXPECT_EQ(p.skipped[0].rfind("broken.halfbroken.test: ", 0), 0u);

  p = plan_mx(*r, "allbroken.test", rng);
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(p.error->is_temp());
  EXPECT_EQ(p.error->enhanced, "4.4.3");
}

TEST_F(MxTest, HostsWithoutAddressesAreSkipped) {
  MxPlan p = plan_mx(*r, "partial.test", rng);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(hosts(p), std::vector<std::string>{"good.partial.test"});
  EXPECT_EQ(p.skipped, std::vector<std::string>{"nowhere.partial.test: no address"});

  // Every host lacks an address (nodata, nxdomain): temporary, the zone may be fixed.
  p = plan_mx(*r, "noaddr.test", rng);
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(p.error->is_temp());
  EXPECT_EQ(p.error->enhanced, "4.4.4");
  EXPECT_EQ(p.skipped.size(), 2u);
}

TEST_F(MxTest, IpLiteralAndCnameTargetsAreTolerated) {
  MxPlan p = plan_mx(*r, "literal.test", rng);
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p.hosts.size(), 1u);
  EXPECT_EQ(p.hosts[0].addrs, std::vector<std::string>{"192.0.2.55"});

  p = plan_mx(*r, "cname.test", rng);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.hosts[0].host, "alias.cname.test");  // the MX name is kept (TLS name checks)
  EXPECT_EQ(p.hosts[0].addrs, std::vector<std::string>{"198.51.100.13"});

  // The domain itself a CNAME: the MX query follows it.
  p = plan_mx(*r, "domaincname.test", rng);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(hosts(p), std::vector<std::string>{"mx.target.test"});

  // A CNAME loop behind the MX host is a temporary failure, never a hang or a bounce.
  p = plan_mx(*r, "loop.test", rng);
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(p.error->is_temp());
}

TEST_F(MxTest, LoopbackKeptByDefaultRejectedOnRequest) {
  MxPlan p = plan_mx(*r, "local.test", rng);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.hosts[0].addrs, (std::vector<std::string>{"127.0.0.1", "::1"}));

  MxOptions strict;
  strict.reject_loopback = true;
  p = plan_mx(*r, "local.test", rng, strict);
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(p.error->is_perm());
  EXPECT_EQ(p.error->enhanced, "5.4.6");

  p = plan_mx(*r, "mixedlocal.test", rng, strict);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(hosts(p), std::vector<std::string>{"remote.mixedlocal.test"});

  auto lit = make_fake_resolver("a.test MX 10 127.0.0.2\nb.test MX 10 0.0.0.0\n");
  EXPECT_FALSE(plan_mx(*lit, "a.test", rng, strict).ok());
  EXPECT_FALSE(plan_mx(*lit, "b.test", rng, strict).ok());
  EXPECT_TRUE(plan_mx(*lit, "a.test", rng).ok());
}

TEST_F(MxTest, DuplicateHostsKeepTheirBestPreference) {
  MxPlan p = plan_mx(*r, "dup.test", rng);
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p.hosts.size(), 1u);
  EXPECT_EQ(p.hosts[0].preference, 10);
}

TEST_F(MxTest, BadDomainsArePermanent) {
  for (std::string d : {std::string(""), std::string("."), std::string("a..b"),
                        std::string(300, 'a'), std::string("bad domain.test"),
                        std::string("[192.0.2.1]"), std::string("exa\\000mple.test"),
                        std::string("b\xc3\xbc"
                                    "cher.test")}) {
    MxPlan p = plan_mx(*r, d, rng);
    ASSERT_FALSE(p.ok()) << d;
    EXPECT_TRUE(p.error->is_perm()) << d;
    EXPECT_EQ(p.error->enhanced, "5.1.2") << d;
  }
}

TEST_F(MxTest, HostileZonesAreBounded) {
  std::string zone;
  for (int i = 0; i < 500; ++i) {
    zone += "big.test MX " + std::to_string(i % 3) + " h" + std::to_string(i) + ".big.test\n";
    zone += "h" + std::to_string(i) + ".big.test A 192.0.2." + std::to_string(i % 250 + 1) + "\n";
  }
  for (int i = 0; i < 40; ++i) zone += "many.big.test A 198.51.100." + std::to_string(i + 1) + "\n";
  zone += "wide.test MX 10 many.big.test\n";
  auto fr = make_fake_resolver(zone);
  CountingResolver counting(*fr);
  MxPlan p = plan_mx(counting, "big.test", rng);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.hosts.size(), 10u);
  EXPECT_EQ(p.skipped.size(), 490u);
  for (const auto& h : p.hosts) EXPECT_EQ(h.preference, 0);  // the best ones were kept
  EXPECT_LE(counting.count, 1 + 2 * 10);

  p = plan_mx(*fr, "wide.test", rng);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.hosts[0].addrs.size(), 8u);

  // MX host names that are no host names (escaped odd bytes from the wire) are skipped.
  auto odd = make_fake_resolver(
      "odd.test MX 10 a\\000b.odd.test\nodd.test MX 20 ok.odd.test\n"
      "ok.odd.test A 192.0.2.80\n");
  p = plan_mx(*odd, "odd.test", rng);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(hosts(p), std::vector<std::string>{"ok.odd.test"});
  ASSERT_EQ(p.skipped.size(), 1u);
  EXPECT_NE(p.skipped[0].find("not a host name"), std::string::npos);
}
