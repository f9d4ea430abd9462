#include "api/auth.hpp"

#include <sodium.h>

#include "api/errors.hpp"
#include "api/response.hpp"
#include "store/secrets.hpp"
#include "store/store.hpp"

namespace tern::api {

bool secret_equals(std::string_view a, std::string_view b) {
  unsigned char ha[crypto_hash_sha256_BYTES], hb[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(ha, reinterpret_cast<const unsigned char*>(a.data()), a.size());
  crypto_hash_sha256(hb, reinterpret_cast<const unsigned char*>(b.data()), b.size());
  return crypto_verify_32(ha, hb) == 0;
}

std::variant<Principal, net::HttpResponse> authenticate(const ApiServices& svc,
                                                        const net::HttpRequest& req) {
  auto unauthorized = [] {
    return error_response(401, "unauthorized",
                          "missing or invalid bearer token (Authorization: Bearer <token>)");
  };
  std::string_view h = req.header("authorization");
  // The scheme is case-insensitive (RFC 9110 §11.1); one space, then the token.
  if (h.size() < 8) return unauthorized();
  std::string scheme(h.substr(0, 7));
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "bearer ") return unauthorized();
  std::string_view token = h.substr(7);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty() || token.size() > 512) return unauthorized();
  if (!svc.admin_token.empty() && secret_equals(token, svc.admin_token)) return Principal{true, 0};
  if (!token.starts_with(store::secrets::kApiKeyPrefix)) return unauthorized();
  auto acc = svc.store->api_keys.verify(std::string(token));
  if (!acc) return from_error(acc.error());
  if (!*acc) return unauthorized();
  return Principal{false, **acc};
}

}  // namespace tern::api
