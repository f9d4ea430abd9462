// Bearer authentication of /api/v1 (issue 5): "Authorization: Bearer <token>" where the token
// is the operator token (reaches every account) or an account's API key (reaches that account
// only). The operator token is compared in constant time (SHA-256 of both sides, then a
// fixed-length compare, so neither content nor length leaks); API keys are looked up by their
// SHA-256 in the store, revoked keys refused. Missing, malformed or wrong → 401, and the
// message never says which part was wrong or repeats the token.
#pragma once
#include <cstdint>
#include <variant>

#include "api/api.hpp"

namespace tern::api {

struct Principal {
  bool is_operator = false;
  int64_t account_id = 0;  // the API key's account; 0 for the operator
};

// A Principal, or the response to send (401; 503 when the store fails).
std::variant<Principal, net::HttpResponse> authenticate(const ApiServices& svc,
                                                        const net::HttpRequest& req);

// Constant-time equality of two secrets of any length.
bool secret_equals(std::string_view a, std::string_view b);

}  // namespace tern::api
