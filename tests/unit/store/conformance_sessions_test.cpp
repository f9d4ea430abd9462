// Conformance (conformance.hpp): console sessions and one-time login codes (issue 13) on every
// backend: only SHA-256 of secrets stored, idle and absolute limits, the once-a-minute touch,
// a revoked key or a removed account ends its sessions, a new operator token ends operator
// sessions, the per-principal cap (oldest first, explicit tie-breaker), one-time login codes
// shared by a second instance, and SessionRepo's own contract.
#include "store/sessions.hpp"
#include "unit/store/conformance.hpp"

namespace tern::store::conformance {
namespace {

constexpr int64_t kT0 = 1'795'348'800'000;  // 2026-11-22T12:00:00Z
constexpr int64_t kMin = 60'000;
constexpr int64_t kHour = 3'600'000;

template <class B>
class SessionsConformance : public Conformance<B> {
 protected:
  template <class T>
  T must(core::Result<T> r) {
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    if (!r.ok()) throw std::runtime_error(r.error().message);
    return std::move(r).value();
  }
  void must(core::Result<void> r) {
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    if (!r.ok()) throw std::runtime_error(r.error().message);
  }
  // The stored row with this id_hash, through the repository.
  std::optional<SessionRow> row(const std::string& id_hash) {
    return must(
        this->in(Database::Mode::read, [&](Tx& tx) { return tx.sessions().find(id_hash); }));
  }
};
TYPED_TEST_SUITE(SessionsConformance, Backends, BackendNames);

TYPED_TEST(SessionsConformance, OperatorSessionStoresOnlyTheHashAndEndsWithTheToken) {
  auto& s = this->store_->sessions;
  const std::string op = secrets::sha256_hex("tern_admin_one");
  auto made = this->must(s.create_operator(op, kT0));
  EXPECT_EQ(made.secret.size(), 52u);
  EXPECT_TRUE(made.session.is_operator);
  EXPECT_EQ(made.session.account_id, 0);
  EXPECT_EQ(made.session.expires_ms, kT0 + 12 * kHour);
  EXPECT_EQ(made.session.idle_expires_ms, kT0 + 30 * kMin);
  // Stored under the secret's SHA-256, never under the secret.
  auto stored = this->row(secrets::sha256_hex(made.secret));
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->operator_hash, op);
  EXPECT_EQ(stored->created_ms, kT0);
  EXPECT_FALSE(this->row(made.secret));
  auto found = this->must(s.find(made.secret, op, kT0 + kMin));
  ASSERT_TRUE(found);
  EXPECT_TRUE(found->is_operator);
  // Another operator token (rotated file): the old sessions no longer work.
  EXPECT_FALSE(this->must(s.find(made.secret, secrets::sha256_hex("tern_admin_two"), kT0 + kMin)));
  EXPECT_FALSE(this->must(s.find(made.secret, "", kT0 + kMin)));
  // Secrets that are not ours, or almost ours.
  EXPECT_FALSE(this->must(s.find("", op, kT0)));
  EXPECT_FALSE(this->must(s.find(made.secret.substr(1) + "a", op, kT0)));
  EXPECT_FALSE(this->must(s.find(std::string(52, 'A'), op, kT0)));
  // No operator token: no operator session.
  auto none = s.create_operator("", kT0);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, core::ErrorCode::invalid);
}

TYPED_TEST(SessionsConformance, IdleAndAbsoluteLimits) {
  auto& s = this->store_->sessions;
  const std::string op = secrets::sha256_hex("tok");
  auto made = this->must(s.create_operator(op, kT0));
  // Used every 20 minutes: alive past the idle limit, until the absolute one.
  for (int64_t t = kT0; t + 20 * kMin < kT0 + 12 * kHour; t += 20 * kMin)
    ASSERT_TRUE(this->must(s.find(made.secret, op, t + 20 * kMin))) << (t - kT0) / kMin;
  EXPECT_FALSE(this->must(s.find(made.secret, op, kT0 + 12 * kHour)));
  // Idle: 30 minutes without a request.
  auto idle = this->must(s.create_operator(op, kT0));
  EXPECT_TRUE(this->must(s.find(idle.secret, op, kT0 + 29 * kMin)));
  EXPECT_FALSE(this->must(s.find(idle.secret, op, kT0 + 29 * kMin + 30 * kMin)));
  // Limits set by the composition root apply.
  SessionLimits short_lived;
  short_lived.idle_ms = 5 * kMin;
  short_lived.absolute_ms = 10 * kMin;
  s.set_limits(short_lived);
  auto brief = this->must(s.create_operator(op, kT0));
  EXPECT_EQ(brief.session.expires_ms, kT0 + 10 * kMin);
  EXPECT_EQ(brief.session.idle_expires_ms, kT0 + 5 * kMin);
  EXPECT_TRUE(this->must(s.find(brief.secret, op, kT0 + 4 * kMin)));
  EXPECT_FALSE(this->must(s.find(brief.secret, op, kT0 + 4 * kMin + 5 * kMin)));
}

TYPED_TEST(SessionsConformance, LastSeenIsWrittenAtMostOnceAMinute) {
  auto& s = this->store_->sessions;
  const std::string op = secrets::sha256_hex("tok");
  auto made = this->must(s.create_operator(op, kT0));
  const std::string h = secrets::sha256_hex(made.secret);
  auto f = this->must(s.find(made.secret, op, kT0 + 30'000));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->last_seen_ms, kT0);
  EXPECT_EQ(this->row(h)->last_seen_ms, kT0);  // not written: less than a minute
  f = this->must(s.find(made.secret, op, kT0 + kMin));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->last_seen_ms, kT0 + kMin);
  EXPECT_EQ(f->idle_expires_ms, kT0 + kMin + 30 * kMin);
  EXPECT_EQ(this->row(h)->last_seen_ms, kT0 + kMin);
  // The repository never moves last_seen backwards (two requests racing).
  this->must(this->in(Database::Mode::write,
                      [&](Tx& tx) { return tx.sessions().touch(h, kT0 + 10'000); }));
  EXPECT_EQ(this->row(h)->last_seen_ms, kT0 + kMin);
}

TYPED_TEST(SessionsConformance, AccountSessionEndsWhenItsKeyIsRevokedOrTheAccountRemoved) {
  auto& s = this->store_->sessions;
  const int64_t acme = this->account("acme");
  const std::string key = this->must(this->store_->api_keys.create(acme));
  const std::string other = this->must(this->store_->api_keys.create(acme));
  auto a = this->must(s.create_for_api_key(key, kT0));
  auto b = this->must(s.create_for_api_key(other, kT0));
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(a->session.is_operator);
  EXPECT_EQ(a->session.account_id, acme);
  EXPECT_EQ(this->row(secrets::sha256_hex(a->secret))->api_key_hash, secrets::sha256_hex(key));
  ASSERT_TRUE(this->must(s.find(a->secret, "", kT0 + 1)));
  // An account's session is not an operator's, whatever operator token is offered.
  EXPECT_FALSE(this->must(s.find(a->secret, "", kT0 + 1))->is_operator);
  this->must(this->store_->api_keys.revoke(acme, key.substr(0, 12)));
  EXPECT_FALSE(this->must(s.find(a->secret, "", kT0 + 2)));      // ended at once
  EXPECT_FALSE(this->row(secrets::sha256_hex(a->secret)));       // and gone
  EXPECT_TRUE(this->must(s.find(b->secret, "", kT0 + 2)));       // the other key's session lives
  EXPECT_FALSE(this->must(s.create_for_api_key(key, kT0 + 3)));  // a revoked key makes none
  EXPECT_FALSE(this->must(s.create_for_api_key("tern_" + std::string(26, 'a'), kT0)));
  EXPECT_FALSE(this->must(s.create_for_api_key("not a key", kT0)));
  this->must(this->store_->accounts.remove(acme));
  EXPECT_FALSE(this->must(s.find(b->secret, "", kT0 + 4)));
  EXPECT_TRUE(this->must(this->in(Database::Mode::read,
                                  [&](Tx& tx) { return tx.sessions().of_principal(acme); }))
                  .empty());
}

TYPED_TEST(SessionsConformance, ARowWhoseKeyIsNotTheAccountsIsNeverAnswered) {
  // Storage-level defence: a session row naming another account's key (or no key) is not a
  // session of either account.
  const int64_t acme = this->account("acme"), beta = this->account("beta");
  const std::string beta_key = this->must(this->store_->api_keys.create(beta));
  SessionRow forged{secrets::sha256_hex("forged"),
                    acme,
                    secrets::sha256_hex(beta_key),
                    "",
                    kT0,
                    kT0,
                    kT0 + kHour};
  SessionRow keyless{secrets::sha256_hex("keyless"), acme, "", "", kT0, kT0, kT0 + kHour};
  this->must(this->in(Database::Mode::write, [&](Tx& tx) -> core::Result<void> {
    if (auto r = tx.sessions().insert(forged); !r) return r;
    return tx.sessions().insert(keyless);
  }));
  EXPECT_FALSE(this->row(forged.id_hash));
  EXPECT_FALSE(this->row(keyless.id_hash));
  // A taken hash is a conflict; a session of no account too.
  auto again =
      this->in(Database::Mode::write, [&](Tx& tx) { return tx.sessions().insert(keyless); });
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, core::ErrorCode::conflict);
  SessionRow orphan{secrets::sha256_hex("orphan"), acme + beta + 100, "", "", kT0, kT0, kT0};
  auto no_account =
      this->in(Database::Mode::write, [&](Tx& tx) { return tx.sessions().insert(orphan); });
  ASSERT_FALSE(no_account.ok());
  EXPECT_EQ(no_account.error().code, core::ErrorCode::conflict);
}

TYPED_TEST(SessionsConformance, SessionsPerPrincipalAreCappedOldestFirst) {
  auto& s = this->store_->sessions;
  SessionLimits l;
  l.max_per_principal = 3;
  s.set_limits(l);
  const std::string op = secrets::sha256_hex("tok");
  std::vector<std::string> made;
  for (int i = 0; i < 5; ++i) made.push_back(this->must(s.create_operator(op, kT0 + i)).secret);
  EXPECT_FALSE(this->must(s.find(made[0], op, kT0 + 10)));
  EXPECT_FALSE(this->must(s.find(made[1], op, kT0 + 10)));
  for (int i = 2; i < 5; ++i) EXPECT_TRUE(this->must(s.find(made[i], op, kT0 + 10))) << i;
  // An account's sessions are counted apart from the operator's.
  const int64_t beta = this->account("beta");
  const std::string key = this->must(this->store_->api_keys.create(beta));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(this->must(s.create_for_api_key(key, kT0 + 20 + i)));
  EXPECT_TRUE(this->must(s.find(made[4], op, kT0 + 30)));
  auto listed = this->must(
      this->in(Database::Mode::read, [&](Tx& tx) { return tx.sessions().of_principal(beta); }));
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[0].created_ms, kT0 + 23);  // newest first
  EXPECT_EQ(listed[2].created_ms, kT0 + 21);
  // Made in the same millisecond: the order is still total (id_hash descending).
  auto same = this->must(
      this->in(Database::Mode::read, [&](Tx& tx) { return tx.sessions().of_principal(0); }));
  ASSERT_EQ(same.size(), 3u);
  const std::string x = this->must(s.create_operator(op, kT0 + 50)).secret;
  const std::string y = this->must(s.create_operator(op, kT0 + 50)).secret;
  auto tied = this->must(
      this->in(Database::Mode::read, [&](Tx& tx) { return tx.sessions().of_principal(0); }));
  ASSERT_EQ(tied.size(), 3u);
  EXPECT_EQ(tied[0].created_ms, kT0 + 50);
  EXPECT_EQ(tied[1].created_ms, kT0 + 50);
  EXPECT_GT(tied[0].id_hash, tied[1].id_hash);
  EXPECT_TRUE(this->must(s.find(x, op, kT0 + 51)));
  EXPECT_TRUE(this->must(s.find(y, op, kT0 + 51)));
}

TYPED_TEST(SessionsConformance, ExpiredSessionsAreDeletedWhenNewOnesAreMade) {
  auto& s = this->store_->sessions;
  const std::string op = secrets::sha256_hex("tok");
  auto old = this->must(s.create_operator(op, kT0));
  const std::string h = secrets::sha256_hex(old.secret);
  ASSERT_TRUE(this->row(h));
  this->must(s.create_operator(op, kT0 + 31 * kMin));  // the first is idle by now
  EXPECT_FALSE(this->row(h));
}

TYPED_TEST(SessionsConformance, RemoveEndsOneSession) {
  auto& s = this->store_->sessions;
  const std::string op = secrets::sha256_hex("tok");
  auto a = this->must(s.create_operator(op, kT0));
  auto b = this->must(s.create_operator(op, kT0));
  this->must(s.remove(a.secret));
  this->must(s.remove(a.secret));  // again: no error
  this->must(s.remove("not-a-session"));
  EXPECT_FALSE(this->must(s.find(a.secret, op, kT0 + 1)));
  EXPECT_TRUE(this->must(s.find(b.secret, op, kT0 + 1)));
}

TYPED_TEST(SessionsConformance, LoginCodesWorkOnceAndExpireAndAreShared) {
  auto& s = this->store_->sessions;
  const std::string code = this->must(s.create_login_code(kT0, 10 * kMin));
  EXPECT_EQ(code.size(), 26u);
  auto stored = this->must(this->in(
      Database::Mode::read, [&](Tx& tx) { return tx.sessions().code(secrets::sha256_hex(code)); }));
  ASSERT_TRUE(stored);  // only the SHA-256 is kept
  EXPECT_EQ(stored->expires_ms, kT0 + 10 * kMin);
  EXPECT_FALSE(
      this->must(this->in(Database::Mode::read, [&](Tx& tx) { return tx.sessions().code(code); })));
  EXPECT_TRUE(this->must(s.consume_login_code(code, kT0 + kMin)));
  EXPECT_FALSE(this->must(s.consume_login_code(code, kT0 + kMin)));  // once
  const std::string late = this->must(s.create_login_code(kT0, 10 * kMin));
  EXPECT_FALSE(this->must(s.consume_login_code(late, kT0 + 10 * kMin)));  // expired
  EXPECT_FALSE(this->must(s.consume_login_code("", kT0)));
  EXPECT_FALSE(this->must(s.consume_login_code(std::string(26, 'z') + "'", kT0)));
  EXPECT_FALSE(s.create_login_code(kT0, 0).ok());
  // Another instance (the CLI next to the server) makes codes this one takes.
  auto other = this->open_again();
  ASSERT_TRUE(other.store);
  const std::string shared = this->must(other.store->sessions.create_login_code(kT0, 10 * kMin));
  EXPECT_TRUE(this->must(s.consume_login_code(shared, kT0 + 1)));
  EXPECT_FALSE(this->must(other.store->sessions.consume_login_code(shared, kT0 + 2)));
  // Expired codes are deleted when new ones are made.
  this->must(s.create_login_code(kT0 + 11 * kMin, 10 * kMin));
  EXPECT_FALSE(this->must(this->in(Database::Mode::read, [&](Tx& tx) {
    return tx.sessions().code(secrets::sha256_hex(late));
  })));
}

TYPED_TEST(SessionsConformance, ASessionIsSharedByInstances) {
  auto& s = this->store_->sessions;
  const std::string op = secrets::sha256_hex("tok");
  auto made = this->must(s.create_operator(op, kT0));
  auto other = this->open_again();
  ASSERT_TRUE(other.store);
  EXPECT_TRUE(this->must(other.store->sessions.find(made.secret, op, kT0 + 1)));
  this->must(other.store->sessions.remove(made.secret));
  EXPECT_FALSE(this->must(s.find(made.secret, op, kT0 + 2)));
}

}  // namespace
}  // namespace tern::store::conformance
