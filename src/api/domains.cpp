// /domains: an account's sending domains through domain::Domains, the same service the CLI
// (`tern domain add|records|check`, `tern dkim rotate`) and the periodic re-check use, so every
// rule is in one place. Checks resolve through a fresh resolver ([dns] resolver) and block
// (the HTTP pool runs them). A domain of another account is 404, as a missing one.
// Claims (issue 10 item 11): POST is refused (409) only when another account has VERIFIED the
// domain; unverified claims of others block nothing, and the first claim to verify removes
// the rest. An account may hold [limits] max_unverified_domains unverified claims at once
// (403 quota_exceeded beyond; the operator's "verified": true is not counted).
#include "api/json_views.hpp"
#include "api/pagination.hpp"
#include "api/request.hpp"
#include "api/resources.hpp"
#include "core/address.hpp"
#include "core/clock.hpp"
#include "dns/resolver.hpp"
#include "domain/service.hpp"

namespace tern::api {

namespace {

struct Service {
  core::SystemClock system_clock;
  domain::Domains domains;
  explicit Service(const ApiServices& svc)
      : domains(*svc.store, {svc.dkim_zone, svc.spf_include, svc.sending_ips},
                domain::dkim_key_generator(), svc.clock ? *svc.clock : system_clock) {}
};

net::HttpResponse answer(const core::Result<domain::Report>& rep, int status, bool changes) {
  if (!rep) return from_error(rep.error());
  return json_response(status, domain_report_json(rep.value(), changes));
}

net::HttpResponse add(const Call& c) {
  auto body = json_object_body(c.req);
  if (!body) return bad_request(body.error().message);
  auto name = string_member(*body, "domain");
  if (!name) return bad_request(name.error().message);
  if (!*name) return bad_request("\"domain\" is required");
  domain::AddOptions o;
  auto dkim = string_member(*body, "dkim");
  if (!dkim) return bad_request(dkim.error().message);
  if (*dkim) {
    if (**dkim != "direct" && **dkim != "delegated")
      return bad_request("\"dkim\" must be \"direct\" or \"delegated\"");
    o.dkim_mode = **dkim;
  }
  if (auto it = body->find("ed25519"); it != body->end() && !it->is_null()) {
    if (!it->is_boolean()) return bad_request("\"ed25519\" must be true or false");
    o.ed25519 = it->get<bool>();
  }
  if (auto it = body->find("verified"); it != body->end() && !it->is_null()) {
    if (!it->is_boolean()) return bad_request("\"verified\" must be true or false");
    // Only the operator may skip the ownership check.
    if (it->get<bool>() && !c.who.is_operator)
      return error_response(403, "forbidden", "only the operator may mark a domain verified");
    o.verified = it->get<bool>();
  }
  // Verified by another account: refuse before the service touches anything. Another
  // account's unverified claim blocks nothing (the first to verify wins).
  auto holder = c.svc.store->domains.find(**name);
  if (!holder) return from_error(holder.error());
  if (*holder && (*holder)->verified && (*holder)->account_id != c.account.id)
    return error_response(409, "conflict", "this domain belongs to another account");
  auto mine = c.svc.store->domains.find(**name, c.account.id);
  if (!mine) return from_error(mine.error());
  Service s(c.svc);
  o.max_unverified = c.svc.max_unverified_domains;
  auto rep = s.domains.add(c.account.name, **name, o);
  return answer(rep, *mine ? 200 : 201, false);
}

net::HttpResponse list(const Call& c) {
  auto page = page_request(c.req);
  if (!page) return bad_request(page.error().message);
  auto list = c.svc.store->domains.list(c.account.id);
  if (!list) return from_error(list.error());
  std::vector<std::pair<std::string, nlohmann::json>> keyed;
  for (const auto& d : *list) {
    auto detail = c.svc.store->domains.find(d.domain, c.account.id);
    if (!detail) return from_error(detail.error());
    nlohmann::json j = domain_summary_json(d, *detail ? &**detail : nullptr);
    keyed.emplace_back(d.domain, std::move(j));
  }
  auto out = page_of(std::move(keyed), *page);
  if (!out) return bad_request(out.error().message);
  return json_response(200, *out);
}

}  // namespace

net::HttpResponse handle_domains(const Call& c) {
  const auto& m = c.req.method;
  if (c.rest.empty()) {
    if (m == "GET") return list(c);
    if (m == "POST") return add(c);
    return method_not_allowed("GET, POST");
  }
  if (c.rest.size() > 2) return no_route();
  const std::string name = core::to_lower(c.rest[0]);
  const std::string action = c.rest.size() == 2 ? c.rest[1] : "";
  if (!action.empty() && action != "check" && action != "rotate") return no_route();
  auto d = c.svc.store->domains.find(name, c.account.id);
  if (!d) return from_error(d.error());
  if (!*d || (*d)->account_id != c.account.id) return not_found("domain");
  const int64_t me = c.account.id;
  Service s(c.svc);
  if (action == "check") {
    if (m != "POST") return method_not_allowed("POST");
    std::unique_ptr<dns::Resolver> resolver;
    if (c.svc.make_resolver)
      resolver = c.svc.make_resolver();
    else
      resolver = dns::make_unbound_resolver(c.svc.dns_resolver);
    return answer(s.domains.check(name, *resolver, me), 200, true);
  }
  if (action == "rotate") {
    if (m != "POST") return method_not_allowed("POST");
    return answer(s.domains.rotate(name, me), 200, false);
  }
  if (m == "GET") return answer(s.domains.records(name, me), 200, false);
  if (m == "DELETE") {
    auto r = c.svc.store->domains.remove(c.account.id, name);
    if (!r) return from_error(r.error());
    return no_content();
  }
  return method_not_allowed("GET, DELETE");
}

}  // namespace tern::api
