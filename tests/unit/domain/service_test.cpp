// Domains over a real SQLite store, a counting fake key generator and the fake resolver:
// add (direct / delegated, keys generated once), check (states saved, verification, signing
// starts), rotation end to end, export, platform zone.
#include "domain/service.hpp"

#include <gtest/gtest.h>

#include "dns/resolver.hpp"
#include "store/backend.hpp"
#include "unit/store/test_dir.hpp"

namespace tern::domain {
namespace {

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::open_backend("sqlite:" + dir_.file("tern.db"));
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    backend_ = std::move(opened).value();
    store_ = backend_.store.get();
    auto a = store_->accounts.create("acme");
    ASSERT_TRUE(a.ok());
    acme_ = a.value().account;
    auto b = store_->accounts.create("beta");
    ASSERT_TRUE(b.ok());
    beta_ = b.value().account;
    Platform p;
    p.dkim_zone = "dkim.platform.test";
    p.spf_include = "spf.platform.test";
    p.sending_ips = {"192.0.2.10"};
    svc_ = std::make_unique<Domains>(
        *store_, p,
        [this](dkim::Algorithm alg) -> core::Result<GeneratedKey> {
          ++generated_;
          return GeneratedKey{
              "PEM-" + std::string(dkim::key_type(alg)) + "-" + std::to_string(generated_),
              "PUB" + std::to_string(generated_)};
        },
        clock_);
  }

  Report must(core::Result<Report> r) {
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? std::move(r).value() : Report{};
  }

  // Zone text publishing exactly the given records (plus the platform's SPF).
  static std::string zone_of(const std::vector<Record>& rs, const std::string& skip = "") {
    std::string z = "spf.platform.test TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n";
    for (const auto& r : rs) {
      if (r.id == skip) continue;
      if (r.type == "CNAME")
        z += r.name + " CNAME " + r.value + "\n";
      else
        z += r.name + " TXT \"" + r.value + "\"\n";
    }
    return z;
  }
  std::string platform_zone() {
    auto entries = svc_->zone_entries();
    EXPECT_TRUE(entries.ok());
    std::string z;
    for (const auto& e : entries.value()) z += e.name + " TXT \"" + e.value + "\"\n";
    return z;
  }
  Report check(const std::string& domain, const std::string& zone) {
    auto res = dns::make_fake_resolver(zone);
    return must(svc_->check(domain, *res));
  }
  static const Record& by_id(const Report& r, const std::string& id) {
    for (const auto& x : r.records)
      if (x.id == id) return x;
    throw std::runtime_error("no record " + id);
  }

  test::TempDir dir_;
  store::Backend backend_;
  store::Store* store_ = nullptr;
  store::Account acme_, beta_;
  core::FakeClock clock_;
  std::unique_ptr<Domains> svc_;
  int generated_ = 0;
};

TEST_F(ServiceTest, AddDirectThenCheckVerifiesAndStartsSigning) {
  auto rep = must(svc_->add("acme", "Example.com", {}));
  EXPECT_EQ(rep.detail.domain, "example.com");
  EXPECT_FALSE(rep.detail.verified);
  EXPECT_EQ(generated_, 2);  // tern1 + tern2, RSA
  ASSERT_EQ(rep.records.size(), 5u);
  EXPECT_EQ(by_id(rep, "dkim:tern1").value, "v=DKIM1; k=rsa; p=PUB1");
  // Adding again generates nothing new and keeps the token.
  auto again = must(svc_->add("acme", "example.com", {}));
  EXPECT_EQ(generated_, 2);
  EXPECT_EQ(again.detail.token, rep.detail.token);
  EXPECT_TRUE(store_->domains.signing_keys(acme_.id, "example.com").value().empty());

  // Nothing published: all missing, still unverified.
  auto c = check("example.com", "");
  for (const auto& r : c.records) EXPECT_EQ(r.status, store::RecordStatus::missing) << r.id;
  EXPECT_FALSE(c.detail.verified);
  EXPECT_FALSE(c.dns_error);
  EXPECT_EQ(c.detail.checked_ms, clock_.now_ms());

  // Everything published: all ok, verified, signing with tern1.
  c = check("example.com", zone_of(rep.records));
  for (const auto& r : c.records)
    EXPECT_EQ(r.status, store::RecordStatus::ok) << r.id << " " << r.found;
  EXPECT_TRUE(c.detail.verified);
  EXPECT_FALSE(c.changes.empty());
  auto keys = store_->domains.signing_keys(acme_.id, "example.com");
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys.value().size(), 1u);
  EXPECT_EQ(keys.value()[0].selector, "tern1");
  EXPECT_EQ(keys.value()[0].private_pem, "PEM-rsa-1");
  // The stored states come back from records() without DNS.
  auto later = must(svc_->records("example.com"));
  EXPECT_EQ(by_id(later, "dkim:tern1").status, store::RecordStatus::ok);

  // The selector record goes away: missing, signing stops; a DNS outage changes nothing.
  c = check("example.com", zone_of(rep.records, "dkim:tern1"));
  EXPECT_EQ(by_id(c, "dkim:tern1").status, store::RecordStatus::missing);
  EXPECT_TRUE(store_->domains.signing_keys(acme_.id, "example.com").value().empty());
  c = check("example.com", zone_of(rep.records));
  EXPECT_EQ(store_->domains.signing_keys(acme_.id, "example.com").value().size(), 1u);
  c = check("example.com",
            "tern1._domainkey.example.com SERVFAIL\n" + zone_of(rep.records, "dkim:tern1"));
  EXPECT_TRUE(c.dns_error);
  EXPECT_EQ(by_id(c, "dkim:tern1").status, store::RecordStatus::error);
  EXPECT_EQ(store_->domains.signing_keys(acme_.id, "example.com").value().size(), 1u);
  EXPECT_EQ(by_id(must(svc_->records("example.com")), "dkim:tern1").status,
            store::RecordStatus::ok);
}

TEST_F(ServiceTest, RotationSwitchesAfterTheNewRecordChecksOk) {
  auto rep = must(svc_->add("acme", "example.com", {}));
  auto published = zone_of(rep.records);
  check("example.com", published);
  const auto before = store_->domains.signing_keys(acme_.id, "example.com").value().at(0);

  auto rot = must(svc_->rotate("example.com"));
  EXPECT_EQ(generated_, 3);
  EXPECT_EQ(rot.detail.active_slot, 1);
  EXPECT_EQ(rot.detail.next_slot, 2);
  EXPECT_EQ(by_id(rot, "dkim:tern2").value, "v=DKIM1; k=rsa; p=PUB3");
  EXPECT_EQ(by_id(rot, "dkim:tern2").status, store::RecordStatus::pending);
  // Old DNS still holds the old tern2 key: wrong, signing stays on tern1.
  auto c = check("example.com", published);
  EXPECT_EQ(by_id(c, "dkim:tern2").status, store::RecordStatus::wrong);
  EXPECT_EQ(c.detail.active_slot, 1);
  EXPECT_EQ(store_->domains.signing_keys(acme_.id, "example.com").value().at(0).version,
            before.version);
  // New record published: the check switches to tern2.
  c = check("example.com", zone_of(rot.records));
  EXPECT_EQ(c.detail.active_slot, 2);
  EXPECT_EQ(c.detail.next_slot, 0);
  bool switched = false;
  for (const auto& ch : c.changes) switched |= ch.what == "active selector" && ch.to == "tern2";
  EXPECT_TRUE(switched);
  auto now = store_->domains.signing_keys(acme_.id, "example.com").value().at(0);
  EXPECT_EQ(now.selector, "tern2");
  EXPECT_EQ(now.private_pem, "PEM-rsa-3");
  EXPECT_NE(now.version, before.version);
  // The next rotation goes to the now idle tern1.
  rot = must(svc_->rotate("example.com"));
  EXPECT_EQ(rot.detail.next_slot, 1);
  EXPECT_EQ(by_id(rot, "dkim:tern1").status, store::RecordStatus::pending);
  EXPECT_EQ(store_->domains.signing_keys(acme_.id, "example.com").value().at(0).selector, "tern2");
}

TEST_F(ServiceTest, DelegatedDomainsShareTheAccountKeysInThePlatformZone) {
  AddOptions o;
  o.dkim_mode = "delegated";
  auto a = must(svc_->add("acme", "a.example", o));
  auto b = must(svc_->add("acme", "b.example", o));
  EXPECT_EQ(generated_, 2);  // one key set for the account
  EXPECT_EQ(by_id(a, "dkim:tern1").type, "CNAME");
  EXPECT_EQ(by_id(a, "dkim:tern1").value, "tern1-" + acme_.code + "._domainkey.dkim.platform.test");
  EXPECT_EQ(by_id(b, "dkim:tern1").value, by_id(a, "dkim:tern1").value);
  must(svc_->add("beta", "beta.example", o));
  EXPECT_EQ(generated_, 4);
  auto entries = svc_->zone_entries();
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries.value().size(), 4u);
  EXPECT_EQ(entries.value()[0].name, "tern1-" + acme_.code + "._domainkey.dkim.platform.test");
  EXPECT_EQ(entries.value()[0].value, "v=DKIM1; k=rsa; p=PUB1");
  // CNAME published, platform zone not yet: wrong, saying so.
  auto c = check("a.example", zone_of(a.records));
  EXPECT_EQ(by_id(c, "dkim:tern1").status, store::RecordStatus::wrong);
  c = check("a.example", zone_of(a.records) + platform_zone());
  EXPECT_EQ(by_id(c, "dkim:tern1").status, store::RecordStatus::ok) << by_id(c, "dkim:tern1").found;
  EXPECT_TRUE(c.detail.verified);
  auto keys = store_->domains.signing_keys(acme_.id, "a.example").value();
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].domain, "a.example");
  // beta's key published under acme's name would not do: the CNAME names the account code.
  auto beta = must(svc_->records("beta.example"));
  EXPECT_NE(by_id(beta, "dkim:tern1").value, by_id(a, "dkim:tern1").value);

  // Rotating the shared set: every delegated domain of the account waits on tern2.
  auto rot = must(svc_->rotate("b.example"));
  EXPECT_EQ(rot.detail.next_slot, 2);
  EXPECT_EQ(must(svc_->records("a.example")).detail.next_slot, 2);
  EXPECT_EQ(must(svc_->records("beta.example")).detail.next_slot, 0);
  c = check("a.example", zone_of(a.records) + platform_zone());
  EXPECT_EQ(c.detail.active_slot, 2);
  EXPECT_EQ(store_->domains.signing_keys(acme_.id, "a.example").value().at(0).selector, "tern2");
}

TEST_F(ServiceTest, Ed25519OptionAddsSelectorsAndASecondKey) {
  AddOptions o;
  o.ed25519 = true;
  auto rep = must(svc_->add("acme", "example.com", o));
  EXPECT_EQ(generated_, 4);
  EXPECT_EQ(by_id(rep, "dkim:tern1e").value.substr(0, 19), "v=DKIM1; k=ed25519;");
  check("example.com", zone_of(rep.records));
  auto keys = store_->domains.signing_keys(acme_.id, "example.com").value();
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].algorithm, dkim::Algorithm::ed25519_sha256);
  EXPECT_EQ(keys[1].algorithm, dkim::Algorithm::rsa_sha256);
  auto pem = svc_->export_key("example.com", "tern1e");
  ASSERT_TRUE(pem.ok());
  EXPECT_EQ(pem.value(), "PEM-ed25519-2");
  EXPECT_FALSE(svc_->export_key("example.com", "tern9").ok());
}

TEST_F(ServiceTest, BadRequests) {
  EXPECT_FALSE(svc_->add("nobody", "example.com", {}).ok());
  AddOptions o;
  o.dkim_mode = "sideways";
  EXPECT_FALSE(svc_->add("acme", "example.com", o).ok());
  EXPECT_FALSE(svc_->add("acme", "bad..domain", {}).ok());
  EXPECT_FALSE(svc_->add("acme", "[192.0.2.1]", {}).ok());
  EXPECT_FALSE(svc_->records("unknown.example").ok());
  EXPECT_FALSE(svc_->rotate("unknown.example").ok());
  must(svc_->add("acme", "example.com", {}));
  AddOptions verified;
  verified.verified = true;
  must(svc_->add("acme", "example.com", verified));
  EXPECT_FALSE(svc_->add("beta", "example.com", {}).ok());  // another account's verified domain
  EXPECT_EQ(generated_, 2);
  // Key generation failing leaves an error, not a half-set.
  Domains failing(
      *store_, svc_->platform(),
      [](dkim::Algorithm) -> core::Result<GeneratedKey> { return core::Error::temp("no entropy"); },
      clock_);
  auto r = failing.add("acme", "other.example", {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "no entropy");
  EXPECT_TRUE(store_->domains.keys(acme_.id, "other.example", false).value().empty());
  // Delegated without a platform zone is refused.
  Domains nozone(
      *store_, Platform{},
      [](dkim::Algorithm) -> core::Result<GeneratedKey> {
        return GeneratedKey{"x", "y"};
      },
      clock_);
  AddOptions del;
  del.dkim_mode = "delegated";
  EXPECT_FALSE(nozone.add("acme", "third.example", del).ok());
  EXPECT_FALSE(nozone.zone_entries().ok());
}

TEST_F(ServiceTest, VerifiedOverrideIsKeptWhenAddedAgain) {
  AddOptions v;
  v.verified = true;
  EXPECT_TRUE(must(svc_->add("acme", "example.com", v)).detail.verified);
  EXPECT_TRUE(must(svc_->add("acme", "example.com", {})).detail.verified);
}

TEST_F(ServiceTest, RealKeyGeneratorMakesMatchingKeys) {
  auto gen = dkim_key_generator();
  for (dkim::Algorithm alg : dkim::kAlgorithms) {
    auto k = gen(alg);
    ASSERT_TRUE(k.ok()) << dkim::key_type(alg);
    EXPECT_NE(k.value().private_pem.find("PRIVATE KEY"), std::string::npos);
    EXPECT_FALSE(k.value().public_b64.empty());
    auto again = gen(alg);
    EXPECT_NE(again.value().public_b64, k.value().public_b64);
  }
  EXPECT_EQ(gen(dkim::Algorithm::ed25519_sha256).value().public_b64.size(),
            44u);  // 32 raw bytes (RFC 8463 §4.2)
}

}  // namespace
}  // namespace tern::domain

namespace tern::domain {
namespace {

// Issue 10 item 11: an unverified claim blocks nobody; the first claim a check verifies wins
// and removes the others (their records and keys); the operator's verified add wins over
// unverified claims; a quota bounds an account's unverified claims.
TEST_F(ServiceTest, UnverifiedClaimsDoNotBlockAndTheFirstToVerifyWins) {
  auto squat = must(svc_->add("beta", "example.com", {}));  // the squatter claims first
  auto real = must(svc_->add("acme", "example.com", {}));   // the real owner is not blocked
  EXPECT_NE(squat.detail.token, real.detail.token);
  EXPECT_EQ(real.detail.account_id, acme_.id);
  EXPECT_EQ(must(svc_->records("example.com", beta_.id)).detail.token, squat.detail.token);
  // Only the real owner can publish its token: its check verifies it, beta's claim is gone.
  auto res = dns::make_fake_resolver(zone_of(real.records));
  EXPECT_TRUE(must(svc_->check("example.com", *res, acme_.id)).detail.verified);
  auto gone = store_->domains.find("example.com", beta_.id);
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
  EXPECT_TRUE(store_->domains.keys(beta_.id, "example.com", false).value().empty());
  EXPECT_TRUE(store_->domains.list(beta_.id).value().empty());
  // Now the domain is acme's: beta can no longer claim it, and signing works for acme only.
  EXPECT_FALSE(svc_->add("beta", "example.com", {}).ok());
  EXPECT_FALSE(store_->domains.signing_keys(acme_.id, "example.com").value().empty());
  EXPECT_TRUE(store_->domains.signing_keys(beta_.id, "example.com").value().empty());
  EXPECT_EQ(must(svc_->records("example.com")).detail.account_id, acme_.id);
}

TEST_F(ServiceTest, OperatorVerifiedAddWinsOverUnverifiedClaims) {
  must(svc_->add("beta", "example.com", {}));
  AddOptions op;
  op.verified = true;
  auto rep = must(svc_->add("acme", "example.com", op));
  EXPECT_TRUE(rep.detail.verified);
  EXPECT_TRUE(store_->domains.list(beta_.id).value().empty());
  // A check of the periodic round visits each claim once; the removed one is skipped.
  auto res = dns::make_fake_resolver("");
  int reports = 0;
  svc_->check_all(
      *res, [] { return false; },
      [&](const std::string&, const core::Result<Report>& r) {
        EXPECT_TRUE(r.ok());
        ++reports;
      });
  EXPECT_EQ(reports, 1);
}

TEST_F(ServiceTest, UnverifiedClaimsHaveAQuota) {
  AddOptions o;
  o.max_unverified = 2;
  must(svc_->add("beta", "a.example", o));
  must(svc_->add("beta", "b.example", o));
  must(svc_->add("beta", "a.example", o));  // again: not a new claim
  auto r = svc_->add("beta", "c.example", o);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().message.starts_with("quota:")) << r.error().message;
  EXPECT_EQ(store_->domains.list(beta_.id).value().size(), 2u);
  AddOptions op = o;
  op.verified = true;  // the operator's verified add is not an unverified claim
  must(svc_->add("beta", "c.example", op));
}

}  // namespace
}  // namespace tern::domain
