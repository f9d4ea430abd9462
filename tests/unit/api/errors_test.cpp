// The one mapping of error codes onto HTTP answers (api/errors.hpp).
#include "api/errors.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

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
