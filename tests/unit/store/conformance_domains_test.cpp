// Conformance (conformance.hpp): sending domains as stored on every backend: claims and their
// rules (issue 10 item 11), record states, DKIM key sets and versions, which keys sign, the
// master key sealing private keys, and the account context the submission path reads.
#include "unit/store/conformance.hpp"

namespace tern::store::conformance {
namespace {

DkimKey key(int slot, const std::string& alg, const std::string& pem) {
  DkimKey k;
  k.slot = slot;
  k.algorithm = *dkim::parse_key_type(alg);
  k.selector = "tern" + std::to_string(slot) + (alg == "ed25519" ? "e" : "");
  k.public_b64 = "PUB-" + pem;
  k.private_pem = pem;
  return k;
}

template <class B>
class DomainsConformance : public Conformance<B> {
 protected:
  void SetUp() override {
    Conformance<B>::SetUp();
    acme_ = this->account("acme");
    other_ = this->account("other");
  }
  DomainService& domains() { return this->store_->domains; }
  DomainDetail detail(const std::string& d, int64_t account_id = 0) {
    auto r = domains().find(d, account_id);
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(r.ok() && r.value().has_value()) << d;
    return r.ok() ? r.value().value_or(DomainDetail{}) : DomainDetail{};
  }
  std::vector<SigningKey> signing(int64_t acc, const std::string& d) {
    auto r = domains().signing_keys(acc, d);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? r.value() : std::vector<SigningKey>{};
  }
  void mark(const std::string& d, std::vector<std::pair<std::string, std::string>> states,
            bool verified = false, int active = 1, int next = 0, int64_t account_id = 0) {
    DomainCheckUpdate u;
    u.domain = d;
    u.account_id = account_id;
    u.verified = verified;
    u.active_slot = active;
    u.next_slot = next;
    u.checked_ms = 1000;
    for (auto& [id, st] : states)
      u.records.push_back({id, *parse_record_status(st), st == "ok" ? "" : "x", 1000});
    auto r = domains().save_check(u);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  // The private key as the backend stores it.
  std::string stored_private(int64_t account_id, const std::string& owner, int64_t version) {
    auto keys = this->in(Database::Mode::read,
                         [&](Tx& tx) { return tx.domains().keys(account_id, owner); });
    EXPECT_TRUE(keys.ok());
    for (const auto& k : keys.value())
      if (k.version == version) return k.private_pem;
    return {};
  }
  int64_t acme_ = 0, other_ = 0;
};
TYPED_TEST_SUITE(DomainsConformance, Backends, BackendNames);

TYPED_TEST(DomainsConformance, NewDomainHasTokenAndDefaults) {
  auto& d = this->domains();
  ASSERT_TRUE(d.add(this->acme_, "Example.COM", false).ok());
  this->clock_.advance_ms(5);
  ASSERT_TRUE(d.add(this->acme_, "example.net", false).ok());
  auto x = this->detail("EXAMPLE.com");
  EXPECT_EQ(x.domain, "example.com");
  EXPECT_EQ(x.account_id, this->acme_);
  EXPECT_FALSE(x.verified);
  EXPECT_EQ(x.dkim_mode, "direct");
  EXPECT_FALSE(x.ed25519);
  EXPECT_EQ(x.active_slot, 1);
  EXPECT_EQ(x.next_slot, 0);
  EXPECT_EQ(x.checked_ms, 0);
  EXPECT_EQ(x.created_ms, this->clock_.now_ms() - 5);
  EXPECT_EQ(x.token.size(), 26u);
  for (char c : x.token) EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')) << c;
  EXPECT_NE(x.token, this->detail("example.net").token);
  // Adding again (operator override) keeps the token.
  ASSERT_TRUE(d.add(this->acme_, "example.com", true).ok());
  EXPECT_EQ(this->detail("example.com").token, x.token);
  EXPECT_TRUE(this->detail("example.com").verified);
  EXPECT_FALSE(d.find("nope.example").value().has_value());
  EXPECT_EQ(d.all().value().size(), 2u);
}

TYPED_TEST(DomainsConformance, OwnershipCaseAndBadNames) {
  auto& d = this->domains();
  ASSERT_TRUE(d.add(this->acme_, "Example.COM", true).ok());
  auto taken = d.add(this->other_, "example.com", false);
  ASSERT_FALSE(taken.ok());
  EXPECT_TRUE(taken.error().is(core::ErrorCode::conflict));
  EXPECT_EQ(taken.error().message, "domain example.com belongs to another account");
  EXPECT_FALSE(d.add(this->other_, "EXAMPLE.com", true).ok());
  // Same account again: idempotent, updates the flag.
  ASSERT_TRUE(d.add(this->acme_, "EXAMPLE.com", true).ok());
  auto mine = d.list(this->acme_);
  ASSERT_TRUE(mine.ok());
  ASSERT_EQ(mine->size(), 1u);
  EXPECT_EQ((*mine)[0].domain, "example.com");
  EXPECT_TRUE((*mine)[0].verified);
  EXPECT_TRUE(d.list(this->other_).value().empty());
  for (const char* bad : {"", "exa mple.com", "[192.0.2.1]", "example.com.", "-x.com", "x..com",
                          "a;DROP TABLE domains", "ex\nample.com"}) {
    auto r = d.add(this->acme_, bad, true);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_TRUE(r.error().is(core::ErrorCode::invalid)) << bad;
  }
  EXPECT_TRUE(d.add(424242, "orphan.example", true).error().is(core::ErrorCode::not_found));
  EXPECT_EQ(d.all().value().size(), 1u);
}

TYPED_TEST(DomainsConformance, ListsAreOrderedByNameThenClaimOrder) {
  auto& d = this->domains();
  for (const char* n : {"c.example", "a.example", "b.example"})
    ASSERT_TRUE(d.add(this->acme_, n, false).ok());
  ASSERT_TRUE(d.add(this->other_, "b.example", false).ok());  // same time: made later
  auto mine = d.list(this->acme_).value();
  ASSERT_EQ(mine.size(), 3u);
  EXPECT_EQ(mine[0].domain, "a.example");
  EXPECT_EQ(mine[2].domain, "c.example");
  auto all = d.all().value();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[1].domain, "b.example");
  EXPECT_EQ(all[1].account_id, this->acme_);  // same created_ms: the first made first
  EXPECT_EQ(all[2].account_id, this->other_);
}

TYPED_TEST(DomainsConformance, UnverifiedClaimsDoNotBlockAndTheFirstToVerifyWins) {
  auto& d = this->domains();
  ASSERT_TRUE(d.add(this->acme_, "shared.example", false).ok());
  this->clock_.advance_ms(10);
  ASSERT_TRUE(d.add(this->other_, "shared.example", false).ok());
  // Each claim has its own token and states; the default claim is the oldest.
  EXPECT_NE(this->detail("shared.example", this->acme_).token,
            this->detail("shared.example", this->other_).token);
  EXPECT_EQ(this->detail("shared.example").account_id, this->acme_);
  ASSERT_TRUE(d.put_keys(this->other_, "shared.example", {key(1, "rsa", "O1")}, false).ok());
  ASSERT_TRUE(d.put_keys(this->acme_, "shared.example", {key(1, "rsa", "A1")}, false).ok());
  // The later claim verifies first: it wins, the other claim and its direct keys go.
  this->mark("shared.example", {{"ownership", "ok"}}, true, 1, 0, this->other_);
  auto all = d.all().value();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].account_id, this->other_);
  EXPECT_TRUE(all[0].verified);
  EXPECT_FALSE(d.find("shared.example", this->acme_).value().has_value());
  EXPECT_TRUE(d.keys(this->acme_, "shared.example", false).value().empty());
  EXPECT_EQ(d.keys(this->other_, "shared.example", false).value().size(), 1u);
  // Now it excludes others.
  EXPECT_TRUE(d.add(this->acme_, "shared.example", false).error().is(core::ErrorCode::conflict));
  // The operator's verified add of another claim is refused while one is verified...
  EXPECT_FALSE(d.add(this->acme_, "shared.example", true).ok());
  // ...and wins over unverified claims of others.
  ASSERT_TRUE(d.add(this->other_, "two.example", false).ok());
  ASSERT_TRUE(d.add(this->acme_, "two.example", true).ok());
  auto two = d.all().value();
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(d.find("two.example").value()->account_id, this->acme_);
  EXPECT_FALSE(d.find("two.example", this->other_).value().has_value());
}

TYPED_TEST(DomainsConformance, AQuotaBoundsUnverifiedClaims) {
  auto& d = this->domains();
  ASSERT_TRUE(d.add(this->acme_, "a.example", false, 2).ok());
  ASSERT_TRUE(d.add(this->acme_, "b.example", false, 2).ok());
  auto over = d.add(this->acme_, "c.example", false, 2);
  ASSERT_FALSE(over.ok());
  EXPECT_TRUE(over.error().is(core::ErrorCode::forbidden));
  EXPECT_EQ(over.error().reason, core::ErrorReason::quota_exceeded);
  EXPECT_TRUE(over.error().message.starts_with("quota: at most 2 unverified domains"));
  // Re-adding one it holds, a verified add and another account are not counted against it.
  EXPECT_TRUE(d.add(this->acme_, "a.example", false, 2).ok());
  EXPECT_TRUE(d.add(this->acme_, "v.example", true, 2).ok());
  EXPECT_TRUE(d.add(this->other_, "c.example", false, 2).ok());
  EXPECT_EQ(d.list(this->acme_).value().size(), 3u);
}

TYPED_TEST(DomainsConformance, DeleteOnlyOwnDomainAndItsKeys) {
  auto& d = this->domains();
  ASSERT_TRUE(d.add(this->acme_, "acme.test", true).ok());
  ASSERT_TRUE(d.put_keys(this->acme_, "acme.test", {key(1, "rsa", "K")}, false).ok());
  ASSERT_TRUE(d.put_keys(this->acme_, "", {key(1, "rsa", "S")}, false).ok());  // delegated set
  auto foreign = d.remove(this->other_, "acme.test");
  ASSERT_FALSE(foreign.ok());
  EXPECT_TRUE(foreign.error().is(core::ErrorCode::not_found));
  EXPECT_EQ(foreign.error().message, "no such domain: acme.test");
  EXPECT_FALSE(d.remove(this->acme_, "nope.test").ok());
  ASSERT_TRUE(d.remove(this->acme_, "ACME.test").ok());
  EXPECT_TRUE(d.list(this->acme_).value().empty());
  EXPECT_TRUE(d.keys(this->acme_, "acme.test", false).value().empty());
  EXPECT_EQ(d.keys(this->acme_, "", false).value().size(), 1u);  // the account's own set stays
  // The name is free again, for anyone, with fresh state.
  ASSERT_TRUE(d.add(this->other_, "acme.test", false).ok());
  EXPECT_TRUE(this->detail("acme.test").records.empty());
}

TYPED_TEST(DomainsConformance, SigningNeedsVerifiedDomainKeysAndOkRecord) {
  auto& d = this->domains();
  ASSERT_TRUE(d.add(this->acme_, "example.com", false).ok());
  EXPECT_TRUE(this->signing(this->acme_, "example.com").empty());  // no keys
  auto put = d.put_keys(this->acme_, "example.com",
                        {key(1, "rsa", "PEM-A1"), key(2, "rsa", "PEM-A2")}, false);
  ASSERT_TRUE(put.ok()) << put.error().message;
  ASSERT_EQ(put.value().size(), 2u);
  EXPECT_TRUE(put.value()[0].private_pem.empty());  // not handed back
  EXPECT_NE(put.value()[0].version, put.value()[1].version);
  EXPECT_EQ(put.value()[0].created_ms, this->clock_.now_ms());
  // Freshly stored keys start pending.
  auto x = this->detail("example.com");
  ASSERT_NE(x.record("dkim:tern1"), nullptr);
  EXPECT_EQ(x.record("dkim:tern1")->status, RecordStatus::pending);
  EXPECT_TRUE(this->signing(this->acme_, "example.com").empty());

  this->mark("example.com", {{"dkim:tern1", "ok"}});  // record ok, domain not verified
  EXPECT_TRUE(this->signing(this->acme_, "example.com").empty());
  this->mark("example.com", {{"dkim:tern1", "ok"}}, true);
  auto keys = this->signing(this->acme_, "example.com");
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].domain, "example.com");
  EXPECT_EQ(keys[0].selector, "tern1");
  EXPECT_EQ(keys[0].algorithm, dkim::Algorithm::rsa_sha256);
  EXPECT_EQ(keys[0].private_pem, "PEM-A1");
  EXPECT_EQ(keys[0].version, put.value()[0].version);
  EXPECT_EQ(this->signing(this->acme_, "EXAMPLE.COM").size(), 1u);
  // Another account never gets the keys, nor does an unknown domain.
  EXPECT_TRUE(this->signing(this->other_, "example.com").empty());
  EXPECT_TRUE(this->signing(this->acme_, "example.org").empty());

  // The active record going wrong stops signing; verified stays (only ever false -> true).
  this->mark("example.com", {{"dkim:tern1", "wrong"}}, false);
  EXPECT_TRUE(this->detail("example.com").verified);
  EXPECT_TRUE(this->signing(this->acme_, "example.com").empty());
  // Slot 2 ok but slot 1 active: still nothing.
  this->mark("example.com", {{"dkim:tern2", "ok"}});
  EXPECT_TRUE(this->signing(this->acme_, "example.com").empty());
  this->mark("example.com", {}, false, 2);
  keys = this->signing(this->acme_, "example.com");
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].selector, "tern2");
  EXPECT_EQ(keys[0].private_pem, "PEM-A2");
  // Records come back sorted by id.
  const auto recs = this->detail("example.com").records;
  for (size_t i = 1; i < recs.size(); ++i) EXPECT_LT(recs[i - 1].id, recs[i].id);
}

TYPED_TEST(DomainsConformance, ReplacingAKeyResetsItsStateAndChangesVersion) {
  auto& d = this->domains();
  ASSERT_TRUE(d.add(this->acme_, "example.com", true).ok());
  auto first = d.put_keys(this->acme_, "example.com", {key(1, "rsa", "OLD")}, false);
  ASSERT_TRUE(first.ok());
  this->mark("example.com", {{"dkim:tern1", "ok"}});
  ASSERT_EQ(this->signing(this->acme_, "example.com").size(), 1u);
  auto second = d.put_keys(this->acme_, "example.com", {key(1, "rsa", "NEW")}, false);
  ASSERT_TRUE(second.ok());
  EXPECT_GT(second.value()[0].version, first.value()[0].version);
  EXPECT_EQ(this->detail("example.com").record("dkim:tern1")->status, RecordStatus::pending);
  EXPECT_TRUE(this->signing(this->acme_, "example.com").empty());
  this->mark("example.com", {{"dkim:tern1", "ok"}});
  auto keys = this->signing(this->acme_, "example.com");
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].private_pem, "NEW");
  auto set = d.keys(this->acme_, "example.com", true);
  ASSERT_TRUE(set.ok());
  ASSERT_EQ(set.value().size(), 1u);  // replaced, not added
  EXPECT_EQ(set.value()[0].public_b64, "PUB-NEW");
  // Versions are never given twice, also across key sets and accounts.
  ASSERT_TRUE(d.add(this->other_, "other.example", true).ok());
  auto third = d.put_keys(this->other_, "other.example", {key(1, "rsa", "X")}, false);
  ASSERT_TRUE(third.ok());
  EXPECT_GT(third.value()[0].version, second.value()[0].version);
}

TYPED_TEST(DomainsConformance, KeySetsAreOrderedBySlotThenRsaFirst) {
  auto& d = this->domains();
  ASSERT_TRUE(d.add(this->acme_, "example.com", true).ok());
  ASSERT_TRUE(d.put_keys(this->acme_, "example.com",
                         {key(2, "ed25519", "E2"), key(2, "rsa", "R2"), key(1, "ed25519", "E1"),
                          key(1, "rsa", "R1")},
                         false)
                  .ok());
  auto keys = d.keys(this->acme_, "example.com", true).value();
  ASSERT_EQ(keys.size(), 4u);
  EXPECT_EQ(keys[0].private_pem, "R1");
  EXPECT_EQ(keys[1].private_pem, "E1");
  EXPECT_EQ(keys[2].private_pem, "R2");
  EXPECT_EQ(keys[3].private_pem, "E2");
}

TYPED_TEST(DomainsConformance, Ed25519IsASecondSignatureOnlyWhenAskedAndOk) {
  auto& d = this->domains();
  ASSERT_TRUE(d.add(this->acme_, "example.com", true).ok());
  ASSERT_TRUE(
      d.put_keys(this->acme_, "example.com", {key(1, "rsa", "R1"), key(1, "ed25519", "E1")}, false)
          .ok());
  this->mark("example.com", {{"dkim:tern1", "ok"}, {"dkim:tern1e", "ok"}});
  auto keys = this->signing(this->acme_, "example.com");  // option off: RSA only
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].algorithm, dkim::Algorithm::rsa_sha256);
  ASSERT_TRUE(d.set_dkim("example.com", "direct", true).ok());
  keys = this->signing(this->acme_, "example.com");
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].algorithm, dkim::Algorithm::ed25519_sha256);
  EXPECT_EQ(keys[0].selector, "tern1e");
  EXPECT_EQ(keys[0].private_pem, "E1");
  EXPECT_EQ(keys[1].algorithm, dkim::Algorithm::rsa_sha256);
  // Ed25519 alone never signs: RSA is what every verifier knows.
  this->mark("example.com", {{"dkim:tern1", "missing"}});
  EXPECT_TRUE(this->signing(this->acme_, "example.com").empty());
  this->mark("example.com", {{"dkim:tern1", "ok"}, {"dkim:tern1e", "wrong"}});
  keys = this->signing(this->acme_, "example.com");
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].algorithm, dkim::Algorithm::rsa_sha256);
}

TYPED_TEST(DomainsConformance, DelegatedDomainsShareTheAccountKeySet) {
  auto& d = this->domains();
  ASSERT_TRUE(d.add(this->acme_, "a.example", true).ok());
  ASSERT_TRUE(d.add(this->acme_, "b.example", true).ok());
  ASSERT_TRUE(d.add(this->acme_, "direct.example", true).ok());
  ASSERT_TRUE(d.set_dkim("a.example", "delegated", false).ok());
  ASSERT_TRUE(d.set_dkim("b.example", "delegated", false).ok());
  EXPECT_EQ(this->detail("a.example").dkim_mode, "delegated");
  ASSERT_TRUE(d.put_keys(this->acme_, "direct.example", {key(1, "rsa", "D1")}, false).ok());
  this->mark("direct.example", {{"dkim:tern1", "ok"}});
  ASSERT_TRUE(d.put_keys(this->acme_, "", {key(1, "rsa", "S1"), key(2, "rsa", "S2")}, false).ok());
  // Both delegated domains got pending selector states; the direct one kept its state.
  EXPECT_EQ(this->detail("a.example").record("dkim:tern2")->status, RecordStatus::pending);
  EXPECT_EQ(this->detail("b.example").record("dkim:tern1")->status, RecordStatus::pending);
  EXPECT_EQ(this->detail("direct.example").record("dkim:tern1")->status, RecordStatus::ok);
  this->mark("a.example", {{"dkim:tern1", "ok"}});
  auto keys = this->signing(this->acme_, "a.example");
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].domain, "a.example");  // d= is the From domain, key is the account's
  EXPECT_EQ(keys[0].private_pem, "S1");
  EXPECT_TRUE(this->signing(this->acme_, "b.example").empty());  // its CNAME is not checked yet
  EXPECT_EQ(this->signing(this->acme_, "direct.example").at(0).private_pem, "D1");

  // A rotation of the shared set marks every delegated domain as waiting on that slot.
  ASSERT_TRUE(d.put_keys(this->acme_, "", {key(2, "rsa", "S2b")}, true).ok());
  EXPECT_EQ(this->detail("a.example").next_slot, 2);
  EXPECT_EQ(this->detail("b.example").next_slot, 2);
  EXPECT_EQ(this->detail("direct.example").next_slot, 0);
  EXPECT_EQ(this->detail("a.example").record("dkim:tern1")->status,
            RecordStatus::ok);  // untouched slot
  EXPECT_EQ(this->signing(this->acme_, "a.example").at(0).private_pem, "S1");

  // Switching a domain's form resets what was checked behind its selectors.
  ASSERT_TRUE(d.set_dkim("a.example", "direct", false).ok());
  EXPECT_EQ(this->detail("a.example").record("dkim:tern1")->status, RecordStatus::pending);
  EXPECT_EQ(this->detail("a.example").next_slot, 0);
  EXPECT_TRUE(this->signing(this->acme_, "a.example").empty());
}

TYPED_TEST(DomainsConformance, ACheckNeverOverwritesARotationOrKeyCommittedMeanwhile) {
  auto& d = this->domains();
  ASSERT_TRUE(d.add(this->acme_, "example.com", true).ok());
  auto keys =
      d.put_keys(this->acme_, "example.com", {key(1, "rsa", "K1"), key(2, "rsa", "K2")}, false);
  ASSERT_TRUE(keys.ok());
  // A check read the domain (next_slot 0, tern2 = K2) ...
  DomainCheckUpdate u;
  u.domain = "example.com";
  u.active_slot = 1;
  u.next_slot = 0;
  u.checked_ms = 7;
  u.seen_next_slot = 0;
  u.key_versions = {{"tern1", keys.value()[0].version}, {"tern2", keys.value()[1].version}};
  u.records = {{"dkim:tern1", RecordStatus::ok, "", 7},
               {"dkim:tern2", RecordStatus::ok, "", 7},
               {"dmarc", RecordStatus::ok, "", 7}};
  // ... then a rotation (another instance: the CLI) replaced tern2 before the check saved.
  Backend cli = this->open_again();
  ASSERT_TRUE(
      cli.store->domains.put_keys(this->acme_, "example.com", {key(2, "rsa", "K2new")}, true).ok());
  ASSERT_TRUE(d.save_check(u).ok());
  auto x = this->detail("example.com");
  EXPECT_EQ(x.next_slot, 2);                                         // rotation kept
  EXPECT_EQ(x.record("dkim:tern2")->status, RecordStatus::pending);  // old key's result not saved
  EXPECT_EQ(x.record("dkim:tern1")->status, RecordStatus::ok);       // unchanged key: saved
  EXPECT_EQ(x.record("dmarc")->status, RecordStatus::ok);
  EXPECT_EQ(x.checked_ms, 7);
  // A check that saw the rotation may switch.
  u.seen_next_slot = 2;
  u.active_slot = 2;
  u.next_slot = 0;
  u.key_versions = {{"tern2", d.keys(this->acme_, "example.com", false).value()[1].version}};
  u.records = {{"dkim:tern2", RecordStatus::ok, "", 8}};
  ASSERT_TRUE(d.save_check(u).ok());
  x = this->detail("example.com");
  EXPECT_EQ(x.active_slot, 2);
  EXPECT_EQ(x.next_slot, 0);
  EXPECT_EQ(this->signing(this->acme_, "example.com").at(0).private_pem, "K2new");
}

TYPED_TEST(DomainsConformance, KeysAndChecksRefuseBadInputAndOtherAccounts) {
  auto& d = this->domains();
  ASSERT_TRUE(d.add(this->acme_, "example.com", true).ok());
  auto foreign = d.put_keys(this->other_, "example.com", {key(1, "rsa", "X")}, false);
  ASSERT_FALSE(foreign.ok());
  EXPECT_TRUE(foreign.error().is(core::ErrorCode::not_found));
  EXPECT_TRUE(d.put_keys(this->acme_, "example.com", {key(3, "rsa", "X")}, false)
                  .error()
                  .is(core::ErrorCode::invalid));
  EXPECT_FALSE(d.put_keys(this->acme_, "example.com", {key(1, "rsa", "")}, false).ok());
  EXPECT_FALSE(d.put_keys(this->acme_, "unknown.example", {key(1, "rsa", "X")}, false).ok());
  EXPECT_FALSE(d.put_keys(999, "", {key(1, "rsa", "X")}, false).ok());
  // A bad key after a good one: nothing half-written.
  EXPECT_FALSE(
      d.put_keys(this->acme_, "example.com", {key(1, "rsa", "GOOD"), key(2, "rsa", "")}, false)
          .ok());
  auto none = d.keys(this->acme_, "example.com", true);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none.value().empty());
  EXPECT_TRUE(d.set_dkim("example.com", "sideways", false).error().is(core::ErrorCode::invalid));
  EXPECT_TRUE(
      d.set_dkim("unknown.example", "direct", false).error().is(core::ErrorCode::not_found));
  DomainCheckUpdate u;
  u.domain = "unknown.example";
  EXPECT_TRUE(d.save_check(u).error().is(core::ErrorCode::not_found));
  u.domain = "example.com";
  u.active_slot = 3;
  EXPECT_TRUE(d.save_check(u).error().is(core::ErrorCode::invalid));
  u.active_slot = 0;
  EXPECT_FALSE(d.save_check(u).ok());
  // A check's "error" (DNS failed, no verdict) is never kept as a record state.
  u.active_slot = 1;
  u.records = {{"spf", RecordStatus::error, "SERVFAIL", 9}};
  EXPECT_TRUE(d.save_check(u).error().is(core::ErrorCode::invalid));
}

TEST(RecordStatusNames, RoundTripAndNothingElseParses) {
  for (RecordStatus s : {RecordStatus::pending, RecordStatus::ok, RecordStatus::missing,
                         RecordStatus::wrong, RecordStatus::error})
    EXPECT_EQ(parse_record_status(to_string(s)), s);
  EXPECT_EQ(to_string(RecordStatus::missing), "missing");
  for (const char* bad : {"", "OK", "okay", "pending "}) EXPECT_FALSE(parse_record_status(bad));
}

TYPED_TEST(DomainsConformance, MasterKeySealsPrivateKeysAtRest) {
  auto& d = this->domains();
  const std::string master = this->master_key();
  ASSERT_TRUE(d.add(this->acme_, "example.com", true).ok());
  // A key stored before the master key was configured stays readable as PEM.
  auto plain = d.put_keys(this->acme_, "example.com", {key(2, "rsa", "PLAIN-PEM")}, false);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(this->stored_private(this->acme_, "example.com", plain.value()[0].version),
            "PLAIN-PEM");
  this->store_->set_master_key(master);
  auto sealed = d.put_keys(this->acme_, "example.com", {key(1, "rsa", "SECRET-PEM")}, false);
  ASSERT_TRUE(sealed.ok());
  const std::string raw =
      this->stored_private(this->acme_, "example.com", sealed.value()[0].version);
  EXPECT_TRUE(raw.starts_with("sbx1:")) << raw;
  EXPECT_EQ(raw.find("SECRET"), std::string::npos);
  this->mark("example.com", {{"dkim:tern1", "ok"}});
  EXPECT_EQ(this->signing(this->acme_, "example.com").at(0).private_pem, "SECRET-PEM");
  auto both = d.keys(this->acme_, "example.com", true);
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both.value().at(0).private_pem, "SECRET-PEM");
  EXPECT_EQ(both.value().at(1).private_pem, "PLAIN-PEM");

  // Without the master key (or with another), sealed keys are an error, never garbage;
  // public halves still read (records and the zone need no secret).
  Backend fresh = this->open_again();
  auto no_key = fresh.store->domains.signing_keys(this->acme_, "example.com");
  ASSERT_FALSE(no_key.ok());
  EXPECT_NE(no_key.error().message.find("master_key_file"), std::string::npos);
  EXPECT_FALSE(fresh.store->domains.keys(this->acme_, "example.com", true).ok());
  auto pub = fresh.store->domains.keys(this->acme_, "example.com", false);
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(pub.value().at(0).public_b64, "PUB-SECRET-PEM");
  EXPECT_TRUE(pub.value().at(0).private_pem.empty());
  std::string wrong = master;
  wrong[0] ^= 1;
  fresh.store->set_master_key(wrong);
  auto wrong_key = fresh.store->domains.signing_keys(this->acme_, "example.com");
  ASSERT_FALSE(wrong_key.ok());
  EXPECT_TRUE(wrong_key.error().is(core::ErrorCode::corrupt));
  fresh.store->set_master_key(master);
  EXPECT_EQ(fresh.store->domains.signing_keys(this->acme_, "example.com").value().at(0).private_pem,
            "SECRET-PEM");
}

TYPED_TEST(DomainsConformance, AccountContextHasOnlyVerifiedOwnEntriesAndSettings) {
  auto& s = *this->store_;
  ASSERT_TRUE(s.domains.add(this->acme_, "b-acme.example", true).ok());
  ASSERT_TRUE(s.domains.add(this->acme_, "a-acme.example", true).ok());
  ASSERT_TRUE(s.domains.add(this->acme_, "pending.example", false).ok());
  ASSERT_TRUE(s.domains.add(this->other_, "beta.example", true).ok());
  ASSERT_TRUE(s.senders.add(this->acme_, "Ann@Gmail.COM", true).ok());
  ASSERT_TRUE(s.senders.add(this->acme_, "unverified@gmail.com", false).ok());
  ASSERT_TRUE(s.senders.add(this->other_, "beta@gmail.com", true).ok());
  ASSERT_TRUE(s.settings
                  .set(this->acme_, {{"mail_from", "bounces@a-acme.example"},
                                     {"cc", "audit@a-acme.example"},
                                     {"bcc", "archive@a-acme.example"},
                                     {"notify_url", "https://hooks.example/n"},
                                     {"report_format", "xml"},
                                     {"intermediate_report", "on"}})
                  .ok());
  auto ctx = s.account_context(this->acme_);
  ASSERT_TRUE(ctx.ok()) << ctx.error().message;
  EXPECT_EQ(ctx->id, this->acme_);
  EXPECT_EQ(ctx->name, "acme");
  EXPECT_EQ(ctx->domains, (std::vector<std::string>{"a-acme.example", "b-acme.example"}));
  EXPECT_EQ(ctx->senders, std::vector<std::string>{"Ann@gmail.com"});
  EXPECT_TRUE(ctx->platform_domains.empty());
  EXPECT_EQ(ctx->mail_from, "bounces@a-acme.example");
  EXPECT_EQ(ctx->cc, std::vector<std::string>{"audit@a-acme.example"});
  EXPECT_EQ(ctx->bcc, std::vector<std::string>{"archive@a-acme.example"});
  EXPECT_EQ(ctx->defaults.notify_url, "https://hooks.example/n");
  EXPECT_EQ(ctx->defaults.notify_content_type, "application/xml");
  EXPECT_TRUE(ctx->defaults.intermediate_report);
  auto none = s.account_context(424242);
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(none.error().is(core::ErrorCode::not_found));
}

}  // namespace
}  // namespace tern::store::conformance
