// Records to publish and their DNS checks, against the fake resolver (zone text): ownership,
// SPF evaluated through include chains, DKIM direct and delegated (CNAMEs), DMARC; transitions
// (verification, rotation switch, DNS errors keep states); BIND zone output.
#include "domain/check.hpp"

#include <gtest/gtest.h>

#include "dns/resolver.hpp"
#include "domain/records.hpp"
#include "domain/transition.hpp"
#include "domain/zone.hpp"

namespace tern::domain {
namespace {

const std::string kKey1 = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAkey1";
const std::string kKey2 = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAkey2";

store::DkimKey key(int slot, const std::string& alg, const std::string& pub) {
  store::DkimKey k;
  k.slot = slot;
  k.algorithm = *dkim::parse_key_type(alg);
  k.selector = selector_name(slot, k.algorithm);
  k.public_b64 = pub;
  return k;
}

store::DomainDetail detail(const std::string& mode = "direct") {
  store::DomainDetail d;
  d.account_id = 1;
  d.domain = "example.com";
  d.dkim_mode = mode;
  d.token = "tok123";
  return d;
}

Platform platform() {
  Platform p;
  p.dkim_zone = "dkim.platform.test";
  p.spf_include = "spf.platform.test";
  p.sending_ips = {"192.0.2.10", "2001:db8::10"};
  return p;
}

const Record& by_id(const std::vector<Record>& rs, const std::string& id) {
  for (const auto& r : rs)
    if (r.id == id) return r;
  throw std::runtime_error("no record " + id);
}

std::vector<Record> run(const std::string& zone, const store::DomainDetail& d,
                        const Platform& p = platform()) {
  auto res = dns::make_fake_resolver(zone);
  auto expected = expected_records(d, "abcd2345", {key(1, "rsa", kKey1), key(2, "rsa", kKey2)}, p);
  return check_records(*res, d.domain, expected, p, platform_addresses(*res, p));
}

const std::string kPlatformSpf =
    "spf.platform.test TXT \"v=spf1 ip4:192.0.2.0/24 include:spf6.platform.test -all\"\n"
    "spf6.platform.test TXT \"v=spf1 ip6:2001:db8::/32 -all\"\n";

const std::string kGood = kPlatformSpf +
                          "_tern.example.com TXT \"tern-verification=tok123\"\n"
                          "_tern.example.com TXT \"something else\"\n"
                          "example.com TXT \"v=spf1 include:spf.platform.test ~all\"\n"
                          "example.com TXT \"google-site-verification=xyz\"\n"
                          "tern1._domainkey.example.com TXT \"v=DKIM1; k=rsa; \" \"p=" +
                          kKey1 +
                          "\"\n"
                          "tern2._domainkey.example.com TXT \"v=DKIM1; p=" +
                          kKey2 +
                          "\"\n"
                          "_dmarc.example.com TXT \"v=DMARC1; p=reject\"\n";

TEST(Records, DirectSetHasEveryRecordWithItsPurpose) {
  auto rs = expected_records(detail(), "abcd2345", {key(1, "rsa", kKey1), key(2, "rsa", kKey2)},
                             platform());
  ASSERT_EQ(rs.size(), 5u);
  EXPECT_EQ(by_id(rs, "ownership").name, "_tern.example.com");
  EXPECT_EQ(by_id(rs, "ownership").value, "tern-verification=tok123");
  EXPECT_EQ(by_id(rs, "spf").value, "v=spf1 include:spf.platform.test ~all");
  EXPECT_EQ(by_id(rs, "dkim:tern1").type, "TXT");
  EXPECT_EQ(by_id(rs, "dkim:tern1").name, "tern1._domainkey.example.com");
  EXPECT_EQ(by_id(rs, "dkim:tern1").value, "v=DKIM1; k=rsa; p=" + kKey1);
  EXPECT_NE(by_id(rs, "dkim:tern1").purpose.find("active"), std::string::npos);
  EXPECT_NE(by_id(rs, "dkim:tern2").purpose.find("standby"), std::string::npos);
  EXPECT_EQ(by_id(rs, "dmarc").value, "v=DMARC1; p=none; rua=mailto:dmarc@example.com");
  for (const auto& r : rs) {
    EXPECT_EQ(r.status, store::RecordStatus::pending) << r.id;
    EXPECT_FALSE(r.purpose.empty()) << r.id;
  }
}

TEST(Records, DelegatedSelectorsAreCnamesIntoThePlatformZone) {
  auto rs = expected_records(detail("delegated"), "abcd2345",
                             {key(1, "rsa", kKey1), key(2, "rsa", kKey2)}, platform());
  EXPECT_EQ(by_id(rs, "dkim:tern1").type, "CNAME");
  EXPECT_EQ(by_id(rs, "dkim:tern1").value, "tern1-abcd2345._domainkey.dkim.platform.test");
  EXPECT_EQ(by_id(rs, "dkim:tern2").value, "tern2-abcd2345._domainkey.dkim.platform.test");
  EXPECT_EQ(by_id(rs, "dkim:tern1").key_txt, "v=DKIM1; k=rsa; p=" + kKey1);
}

TEST(Records, SpfFromIpsWithoutIncludeAndNoneWithNeither) {
  Platform p;
  p.sending_ips = {"192.0.2.1", "2001:db8::1"};
  EXPECT_EQ(spf_record(p), "v=spf1 ip4:192.0.2.1 ip6:2001:db8::1 ~all");
  p.sending_ips.clear();
  EXPECT_EQ(spf_record(p), "");
  auto rs = expected_records(detail(), "c", {}, p);
  for (const auto& r : rs) EXPECT_NE(r.id, "spf");
  EXPECT_EQ(rs.size(), 2u);  // no keys yet: ownership + DMARC only
}

TEST(Records, Ed25519AddsItsOwnSelectors) {
  auto d = detail();
  d.ed25519 = true;
  auto rs = expected_records(d, "c",
                             {key(1, "rsa", kKey1), key(1, "ed25519", "EDKEY"),
                              key(2, "rsa", kKey2), key(2, "ed25519", "EDKEY2")},
                             platform());
  EXPECT_EQ(by_id(rs, "dkim:tern1e").value, "v=DKIM1; k=ed25519; p=EDKEY");
  EXPECT_EQ(by_id(rs, "dkim:tern2e").name, "tern2e._domainkey.example.com");
}

TEST(Check, AllPublishedRecordsAreOk) {
  auto rs = run(kGood, detail());
  for (const auto& r : rs) EXPECT_EQ(r.status, store::RecordStatus::ok) << r.id << ": " << r.found;
}

TEST(Check, MissingRecords) {
  auto rs = run(kPlatformSpf + "example.com A 192.0.2.99\n", detail());
  for (const auto& r : rs)
    EXPECT_EQ(r.status, store::RecordStatus::missing) << r.id << ": " << r.found;
  // The zone not existing at all is the same.
  rs = run(kPlatformSpf, detail());
  for (const auto& r : rs) EXPECT_EQ(r.status, store::RecordStatus::missing) << r.id;
}

TEST(Check, WrongRecordsSayWhatWasFound) {
  const std::string zone = kPlatformSpf +
                           "_tern.example.com TXT \"tern-verification=someoneelse\"\n"
                           "example.com TXT \"v=spf1 ip4:198.51.100.0/24 -all\"\n"
                           "tern1._domainkey.example.com TXT \"v=DKIM1; k=rsa; p=OTHERKEY\"\n"
                           "tern2._domainkey.example.com TXT \"v=DKIM1; k=rsa; p=\"\n"
                           "_dmarc.example.com TXT \"v=DMARC1; p=none\"\n"
                           "_dmarc.example.com TXT \"v=DMARC1; p=reject\"\n";
  auto rs = run(zone, detail());
  EXPECT_EQ(by_id(rs, "ownership").status, store::RecordStatus::wrong);
  EXPECT_NE(by_id(rs, "ownership").found.find("someoneelse"), std::string::npos);
  EXPECT_EQ(by_id(rs, "spf").status, store::RecordStatus::wrong);
  EXPECT_NE(by_id(rs, "spf").found.find("192.0.2.10: fail"), std::string::npos)
      << by_id(rs, "spf").found;
  EXPECT_NE(by_id(rs, "spf").found.find("2001:db8::10: fail"), std::string::npos);
  EXPECT_EQ(by_id(rs, "dkim:tern1").status, store::RecordStatus::wrong);
  EXPECT_NE(by_id(rs, "dkim:tern1").found.find("p=OTHERKEY"), std::string::npos);
  EXPECT_EQ(by_id(rs, "dkim:tern2").status, store::RecordStatus::wrong);
  EXPECT_NE(by_id(rs, "dkim:tern2").found.find("revoked"), std::string::npos);
  EXPECT_EQ(by_id(rs, "dmarc").status, store::RecordStatus::wrong);
}

TEST(Check, SpfIsEvaluatedNotStringMatched) {
  auto d = detail();
  // The include is there, but a -all placed before it means nothing passes.
  auto rs = run(kPlatformSpf + "example.com TXT \"v=spf1 -all include:spf.platform.test\"\n", d);
  EXPECT_EQ(by_id(rs, "spf").status, store::RecordStatus::wrong);
  // No include term at all, but the addresses pass through another route: ok.
  rs = run(kPlatformSpf + "example.com TXT \"v=spf1 ip4:192.0.2.10 ip6:2001:db8::/64 ~all\"\n", d);
  EXPECT_EQ(by_id(rs, "spf").status, store::RecordStatus::ok) << by_id(rs, "spf").found;
  // Only one of the two addresses passes: wrong, naming the one that did not.
  rs = run(kPlatformSpf + "example.com TXT \"v=spf1 ip4:192.0.2.10 ~all\"\n", d);
  EXPECT_EQ(by_id(rs, "spf").status, store::RecordStatus::wrong);
  EXPECT_NE(by_id(rs, "spf").found.find("2001:db8::10: softfail"), std::string::npos)
      << by_id(rs, "spf").found;
  EXPECT_EQ(by_id(rs, "spf").found.find("192.0.2.10:"), std::string::npos);
  // Two SPF records: permerror for receivers (RFC 7208 §4.5), so wrong.
  rs = run(kPlatformSpf + "example.com TXT \"v=spf1 include:spf.platform.test ~all\"\n" +
               "example.com TXT \"v=spf1 -all\"\n",
           d);
  EXPECT_EQ(by_id(rs, "spf").status, store::RecordStatus::wrong);
  EXPECT_NE(by_id(rs, "spf").found.find("2 SPF records"), std::string::npos);
  // "v=spf10" is not an SPF record.
  rs = run(kPlatformSpf + "example.com TXT \"v=spf10 include:spf.platform.test\"\n", d);
  EXPECT_EQ(by_id(rs, "spf").status, store::RecordStatus::missing);
}

TEST(Check, PlatformAddressesFromTheIncludeHostWhenNoSendingIps) {
  Platform p = platform();
  p.sending_ips.clear();
  auto res = dns::make_fake_resolver(kPlatformSpf);
  auto ips = platform_addresses(*res, p);
  EXPECT_FALSE(ips.temp_error);
  EXPECT_EQ(ips.ips, (std::vector<std::string>{"192.0.2.0", "2001:db8::"}));
  auto rs = run(kGood, detail(), p);
  EXPECT_EQ(by_id(rs, "spf").status, store::RecordStatus::ok) << by_id(rs, "spf").found;
  rs = run(kPlatformSpf + "example.com TXT \"v=spf1 ip4:192.0.2.0/24 ~all\"\n", detail(), p);
  EXPECT_EQ(by_id(rs, "spf").status, store::RecordStatus::wrong);  // the IPv6 range does not pass
  // A looping include chain ends; a SERVFAIL on the include host is a DNS error, not "wrong".
  auto loop = dns::make_fake_resolver(
      "spf.platform.test TXT \"v=spf1 ip4:192.0.2.1 include:spf.platform.test\"\n");
  EXPECT_EQ(platform_addresses(*loop, p).ips, std::vector<std::string>{"192.0.2.1"});
  auto down = dns::make_fake_resolver("spf.platform.test SERVFAIL\n");
  EXPECT_TRUE(platform_addresses(*down, p).temp_error);
  rs = run("spf.platform.test SERVFAIL\n" + kGood.substr(kPlatformSpf.size()), detail(), p);
  EXPECT_EQ(by_id(rs, "spf").status, store::RecordStatus::error);
  // Neither IPs nor a readable include policy: the include term itself is checked.
  rs = run(kGood.substr(kPlatformSpf.size()), detail(), p);
  EXPECT_EQ(by_id(rs, "spf").status, store::RecordStatus::ok);
  rs = run("example.com TXT \"v=spf1 include:spf.platform.test.evil ~all\"\n", detail(), p);
  EXPECT_EQ(by_id(rs, "spf").status, store::RecordStatus::wrong);
}

TEST(Check, DkimKeyMatchIgnoresFoldingWhitespaceAndChecksAlgorithm) {
  const std::string half = kKey1.substr(0, 20), rest = kKey1.substr(20);
  auto rs = run(
      "tern1._domainkey.example.com TXT \"v=DKIM1;k=rsa;p=" + half + " \" \"  " + rest + " ;\"\n",
      detail());
  EXPECT_EQ(by_id(rs, "dkim:tern1").status, store::RecordStatus::ok)
      << by_id(rs, "dkim:tern1").found;
  rs = run("tern1._domainkey.example.com TXT \"v=DKIM1; k=ed25519; p=" + kKey1 + "\"\n", detail());
  EXPECT_EQ(by_id(rs, "dkim:tern1").status, store::RecordStatus::wrong);
  // A prefix of the key is not the key.
  rs = run("tern1._domainkey.example.com TXT \"v=DKIM1; p=" + half + "\"\n", detail());
  EXPECT_EQ(by_id(rs, "dkim:tern1").status, store::RecordStatus::wrong);
  // Hostile values: no tags, stray semicolons, huge junk.
  rs =
      run("tern1._domainkey.example.com TXT \";;;==;p\"\n"
          "tern2._domainkey.example.com TXT \"" +
              std::string(3000, 'x') + "\"\n",
          detail());
  EXPECT_EQ(by_id(rs, "dkim:tern1").status, store::RecordStatus::wrong);
  EXPECT_EQ(by_id(rs, "dkim:tern2").status, store::RecordStatus::wrong);
  // A direct record reached through the customer's own CNAME is fine.
  rs =
      run("tern1._domainkey.example.com CNAME keys.example.net\n"
          "keys.example.net TXT \"v=DKIM1; p=" +
              kKey1 +
              "\"\n"
              "tern2._domainkey.example.com CNAME gone.example.net\n",
          detail());
  EXPECT_EQ(by_id(rs, "dkim:tern1").status, store::RecordStatus::ok);
  EXPECT_EQ(by_id(rs, "dkim:tern2").status, store::RecordStatus::missing);
  EXPECT_NE(by_id(rs, "dkim:tern2").found.find("gone.example.net"), std::string::npos);
}

TEST(Check, DelegatedFollowsTheCnameToThePlatformKey) {
  const std::string platform_zone =
      "tern1-abcd2345._domainkey.dkim.platform.test TXT \"v=DKIM1; k=rsa; \" \"p=" + kKey1 + "\"\n";
  auto d = detail("delegated");
  auto rs =
      run(platform_zone +
              "tern1._domainkey.example.com CNAME tern1-abcd2345._domainkey.dkim.platform.test.\n"
              "tern2._domainkey.example.com CNAME tern2-abcd2345._domainkey.dkim.platform.test\n",
          d);
  EXPECT_EQ(by_id(rs, "dkim:tern1").status, store::RecordStatus::ok)
      << by_id(rs, "dkim:tern1").found;
  // The CNAME is right but the platform has not published that key.
  EXPECT_EQ(by_id(rs, "dkim:tern2").status, store::RecordStatus::wrong);
  EXPECT_NE(by_id(rs, "dkim:tern2").found.find("CNAME ok"), std::string::npos);
  EXPECT_NE(by_id(rs, "dkim:tern2").found.find("tern dns zone"), std::string::npos);

  rs = run(platform_zone +
               "tern1._domainkey.example.com CNAME tern1-zzzz._domainkey.dkim.platform.test\n"
               "tern2._domainkey.example.com TXT \"v=DKIM1; p=" +
               kKey2 + "\"\n",
           d);
  EXPECT_EQ(by_id(rs, "dkim:tern1").status, store::RecordStatus::wrong);
  EXPECT_NE(by_id(rs, "dkim:tern1").found.find("CNAME to tern1-zzzz._domainkey"),
            std::string::npos);
  EXPECT_EQ(by_id(rs, "dkim:tern2").status,
            store::RecordStatus::wrong);  // a TXT where a CNAME belongs
  EXPECT_NE(by_id(rs, "dkim:tern2").found.find("TXT instead of CNAME"), std::string::npos);

  // The platform zone holds another key under the right name.
  rs =
      run("tern1-abcd2345._domainkey.dkim.platform.test TXT \"v=DKIM1; p=STALE\"\n"
          "tern1._domainkey.example.com CNAME tern1-abcd2345._domainkey.dkim.platform.test\n",
          d);
  EXPECT_EQ(by_id(rs, "dkim:tern1").status, store::RecordStatus::wrong);
  EXPECT_NE(by_id(rs, "dkim:tern1").found.find("p=STALE"), std::string::npos);
  EXPECT_EQ(by_id(rs, "dkim:tern2").status, store::RecordStatus::missing);
}

TEST(Check, TemporaryDnsFailuresAreErrorsNotVerdicts) {
  auto rs =
      run("_tern.example.com SERVFAIL\n"
          "example.com SERVFAIL\n"
          "tern1._domainkey.example.com SERVFAIL\n"
          "tern2._domainkey.example.com CNAME loop.example.com\n"
          "loop.example.com CNAME tern2._domainkey.example.com\n"
          "_dmarc.example.com SERVFAIL\n",
          detail());
  for (const auto& r : rs) EXPECT_EQ(r.status, store::RecordStatus::error) << r.id;
}

store::DomainDetail with_states(std::vector<std::pair<std::string, std::string>> s) {
  auto d = detail();
  for (auto& [id, st] : s) d.records.push_back({id, *store::parse_record_status(st), "", 1});
  return d;
}

Record rec(const std::string& id, const std::string& status, const std::string& found = "") {
  Record r;
  r.id = id;
  r.status = *store::parse_record_status(status);
  r.found = found;
  return r;
}

TEST(Transition, OwnershipVerifiesAndChangesAreListed) {
  auto d = with_states({{"ownership", "missing"}, {"dkim:tern1", "ok"}});
  auto t = apply_check(
      d, {rec("ownership", "ok"), rec("dkim:tern1", "ok"), rec("dmarc", "missing")}, 5000);
  EXPECT_TRUE(t.update.verified);
  EXPECT_EQ(t.update.checked_ms, 5000);
  ASSERT_EQ(t.update.records.size(), 3u);
  std::vector<std::string> seen;
  for (const auto& c : t.changes) seen.push_back(c.what + " " + c.from + " -> " + c.to);
  EXPECT_EQ(seen, (std::vector<std::string>{"ownership missing -> ok", "verified no -> yes",
                                            "dmarc pending -> missing"}));
  // Ownership gone later does not unverify.
  d.verified = true;
  t = apply_check(d, {rec("ownership", "missing")}, 6000);
  EXPECT_TRUE(t.update.verified);
}

TEST(Transition, DnsErrorsKeepTheLastState) {
  auto d = with_states({{"dkim:tern1", "ok"}});
  auto t = apply_check(d, {rec("dkim:tern1", "error", "SERVFAIL")}, 5000);
  EXPECT_TRUE(t.update.records.empty());
  EXPECT_TRUE(t.changes.empty());
}

TEST(Transition, RotationSwitchesOnlyWhenTheTargetChecksOk) {
  auto d = with_states({{"dkim:tern1", "ok"}, {"dkim:tern2", "pending"}});
  d.next_slot = 2;
  auto t = apply_check(d, {rec("dkim:tern1", "ok"), rec("dkim:tern2", "missing")}, 1);
  EXPECT_EQ(t.update.active_slot, 1);
  EXPECT_EQ(t.update.next_slot, 2);
  t = apply_check(d, {rec("dkim:tern1", "ok"), rec("dkim:tern2", "error")}, 1);
  EXPECT_EQ(t.update.active_slot, 1);
  t = apply_check(d, {rec("dkim:tern1", "missing"), rec("dkim:tern2", "ok")}, 1);
  EXPECT_EQ(t.update.active_slot, 2);
  EXPECT_EQ(t.update.next_slot, 0);
  EXPECT_EQ(t.changes.back().what, "active selector");
  EXPECT_EQ(t.changes.back().from, "tern1");
  EXPECT_EQ(t.changes.back().to, "tern2");
  // With Ed25519 on, its selector on the target slot must be ok too.
  d.ed25519 = true;
  t = apply_check(d, {rec("dkim:tern2", "ok"), rec("dkim:tern2e", "wrong")}, 1);
  EXPECT_EQ(t.update.active_slot, 1);
  t = apply_check(d, {rec("dkim:tern2", "ok"), rec("dkim:tern2e", "ok")}, 1);
  EXPECT_EQ(t.update.active_slot, 2);
  // No rotation waiting: an ok standby selector never takes over by itself.
  d.next_slot = 0;
  t = apply_check(d, {rec("dkim:tern2", "ok")}, 1);
  EXPECT_EQ(t.update.active_slot, 1);
  EXPECT_EQ(idle_slot(1), 2);
  EXPECT_EQ(idle_slot(2), 1);
}

TEST(Zone, SplitsTxtIntoStringsOfAtMost255) {
  const std::string p(400, 'A');
  const std::string value = "v=DKIM1; k=rsa; p=" + p;
  auto parts = split_txt(value);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0], "v=DKIM1; k=rsa; ");
  std::string joined;
  for (const auto& s : parts) {
    EXPECT_LE(s.size(), 255u);
    joined += s;
  }
  EXPECT_EQ(joined, value);
  for (size_t n : {0u, 1u, 254u, 255u, 256u, 510u, 511u, 2000u}) {
    const std::string v(n, 'x');
    auto ps = split_txt(v);
    std::string j;
    for (const auto& s : ps) {
      EXPECT_LE(s.size(), 255u);
      j += s;
    }
    EXPECT_EQ(j, v) << n;
  }
}

TEST(Zone, RendersBindLinesAndEscapes) {
  auto text = render_zone("dkim.platform.test",
                          {{"tern1-abc._domainkey.dkim.platform.test", "v=DKIM1; k=rsa; p=KEY"},
                           {"odd.dkim.platform.test", "a\"b\\c"}});
  EXPECT_NE(text.find("tern1-abc._domainkey.dkim.platform.test. IN TXT ( \"v=DKIM1; k=rsa; \" "
                      "\"p=KEY\" )\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("odd.dkim.platform.test. IN TXT ( \"a\\\"b\\\\c\" )\n"), std::string::npos)
      << text;
  EXPECT_EQ(text[0], ';');
}

}  // namespace
}  // namespace tern::domain
