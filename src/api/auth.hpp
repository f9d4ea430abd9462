// Bearer authentication of /api/v1 (issue 5): "Authorization: Bearer <token>" where the token
// is the operator token (reaches every account) or an account's API key (reaches that account
// only). The operator token is compared in constant time (SHA-256 of both sides, then a
// fixed-length compare, so neither content nor length leaks); API keys are looked up by their
// SHA-256 in the store, revoked keys refused. Missing, malformed or wrong → 401, and the
// message never says which part was wrong or repeats the token.
// Without an Authorization header, the console's session cookie (console_auth.hpp) is looked
// up instead (store::Sessions): the Principal then says so, with the csrf token the router
// checks on requests that change state. A request with both uses the bearer token.
#pragma once
#include <cstdint>
#include <string>
#include <variant>

#include "api/api.hpp"

namespace tern::api {

struct Principal {
  bool is_operator = false;
  int64_t account_id = 0;                       // the API key's account; 0 for the operator
  bool via_session = false;                     // authenticated by the console's cookie
  std::string csrf;                             // via_session: the token X-Tern-CSRF must carry
  int64_t idle_expires_ms = 0, expires_ms = 0;  // via_session
};

// A Principal, or the response to send (401; 503 when the store fails).
std::variant<Principal, net::HttpResponse> authenticate(const ApiServices& svc,
                                                        const net::HttpRequest& req);

// SHA-256 (hex) of the operator token, "" when there is none (what operator sessions keep).
std::string operator_token_hash(const ApiServices& svc);

// Constant-time equality of two secrets of any length.
bool secret_equals(std::string_view a, std::string_view b);

}  // namespace tern::api
