// /api/v1/queue: the operator's view of the delivery queue and bulk actions (issue 13; the
// operator token only — an API key gets 403). Answers come from the delivery engine's own
// state (delivery::QueueControl), not from the database.
//   GET  /queue?by=destination|account  {"groups":[{key, account?, messages, recipients, held,
//        oldestAt, nextAttemptAt}]}, biggest first
//   GET  /queue/messages?destination=&account=&state=queued|held&limit=&cursor=
//        {"items":[{id, account, accountId, from, recipients:[{to, state, attempts,
//        nextAttemptAt, lastReply, destination}], createdAt, held}], "nextCursor"}, oldest first
//   POST /queue/actions {"action":"retry"|"hold"|"release"|"delete", and one of "ids":[...],
//        "destination":"...", "account":"<id or name>"} → {"count"}: messages changed.
//        A region (app/queue_router.hpp): each message is changed on the node whose spool
//        holds it; when such a node has not answered within 3 s (or is down): 202 {"action",
//        "count" (changed so far), "status":"queued", "pending":[{"node","alive"}], "message"}.
#include "api/pagination.hpp"
#include "api/request.hpp"
#include "api/resources.hpp"
#include "delivery/queue_view.hpp"
#include "store/cursor.hpp"

namespace tern::api {

namespace {

nlohmann::json time_or_null(int64_t ms) {
  return ms > 0 ? nlohmann::json(iso_time(ms)) : nlohmann::json(nullptr);
}

nlohmann::json message_json(const delivery::QueueMessageView& m) {
  nlohmann::json rcpts = nlohmann::json::array();
  for (const auto& r : m.recipients)
    rcpts.push_back({{"to", r.to},
                     {"state", r.state},
                     {"attempts", r.attempts},
                     {"nextAttemptAt", time_or_null(r.next_attempt_ms)},
                     {"lastReply", r.last_reply},
                     {"destination", r.destination}});
  return {{"id", m.id},       {"account", m.account_name}, {"accountId", m.account_id},
          {"from", m.sender}, {"recipients", rcpts},       {"createdAt", iso_time(m.received_ms)},
          {"held", m.held}};
}

// An account given by id or name; 0 with an error response when unknown.
std::variant<int64_t, net::HttpResponse> account_param(const ApiServices& svc,
                                                       const std::string& v) {
  auto a = svc.store->accounts.find(v);
  if (!a) return from_error(a.error());
  if (!*a) return bad_request("no such account: " + quote_short(v));
  return (*a)->id;
}

net::HttpResponse groups(const Call& c) {
  auto by = query_param(c.req, "by");
  if (!by) return bad_request(by.error().message);
  const std::string b = by->value_or("destination");
  if (b != "destination" && b != "account")
    return bad_request("by must be \"destination\" or \"account\"");
  auto snap = c.svc.queue->queue_snapshot({});
  nlohmann::json out = nlohmann::json::array();
  for (const auto& g : delivery::group_queue(snap, b == "account")) {
    nlohmann::json j{{"key", g.key},
                     {"messages", g.messages},
                     {"recipients", g.recipients},
                     {"held", g.held},
                     {"oldestAt", time_or_null(g.oldest_ms)},
                     {"nextAttemptAt", time_or_null(g.next_attempt_ms)}};
    if (b == "account") j["accountId"] = g.account_id;
    out.push_back(std::move(j));
  }
  return json_response(200, {{"by", b}, {"groups", out}});
}

net::HttpResponse messages(const Call& c) {
  auto page = page_request(c.req);
  if (!page) return bad_request(page.error().message);
  delivery::QueueFilter f;
  f.limit = page->limit;
  if (!page->cursor.empty()) {
    auto cur = store::decode_cursor("q1:", page->cursor);
    if (!cur) return bad_request("invalid cursor");
    f.after_ms = cur->first;
    f.after_id = cur->second;
  }
  auto dest = query_param(c.req, "destination");
  auto acc = query_param(c.req, "account");
  auto state = query_param(c.req, "state");
  for (const auto* p : {&dest, &acc, &state})
    if (!*p) return bad_request(p->error().message);
  f.destination = dest->value_or("");
  if (*acc && !(*acc)->empty()) {
    auto id = account_param(c.svc, **acc);
    if (auto* r = std::get_if<net::HttpResponse>(&id)) return std::move(*r);
    f.account_id = std::get<int64_t>(id);
  }
  const std::string st = state->value_or("");
  if (st == "queued")
    f.state = delivery::QueueFilter::State::queued;
  else if (st == "held")
    f.state = delivery::QueueFilter::State::held;
  else if (!st.empty())
    return bad_request("state must be \"queued\" or \"held\"");
  auto p = delivery::page_queue(c.svc.queue->queue_snapshot(f), f);
  nlohmann::json items = nlohmann::json::array();
  for (const auto& m : p.items) items.push_back(message_json(m));
  nlohmann::json next = nullptr;
  if (p.more && !p.items.empty())
    next = store::encode_cursor("q1:", p.items.back().received_ms, p.items.back().id);
  return json_response(200, {{"items", items}, {"nextCursor", next}});
}

std::string pending_message(const delivery::QueueActionResult& r) {
  std::string m;
  for (const auto& p : r.pending) {
    if (!m.empty()) m += "; ";
    m += "node " + p.node +
         (p.alive ? " has not answered yet" : " is down (not seen in the node registry)");
  }
  return m + ": its command stays queued and runs when it answers (dropped after 15 minutes)";
}

net::HttpResponse actions(const Call& c) {
  auto body = json_object_body(c.req);
  if (!body) return bad_request(body.error().message);
  auto action = string_member(*body, "action");
  if (!action) return bad_request(action.error().message);
  if (!*action) return bad_request("\"action\" is required");
  auto a = delivery::parse_queue_action(**action);
  if (!a) return bad_request("action must be retry, hold, release or delete");
  delivery::QueueSelector sel;
  int given = 0;
  if (body->contains("ids")) {
    ++given;
    const auto& ids = (*body)["ids"];
    if (!ids.is_array() || ids.empty() || ids.size() > 1000)
      return bad_request("\"ids\" must be an array of 1 to 1000 queue ids");
    for (const auto& id : ids) {
      if (!id.is_string() || id.get<std::string>().empty() || id.get<std::string>().size() > 64)
        return bad_request("\"ids\" must hold queue ids (strings)");
      sel.ids.push_back(id.get<std::string>());
    }
  }
  auto dest = string_member(*body, "destination");
  if (!dest) return bad_request(dest.error().message);
  if (*dest) {
    ++given;
    if ((*dest)->empty()) return bad_request("\"destination\" is empty");
    sel.destination = **dest;
  }
  if (body->contains("account")) {
    ++given;
    const auto& v = (*body)["account"];
    std::string name = v.is_number_integer() ? std::to_string(v.get<int64_t>())
                       : v.is_string()       ? v.get<std::string>()
                                             : std::string();
    if (name.empty()) return bad_request("\"account\" must be an account id or name");
    auto id = account_param(c.svc, name);
    if (auto* r = std::get_if<net::HttpResponse>(&id)) return std::move(*r);
    sel.account_id = std::get<int64_t>(id);
  }
  if (given != 1) return bad_request("give exactly one of \"ids\", \"destination\", \"account\"");
  auto r = c.svc.queue->queue_action(*a, sel);
  if (!r.ok && r.pending.empty()) return bad_request(r.message);
  if (r.pending.empty()) return json_response(200, {{"action", **action}, {"count", r.count}});
  // A region: nodes holding picked messages have not answered in time (or are down). Their
  // commands stay queued for them; count is what the others changed.
  nlohmann::json pending = nlohmann::json::array();
  for (const auto& p : r.pending) pending.push_back({{"node", p.node}, {"alive", p.alive}});
  nlohmann::json out{{"action", **action},
                     {"count", r.count},
                     {"status", "queued"},
                     {"pending", pending},
                     {"message", pending_message(r)}};
  if (!r.ok) out["error"] = r.message;
  return json_response(202, out);
}

}  // namespace

net::HttpResponse handle_queue(const Call& c) {
  if (!c.who.is_operator)
    return error_response(403, "forbidden",
                          "the queue is the operator's: this needs the "
                          "operator token");
  if (!c.svc.queue) return error_response(503, "unavailable", "delivery is disabled");
  const auto& m = c.req.method;
  if (c.rest.empty()) {
    if (m != "GET" && m != "HEAD") return method_not_allowed("GET");
    return groups(c);
  }
  if (c.rest.size() != 1) return no_route();
  if (c.rest[0] == "messages") {
    if (m != "GET" && m != "HEAD") return method_not_allowed("GET");
    return messages(c);
  }
  if (c.rest[0] == "actions") {
    if (m != "POST") return method_not_allowed("POST");
    return actions(c);
  }
  return no_route();
}

}  // namespace tern::api
