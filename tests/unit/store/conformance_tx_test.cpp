// Conformance (conformance.hpp): the unit of work and the repositories' own contract on every
// backend: a transaction is all or nothing (a failing item rolls the whole batch back, a Tx
// dropped without commit leaves nothing), a read transaction refuses writes, unique keys are
// conflicts, missing rows not_found, and the orders with their tie-breakers.
#include <thread>

#include "unit/store/conformance.hpp"

namespace tern::store::conformance {
namespace {

template <class B>
class TxConformance : public Conformance<B> {};
TYPED_TEST_SUITE(TxConformance, Backends, BackendNames);

using Mode = Database::Mode;

TYPED_TEST(TxConformance, AFailingItemRollsTheWholeTransactionBack) {
  auto r = this->in(Mode::write, [](Tx& tx) -> core::Result<void> {
    auto id = tx.accounts().insert({0, "acme", "code0001", 1});
    if (!id) return id.error();
    if (auto c = tx.credentials().insert({*id, "acme", "hash", 1}); !c) return c;
    if (auto s = tx.settings().put(*id, "cc", "a@example.com"); !s) return s;
    // The same name again: the unique key refuses it, and everything above goes with it.
    auto dup = tx.accounts().insert({0, "acme", "code0002", 1});
    if (!dup) return dup.error();
    return core::ok();
  });
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(core::ErrorCode::conflict)) << r.error().message;
  EXPECT_TRUE(this->store_->accounts.list().value().empty());
  auto login = this->in(Mode::read, [](Tx& tx) { return tx.credentials().by_username("acme"); });
  EXPECT_FALSE(login.value().has_value());
}

TYPED_TEST(TxConformance, ATransactionDroppedWithoutCommitLeavesNothing) {
  {
    auto tx = this->backend_.db->begin(Mode::write);
    ASSERT_TRUE(tx.ok()) << tx.error().message;
    ASSERT_TRUE((*tx)->accounts().insert({0, "ghost", "code0003", 1}).ok());
    ASSERT_TRUE(
        (*tx)->events().append({event(1, "Q1", 1, "a@x.test", core::EventKind::accepted)}).ok());
  }  // no commit
  EXPECT_TRUE(this->store_->accounts.list().value().empty());
  EXPECT_TRUE(this->store_->events.for_queue("Q1").value().empty());
  // The database is free again for the next transaction.
  EXPECT_GT(this->account("acme"), 0);
}

TYPED_TEST(TxConformance, CommittedWritesAreSeenByAnotherInstance) {
  Backend other = this->open_again();
  auto id = this->in(Mode::write, [](Tx& tx) {
    return tx.accounts().insert({0, "acme", "code0004", 7});
  });
  ASSERT_TRUE(id.ok()) << id.error().message;
  auto seen = in_tx(*other.db, Mode::read, [](Tx& tx) { return tx.accounts().by_name("acme"); });
  ASSERT_TRUE(seen.ok() && seen->has_value());
  EXPECT_EQ((*seen)->id, *id);
  EXPECT_EQ((*seen)->code, "code0004");
  EXPECT_EQ((*seen)->created_ms, 7);
}

TYPED_TEST(TxConformance, AReadTransactionRefusesWrites) {
  {
    auto tx = this->backend_.db->begin(Mode::read);
    ASSERT_TRUE(tx.ok());
    auto w = (*tx)->accounts().insert({0, "acme", "code0005", 1});
    ASSERT_FALSE(w.ok());
    EXPECT_TRUE(w.error().is(core::ErrorCode::internal));
    EXPECT_FALSE((*tx)->settings().put(1, "cc", "x").ok());
    EXPECT_FALSE(
        (*tx)->events().append({event(1, "Q", 1, "a@x.test", core::EventKind::accepted)}).ok());
    EXPECT_TRUE((*tx)->commit().ok());
  }
  EXPECT_TRUE(this->store_->accounts.list().value().empty());
}

TYPED_TEST(TxConformance, UniqueKeysAreConflictsAndMissingRowsNotFound) {
  const int64_t acme = this->account("acme");
  const int64_t beta = this->account("beta");
  auto code = [&](auto&& f) {
    auto r = this->in(Mode::write, f);
    return r.ok() ? std::optional<core::ErrorCode>() : std::optional(r.error().code);
  };
  using core::ErrorCode;
  EXPECT_EQ(code([&](Tx& tx) -> core::Result<void> {
              auto a = tx.accounts().by_id(acme);
              auto r = tx.accounts().insert({0, "other", a.value()->code, 1});  // code taken
              if (!r) return r.error();
              return core::ok();
            }),
            ErrorCode::conflict);
  EXPECT_EQ(code([&](Tx& tx) {
              return tx.credentials().insert({beta, "acme", "h", 1});
            }),
            ErrorCode::conflict);  // usernames are unique across accounts
  DomainDetail d;
  d.account_id = acme;
  d.domain = "x.example";
  d.verified = true;
  d.token = "t1";
  ASSERT_FALSE(code([&](Tx& tx) { return tx.domains().insert(d); }));
  EXPECT_EQ(code([&](Tx& tx) { return tx.domains().insert(d); }), ErrorCode::conflict);
  DomainDetail theirs = d;
  theirs.account_id = beta;
  theirs.token = "t2";
  EXPECT_EQ(code([&](Tx& tx) { return tx.domains().insert(theirs); }),
            ErrorCode::conflict);  // a second verified claim
  theirs.verified = false;
  ASSERT_FALSE(code([&](Tx& tx) { return tx.domains().insert(theirs); }));
  theirs.verified = true;
  EXPECT_EQ(code([&](Tx& tx) { return tx.domains().update(theirs); }), ErrorCode::conflict);
  DomainDetail nobody = d;
  nobody.domain = "nobody.example";
  EXPECT_EQ(code([&](Tx& tx) { return tx.domains().update(nobody); }), ErrorCode::not_found);
  EXPECT_EQ(
      code([&](Tx& tx) {
        return tx.domains().put_record(acme, "nobody.example", {"spf", RecordStatus::ok, "", 1});
      }),
      ErrorCode::conflict);  // a state of no claim
  EXPECT_EQ(code([&](Tx& tx) { return tx.accounts().remove(424242); }), ErrorCode::not_found);
  EXPECT_EQ(code([&](Tx& tx) {
              return tx.api_keys().insert({{acme, "tern_aaaaaaa", 1, 0}, "h"});
            }),
            std::nullopt);
  EXPECT_EQ(code([&](Tx& tx) {
              return tx.api_keys().insert({{beta, "tern_bbbbbbb", 1, 0}, "h"});
            }),
            ErrorCode::conflict);  // hashes are unique
  SenderLink link{"hash", acme, "a@x.example", 10, 1};
  ASSERT_FALSE(code([&](Tx& tx) { return tx.senders().insert_link(link); }));
  EXPECT_EQ(code([&](Tx& tx) { return tx.senders().insert_link(link); }), ErrorCode::conflict);
}

TYPED_TEST(TxConformance, RemovalsSayWhetherThereWasSomething) {
  const int64_t acme = this->account("acme");
  auto r = this->in(Mode::write, [&](Tx& tx) -> core::Result<std::vector<bool>> {
    std::vector<bool> out;
    for (auto b :
         {tx.credentials().remove(acme, "acme"), tx.credentials().remove(acme, "acme"),
          tx.senders().remove(acme, "x@y.test"), tx.suppressions().remove(acme, "x@y.test"),
          tx.domains().remove("x.example", acme)}) {
      if (!b) return b.error();
      out.push_back(*b);
    }
    return out;
  });
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value(), (std::vector<bool>{true, false, false, false, false}));
}

TYPED_TEST(TxConformance, EventsOfOneTimeKeepTheirAppendOrderAcrossTransactions) {
  using K = core::EventKind;
  for (const char* r : {"c@x.test", "a@x.test", "b@x.test"})
    ASSERT_TRUE(
        this->in(Mode::write,
                 [&](Tx& tx) { return tx.events().append({event(5, "Q", 1, r, K::deferred)}); })
            .ok());
  auto ev = this->store_->events.for_queue("Q").value();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].recipient, "c@x.test");
  EXPECT_EQ(ev[1].recipient, "a@x.test");
  EXPECT_EQ(ev[2].recipient, "b@x.test");
}

TYPED_TEST(TxConformance, SettingRowsComeByKey) {
  const int64_t acme = this->account("acme");
  ASSERT_TRUE(this->in(Mode::write,
                       [&](Tx& tx) -> core::Result<void> {
                         for (const char* k : {"route", "cc", "bcc", "mail_from"})
                           if (auto r = tx.settings().put(acme, k, "v"); !r) return r;
                         return tx.settings().put(acme, "cc", "w");  // replaces
                       })
                  .ok());
  auto rows = this->in(Mode::read, [&](Tx& tx) { return tx.settings().rows(acme); }).value();
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0], (std::pair<std::string, std::string>{"bcc", "v"}));
  EXPECT_EQ(rows[1], (std::pair<std::string, std::string>{"cc", "w"}));
  EXPECT_EQ(rows[2].first, "mail_from");
  EXPECT_EQ(rows[3].first, "route");
}

TYPED_TEST(TxConformance, WriteTransactionsOfTwoInstancesTakeTurns) {
  // Two instances increment one counter (a setting row) in read-modify-write transactions
  // from two threads each: write transactions run one at a time, so no increment is lost.
  const int64_t acme = this->account("acme");
  Backend other = this->open_again();
  auto bump = [&](Database& db) {
    for (int i = 0; i < 25; ++i) {
      auto r = in_tx(db, Mode::write, [&](Tx& tx) -> core::Result<void> {
        auto rows = tx.settings().rows(acme);
        if (!rows) return rows.error();
        int n = 0;
        for (auto& [k, v] : *rows)
          if (k == "counter") n = std::stoi(v);
        return tx.settings().put(acme, "counter", std::to_string(n + 1));
      });
      EXPECT_TRUE(r.ok()) << r.error().message;
    }
  };
  std::thread a(bump, std::ref(*this->backend_.db)), b(bump, std::ref(*this->backend_.db));
  std::thread c(bump, std::ref(*other.db)), d(bump, std::ref(*other.db));
  a.join();
  b.join();
  c.join();
  d.join();
  auto rows = this->in(Mode::read, [&](Tx& tx) { return tx.settings().rows(acme); }).value();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].second, "100");
}

}  // namespace
}  // namespace tern::store::conformance
