// /suppressions: the account's suppression list (hard bounces; SPEC §4). List (by address),
// add {"address","reason"?} (e.g. an address the customer knows is dead), remove one
// (404 when it is not listed).
#include "api/pagination.hpp"
#include "api/request.hpp"
#include "api/resources.hpp"
#include "core/address.hpp"

namespace tern::api {

namespace {
nlohmann::json suppression_json(const store::Suppression& s) {
  return {{"address", s.address},
          {"reason", s.reason},
          {"queueId", s.queue_id},
          {"createdAt", iso_time(s.created_ms)}};
}
}  // namespace

net::HttpResponse handle_suppressions(const Call& c) {
  const auto& m = c.req.method;
  const int64_t id = c.account.id;
  if (c.rest.empty()) {
    if (m == "GET") {
      return paged_list(c.req, c.svc.store->suppressions.list(id), [](const auto& s, size_t) {
        return std::pair<std::string, nlohmann::json>(s.address, suppression_json(s));
      });
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
  if (m != "DELETE") return method_not_allowed("DELETE");
  if (!core::parse_mailbox(c.rest[0])) return not_found("suppression");
  auto r = c.svc.store->suppressions.remove(id, c.rest[0]);
  if (!r) return from_error(r.error());
  return no_content();
}

}  // namespace tern::api
