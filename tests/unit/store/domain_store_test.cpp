// Sending domains and DKIM keys in the SQLite store: ownership tokens, key sets (direct and
// delegated), check states, rotation bookkeeping, signing_keys() gating, sealing at rest.
#include <gtest/gtest.h>
#include <sodium.h>
#include <sqlite3.h>

#include <set>

#include "store/key_box.hpp"
#include "store/sqlite_schema.hpp"
#include "store/store.hpp"
#include "unit/store/test_dir.hpp"

namespace tern::store {
namespace {

DkimKey key(int slot, const std::string& alg, const std::string& pem) {
  DkimKey k;
  k.slot = slot;
  k.algorithm = alg;
  k.selector = "tern" + std::to_string(slot) + (alg == "ed25519" ? "e" : "");
  k.public_b64 = "PUB-" + pem;
  k.private_pem = pem;
  return k;
}

class DomainStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("tern.db");
    store_ = open();
    auto a = store_->create_account("acme");
    ASSERT_TRUE(a.ok());
    acme_ = a.value().account.id;
    auto b = store_->create_account("other");
    ASSERT_TRUE(b.ok());
    other_ = b.value().account.id;
  }
  std::unique_ptr<Store> open() {
    auto s = Store::open_sqlite(path_);
    EXPECT_TRUE(s.ok()) << s.error().message;
    return std::move(s).value();
  }
  DomainDetail detail(const std::string& d) {
    auto r = store_->find_domain(d);
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(r.value().has_value()) << d;
    return r.value().value_or(DomainDetail{});
  }
  std::vector<Store::SigningKey> signing(int64_t acc, const std::string& d) {
    auto r = store_->signing_keys(acc, d);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? r.value() : std::vector<Store::SigningKey>{};
  }
  void mark(const std::string& d, std::vector<std::pair<std::string, std::string>> states,
            bool verified = false, int active = 1, int next = 0) {
    DomainCheckUpdate u;
    u.domain = d;
    u.verified = verified;
    u.active_slot = active;
    u.next_slot = next;
    u.checked_ms = 1000;
    for (auto& [id, st] : states) u.records.push_back({id, st, st == "ok" ? "" : "x", 1000});
    auto r = store_->save_domain_check(u);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  std::string raw_private(int64_t version) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT private_key FROM dkim_keys WHERE version = ?", -1, &st,
                                 nullptr),
              SQLITE_OK);
    sqlite3_bind_int64(st, 1, version);
    std::string out;
    if (sqlite3_step(st) == SQLITE_ROW)
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }

  test::TempDir dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
  int64_t acme_ = 0, other_ = 0;
};

TEST_F(DomainStoreTest, NewDomainHasTokenAndDefaults) {
  ASSERT_TRUE(store_->add_domain(acme_, "Example.COM", false).ok());
  ASSERT_TRUE(store_->add_domain(acme_, "example.net", false).ok());
  auto d = detail("EXAMPLE.com");
  EXPECT_EQ(d.domain, "example.com");
  EXPECT_EQ(d.account_id, acme_);
  EXPECT_FALSE(d.verified);
  EXPECT_EQ(d.dkim_mode, "direct");
  EXPECT_FALSE(d.ed25519);
  EXPECT_EQ(d.active_slot, 1);
  EXPECT_EQ(d.next_slot, 0);
  EXPECT_EQ(d.checked_ms, 0);
  EXPECT_EQ(d.token.size(), 26u);
  for (char c : d.token) EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')) << c;
  EXPECT_NE(d.token, detail("example.net").token);
  // Adding again (operator override) keeps the token.
  ASSERT_TRUE(store_->add_domain(acme_, "example.com", true).ok());
  EXPECT_EQ(detail("example.com").token, d.token);
  EXPECT_TRUE(detail("example.com").verified);
  auto missing = store_->find_domain("nope.example");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing.value().has_value());
  auto all = store_->all_domains();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all.value().size(), 2u);
}

TEST_F(DomainStoreTest, SigningNeedsVerifiedDomainKeysAndOkRecord) {
  ASSERT_TRUE(store_->add_domain(acme_, "example.com", false).ok());
  EXPECT_TRUE(signing(acme_, "example.com").empty());  // no keys
  auto put = store_->put_dkim_keys(acme_, "example.com",
                                   {key(1, "rsa", "PEM-A1"), key(2, "rsa", "PEM-A2")}, false);
  ASSERT_TRUE(put.ok()) << put.error().message;
  ASSERT_EQ(put.value().size(), 2u);
  EXPECT_TRUE(put.value()[0].private_pem.empty());  // not handed back
  EXPECT_NE(put.value()[0].version, put.value()[1].version);
  // Freshly stored keys start pending.
  auto d = detail("example.com");
  ASSERT_NE(d.record("dkim:tern1"), nullptr);
  EXPECT_EQ(d.record("dkim:tern1")->status, "pending");
  EXPECT_TRUE(signing(acme_, "example.com").empty());

  mark("example.com", {{"dkim:tern1", "ok"}});  // record ok, domain not verified
  EXPECT_TRUE(signing(acme_, "example.com").empty());
  mark("example.com", {{"dkim:tern1", "ok"}}, true);
  auto keys = signing(acme_, "example.com");
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].domain, "example.com");
  EXPECT_EQ(keys[0].selector, "tern1");
  EXPECT_EQ(keys[0].algorithm, "rsa");
  EXPECT_EQ(keys[0].private_pem, "PEM-A1");
  EXPECT_EQ(keys[0].version, put.value()[0].version);
  EXPECT_EQ(signing(acme_, "EXAMPLE.COM").size(), 1u);
  // Another account never gets the keys, nor does an unknown domain.
  EXPECT_TRUE(signing(other_, "example.com").empty());
  EXPECT_TRUE(signing(acme_, "example.org").empty());

  // The active record going wrong stops signing; verified stays (only ever false -> true).
  mark("example.com", {{"dkim:tern1", "wrong"}}, false);
  EXPECT_TRUE(detail("example.com").verified);
  EXPECT_TRUE(signing(acme_, "example.com").empty());
  // Slot 2 ok but slot 1 active: still nothing.
  mark("example.com", {{"dkim:tern2", "ok"}});
  EXPECT_TRUE(signing(acme_, "example.com").empty());
  mark("example.com", {}, false, 2);
  keys = signing(acme_, "example.com");
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].selector, "tern2");
  EXPECT_EQ(keys[0].private_pem, "PEM-A2");
}

TEST_F(DomainStoreTest, ReplacingAKeyResetsItsStateAndChangesVersion) {
  ASSERT_TRUE(store_->add_domain(acme_, "example.com", true).ok());
  auto first = store_->put_dkim_keys(acme_, "example.com", {key(1, "rsa", "OLD")}, false);
  ASSERT_TRUE(first.ok());
  mark("example.com", {{"dkim:tern1", "ok"}});
  ASSERT_EQ(signing(acme_, "example.com").size(), 1u);
  auto second = store_->put_dkim_keys(acme_, "example.com", {key(1, "rsa", "NEW")}, false);
  ASSERT_TRUE(second.ok());
  EXPECT_GT(second.value()[0].version, first.value()[0].version);
  EXPECT_EQ(detail("example.com").record("dkim:tern1")->status, "pending");
  EXPECT_TRUE(signing(acme_, "example.com").empty());
  mark("example.com", {{"dkim:tern1", "ok"}});
  auto keys = signing(acme_, "example.com");
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].private_pem, "NEW");
  auto set = store_->dkim_keys(acme_, "example.com", true);
  ASSERT_TRUE(set.ok());
  ASSERT_EQ(set.value().size(), 1u);  // replaced, not added
  EXPECT_EQ(set.value()[0].public_b64, "PUB-NEW");
}

TEST_F(DomainStoreTest, Ed25519IsASecondSignatureOnlyWhenAskedAndOk) {
  ASSERT_TRUE(store_->add_domain(acme_, "example.com", true).ok());
  ASSERT_TRUE(store_
                  ->put_dkim_keys(acme_, "example.com",
                                  {key(1, "rsa", "R1"), key(1, "ed25519", "E1")}, false)
                  .ok());
  mark("example.com", {{"dkim:tern1", "ok"}, {"dkim:tern1e", "ok"}});
  auto keys = signing(acme_, "example.com");  // option off: RSA only
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].algorithm, "rsa");
  ASSERT_TRUE(store_->set_domain_dkim("example.com", "direct", true).ok());
  keys = signing(acme_, "example.com");
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].algorithm, "ed25519");
  EXPECT_EQ(keys[0].selector, "tern1e");
  EXPECT_EQ(keys[0].private_pem, "E1");
  EXPECT_EQ(keys[1].algorithm, "rsa");
  // Ed25519 alone never signs: RSA is what every verifier knows.
  mark("example.com", {{"dkim:tern1", "missing"}});
  EXPECT_TRUE(signing(acme_, "example.com").empty());
  mark("example.com", {{"dkim:tern1", "ok"}, {"dkim:tern1e", "wrong"}});
  keys = signing(acme_, "example.com");
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].algorithm, "rsa");
}

TEST_F(DomainStoreTest, DelegatedDomainsShareTheAccountKeySet) {
  ASSERT_TRUE(store_->add_domain(acme_, "a.example", true).ok());
  ASSERT_TRUE(store_->add_domain(acme_, "b.example", true).ok());
  ASSERT_TRUE(store_->add_domain(acme_, "direct.example", true).ok());
  ASSERT_TRUE(store_->set_domain_dkim("a.example", "delegated", false).ok());
  ASSERT_TRUE(store_->set_domain_dkim("b.example", "delegated", false).ok());
  EXPECT_EQ(detail("a.example").dkim_mode, "delegated");
  ASSERT_TRUE(store_->put_dkim_keys(acme_, "direct.example", {key(1, "rsa", "D1")}, false).ok());
  mark("direct.example", {{"dkim:tern1", "ok"}});
  ASSERT_TRUE(
      store_->put_dkim_keys(acme_, "", {key(1, "rsa", "S1"), key(2, "rsa", "S2")}, false).ok());
  // Both delegated domains got pending selector states; the direct one kept its state.
  EXPECT_EQ(detail("a.example").record("dkim:tern2")->status, "pending");
  EXPECT_EQ(detail("b.example").record("dkim:tern1")->status, "pending");
  EXPECT_EQ(detail("direct.example").record("dkim:tern1")->status, "ok");
  mark("a.example", {{"dkim:tern1", "ok"}});
  auto keys = signing(acme_, "a.example");
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].domain, "a.example");  // d= is the From domain, key is the account's
  EXPECT_EQ(keys[0].private_pem, "S1");
  EXPECT_TRUE(signing(acme_, "b.example").empty());  // its CNAME is not checked yet
  EXPECT_EQ(signing(acme_, "direct.example").at(0).private_pem, "D1");

  // A rotation of the shared set marks every delegated domain as waiting on that slot.
  ASSERT_TRUE(store_->put_dkim_keys(acme_, "", {key(2, "rsa", "S2b")}, true).ok());
  EXPECT_EQ(detail("a.example").next_slot, 2);
  EXPECT_EQ(detail("b.example").next_slot, 2);
  EXPECT_EQ(detail("direct.example").next_slot, 0);
  EXPECT_EQ(detail("a.example").record("dkim:tern1")->status, "ok");  // untouched slot
  EXPECT_EQ(signing(acme_, "a.example").at(0).private_pem, "S1");

  // Switching a domain's form resets what was checked behind its selectors.
  ASSERT_TRUE(store_->set_domain_dkim("a.example", "direct", false).ok());
  EXPECT_EQ(detail("a.example").record("dkim:tern1")->status, "pending");
  EXPECT_EQ(detail("a.example").next_slot, 0);
  EXPECT_TRUE(signing(acme_, "a.example").empty());
}

TEST_F(DomainStoreTest, ACheckNeverOverwritesARotationOrKeyCommittedMeanwhile) {
  ASSERT_TRUE(store_->add_domain(acme_, "example.com", true).ok());
  auto keys = store_->put_dkim_keys(acme_, "example.com",
                                    {key(1, "rsa", "K1"), key(2, "rsa", "K2")}, false);
  ASSERT_TRUE(keys.ok());
  // A check read the domain (next_slot 0, tern2 = K2) ...
  DomainCheckUpdate u;
  u.domain = "example.com";
  u.active_slot = 1;
  u.next_slot = 0;
  u.checked_ms = 7;
  u.seen_next_slot = 0;
  u.key_versions = {{"tern1", keys.value()[0].version}, {"tern2", keys.value()[1].version}};
  u.records = {{"dkim:tern1", "ok", "", 7}, {"dkim:tern2", "ok", "", 7}, {"dmarc", "ok", "", 7}};
  // ... then a rotation replaced tern2 before the check saved.
  ASSERT_TRUE(store_->put_dkim_keys(acme_, "example.com", {key(2, "rsa", "K2new")}, true).ok());
  ASSERT_TRUE(store_->save_domain_check(u).ok());
  auto d = detail("example.com");
  EXPECT_EQ(d.next_slot, 2);                             // rotation kept
  EXPECT_EQ(d.record("dkim:tern2")->status, "pending");  // old key's result not saved
  EXPECT_EQ(d.record("dkim:tern1")->status, "ok");       // unchanged key: saved
  EXPECT_EQ(d.record("dmarc")->status, "ok");
  EXPECT_EQ(d.checked_ms, 7);
  // A check that saw the rotation may switch.
  u.seen_next_slot = 2;
  u.active_slot = 2;
  u.next_slot = 0;
  u.key_versions = {{"tern2", store_->dkim_keys(acme_, "example.com", false).value()[1].version}};
  u.records = {{"dkim:tern2", "ok", "", 8}};
  ASSERT_TRUE(store_->save_domain_check(u).ok());
  d = detail("example.com");
  EXPECT_EQ(d.active_slot, 2);
  EXPECT_EQ(d.next_slot, 0);
  EXPECT_EQ(signing(acme_, "example.com").at(0).private_pem, "K2new");
}

TEST_F(DomainStoreTest, KeysAndChecksRefuseBadInputAndOtherAccounts) {
  ASSERT_TRUE(store_->add_domain(acme_, "example.com", true).ok());
  EXPECT_FALSE(store_->put_dkim_keys(other_, "example.com", {key(1, "rsa", "X")}, false).ok());
  EXPECT_FALSE(store_->put_dkim_keys(acme_, "example.com", {key(3, "rsa", "X")}, false).ok());
  EXPECT_FALSE(store_->put_dkim_keys(acme_, "example.com", {key(1, "dsa", "X")}, false).ok());
  EXPECT_FALSE(store_->put_dkim_keys(acme_, "example.com", {key(1, "rsa", "")}, false).ok());
  EXPECT_FALSE(store_->put_dkim_keys(acme_, "unknown.example", {key(1, "rsa", "X")}, false).ok());
  EXPECT_FALSE(store_->put_dkim_keys(999, "", {key(1, "rsa", "X")}, false).ok());
  auto none = store_->dkim_keys(acme_, "example.com", true);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none.value().empty());  // nothing half-written
  EXPECT_FALSE(store_->set_domain_dkim("example.com", "sideways", false).ok());
  EXPECT_FALSE(store_->set_domain_dkim("unknown.example", "direct", false).ok());
  DomainCheckUpdate u;
  u.domain = "unknown.example";
  EXPECT_FALSE(store_->save_domain_check(u).ok());
  u.domain = "example.com";
  u.active_slot = 3;
  EXPECT_FALSE(store_->save_domain_check(u).ok());
  u.active_slot = 0;
  EXPECT_FALSE(store_->save_domain_check(u).ok());
}

TEST_F(DomainStoreTest, MasterKeySealsPrivateKeysAtRest) {
  std::string master(32, '\0');
  randombytes_buf(master.data(), master.size());
  ASSERT_TRUE(store_->add_domain(acme_, "example.com", true).ok());
  // A key stored before the master key was configured stays readable as PEM.
  auto plain = store_->put_dkim_keys(acme_, "example.com", {key(2, "rsa", "PLAIN-PEM")}, false);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(raw_private(plain.value()[0].version), "PLAIN-PEM");
  store_->set_master_key(master);
  auto sealed = store_->put_dkim_keys(acme_, "example.com", {key(1, "rsa", "SECRET-PEM")}, false);
  ASSERT_TRUE(sealed.ok());
  const std::string raw = raw_private(sealed.value()[0].version);
  EXPECT_TRUE(raw.starts_with("sbx1:")) << raw;
  EXPECT_EQ(raw.find("SECRET"), std::string::npos);
  mark("example.com", {{"dkim:tern1", "ok"}});
  EXPECT_EQ(signing(acme_, "example.com").at(0).private_pem, "SECRET-PEM");
  auto both = store_->dkim_keys(acme_, "example.com", true);
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both.value().at(0).private_pem, "SECRET-PEM");
  EXPECT_EQ(both.value().at(1).private_pem, "PLAIN-PEM");

  // Without the master key (or with another), sealed keys are an error, never garbage;
  // public halves still read (records and the zone need no secret).
  store_ = open();
  auto no_key = store_->signing_keys(acme_, "example.com");
  ASSERT_FALSE(no_key.ok());
  EXPECT_NE(no_key.error().message.find("master_key_file"), std::string::npos);
  EXPECT_FALSE(store_->dkim_keys(acme_, "example.com", true).ok());
  auto pub = store_->dkim_keys(acme_, "example.com", false);
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(pub.value().at(0).public_b64, "PUB-SECRET-PEM");
  EXPECT_TRUE(pub.value().at(0).private_pem.empty());
  std::string wrong = master;
  wrong[0] ^= 1;
  store_->set_master_key(wrong);
  EXPECT_FALSE(store_->signing_keys(acme_, "example.com").ok());
  store_->set_master_key(master);
  EXPECT_EQ(signing(acme_, "example.com").at(0).private_pem, "SECRET-PEM");
}

TEST(KeyBox, RoundTripTamperAndWrongKey) {
  ASSERT_GE(sodium_init(), 0);
  std::string k(32, 'k');
  const std::string pem = "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n";
  auto s1 = key_box::seal(k, pem);
  auto s2 = key_box::seal(k, pem);
  EXPECT_NE(s1, s2);  // random nonce per seal
  ASSERT_TRUE(key_box::is_sealed(s1));
  auto back = key_box::open(k, s1);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back.value(), pem);
  EXPECT_EQ(key_box::open("", pem).value(), pem);  // plain passes through
  EXPECT_FALSE(key_box::open("", s1).ok());
  EXPECT_FALSE(key_box::open("short", s1).ok());
  std::string other = k;
  other[31] = 'x';
  EXPECT_FALSE(key_box::open(other, s1).ok());
  // Any altered character of the encoding fails (or decodes to other bytes: the tag catches it).
  for (size_t i = key_box::kPrefix.size(); i < s1.size(); ++i) {
    std::string t = s1;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(key_box::open(k, t).ok()) << i;
  }
  for (size_t n = key_box::kPrefix.size(); n < s1.size(); n += 7)
    EXPECT_FALSE(key_box::open(k, s1.substr(0, n)).ok()) << n;
  EXPECT_FALSE(key_box::open(k, "sbx1:").ok());
  EXPECT_FALSE(key_box::open(k, "sbx1:!!!!").ok());
}

TEST(DomainMigration, SchemaOneDomainsGetTokens) {
  test::TempDir dir;
  const std::string path = dir.file("old.db");
  {
    auto db = sqlite::Db::open(path);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->exec("CREATE TABLE schema_version(version INTEGER NOT NULL)", "v").ok());
    ASSERT_TRUE(db->exec(sqlite::migrations()[0], "m1").ok());
    ASSERT_TRUE(
        db->exec("INSERT INTO schema_version VALUES(1);"
                 "INSERT INTO accounts(name, code, created_ms) VALUES('old', 'abcdefgh', 1);"
                 "INSERT INTO domains(account_id, domain, verified, created_ms) "
                 "VALUES(1, 'old.example', 1, 1), (1, 'two.example', 0, 1);",
                 "seed")
            .ok());
  }
  auto s = Store::open_sqlite(path);
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto d = s.value()->find_domain("old.example");
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(d.value().has_value());
  EXPECT_TRUE(d.value()->verified);
  EXPECT_EQ(d.value()->dkim_mode, "direct");
  EXPECT_EQ(d.value()->token.size(), 32u);
  auto d2 = s.value()->find_domain("two.example");
  ASSERT_TRUE(d2.ok());
  EXPECT_NE(d2.value()->token, d.value()->token);
}

// Migration 6 (issue 10 item 11): domains and their record states survive the rebuild into
// per-account claims; afterwards a second account may claim the same domain unverified, and
// two verified claims on one domain are impossible.
TEST(DomainMigration, SchemaFiveDomainsBecomeClaims) {
  test::TempDir dir;
  const std::string path = dir.file("v5.db");
  {
    auto db = sqlite::Db::open(path);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->exec("CREATE TABLE schema_version(version INTEGER NOT NULL)", "v").ok());
    for (size_t i = 0; i < 5; ++i) ASSERT_TRUE(db->exec(sqlite::migrations()[i], "m").ok()) << i;
    ASSERT_TRUE(
        db->exec("INSERT INTO schema_version VALUES(5);"
                 "INSERT INTO accounts(name, code, created_ms) VALUES('old', 'abcdefgh', 1);"
                 "INSERT INTO accounts(name, code, created_ms) VALUES('new', 'ijklmnop', 1);"
                 "INSERT INTO domains(account_id, domain, verified, created_ms, token) "
                 "VALUES(1, 'old.example', 1, 1, 'tok1'), (1, 'two.example', 0, 1, 'tok2');"
                 "INSERT INTO domain_records(domain, id, status, found, checked_ms) "
                 "VALUES('old.example', 'ownership', 'ok', '', 5),"
                 "('two.example', 'spf', 'wrong', 'v=spf1 -all', 6);",
                 "seed")
            .ok());
  }
  auto s = Store::open_sqlite(path);
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto& st = *s.value();
  auto d = st.find_domain("old.example");
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(d.value().has_value());
  EXPECT_TRUE(d.value()->verified);
  EXPECT_EQ(d.value()->token, "tok1");
  ASSERT_NE(d.value()->record("ownership"), nullptr);
  EXPECT_EQ(d.value()->record("ownership")->status, "ok");
  auto d2 = st.find_domain("two.example", 1);
  ASSERT_TRUE(d2.ok());
  ASSERT_TRUE(d2.value().has_value());
  ASSERT_NE(d2.value()->record("spf"), nullptr);
  EXPECT_EQ(d2.value()->record("spf")->found, "v=spf1 -all");
  // The unverified one can be claimed by another account too; the verified one cannot.
  EXPECT_TRUE(st.add_domain(2, "two.example", false).ok());
  EXPECT_FALSE(st.add_domain(2, "old.example", false).ok());
  auto both = st.all_domains();
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->size(), 3u);
  // Deleting an account takes its claims and their record states with it (foreign keys).
  ASSERT_TRUE(st.delete_account(1).ok());
  auto left = st.all_domains();
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ(left->front().account_id, 2);
}

}  // namespace
}  // namespace tern::store
