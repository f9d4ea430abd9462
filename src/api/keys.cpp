// /api-keys: list (prefixes, times, active or revoked), create (the key is answered once; only
// its SHA-256 is kept), revoke by prefix (the first 12 characters, "tern_" + 7).
#include <fmt/format.h>

#include "api/pagination.hpp"
#include "api/request.hpp"
#include "api/resources.hpp"
#include "store/secrets.hpp"

namespace tern::api {

net::HttpResponse handle_api_keys(const Call& c) {
  const auto& m = c.req.method;
  const int64_t id = c.account.id;
  if (c.rest.empty()) {
    if (m == "GET") {
      // Oldest first (the store's order), stable across pages.
      return paged_list(c.req, c.svc.store->api_keys.list(id), [](const auto& k, size_t n) {
        nlohmann::json j{{"prefix", k.prefix},
                         {"createdAt", iso_time(k.created_ms)},
                         {"active", k.revoked_ms == 0},
                         {"revokedAt", k.revoked_ms ? nlohmann::json(iso_time(k.revoked_ms))
                                                    : nlohmann::json(nullptr)}};
        return std::pair<std::string, nlohmann::json>(fmt::format("{:020}", n), std::move(j));
      });
    }
    if (m == "POST") {
      auto key = c.svc.store->api_keys.create(id);
      if (!key) return from_error(key.error());
      return json_response(
          201, {{"key", *key}, {"prefix", key->substr(0, store::secrets::kApiKeyStoredPrefix)}});
    }
    return method_not_allowed("GET, POST");
  }
  if (c.rest.size() != 1) return no_route();
  if (m != "DELETE") return method_not_allowed("DELETE");
  // A whole key given instead of its prefix still names it; never echo it back.
  std::string prefix = c.rest[0].substr(0, store::secrets::kApiKeyStoredPrefix);
  auto r = c.svc.store->api_keys.revoke(id, prefix);
  if (!r) return from_error(r.error());
  return no_content();
}

}  // namespace tern::api
