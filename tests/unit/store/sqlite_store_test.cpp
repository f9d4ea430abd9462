#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <ctime>
#include <set>
#include <thread>

#include "store/secrets.hpp"
#include "store/sqlite_schema.hpp"
#include "store/store.hpp"
#include "unit/store/test_dir.hpp"

namespace tern::store {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("tern.db");
    auto s = Store::open_sqlite(path_);
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(s).value();
  }
  CreatedAccount make(const std::string& name) {
    auto r = store_->create_account(name);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? r.value() : CreatedAccount{};
  }
  size_t count(const char* table) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    std::string sql = std::string("SELECT COUNT(*) FROM ") + table;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_step(st), SQLITE_ROW);
    auto n = static_cast<size_t>(sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
  }
  std::optional<int64_t> verify(const std::string& u, const std::string& p) {
    auto r = store_->verify_credentials(u, p);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? r.value() : std::nullopt;
  }

  test::TempDir dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, FileIsPrivateAndWal) {
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)), "wal");
  sqlite3_finalize(s);
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT MAX(version) FROM schema_version", -1, &s, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_GE(sqlite3_column_int64(s, 0), 1);
  sqlite3_finalize(s);
  sqlite3_close(db);
}

TEST_F(StoreTest, ReopenKeepsDataAndDoesNotRemigrate) {
  auto a = make("acme");
  store_.reset();
  auto again = Store::open_sqlite(path_);
  ASSERT_TRUE(again.ok()) << again.error().message;
  auto found = again.value()->find_account("acme");
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found.value().has_value());
  EXPECT_EQ(found.value()->id, a.account.id);
  EXPECT_EQ(count("schema_version"), sqlite::migrations().size());
}

TEST_F(StoreTest, RefusesSchemaFromNewerProgram) {
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "INSERT INTO schema_version VALUES(999)", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto s = Store::open_sqlite(path_);
  ASSERT_FALSE(s.ok());
  EXPECT_FALSE(s.error().temporary);
  EXPECT_NE(s.error().message.find("newer"), std::string::npos);
}

TEST_F(StoreTest, CreateAccountThenVerifyPassword) {
  auto a = make("acme");
  EXPECT_EQ(a.account.name, "acme");
  EXPECT_EQ(a.username, "acme");
  EXPECT_GT(a.account.id, 0);
  EXPECT_GT(a.account.created_ms, 0);
  ASSERT_EQ(a.account.code.size(), 8u);
  for (char c : a.account.code)
    EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')) << a.account.code;
  ASSERT_EQ(a.password.size(), 24u);
  for (char c : a.password)
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');

  EXPECT_EQ(verify("acme", a.password), a.account.id);
  // Second time comes from the cache and must give the same answer.
  EXPECT_EQ(verify("acme", a.password), a.account.id);
  EXPECT_EQ(verify("acme", a.password + "x"), std::nullopt);
  EXPECT_EQ(verify("acme", a.password.substr(0, 23)), std::nullopt);
  EXPECT_EQ(verify("acme", ""), std::nullopt);
  EXPECT_EQ(verify("ACME", a.password), std::nullopt);  // usernames are case-sensitive
  EXPECT_EQ(verify("nobody", a.password), std::nullopt);
  EXPECT_EQ(verify("", a.password), std::nullopt);
  EXPECT_EQ(verify(std::string("acme\0", 5), a.password), std::nullopt);
  EXPECT_EQ(verify("acme", std::string(5000, 'a')), std::nullopt);
}

TEST_F(StoreTest, PasswordStoredOnlyAsArgon2id) {
  auto a = make("acme");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(
      sqlite3_prepare_v2(db, "SELECT username, password_hash FROM credentials", -1, &s, nullptr),
      SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  std::string user = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
  std::string hash = reinterpret_cast<const char*>(sqlite3_column_text(s, 1));
  sqlite3_finalize(s);
  sqlite3_close(db);
  EXPECT_EQ(user, "acme");
  EXPECT_EQ(hash.rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0), 0u) << hash;
  EXPECT_EQ(hash.find(a.password), std::string::npos);
}

TEST_F(StoreTest, PasswordsAndCodesDiffer) {
  std::set<std::string> pw, codes;
  for (int i = 0; i < 4; ++i) {
    auto a = make("acct" + std::to_string(i));
    pw.insert(a.password);
    codes.insert(a.account.code);
  }
  EXPECT_EQ(pw.size(), 4u);
  EXPECT_EQ(codes.size(), 4u);
  // One account's password does not open another.
  auto b = make("other");
  EXPECT_EQ(verify("acct0", b.password), std::nullopt);
}

TEST_F(StoreTest, DuplicateNameRejected) {
  make("acme");
  auto r = store_->create_account("acme");
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(r.error().temporary);
  EXPECT_NE(r.error().message.find("already exists"), std::string::npos);
  EXPECT_EQ(count("accounts"), 1u);
  EXPECT_EQ(count("credentials"), 1u);
}

TEST_F(StoreTest, HostileNamesRejectedAndNothingCreated) {
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
    auto r = store_->create_account(n);
    ASSERT_FALSE(r.ok()) << "accepted: " << n;
    EXPECT_FALSE(r.error().temporary);
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
    EXPECT_FALSE(r.error().message.empty());
  }
  EXPECT_EQ(count("accounts"), 0u);
  EXPECT_EQ(count("credentials"), 0u);
  // Boundaries that are fine.
  EXPECT_TRUE(store_->create_account(std::string(64, 'a')).ok());
  EXPECT_TRUE(store_->create_account("0").ok());
  EXPECT_TRUE(store_->create_account("a.b_c-d").ok());
  EXPECT_EQ(count("accounts"), 3u);
}

TEST_F(StoreTest, FindAndListAccounts) {
  auto a = make("acme");
  auto b = make("2024");
  auto list = store_->list_accounts();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "acme");
  EXPECT_EQ((*list)[1].name, "2024");
  EXPECT_EQ((*list)[0].code, a.account.code);

  auto by_id = store_->find_account(std::to_string(a.account.id));
  ASSERT_TRUE(by_id.ok());
  ASSERT_TRUE(by_id->has_value());
  EXPECT_EQ((*by_id)->name, "acme");
  auto by_name = store_->find_account("2024");  // a name wins over an id
  ASSERT_TRUE(by_name.ok() && by_name->has_value());
  EXPECT_EQ((*by_name)->id, b.account.id);
  for (const char* q : {"nobody", "999", "", "99999999999999999999999", "1 OR 1=1", "-1"}) {
    auto r = store_->find_account(q);
    ASSERT_TRUE(r.ok()) << q;
    EXPECT_FALSE(r->has_value()) << q;
  }
}

TEST_F(StoreTest, ApiKeyFormatAndEntropy) {
  auto a = make("acme");
  std::set<std::string> keys;
  for (int i = 0; i < 20; ++i) {
    auto k = store_->create_api_key(a.account.id);
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
  EXPECT_GE(secrets::kApiKeyRandomBytes * 8, 128u);
  // Only the prefix and hash are stored.
  auto listed = store_->list_api_keys(a.account.id);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 20u);
  for (const auto& k : *listed) {
    EXPECT_EQ(k.prefix.size(), 12u);
    EXPECT_EQ(k.revoked_ms, 0);
    EXPECT_TRUE(std::any_of(keys.begin(), keys.end(),
                            [&](const std::string& full) { return full.rfind(k.prefix, 0) == 0; }));
  }
}

TEST_F(StoreTest, Base32MatchesRfc4648) {
  // RFC 4648 §10 test vectors, lower case and without padding.
  auto b32 = [](std::string_view s) {
    return secrets::base32_lower(reinterpret_cast<const unsigned char*>(s.data()), s.size());
  };
  EXPECT_EQ(b32(""), "");
  EXPECT_EQ(b32("f"), "my");
  EXPECT_EQ(b32("fo"), "mzxq");
  EXPECT_EQ(b32("foo"), "mzxw6");
  EXPECT_EQ(b32("foob"), "mzxw6yq");
  EXPECT_EQ(b32("fooba"), "mzxw6ytb");
  EXPECT_EQ(b32("foobar"), "mzxw6ytboi");
  EXPECT_EQ(secrets::sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(StoreTest, ApiKeyAuthAndRevocation) {
  auto a = make("acme");
  auto b = make("beta");
  auto k1 = store_->create_api_key(a.account.id);
  auto k2 = store_->create_api_key(a.account.id);
  auto kb = store_->create_api_key(b.account.id);
  ASSERT_TRUE(k1.ok() && k2.ok() && kb.ok());
  EXPECT_EQ(verify("App", *k1), a.account.id);
  EXPECT_EQ(verify("App", *k2), a.account.id);
  EXPECT_EQ(verify("App", *kb), b.account.id);
  EXPECT_EQ(verify("app", *k1), std::nullopt);   // "App" exactly
  EXPECT_EQ(verify("acme", *k1), std::nullopt);  // a key is not the password
  EXPECT_EQ(verify("App", a.password), std::nullopt);
  EXPECT_EQ(verify("App", k1->substr(0, 30)), std::nullopt);
  EXPECT_EQ(verify("App", ""), std::nullopt);

  // Another account cannot revoke it; an unknown prefix is an error.
  EXPECT_FALSE(store_->revoke_api_key(b.account.id, k1->substr(0, 12)).ok());
  EXPECT_FALSE(store_->revoke_api_key(a.account.id, "tern_zzzzzzz").ok());
  EXPECT_FALSE(store_->revoke_api_key(a.account.id, "' OR 1=1 --").ok());
  EXPECT_EQ(verify("App", *k1), a.account.id);

  auto r = store_->revoke_api_key(a.account.id, k1->substr(0, 12));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(verify("App", *k1), std::nullopt);
  EXPECT_EQ(verify("App", *k2), a.account.id);
  EXPECT_EQ(verify("App", *kb), b.account.id);
  // Revoking twice: nothing active left under that prefix.
  EXPECT_FALSE(store_->revoke_api_key(a.account.id, k1->substr(0, 12)).ok());
  auto listed = store_->list_api_keys(a.account.id);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_GT((*listed)[0].revoked_ms, 0);
  EXPECT_EQ((*listed)[1].revoked_ms, 0);

  EXPECT_FALSE(store_->create_api_key(424242).ok());
}

TEST_F(StoreTest, UnknownUserCostsAboutAsMuchAsWrongPassword) {
  auto a = make("acme");
  // CPU time of this thread, not wall time: other load on the machine does not change it.
  auto cpu_now = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
  };
  auto time = [&](const std::string& u) {
    auto t0 = cpu_now();
    for (int i = 0; i < 3; ++i) (void)verify(u, "wrong-password-guess");
    return cpu_now() - t0;
  };
  auto known = time("acme");
  auto unknown = time("nobody");
  // Both run one Argon2id per attempt; without the dummy verification the unknown user would
  // return in microseconds.
  EXPECT_GT(unknown * 4, known);
  EXPECT_GT(unknown, std::chrono::milliseconds(3));
}

TEST_F(StoreTest, DomainsOwnershipAndCase) {
  auto a = make("acme");
  auto b = make("beta");
  ASSERT_TRUE(store_->add_domain(a.account.id, "Example.COM", true).ok());
  auto taken = store_->add_domain(b.account.id, "example.com", false);
  ASSERT_FALSE(taken.ok());
  EXPECT_FALSE(taken.error().temporary);
  EXPECT_FALSE(store_->add_domain(b.account.id, "EXAMPLE.com", true).ok());
  // Same account again: idempotent, updates the flag.
  ASSERT_TRUE(store_->add_domain(a.account.id, "EXAMPLE.com", true).ok());
  auto d = store_->list_domains(a.account.id);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->size(), 1u);
  EXPECT_EQ((*d)[0].domain, "example.com");
  EXPECT_TRUE((*d)[0].verified);
  auto db = store_->list_domains(b.account.id);
  ASSERT_TRUE(db.ok());
  EXPECT_TRUE(db->empty());

  for (const char* bad : {"", "exa mple.com", "[192.0.2.1]", "example.com.", "-x.com", "x..com",
                          "a;DROP TABLE domains", "ex\nample.com"}) {
    auto r = store_->add_domain(a.account.id, bad, true);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_FALSE(r.error().temporary);
    }
  }
  EXPECT_FALSE(store_->add_domain(424242, "orphan.example", true).ok());
  EXPECT_EQ(count("domains"), 1u);
}

TEST_F(StoreTest, SendersPerAccountAndDomainCase) {
  auto a = make("acme");
  auto b = make("beta");
  ASSERT_TRUE(store_->add_sender(a.account.id, "Bob@Example.COM", false).ok());
  ASSERT_TRUE(store_->add_sender(a.account.id, "Bob@example.com", true).ok());  // same sender
  ASSERT_TRUE(store_->add_sender(b.account.id, "bob@example.com", true).ok());  // own list
  auto s = store_->list_senders(a.account.id);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->size(), 1u);
  EXPECT_EQ((*s)[0].address, "Bob@example.com");  // local part kept, domain lower-cased
  EXPECT_TRUE((*s)[0].verified);
  for (const char* bad : {"", "bob", "bob@", "@example.com", "bob @example.com",
                          "<bob@example.com>", "bob@exa mple.com"}) {
    EXPECT_FALSE(store_->add_sender(a.account.id, bad, true).ok()) << bad;
  }
  EXPECT_FALSE(store_->add_sender(424242, "x@example.com", true).ok());
  EXPECT_EQ(count("senders"), 2u);
}

TEST_F(StoreTest, AccountContextHasOnlyVerifiedOwnEntries) {
  auto a = make("acme");
  auto b = make("beta");
  ASSERT_TRUE(store_->add_domain(a.account.id, "acme.example", true).ok());
  ASSERT_TRUE(store_->add_domain(a.account.id, "pending.example", false).ok());
  ASSERT_TRUE(store_->add_domain(b.account.id, "beta.example", true).ok());
  ASSERT_TRUE(store_->add_sender(a.account.id, "Ann@Gmail.COM", true).ok());
  ASSERT_TRUE(store_->add_sender(a.account.id, "unverified@gmail.com", false).ok());
  ASSERT_TRUE(store_->add_sender(b.account.id, "beta@gmail.com", true).ok());
  auto ctx = store_->account_context(a.account.id);
  ASSERT_TRUE(ctx.ok()) << ctx.error().message;
  EXPECT_EQ(ctx->id, a.account.id);
  EXPECT_EQ(ctx->name, "acme");
  EXPECT_EQ(ctx->domains, std::vector<std::string>{"acme.example"});
  EXPECT_EQ(ctx->senders, std::vector<std::string>{"Ann@gmail.com"});
  EXPECT_TRUE(ctx->platform_domains.empty());
  auto none = store_->account_context(424242);
  ASSERT_FALSE(none.ok());
  EXPECT_FALSE(none.error().temporary);
}

TEST_F(StoreTest, TwoStoresOnOneFileSeeEachOthersWrites) {
  auto cli = Store::open_sqlite(path_);
  ASSERT_TRUE(cli.ok()) << cli.error().message;
  auto& server = store_;
  auto created = cli.value()->create_account("acme");
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(verify("acme", created->password), created->account.id);
  auto key = cli.value()->create_api_key(created->account.id);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(verify("App", *key), created->account.id);
  ASSERT_TRUE(server->add_domain(created->account.id, "acme.example", true).ok());
  auto d = cli.value()->list_domains(created->account.id);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->size(), 1u);
  // A revocation by the CLI takes effect at once for API keys in the server.
  ASSERT_TRUE(cli.value()->revoke_api_key(created->account.id, key->substr(0, 12)).ok());
  EXPECT_EQ(verify("App", *key), std::nullopt);
  // Duplicate name across both handles.
  EXPECT_FALSE(server->create_account("acme").ok());
}

TEST_F(StoreTest, ConcurrentThreadsAndProcesses) {
  // A child process (the CLI) and this process (the server, two threads) write at once.
  // No connection may be open across fork() (SQLite's rule), so close ours and reopen after.
  store_.reset();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto s = Store::open_sqlite(path_);
    int bad = s.ok() ? 0 : 1;
    for (int i = 0; i < 4 && !bad; ++i)
      if (!s.value()->create_account("child" + std::to_string(i)).ok()) bad = 1;
    _exit(bad);
  }
  auto reopened = Store::open_sqlite(path_);
  ASSERT_TRUE(reopened.ok()) << reopened.error().message;
  store_ = std::move(reopened).value();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3; ++i) {
        auto r = store_->create_account("t" + std::to_string(t) + "-" + std::to_string(i));
        if (!r.ok())
          ++failures;
        else if (store_->verify_credentials(r->username, r->password).value() != r->account.id)
          ++failures;
      }
    });
  for (auto& th : threads) th.join();
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(failures.load(), 0);
  auto list = store_->list_accounts();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 10u);
}

}  // namespace
}  // namespace tern::store

namespace tern::store {
namespace {

TEST(StoreOpen, ProcessesRacingOnAFreshFileMigrateOnce) {
  // Server and CLI started together on a new data directory: both create the schema at once.
  test::TempDir dir;
  const std::string path = dir.file("fresh.db");
  std::vector<pid_t> kids;
  for (int k = 0; k < 3; ++k) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto s = Store::open_sqlite(path);
      if (!s.ok()) _exit(2);
      _exit(s.value()->create_account("p" + std::to_string(k)).ok() ? 0 : 3);
    }
    kids.push_back(pid);
  }
  for (pid_t pid : kids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  auto s = Store::open_sqlite(path);
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto list = s.value()->list_accounts();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 3u);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM schema_version", -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int64(st, 0), static_cast<int64_t>(sqlite::migrations().size()));
  sqlite3_finalize(st);
  sqlite3_close(db);
}

}  // namespace
}  // namespace tern::store
