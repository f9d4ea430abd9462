// /suppressions: the account's suppression list (hard bounces; SPEC §4). List (by address;
// ?q= a substring of the address, ?reason= a substring of the reason, both case-insensitive,
// paged by ?limit&cursor through store::SuppressionService), add {"address","reason"?} (e.g. an
// address the customer knows is dead), remove one (404 when it is not listed), and
// POST /suppressions/bulk {"add":[...],"remove":[...],"reason"?} (at most 1000 addresses, one
// transaction) → {"added","removed","invalid":[...]}.
#include "api/pagination.hpp"
#include "api/request.hpp"
#include "api/resources.hpp"
#include "core/address.hpp"
#include "store/suppression_service.hpp"

namespace tern::api {

namespace {
nlohmann::json suppression_json(const store::Suppression& s) {
  return {{"address", s.address},
          {"reason", s.reason},
          {"queueId", s.queue_id},
          {"createdAt", iso_time(s.created_ms)}};
}
net::HttpResponse search(const Call& c) {
  auto page = page_request(c.req);
  if (!page) return bad_request(page.error().message);
  store::SuppressionQuery q;
  q.account_id = c.account.id;
  q.limit = page->limit;
  q.cursor = page->cursor;
  auto text = query_param(c.req, "q");
  if (!text) return bad_request(text.error().message);
  auto reason = query_param(c.req, "reason");
  if (!reason) return bad_request(reason.error().message);
  q.q = text->value_or("");
  q.reason = reason->value_or("");
  auto p = c.svc.suppression_list->search(q);
  if (!p) return from_error(p.error());
  nlohmann::json items = nlohmann::json::array();
  for (const auto& s : p->items) items.push_back(suppression_json(s));
  return json_response(
      200, {{"items", items},
            {"nextCursor",
             p->next_cursor.empty() ? nlohmann::json(nullptr) : nlohmann::json(p->next_cursor)}});
}

core::Result<std::vector<std::string>> string_array(const nlohmann::json& body,
                                                    const std::string& name) {
  std::vector<std::string> out;
  if (!body.contains(name) || body[name].is_null()) return out;
  if (!body[name].is_array()) return core::Error::perm("\"" + name + "\" must be an array");
  for (const auto& e : body[name]) {
    if (!e.is_string()) return core::Error::perm("\"" + name + "\" must hold strings (addresses)");
    out.push_back(e.get<std::string>());
  }
  return out;
}

net::HttpResponse bulk(const Call& c) {
  if (!c.svc.suppression_list)
    return error_response(503, "unavailable", "bulk changes are not enabled");
  auto body = json_object_body(c.req);
  if (!body) return bad_request(body.error().message);
  auto add = string_array(*body, "add");
  if (!add) return bad_request(add.error().message);
  auto remove = string_array(*body, "remove");
  if (!remove) return bad_request(remove.error().message);
  auto reason = string_member(*body, "reason");
  if (!reason) return bad_request(reason.error().message);
  const std::string why = *reason ? **reason : "added through the API";
  if (why.size() > 512) return bad_request("\"reason\" is longer than 512 bytes");
  if (add->size() + remove->size() > store::SuppressionService::kMaxBulk)
    return bad_request("at most 1000 addresses at once");
  if (add->empty() && remove->empty()) return bad_request("nothing to add or remove");
  auto r = c.svc.suppression_list->bulk(c.account.id, *add, *remove, why, c.now_ms());
  if (!r) return from_error(r.error());
  return json_response(200,
                       {{"added", r->added}, {"removed", r->removed}, {"invalid", r->invalid}});
}

}  // namespace

net::HttpResponse handle_suppressions(const Call& c) {
  const auto& m = c.req.method;
  const int64_t id = c.account.id;
  if (c.rest.empty()) {
    if (m == "GET") {
      if (!c.svc.suppression_list)
        return paged_list(c.req, c.svc.store->suppressions.list(id), [](const auto& s, size_t) {
          return std::pair<std::string, nlohmann::json>(s.address, suppression_json(s));
        });
      return search(c);
    }
    if (m == "POST") {
      auto body = json_object_body(c.req);
      if (!body) return bad_request(body.error().message);
      auto address = string_member(*body, "address");
      if (!address) return bad_request(address.error().message);
      if (!*address) return bad_request("\"address\" is required");
      auto reason = string_member(*body, "reason");
      if (!reason) return bad_request(reason.error().message);
      auto mb = core::parse_mailbox(**address);
      if (!mb) return bad_request("\"address\" is not a valid email address");
      std::string why = *reason ? **reason : "added through the API";
      if (why.size() > 512) return bad_request("\"reason\" is longer than 512 bytes");
      store::Suppression s{id, mb->str(), why, "", c.now_ms()};
      if (auto r = c.svc.store->suppressions.add(s); !r) return from_error(r.error());
      return json_response(201, suppression_json(s));
    }
    return method_not_allowed("GET, POST");
  }
  if (c.rest.size() != 1) return no_route();
  if (c.rest[0] == "bulk") {
    if (m != "POST") return method_not_allowed("POST");
    return bulk(c);
  }
  if (m != "DELETE") return method_not_allowed("DELETE");
  if (!core::parse_mailbox(c.rest[0])) return not_found("suppression");
  auto r = c.svc.store->suppressions.remove(id, c.rest[0]);
  if (!r) return from_error(r.error());
  return no_content();
}

}  // namespace tern::api
