// Conformance (conformance.hpp): accounts, SMTP logins, API keys and AUTH verification, on
// every backend. From the old SQLite store tests (issue 2 and 5), now backend-neutral.
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <set>
#include <thread>

#include "unit/store/conformance.hpp"

namespace tern::store::conformance {
namespace {

template <class B>
class AccountsConformance : public Conformance<B> {
 protected:
  CreatedAccount make(const std::string& name) {
    auto r = this->store_->accounts.create(name);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? r.value() : CreatedAccount{};
  }
  std::optional<int64_t> verify(const std::string& u, const std::string& p) {
    auto r = this->store_->credentials.verify(u, p);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? r.value() : std::nullopt;
  }
  size_t accounts() { return this->store_->accounts.list().value().size(); }
  size_t logins() {
    size_t n = 0;
    const auto all = this->store_->accounts.list();
    for (const auto& a : all.value()) n += this->store_->credentials.list(a.id).value().size();
    return n;
  }
};
TYPED_TEST_SUITE(AccountsConformance, Backends, BackendNames);

TYPED_TEST(AccountsConformance, CreateAccountThenVerifyPassword) {
  auto a = this->make("acme");
  EXPECT_EQ(a.account.name, "acme");
  EXPECT_EQ(a.username, "acme");
  EXPECT_GT(a.account.id, 0);
  EXPECT_EQ(a.account.created_ms, this->clock_.now_ms());
  ASSERT_EQ(a.account.code.size(), 8u);
  for (char c : a.account.code)
    EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')) << a.account.code;
  ASSERT_EQ(a.password.size(), 24u);
  for (char c : a.password)
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');

  EXPECT_EQ(this->verify("acme", a.password), a.account.id);
  // Second time comes from the cache and must give the same answer.
  EXPECT_EQ(this->verify("acme", a.password), a.account.id);
  EXPECT_EQ(this->verify("acme", a.password + "x"), std::nullopt);
  EXPECT_EQ(this->verify("acme", a.password.substr(0, 23)), std::nullopt);
  EXPECT_EQ(this->verify("acme", ""), std::nullopt);
  EXPECT_EQ(this->verify("ACME", a.password), std::nullopt);  // usernames are case-sensitive
  EXPECT_EQ(this->verify("nobody", a.password), std::nullopt);
  EXPECT_EQ(this->verify("", a.password), std::nullopt);
  EXPECT_EQ(this->verify(std::string("acme\0", 5), a.password), std::nullopt);
  EXPECT_EQ(this->verify("acme", std::string(5000, 'a')), std::nullopt);
}

TYPED_TEST(AccountsConformance, PasswordStoredOnlyAsArgon2id) {
  auto a = this->make("acme");
  auto row =
      this->in(Database::Mode::read, [](Tx& tx) { return tx.credentials().by_username("acme"); });
  ASSERT_TRUE(row.ok() && row->has_value());
  const std::string& hash = (*row)->password_hash;
  EXPECT_EQ(hash.rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0), 0u) << hash;
  EXPECT_EQ(hash.find(a.password), std::string::npos);
}

TYPED_TEST(AccountsConformance, PasswordsAndCodesDiffer) {
  std::set<std::string> pw, codes;
  for (int i = 0; i < 4; ++i) {
    auto a = this->make("acct" + std::to_string(i));
    pw.insert(a.password);
    codes.insert(a.account.code);
  }
  EXPECT_EQ(pw.size(), 4u);
  EXPECT_EQ(codes.size(), 4u);
  // One account's password does not open another.
  auto b = this->make("other");
  EXPECT_EQ(this->verify("acct0", b.password), std::nullopt);
}

TYPED_TEST(AccountsConformance, DuplicateNameIsAConflictAndChangesNothing) {
  this->make("acme");
  auto r = this->store_->accounts.create("acme");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(core::ErrorCode::conflict));
  EXPECT_EQ(r.error().message, "account \"acme\" already exists");
  EXPECT_EQ(this->accounts(), 1u);
  EXPECT_EQ(this->logins(), 1u);
  // A name a generated login of another account holds is taken too (it would be the login).
  auto gen = this->store_->credentials.create(this->make("beta").account.id, "");
  ASSERT_TRUE(gen.ok());
  auto clash = this->store_->accounts.create(gen->username);
  ASSERT_FALSE(clash.ok());
  EXPECT_TRUE(clash.error().is(core::ErrorCode::conflict));
  EXPECT_EQ(this->accounts(), 2u);
}

TYPED_TEST(AccountsConformance, HostileNamesRejectedAndNothingCreated) {
  const std::vector<std::string> bad = {
      "",
      " acme",
      "acme ",
      "ac me",
      std::string("acme\0x", 6),
      std::string(1, '\0'),
      "acme\"",
      "acme'",
      "'; DROP TABLE accounts; --",
      "acme' OR '1'='1",
      "Robert'); DROP TABLE credentials;--",
      std::string(65, 'a'),
      "Acme",
      "-acme",
      ".acme",
      "_acme",
      "acme\r\nRCPT TO:<x@y>",
      "acme\t",
      "acme/..",
      "acme@example.com",
      "\xc3\xa9t\xc3\xa9",
      "App",
  };
  for (const auto& n : bad) {
    auto r = this->store_->accounts.create(n);
    ASSERT_FALSE(r.ok()) << "accepted: " << n;
    EXPECT_TRUE(r.error().is(core::ErrorCode::invalid));
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
  }
  EXPECT_EQ(this->accounts(), 0u);
  EXPECT_EQ(this->logins(), 0u);
  // Boundaries that are fine.
  EXPECT_TRUE(this->store_->accounts.create(std::string(64, 'a')).ok());
  EXPECT_TRUE(this->store_->accounts.create("0").ok());
  EXPECT_TRUE(this->store_->accounts.create("a.b_c-d").ok());
  EXPECT_EQ(this->accounts(), 3u);
}

TYPED_TEST(AccountsConformance, FindAndListAccountsByIdWithANameWinningOverAnId) {
  auto a = this->make("acme");
  auto b = this->make("2024");
  auto list = this->store_->accounts.list();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "acme");  // by id: the order they were made
  EXPECT_EQ((*list)[1].name, "2024");
  EXPECT_LT((*list)[0].id, (*list)[1].id);
  EXPECT_EQ((*list)[0].code, a.account.code);

  auto by_id = this->store_->accounts.find(std::to_string(a.account.id));
  ASSERT_TRUE(by_id.ok());
  ASSERT_TRUE(by_id->has_value());
  EXPECT_EQ((*by_id)->name, "acme");
  auto by_name = this->store_->accounts.find("2024");  // a name wins over an id
  ASSERT_TRUE(by_name.ok() && by_name->has_value());
  EXPECT_EQ((*by_name)->id, b.account.id);
  for (const char* q : {"nobody", "999", "", "99999999999999999999999", "1 OR 1=1", "-1"}) {
    auto r = this->store_->accounts.find(q);
    ASSERT_TRUE(r.ok()) << q;
    EXPECT_FALSE(r->has_value()) << q;
  }
}

TYPED_TEST(AccountsConformance, ApiKeyFormatAndEntropy) {
  auto a = this->make("acme");
  std::set<std::string> keys;
  for (int i = 0; i < 20; ++i) {
    auto k = this->store_->api_keys.create(a.account.id);
    ASSERT_TRUE(k.ok()) << k.error().message;
    const std::string& key = k.value();
    ASSERT_EQ(key.size(), 31u) << key;
    EXPECT_EQ(key.rfind("tern_", 0), 0u);
    for (char c : key.substr(5)) EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'));
    keys.insert(key);
  }
  EXPECT_EQ(keys.size(), 20u);
  // 16 random bytes: the last character carries 3 bits and 2 zero pad bits, so it is one of
  // a, e, i, m, q, u, y, 4 (index a multiple of 4) — the other 25 characters are fully random.
  for (const auto& k : keys) EXPECT_NE(std::string("aeimquy4").find(k.back()), std::string::npos);
  // Only the prefix and hash are stored.
  auto listed = this->store_->api_keys.list(a.account.id);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 20u);
  for (const auto& k : *listed) {
    EXPECT_EQ(k.prefix.size(), 12u);
    EXPECT_EQ(k.revoked_ms, 0);
    EXPECT_TRUE(std::any_of(keys.begin(), keys.end(),
                            [&](const std::string& full) { return full.rfind(k.prefix, 0) == 0; }));
  }
}

TYPED_TEST(AccountsConformance, ApiKeyAuthRevocationAndOrder) {
  auto a = this->make("acme");
  auto b = this->make("beta");
  auto k1 = this->store_->api_keys.create(a.account.id);
  this->clock_.advance_ms(1);
  auto k2 = this->store_->api_keys.create(a.account.id);
  auto kb = this->store_->api_keys.create(b.account.id);
  ASSERT_TRUE(k1.ok() && k2.ok() && kb.ok());
  EXPECT_EQ(this->verify("App", *k1), a.account.id);
  EXPECT_EQ(this->verify("App", *k2), a.account.id);
  EXPECT_EQ(this->verify("App", *kb), b.account.id);
  EXPECT_EQ(this->verify("app", *k1), std::nullopt);   // "App" exactly
  EXPECT_EQ(this->verify("acme", *k1), std::nullopt);  // a key is not the password
  EXPECT_EQ(this->verify("App", a.password), std::nullopt);
  EXPECT_EQ(this->verify("App", k1->substr(0, 30)), std::nullopt);
  EXPECT_EQ(this->verify("App", ""), std::nullopt);
  // The bearer form: same keys, nothing for malformed ones.
  EXPECT_EQ(this->store_->api_keys.verify(*k2).value(), a.account.id);
  std::string wrong = *k1;
  wrong.back() = wrong.back() == 'a' ? 'b' : 'a';
  for (const std::string& k :
       {wrong, k1->substr(0, 20), std::string("tern_"), std::string(), std::string(5000, 'x')}) {
    auto r = this->store_->api_keys.verify(k);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->has_value()) << k;
  }

  // Another account cannot revoke it; an unknown prefix is not found.
  auto foreign = this->store_->api_keys.revoke(b.account.id, k1->substr(0, 12));
  ASSERT_FALSE(foreign.ok());
  EXPECT_TRUE(foreign.error().is(core::ErrorCode::not_found));
  EXPECT_FALSE(this->store_->api_keys.revoke(a.account.id, "tern_zzzzzzz").ok());
  EXPECT_FALSE(this->store_->api_keys.revoke(a.account.id, "' OR 1=1 --").ok());
  EXPECT_EQ(this->verify("App", *k1), a.account.id);

  this->clock_.advance_ms(1000);
  auto r = this->store_->api_keys.revoke(a.account.id, k1->substr(0, 12));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(this->verify("App", *k1), std::nullopt);
  EXPECT_EQ(this->store_->api_keys.verify(*k1).value(), std::nullopt);
  EXPECT_EQ(this->verify("App", *k2), a.account.id);
  EXPECT_EQ(this->verify("App", *kb), b.account.id);
  // Revoking twice: nothing active left under that prefix.
  EXPECT_TRUE(this->store_->api_keys.revoke(a.account.id, k1->substr(0, 12))
                  .error()
                  .is(core::ErrorCode::not_found));
  // Oldest first, revoked and active alike, with the revocation time.
  auto listed = this->store_->api_keys.list(a.account.id);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].prefix, k1->substr(0, 12));
  EXPECT_EQ((*listed)[0].revoked_ms, this->clock_.now_ms());
  EXPECT_EQ((*listed)[1].revoked_ms, 0);

  auto none = this->store_->api_keys.create(424242);
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(none.error().is(core::ErrorCode::not_found));
}

TYPED_TEST(AccountsConformance, UnknownUserCostsAboutAsMuchAsWrongPassword) {
  auto a = this->make("acme");
  // CPU time of this thread, not wall time: other load on the machine does not change it.
  auto cpu_now = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
  };
  auto time = [&](const std::string& u) {
    auto t0 = cpu_now();
    for (int i = 0; i < 3; ++i) (void)this->verify(u, "wrong-password-guess");
    return cpu_now() - t0;
  };
  auto known = time("acme");
  auto unknown = time("nobody");
  // Both run one Argon2id per attempt; without the dummy verification the unknown user would
  // return in microseconds.
  EXPECT_GT(unknown * 4, known);
  EXPECT_GT(unknown, std::chrono::milliseconds(3));
}

TYPED_TEST(AccountsConformance, CredentialsCreateListVerifyDelete) {
  auto acme = this->make("acme");
  auto other = this->make("other");
  auto list = this->store_->credentials.list(acme.account.id);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->front().username, "acme");

  auto gen = this->store_->credentials.create(acme.account.id, "");
  ASSERT_TRUE(gen.ok()) << gen.error().message;
  EXPECT_TRUE(gen->username.starts_with("acme.")) << gen->username;
  EXPECT_EQ(gen->username.size(), 11u);
  EXPECT_GE(gen->password.size(), 20u);
  auto named = this->store_->credentials.create(acme.account.id, "acme-app");
  ASSERT_TRUE(named.ok()) << named.error().message;
  EXPECT_EQ(named->username, "acme-app@acme");

  EXPECT_EQ(this->verify(gen->username, gen->password), acme.account.id);
  // In the order they were made.
  list = this->store_->credentials.list(acme.account.id);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[1].username, gen->username);
  EXPECT_EQ((*list)[2].username, named->username);
  EXPECT_EQ(this->verify(named->username, named->password), acme.account.id);

  // Chosen names are namespaced per account: another account's "acme-app" is its own login
  // (nothing tells it acme has one), and the same name twice in one account is a conflict.
  auto theirs = this->store_->credentials.create(other.account.id, "acme-app");
  ASSERT_TRUE(theirs.ok()) << theirs.error().message;
  EXPECT_EQ(theirs->username, "acme-app@other");
  auto twice = this->store_->credentials.create(acme.account.id, "acme-app");
  ASSERT_FALSE(twice.ok());
  EXPECT_TRUE(twice.error().is(core::ErrorCode::conflict));
  EXPECT_EQ(twice.error().message, "username acme-app@acme is taken");
  auto named_other = this->store_->credentials.create(acme.account.id, "other");
  ASSERT_TRUE(named_other.ok()) << named_other.error().message;
  EXPECT_EQ(named_other->username, "other@acme");
  EXPECT_TRUE(this->store_->credentials.create(acme.account.id, "Bad Name")
                  .error()
                  .is(core::ErrorCode::invalid));
  EXPECT_FALSE(this->store_->credentials.create(acme.account.id, "a\r\nb").ok());
  EXPECT_TRUE(this->store_->credentials.create(999, "").error().is(core::ErrorCode::not_found));
  EXPECT_TRUE(this->store_->credentials.list(999).error().is(core::ErrorCode::not_found));

  // Another account cannot delete acme's login.
  auto foreign = this->store_->credentials.remove(other.account.id, gen->username);
  ASSERT_FALSE(foreign.ok());
  EXPECT_TRUE(foreign.error().is(core::ErrorCode::not_found));
  ASSERT_TRUE(this->store_->credentials.remove(acme.account.id, gen->username).ok());
  EXPECT_FALSE(this->store_->credentials.remove(acme.account.id, gen->username).ok());
  // The verification cache does not keep a deleted login alive.
  EXPECT_EQ(this->verify(gen->username, gen->password), std::nullopt);
}

TYPED_TEST(AccountsConformance, DeleteAccountTakesEverythingItOwns) {
  auto acme = this->make("acme");
  auto other = this->make("other");
  const int64_t id = acme.account.id;
  ASSERT_TRUE(this->store_->domains.add(id, "acme.test", true).ok());
  ASSERT_TRUE(this->store_->senders.add(id, "a@x.test", true).ok());
  ASSERT_TRUE(this->store_->suppressions.add({id, "gone@x.test", "r", "Q", 0}).ok());
  ASSERT_TRUE(this->store_->settings.set(id, {{"bounce_notices", "off"}}).ok());
  ASSERT_TRUE(
      this->store_->events.record({event(1, "Q1", id, "b@x.test", core::EventKind::delivered)})
          .ok());
  auto key = this->store_->api_keys.create(id);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(this->verify(acme.username, acme.password), id);  // cached now
  ASSERT_TRUE(this->store_->accounts.remove(id).ok());
  auto again = this->store_->accounts.remove(id);
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(again.error().is(core::ErrorCode::not_found));
  EXPECT_FALSE(this->store_->accounts.find("acme").value().has_value());
  EXPECT_FALSE(this->store_->api_keys.verify(*key).value().has_value());
  EXPECT_EQ(this->verify(acme.username, acme.password), std::nullopt);
  // Nothing of it is left under its id...
  EXPECT_TRUE(this->store_->domains.list(id).value().empty());
  EXPECT_TRUE(this->store_->senders.list(id).value().empty());
  EXPECT_TRUE(this->store_->suppressions.list(id).value().empty());
  EXPECT_TRUE(this->store_->api_keys.list(id).value().empty());
  auto rows = this->in(Database::Mode::read, [&](Tx& tx) { return tx.settings().rows(id); });
  EXPECT_TRUE(rows.value().empty());
  // ...its domain is free for anyone, and the event log keeps its history.
  EXPECT_TRUE(this->store_->domains.add(other.account.id, "acme.test", false).ok());
  EXPECT_EQ(this->store_->events.for_queue("Q1").value().size(), 1u);
  // The other account is untouched.
  EXPECT_EQ(this->verify(other.username, other.password), other.account.id);
}

TYPED_TEST(AccountsConformance, TwoInstancesSeeEachOthersWrites) {
  Backend cli = this->open_again();
  ASSERT_TRUE(cli.store);
  auto created = cli.store->accounts.create("acme");
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(this->verify("acme", created->password), created->account.id);
  auto key = cli.store->api_keys.create(created->account.id);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(this->verify("App", *key), created->account.id);
  ASSERT_TRUE(this->store_->domains.add(created->account.id, "acme.example", true).ok());
  EXPECT_EQ(cli.store->domains.list(created->account.id).value().size(), 1u);
  // A revocation by the other instance takes effect at once for API keys here.
  ASSERT_TRUE(cli.store->api_keys.revoke(created->account.id, key->substr(0, 12)).ok());
  EXPECT_EQ(this->verify("App", *key), std::nullopt);
  // Names are unique across both.
  EXPECT_TRUE(this->store_->accounts.create("acme").error().is(core::ErrorCode::conflict));
}

TYPED_TEST(AccountsConformance, ConcurrentCreationsFromTwoInstancesAllLand) {
  Backend second = this->open_again();
  ASSERT_TRUE(second.store);
  std::atomic<int> failures{0};
  auto work = [&](Store& s, const std::string& prefix) {
    for (int i = 0; i < 3; ++i) {
      auto r = s.accounts.create(prefix + std::to_string(i));
      if (!r.ok())
        ++failures;
      else if (s.credentials.verify(r->username, r->password).value() != r->account.id)
        ++failures;
    }
  };
  std::thread t1([&] { work(*this->store_, "a"); });
  std::thread t2([&] { work(*second.store, "b"); });
  std::thread t3([&] { work(*this->store_, "c"); });
  t1.join();
  t2.join();
  t3.join();
  EXPECT_EQ(failures.load(), 0);
  auto list = this->store_->accounts.list();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 9u);
  std::set<int64_t> ids;
  for (const auto& a : *list) ids.insert(a.id);
  EXPECT_EQ(ids.size(), 9u);
}

}  // namespace
}  // namespace tern::store::conformance
