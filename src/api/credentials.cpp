// /credentials: an account's SMTP logins. List (usernames), create (a generated password, shown
// once; optional "username"), delete one by username.
#include "api/pagination.hpp"
#include "api/request.hpp"
#include "api/resources.hpp"

namespace tern::api {

net::HttpResponse handle_credentials(const Call& c) {
  const auto& m = c.req.method;
  const int64_t id = c.account.id;
  if (c.rest.empty()) {
    if (m == "GET") {
      return paged_list(c.req, c.svc.store->credentials.list(id), [](const auto& cr, size_t) {
        return std::pair<std::string, nlohmann::json>(
            cr.username, {{"username", cr.username}, {"createdAt", iso_time(cr.created_ms)}});
      });
    }
    if (m == "POST") {
      std::string username;
      if (!c.req.body.empty()) {
        auto body = json_object_body(c.req);
        if (!body) return bad_request(body.error().message);
        auto u = string_member(*body, "username");
        if (!u) return bad_request(u.error().message);
        if (*u) username = **u;
      }
      auto created = c.svc.store->credentials.create(id, username);
      if (!created) return from_error(created.error());
      return json_response(201, {{"username", created->username}, {"password", created->password}});
    }
    return method_not_allowed("GET, POST");
  }
  if (c.rest.size() != 1) return no_route();
  if (m != "DELETE") return method_not_allowed("DELETE");
  auto r = c.svc.store->credentials.remove(id, c.rest[0]);
  if (!r) return from_error(r.error());
  return no_content();
}

}  // namespace tern::api
