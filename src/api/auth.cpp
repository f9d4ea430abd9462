#include "api/auth.hpp"

#include <sodium.h>

#include "api/console_auth.hpp"
#include "api/errors.hpp"
#include "api/response.hpp"
#include "core/clock.hpp"
#include "store/secrets.hpp"
#include "store/sessions.hpp"
#include "store/store.hpp"

namespace tern::api {

bool secret_equals(std::string_view a, std::string_view b) {
  unsigned char ha[crypto_hash_sha256_BYTES], hb[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(ha, reinterpret_cast<const unsigned char*>(a.data()), a.size());
  crypto_hash_sha256(hb, reinterpret_cast<const unsigned char*>(b.data()), b.size());
  return crypto_verify_32(ha, hb) == 0;
}

std::string operator_token_hash(const ApiServices& svc) {
  return svc.admin_token.empty() ? std::string() : store::secrets::sha256_hex(svc.admin_token);
}

namespace {

std::variant<Principal, net::HttpResponse> by_session(const ApiServices& svc,
                                                      const std::string& secret) {
  const int64_t now = svc.clock ? svc.clock->now_ms() : core::SystemClock().now_ms();
  auto s = svc.sessions->find(secret, operator_token_hash(svc), now);
  if (!s) return error_response(503, "unavailable", "the session store is unavailable");
  if (!*s)
    return error_response(401, "unauthorized",
                          "the console session has ended (expired, logged out or its key was "
                          "revoked): log in again");
  Principal p{(*s)->is_operator,  (*s)->account_id,      true,
              csrf_token(secret), (*s)->idle_expires_ms, (*s)->expires_ms};
  return p;
}

}  // namespace

std::variant<Principal, net::HttpResponse> authenticate(const ApiServices& svc,
                                                        const net::HttpRequest& req) {
  auto unauthorized = [] {
    return error_response(401, "unauthorized",
                          "missing or invalid bearer token (Authorization: Bearer <token>)");
  };
  std::string_view h = req.header("authorization");
  if (h.empty() && svc.sessions) {
    if (auto cookie = cookie_value(req, kSessionCookie); cookie && !cookie->empty())
      return by_session(svc, *cookie);
  }
  // The scheme is case-insensitive (RFC 9110 §11.1); one space, then the token.
  if (h.size() < 8) return unauthorized();
  std::string scheme(h.substr(0, 7));
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "bearer ") return unauthorized();
  std::string_view token = h.substr(7);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty() || token.size() > 512) return unauthorized();
  if (!svc.admin_token.empty() && secret_equals(token, svc.admin_token)) {
    Principal p;
    p.is_operator = true;
    return p;
  }
  if (!token.starts_with(store::secrets::kApiKeyPrefix)) return unauthorized();
  auto acc = svc.store->api_keys.verify(std::string(token));
  if (!acc) return from_error(acc.error());
  if (!*acc) return unauthorized();
  Principal p;
  p.account_id = **acc;
  return p;
}

}  // namespace tern::api
