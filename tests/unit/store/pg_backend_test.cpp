// open_backend("postgres://...") beyond the conformance suite: a server that is not there is
// unavailable (retry later), a malformed URL invalid, and the URL (it may hold a password) is
// never echoed in an error; a database newer than this binary is refused; two nodes opening an
// empty database at once both come up on one migrated schema.
#include <gtest/gtest.h>

#include <thread>

#include "store/backend.hpp"
#include "store/pg_schema.hpp"
#include "unit/store/pg_test_server.hpp"

namespace tern::store {
namespace {

TEST(PgBackend, AwayServerIsUnavailableAndTheUrlIsNotEchoed) {
  auto b = open_backend("postgres://tern:s3cret-pw@127.0.0.1:1/tern");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code, core::ErrorCode::unavailable);
  EXPECT_EQ(b.error().message.find("s3cret-pw"), std::string::npos) << b.error().message;
  auto bad = open_backend("postgres://tern:s3cret-pw@[::1/tern");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, core::ErrorCode::invalid);
  EXPECT_EQ(bad.error().message.find("s3cret-pw"), std::string::npos) << bad.error().message;
}

TEST(PgBackend, NodesOpeningAnEmptyDatabaseAtOnceShareOneSchema) {
  test::PgSchema schema;
  constexpr int kNodes = 3;
  std::vector<core::Result<Backend>> opened;
  for (int i = 0; i < kNodes; ++i) opened.emplace_back(core::Error::internal("not yet"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kNodes; ++i)
    threads.emplace_back([&, i] { opened[static_cast<size_t>(i)] = open_backend(schema.url()); });
  for (auto& t : threads) t.join();
  for (auto& b : opened) ASSERT_TRUE(b.ok()) << b.error().message;
  auto a = opened[0]->store->accounts.create("acme");
  ASSERT_TRUE(a.ok()) << a.error().message;
  for (auto& b : opened) {
    auto seen = b->store->accounts.find("acme");
    ASSERT_TRUE(seen.ok() && seen->has_value());
  }
  auto c = pg::Conn::connect(schema.url());
  ASSERT_TRUE(c.ok());
  auto rows = c->exec("SELECT count(*) FROM schema_version", "versions");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->int64(0, 0), static_cast<int64_t>(pg::migrations().size()));
}

TEST(PgBackend, DatabaseNewerThanThisBinaryIsRefused) {
  test::PgSchema schema;
  { ASSERT_TRUE(open_backend(schema.url()).ok()); }
  auto c = pg::Conn::connect(schema.url());
  ASSERT_TRUE(c.ok());
  const auto newer = static_cast<int64_t>(pg::migrations().size()) + 1;
  ASSERT_TRUE(
      c->exec("INSERT INTO schema_version VALUES($1, $1, 0)", pg::Params::of(newer), "newer").ok());
  auto b = open_backend(schema.url());
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code, core::ErrorCode::conflict);  // as on SQLite
}

}  // namespace
}  // namespace tern::store
