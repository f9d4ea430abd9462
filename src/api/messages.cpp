// GET /messages (search the message log: recipient, bulkId, status, from/to time, paged by the
// log's own cursor) and GET /messages/{messageId} (one recipient's message with its delivery
// events and webhook attempts). POST /messages is the send endpoint (send.cpp), dispatched by
// the router. Another account's message is 404.
#include "api/json_views.hpp"
#include "api/pagination.hpp"
#include "api/request.hpp"
#include "api/resources.hpp"
#include "core/address.hpp"
#include "store/message_log.hpp"
#include "store/outbox.hpp"

namespace tern::api {

namespace {

nlohmann::json message_json(const store::MessageRecord& m) {
  return {{"messageId", m.message_id},
          {"queueId", m.queue_id},
          {"bulkId", m.bulk_id},
          {"sender", m.sender},
          {"to", m.recipient},
          {"from", m.header_from},
          {"subject", m.subject},
          {"status", core::to_string(m.status)},
          {"callbackData", m.callback_data},
          {"createdAt", iso_time(m.created_ms)},
          {"updatedAt", iso_time(m.updated_ms)},
          {"node", m.node_id}};
}

net::HttpResponse search(const Call& c) {
  if (!c.svc.messages)
    return error_response(503, "unavailable", "the message log is not available");
  auto page = page_request(c.req);
  if (!page) return bad_request(page.error().message);
  store::MessageQuery q;
  q.account_id = c.account.id;
  q.limit = page->limit;
  q.cursor = page->cursor;
  for (const char* name : {"recipient", "bulkId", "status", "from", "to"}) {
    auto v = query_param(c.req, name);
    if (!v) return bad_request(v.error().message);
    if (!*v) continue;
    const std::string& s = **v;
    const std::string n = name;
    if (n == "recipient") {
      q.recipient = s;
    } else if (n == "bulkId") {
      q.bulk_id = s;
    } else if (n == "status") {
      q.status = core::parse_message_status(s);
      if (!q.status)
        return bad_request(
            "status must be one of accepted, deferred, delivered, bounced, "
            "expired, rejected");
    } else {
      auto t = parse_time(s);
      if (!t)
        return bad_request(n +
                           " must be an ISO-8601 time (2026-01-31T12:00:00Z) or Unix "
                           "milliseconds");
      (n == "from" ? q.from_ms : q.to_ms) = *t;
    }
  }
  auto r = c.svc.messages->search(q);
  if (!r) return from_error(r.error());
  nlohmann::json items = nlohmann::json::array();
  for (const auto& m : r->items) items.push_back(message_json(m));
  return json_response(
      200, {{"items", std::move(items)},
            {"nextCursor",
             r->next_cursor.empty() ? nlohmann::json(nullptr) : nlohmann::json(r->next_cursor)}});
}

net::HttpResponse show(const Call& c, const std::string& id) {
  if (!c.svc.messages)
    return error_response(503, "unavailable", "the message log is not available");
  auto m = c.svc.messages->find(id);
  if (!m) return from_error(m.error());
  if (!*m || (*m)->account_id != c.account.id) return not_found("message");
  nlohmann::json j = message_json(**m);
  auto events = c.svc.store->events.for_queue((*m)->queue_id);
  if (!events) return from_error(events.error());
  nlohmann::json ev = nlohmann::json::array();
  for (const auto& e : *events) {
    if (!core::iequals(e.recipient, (*m)->recipient)) continue;
    ev.push_back(delivery_event_json(e));
  }
  j["events"] = std::move(ev);
  nlohmann::json hooks = nlohmann::json::array();
  if (c.svc.outbox) {
    auto items = c.svc.outbox->for_message(id);
    if (!items) return from_error(items.error());
    for (const auto& o : *items)
      hooks.push_back({{"kind", store::to_string(o.kind)},
                       {"url", o.url},
                       {"contentType", o.content_type},
                       {"state", store::to_string(o.state)},
                       {"attempts", o.attempts},
                       {"lastError", o.last_error},
                       {"createdAt", iso_time(o.created_ms)},
                       {"nextAttemptAt", iso_time(o.next_attempt_ms)}});
  }
  j["webhooks"] = std::move(hooks);
  return json_response(200, j);
}

}  // namespace

net::HttpResponse handle_messages(const Call& c) {
  const auto& m = c.req.method;
  if (c.rest.empty()) {
    if (m == "GET") return search(c);
    return method_not_allowed("GET, POST");
  }
  if (c.rest.size() != 1) return no_route();
  if (m != "GET") return method_not_allowed("GET");
  return show(c, c.rest[0]);
}

}  // namespace tern::api
