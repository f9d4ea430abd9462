// /api/v1/accounts: list and create (operator), show (operator, or an API key for its own
// account), delete (operator). Creating answers the SMTP username and password once.
// POST /accounts/{id}/suspend {"reason"} and /unsuspend (operator): while suspended, SMTP
// AUTH and MAIL answer 550 5.7.1 "Account suspended: <reason>" and the account's own keys and
// sessions get 403 "suspended" (the operator still reaches it). Accounts show
// "suspended" and "suspendedReason".
#include <fmt/format.h>

#include "api/json_views.hpp"
#include "api/pagination.hpp"
#include "api/request.hpp"
#include "api/resources.hpp"
#include "store/suspensions.hpp"

namespace tern::api {

nlohmann::json account_view(const ApiServices& svc, const store::Account& a) {
  if (svc.suspensions)
    if (auto s = svc.suspensions->get(a.id); s && *s) return account_json(a, &**s);
  return account_json(a);
}

namespace {
net::HttpResponse operator_only() {
  return error_response(403, "forbidden", "this needs the operator token");
}

net::HttpResponse list(const Call& c) {
  auto page = page_request(c.req);
  if (!page) return bad_request(page.error().message);
  std::vector<std::pair<std::string, nlohmann::json>> keyed;
  if (c.who.is_operator) {
    auto all = c.svc.store->accounts.list();
    if (!all) return from_error(all.error());
    for (const auto& a : *all)
      keyed.emplace_back(fmt::format("{:020}", a.id), account_view(c.svc, a));
  } else {
    auto own = c.svc.store->accounts.find(std::to_string(c.who.account_id));
    if (!own) return from_error(own.error());
    if (*own) keyed.emplace_back(fmt::format("{:020}", (*own)->id), account_view(c.svc, **own));
  }
  auto out = page_of(std::move(keyed), *page);
  if (!out) return bad_request(out.error().message);
  return json_response(200, *out);
}

net::HttpResponse create(const Call& c) {
  if (!c.who.is_operator) return operator_only();
  auto body = json_object_body(c.req);
  if (!body) return bad_request(body.error().message);
  auto name = string_member(*body, "name");
  if (!name) return bad_request(name.error().message);
  if (!*name) return bad_request("\"name\" is required");
  auto created = c.svc.store->accounts.create(**name);
  if (!created) return from_error(created.error());
  return json_response(201, created_account_json(*created));
}

net::HttpResponse suspend(const Call& c, bool on) {
  if (!c.who.is_operator) return operator_only();
  if (!c.svc.suspensions) return error_response(503, "unavailable", "suspension is not enabled");
  if (on) {
    auto body = json_object_body(c.req);
    if (!body) return bad_request(body.error().message);
    auto reason = string_member(*body, "reason");
    if (!reason) return bad_request(reason.error().message);
    if (!*reason) return bad_request("\"reason\" is required");
    if (auto ok = store::check_suspension_reason(**reason); !ok)
      return bad_request(ok.error().message);
    auto s = c.svc.suspensions->suspend(c.account.id, **reason, c.now_ms());
    if (!s) return from_error(s.error());
    if (c.svc.suspension_changed) c.svc.suspension_changed(c.account.id, s->reason);
  } else {
    auto s = c.svc.suspensions->unsuspend(c.account.id);
    if (!s) return from_error(s.error());
    if (c.svc.suspension_changed) c.svc.suspension_changed(c.account.id, std::nullopt);
  }
  return json_response(200, account_view(c.svc, c.account));
}
}  // namespace

net::HttpResponse handle_accounts(const Call& c) {
  const auto& m = c.req.method;
  if (c.rest.empty()) {
    if (m == "GET") return list(c);
    if (m == "POST") return create(c);
    return method_not_allowed("GET, POST");
  }
  // /accounts/{id}: the router resolved it into c.account (404 for another account's key).
  if (c.rest.size() == 2) {
    if (c.rest[1] != "suspend" && c.rest[1] != "unsuspend") return no_route();
    if (m != "POST") return method_not_allowed("POST");
    return suspend(c, c.rest[1] == "suspend");
  }
  if (m == "GET") return json_response(200, account_view(c.svc, c.account));
  if (m == "DELETE") {
    if (!c.who.is_operator) return operator_only();
    auto r = c.svc.store->accounts.remove(c.account.id);
    if (!r) return from_error(r.error());
    return no_content();
  }
  return method_not_allowed("GET, DELETE");
}

}  // namespace tern::api
