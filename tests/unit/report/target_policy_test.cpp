// SSRF policy for webhook/tracking targets: URL parsing (scheme, host, port, path, defaults),
// hostile URLs refused (userinfo, controls, spaces, backslash, non-ASCII, overlong, zone ids,
// numeric IPv4 tricks like 2130706433 / 0x7f.1 / 0177.0.0.1 / 127.1), address classification
// for every refused IPv4 and IPv6 range including IPv4 carried in mapped, compatible, NAT64 and
// 6to4 forms, public addresses allowed, and the operator's allow-list (loopback for tests,
// CIDR exceptions).
#include "report/target_policy.hpp"

#include <gtest/gtest.h>

using namespace tern::report;
using tern::dns::IpAddr;

namespace {

IpAddr ip(const char* s) {
  auto a = IpAddr::parse(s);
  EXPECT_TRUE(a.has_value()) << s;
  return a.value_or(IpAddr{});
}

IpAddr v6raw(std::initializer_list<uint8_t> b) {
  uint8_t x[16] = {};
  size_t i = 0;
  for (uint8_t v : b) x[i++] = v;
  return IpAddr::from_v6(x);
}

}  // namespace

TEST(TargetUrl, ParsesPartsAndDefaults) {
  auto u = parse_url("https://Hooks.Example.COM/cb/dlr?x=1&y=2#frag");
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "hooks.example.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->path, "/cb/dlr?x=1&y=2");
  EXPECT_FALSE(u->ip.has_value());

  auto v = parse_url("HTTP://example.com:8080");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->scheme, "http");
  EXPECT_EQ(v->port, 8080);
  EXPECT_EQ(v->path, "/");

  auto q = parse_url("http://example.com?a=b");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->path, "/?a=b");
  EXPECT_EQ(q->port, 80);

  auto lit = parse_url("http://[2001:4860:4860::8888]:8443/x");
  ASSERT_TRUE(lit.ok());
  EXPECT_EQ(lit->host, "2001:4860:4860::8888");
  EXPECT_EQ(lit->port, 8443);
  ASSERT_TRUE(lit->ip.has_value());
  EXPECT_TRUE(lit->ip->v6);

  auto four = parse_url("http://8.8.8.8/");
  ASSERT_TRUE(four.ok());
  ASSERT_TRUE(four->ip.has_value());
  EXPECT_EQ(four->ip->to_string(), "8.8.8.8");

  auto dot = parse_url("https://example.com./");
  ASSERT_TRUE(dot.ok());
  EXPECT_EQ(dot->host, "example.com");
}

TEST(TargetUrl, HostileUrlsRefused) {
  const std::vector<std::string> bad = {
      "",
      "example.com/path",  // no scheme
      "ftp://example.com/",
      "file:///etc/passwd",
      "gopher://127.0.0.1:25/",
      "javascript://example.com/",
      "http:/example.com/",
      "http://",
      "http:///path",
      "http://user:pass@example.com/",  // userinfo
      "http://example.com@127.0.0.1/",
      "http://@example.com/",
      "http://exa mple.com/",
      "http://example.com/a b",
      "http://example.com/\r\nHost: evil",
      std::string("http://example.com/\0x", 20),
      "http://example.com\\@evil.com/",
      "http://ex\xc3\xa4mple.com/",  // raw non-ASCII (IDN must come as punycode)
      "http://example.com:/",
      "http://example.com:0/",
      "http://example.com:65536/",
      "http://example.com:80a/",
      "http://example.com:-1/",
      "http://example..com/",
      "http://.example.com/",
      "http://-example.com/",
      "http://exa_mple.com/",
      "http://exa%6dple.com/",
      "http://" + std::string(64, 'a') + ".com/",  // label > 63
      "http://" +
          std::string(250, 'a')
              .replace(50, 1, ".")
              .replace(100, 1, ".")
              .replace(150, 1, ".")
              .replace(200, 1, ".") +
          ".com/",                                     // name > 253
      "http://example.com/" + std::string(2100, 'a'),  // overlong
      "http://[::1/",
      "http://[fe80::1%25eth0]/",  // zone id
      "http://[127.0.0.1]/",       // brackets around IPv4
      "http://[::1]x/",
      "http://[::1]:/",
      "http://[not:an:ip::zz]/",
      // Numeric IPv4 forms that are not a strict dotted quad:
      "http://2130706433/",
      "http://0x7f.1/",
      "http://0x7f000001/",
      "http://0177.0.0.1/",
      "http://127.1/",
      "http://127.0.1/",
      "http://1.2.3.4.5/",
      "http://017700000001/",
      "http://127.0.0.01/",
      "http://foo.0x10/",
      "http://example.123/",
  };
  for (const std::string& u : bad) {
    auto r = parse_url(u);
    EXPECT_FALSE(r.ok()) << u;
    if (!r.ok()) {
      EXPECT_EQ(r.error().message.rfind("refused URL: ", 0), 0u) << u;
    }
  }
}

TEST(TargetAddress, RefusedIpv4Ranges) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"0.0.0.0", "unspecified"},
      {"0.1.2.3", "unspecified"},
      {"10.0.0.1", "private"},
      {"10.255.255.255", "private"},
      {"172.16.0.1", "private"},
      {"172.31.255.255", "private"},
      {"192.168.1.1", "private"},
      {"100.64.0.1", "shared address space (CGNAT)"},
      {"100.127.255.255", "shared address space (CGNAT)"},
      {"127.0.0.1", "loopback"},
      {"127.255.0.9", "loopback"},
      {"169.254.169.254", "link-local"},
      {"192.0.0.8", "IETF protocol assignment"},
      {"192.0.2.1", "documentation"},
      {"198.51.100.7", "documentation"},
      {"203.0.113.9", "documentation"},
      {"198.18.0.1", "benchmarking"},
      {"198.19.255.255", "benchmarking"},
      {"224.0.0.1", "multicast"},
      {"239.255.255.250", "multicast"},
      {"240.0.0.1", "reserved"},
      {"255.255.255.255", "broadcast"},
  };
  for (const auto& [a, why] : cases) {
    auto r = refusal(ip(a));
    ASSERT_TRUE(r.has_value()) << a;
    EXPECT_EQ(*r, why) << a;
    auto c = check_address(ip(a), {});
    EXPECT_FALSE(c.ok()) << a;
    if (!c.ok()) {
      EXPECT_NE(c.error().message.find(a), std::string::npos);
    }
  }
}

TEST(TargetAddress, PublicAddressesAllowed) {
  for (const char* a :
       {"8.8.8.8", "1.1.1.1", "172.15.255.255", "172.32.0.0", "100.63.255.255", "100.128.0.0",
        "11.0.0.1", "192.169.0.1", "223.255.255.255", "2001:4860:4860::8888", "2a00:1450:4001::1",
        "::8.8.8.8", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"}) {
    EXPECT_FALSE(refusal(ip(a)).has_value()) << a << ": " << refusal(ip(a)).value_or("");
    EXPECT_TRUE(check_address(ip(a), {}).ok()) << a;
  }
}

TEST(TargetAddress, RefusedIpv6Ranges) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"::", "unspecified"},
      {"::1", "loopback"},
      {"fc00::1", "unique-local"},
      {"fdff:ffff::1", "unique-local"},
      {"fe80::1", "link-local"},
      {"febf::1", "link-local"},
      {"fec0::1", "site-local"},
      {"ff02::1", "multicast"},
      {"2001:db8::1", "documentation"},
      {"100::1", "discard"},
      {"64:ff9b:1::1", "local NAT64"},
      {"::127.0.0.1", "loopback (IPv4-compatible)"},
      {"::10.0.0.1", "private (IPv4-compatible)"},
      {"64:ff9b::7f00:1", "loopback (NAT64)"},
      {"64:ff9b::a9fe:a9fe", "link-local (NAT64)"},
      {"2002:7f00:1::", "loopback (6to4)"},
      {"2002:c0a8:101::1", "private (6to4)"},
  };
  for (const auto& [a, why] : cases) {
    auto r = refusal(ip(a));
    ASSERT_TRUE(r.has_value()) << a;
    EXPECT_EQ(*r, why) << a;
    EXPECT_FALSE(check_address(ip(a), {}).ok()) << a;
  }
  // A mapped address built from raw bytes (not through parse, which unmaps it) is judged by
  // the IPv4 address it carries.
  IpAddr mapped = v6raw({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1});
  ASSERT_TRUE(refusal(mapped).has_value());
  EXPECT_EQ(*refusal(mapped), "loopback (IPv4-mapped)");
}

TEST(TargetUrl, CheckUrlRefusesLiteralTargets) {
  for (const char* u :
       {"http://127.0.0.1/", "http://127.0.0.1.:8080/", "http://10.1.2.3/",
        "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/", "http://[0:0:0:0:0:ffff:a00:1]/", "http://[fd00::1]/",
        "http://[fe80::1]/", "http://[64:ff9b::127.0.0.1]/", "http://0.0.0.0/", "http://[::]/"}) {
    auto r = check_url(u, {});
    EXPECT_FALSE(r.ok()) << u;
    if (!r.ok()) {
      EXPECT_EQ(r.error().message.rfind("refused target address", 0), 0u) << u;
    }
  }
  EXPECT_TRUE(check_url("https://8.8.8.8/hook", {}).ok());
  EXPECT_TRUE(check_url("https://hooks.example.com/hook", {}).ok());  // name: caller resolves
}

TEST(TargetPolicyAllow, LoopbackForTests) {
  TargetPolicy p;
  p.allow_loopback = true;
  EXPECT_TRUE(check_address(ip("127.0.0.1"), p).ok());
  EXPECT_TRUE(check_address(ip("::1"), p).ok());
  EXPECT_TRUE(check_url("http://127.0.0.1:9999/hook", p).ok());
  EXPECT_TRUE(check_url("http://[::ffff:127.0.0.1]/", p).ok());
  EXPECT_TRUE(check_address(ip("64:ff9b::7f00:1"), p).ok());
  // Only loopback: the rest stays refused.
  EXPECT_FALSE(check_address(ip("10.0.0.1"), p).ok());
  EXPECT_FALSE(check_address(ip("169.254.169.254"), p).ok());
  EXPECT_FALSE(check_address(ip("fe80::1"), p).ok());
  EXPECT_FALSE(check_address(ip("0.0.0.0"), p).ok());
  EXPECT_FALSE(check_url("http://0x7f.1/", p).ok());  // still not a valid host form
}

TEST(TargetPolicyAllow, OperatorPrefixes) {
  TargetPolicy p;
  p.allow.push_back({ip("10.1.0.0"), 16});
  p.allow.push_back({ip("fd12:3456::"), 32});
  EXPECT_TRUE(check_address(ip("10.1.2.3"), p).ok());
  EXPECT_TRUE(check_address(ip("::10.1.2.3"), p).ok());  // carried IPv4 matches too
  EXPECT_FALSE(check_address(ip("10.2.0.1"), p).ok());
  EXPECT_TRUE(check_address(ip("fd12:3456::1"), p).ok());
  EXPECT_FALSE(check_address(ip("fd12:3457::1"), p).ok());
  EXPECT_FALSE(check_address(ip("127.0.0.1"), p).ok());
}
