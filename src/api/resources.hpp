// Internal to the API module: what the router hands a resource handler, the handlers (one file
// per resource group), and the few response helpers they share.
// A Call is already authenticated and scoped: account is the account the URL addresses (the
// API key's own, or the one the operator named in /api/v1/accounts/{id}/...). Handlers never
// look at another account's rows: every store read is by account id, or checks ownership and
// answers 404 exactly as for a missing resource.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/api.hpp"
#include "api/auth.hpp"
#include "api/errors.hpp"
#include "api/pagination.hpp"
#include "api/response.hpp"
#include "core/result.hpp"
#include "store/store.hpp"

namespace tern::api {

struct Call {
  const ApiServices& svc;
  const net::HttpRequest& req;
  Principal who;
  store::Account account;         // the addressed account (id 0 on operator-wide routes)
  std::vector<std::string> rest;  // decoded path segments after the resource name
  int64_t now_ms() const;
};

// Resource groups (router.cpp dispatches; each lives in its own file).
net::HttpResponse handle_accounts(const Call& c);  // rest: after "accounts"
net::HttpResponse handle_credentials(const Call& c);
net::HttpResponse handle_api_keys(const Call& c);
net::HttpResponse handle_domains(const Call& c);
net::HttpResponse handle_senders(const Call& c);
net::HttpResponse handle_settings(const Call& c);
net::HttpResponse handle_suppressions(const Call& c);
net::HttpResponse handle_messages(const Call& c);
// The console's resources (issue 13).
net::HttpResponse handle_captured(const Call& c);
net::HttpResponse handle_webhooks(const Call& c);
net::HttpResponse handle_queue(const Call& c);                      // operator only
net::HttpResponse handle_stats(const Call& c, int64_t account_id);  // 0: every account
net::HttpResponse handle_platform(const ApiServices& svc, const net::HttpRequest& req);
// /api/v1/session: its own authentication (cookie or login body).
net::HttpResponse handle_session(const ApiServices& svc, const net::HttpRequest& req,
                                 const std::vector<std::string>& rest);
// An account as the API shows it: account_json plus suspended / suspendedReason.
nlohmann::json account_view(const ApiServices& svc, const store::Account& a);
// GET /v/<token> (no auth): HTML.
net::HttpResponse handle_verify(const ApiServices& svc, const net::HttpRequest& req);
// GET /api/v1/openapi.json (no auth).
net::HttpResponse handle_openapi(const ApiServices& svc);

// Shared responses.
net::HttpResponse no_route();                                    // 404 "no such endpoint"
net::HttpResponse not_found(const std::string& what);            // 404 "<what> not found"
net::HttpResponse method_not_allowed(const std::string& allow);  // 405 + Allow
net::HttpResponse bad_request(const std::string& message);       // 400
net::HttpResponse no_content();                                  // 204
// A failed store or service call: from_error (api/errors.hpp), the one mapping.

// The list endpoints' shape: a whole list from the store, each element turned into (sort key,
// JSON) by item(element, index), answered as one page of ?limit=&cursor= (400 for a bad page
// request, from_error for the store's error).
template <class T, class ItemFn>
net::HttpResponse paged_list(const net::HttpRequest& req, const core::Result<std::vector<T>>& list,
                             ItemFn item) {
  auto page = page_request(req);
  if (!page) return bad_request(page.error().message);
  if (!list) return from_error(list.error());
  std::vector<std::pair<std::string, nlohmann::json>> keyed;
  size_t n = 0;
  for (const auto& x : list.value()) keyed.push_back(item(x, n++));
  auto out = page_of(std::move(keyed), *page);
  if (!out) return bad_request(out.error().message);
  return json_response(200, *out);
}

}  // namespace tern::api
