// The one mapping of error codes onto HTTP answers (api/errors.hpp).
#include "api/errors.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "store/backend.hpp"
#include "unit/store/test_dir.hpp"

namespace tern::api {
namespace {

using core::Error;
using core::ErrorCode;

nlohmann::json body(const net::HttpResponse& r) { return nlohmann::json::parse(r.body); }

TEST(HttpErrors, EveryCodeHasItsStatus) {
  struct Row {
    ErrorCode code;
    int status;
    const char* json_code;
  };
  for (const Row& r :
       {Row{ErrorCode::invalid, 400, "bad_request"}, Row{ErrorCode::not_found, 404, "not_found"},
        Row{ErrorCode::conflict, 409, "conflict"}, Row{ErrorCode::forbidden, 403, "forbidden"},
        Row{ErrorCode::unavailable, 503, "unavailable"},
        Row{ErrorCode::disk_full, 503, "unavailable"}, Row{ErrorCode::corrupt, 500, "internal"},
        Row{ErrorCode::internal, 500, "internal"}}) {
    const HttpErrorKind k = http_error_kind(Error::of(r.code, "x"));
    EXPECT_EQ(k.status, r.status) << core::to_string(r.code);
    EXPECT_EQ(k.code, r.json_code) << core::to_string(r.code);
    const net::HttpResponse resp = from_error(Error::of(r.code, "x"));
    EXPECT_EQ(resp.status, r.status);
    EXPECT_EQ(body(resp)["error"]["code"], r.json_code);
  }
}

TEST(HttpErrors, ReasonsHaveTheirOwnCodes) {
  auto sender = Error::invalid("550 5.7.1 Sender not authorized: <a@b.test>")
                    .because(core::ErrorReason::sender_not_authorized);
  auto r = from_error(sender);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(body(r)["error"]["code"], "sender_not_authorized");
  EXPECT_EQ(body(r)["error"]["message"], "550 5.7.1 Sender not authorized: <a@b.test>");
  auto quota = Error::forbidden("quota: at most 2").because(core::ErrorReason::quota_exceeded);
  r = from_error(quota);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(body(r)["error"]["code"], "quota_exceeded");
}

TEST(HttpErrors, ClientErrorsKeepTheirTextOthersNever) {
  EXPECT_EQ(body(from_error(Error::not_found("no such sender: a@b.test")))["error"]["message"],
            "no such sender: a@b.test");
  const std::string secret = "store: read settings: disk I/O error at /var/lib/tern/tern.db";
  for (ErrorCode c :
       {ErrorCode::unavailable, ErrorCode::disk_full, ErrorCode::corrupt, ErrorCode::internal}) {
    const auto r = from_error(Error::of(c, secret));
    EXPECT_EQ(r.body.find("tern.db"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("I/O"), std::string::npos) << r.body;
  }
  // A 500 names a reference an operator finds in the log; two errors, two references.
  const auto a = body(from_error(Error::internal(secret)))["error"]["message"].get<std::string>();
  const auto b = body(from_error(Error::internal(secret)))["error"]["message"].get<std::string>();
  EXPECT_TRUE(a.starts_with("internal error (reference ")) << a;
  EXPECT_NE(a, b);
}

TEST(HttpErrors, TemporaryWinsOverThePermanentCodes) {
  Error e = Error::invalid("x");
  e.temporary = true;
  EXPECT_EQ(http_error_kind(e).status, 503);
}

}  // namespace
}  // namespace tern::api

namespace tern::api {
namespace {

// A unique key taken in the SQLite store (a race the services' checks cannot see) answers a
// 409 whose text is the store's fixed wording: no SQLite message, table or column reaches the
// client.
TEST(HttpErrors, AConstraintConflictOfTheStoreAnswersAFixedText) {
  test::TempDir dir;
  auto b = store::open_backend("sqlite:" + dir.file("tern.db"));
  ASSERT_TRUE(b.ok()) << b.error().message;
  ASSERT_TRUE(b->store->accounts.create("acme").ok());
  auto taken =
      store::in_tx(*b->db, store::Database::Mode::write, [](store::Tx& tx) -> core::Result<void> {
        auto id = tx.accounts().insert({0, "acme", "codeXXXX", 1});
        if (!id) return id.error();
        return core::ok();
      });
  ASSERT_FALSE(taken.ok());
  const net::HttpResponse r = from_error(taken.error());
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(body(r)["error"]["code"], "conflict");
  EXPECT_EQ(body(r)["error"]["message"], "store: insert account: it exists already");
  for (const char* leak : {"UNIQUE", "constraint", "accounts.name", "accounts.code"})
    EXPECT_EQ(r.body.find(leak), std::string::npos) << leak << " in " << r.body;
}

}  // namespace
}  // namespace tern::api
