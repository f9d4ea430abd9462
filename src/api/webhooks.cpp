// /webhooks: the account's webhook history and tools (issue 13).
//   GET  /webhooks/deliveries?limit&cursor   the account's outbox items, newest first:
//        {items:[{id, kind, url, status, attempts, lastCode, lastError, nextAttemptAt,
//        createdAt, sentAt, messageId, recipient}], nextCursor}. status: pending (not tried
//        yet), failed (last attempt failed; retried at nextAttemptAt), given_up, sent.
//   POST /webhooks/deliveries/{id}/retry      202: sent again now (a given-up item is pending
//        again); 404 for another account's or an unknown id; 409 when it was sent already.
//   POST /webhooks/test {"kind":"report"|"tracking"}   one signed POST of a sample body to the
//        account's notify_url / tracking_url, now, under the SSRF rules; the outcome is data:
//        {ok, status, error, url}; 400 when the account has no such URL. Bounded like the test
//        email (one at a time per account, the webhook timeout); no thread waits on it.
// URLs may hold tokens in their query: the history shows them as the account stored them (it
// is the account's own data).
#include <charconv>

#include "api/request.hpp"
#include "api/resources.hpp"
#include "api/slow_calls.hpp"
#include "store/outbox.hpp"

namespace tern::api {

namespace {

std::string status_of(const store::OutboxItem& i) {
  if (i.state == store::OutboxState::sent) return "sent";
  if (i.state == store::OutboxState::failed) return "given_up";
  return i.attempts > 0 ? "failed" : "pending";
}

nlohmann::json item_json(const store::OutboxItem& i) {
  const std::string st = status_of(i);
  return {
      {"id", std::to_string(i.id)},
      {"kind", std::string(store::to_string(i.kind))},
      {"url", i.url},
      {"status", st},
      {"attempts", i.attempts},
      {"lastCode", i.last_code ? nlohmann::json(i.last_code) : nlohmann::json(nullptr)},
      {"lastError", i.last_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(i.last_error)},
      {"nextAttemptAt", st == "pending" || st == "failed"
                            ? nlohmann::json(iso_time(i.next_attempt_ms))
                            : nlohmann::json(nullptr)},
      {"createdAt", iso_time(i.created_ms)},
      // mark_sent keeps the time it went out in next_attempt_ms.
      {"sentAt",
       st == "sent" ? nlohmann::json(iso_time(i.next_attempt_ms)) : nlohmann::json(nullptr)},
      {"messageId", i.message_id},
      {"recipient", i.recipient}};
}

std::optional<int64_t> parse_id(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

net::HttpResponse test(const Call& c) {
  auto body = json_object_body(c.req);
  if (!body) return bad_request(body.error().message);
  auto kind = string_member(*body, "kind");
  if (!kind) return bad_request(kind.error().message);
  const std::string k = kind->value_or("report");
  if (k != "report" && k != "tracking")
    return bad_request("kind must be \"report\" or \"tracking\"");
  if (!c.svc.webhook_test) return error_response(503, "unavailable", "webhooks are not enabled");
  std::optional<SlowGate::Ticket> ticket;
  if (c.svc.webhook_test_gate) {
    ticket = c.svc.webhook_test_gate->enter(c.account.id);
    if (!ticket) {
      auto r = error_response(429, "too_many_requests",
                              "a webhook test of this account is still running");
      r.headers.emplace_back("Retry-After", "5");
      return r;
    }
  }
  net::HttpResponse r;
  auto held = std::make_shared<std::optional<SlowGate::Ticket>>(std::move(ticket));
  r.later = [start = c.svc.webhook_test, account = c.account.id, k,
             held](net::HttpCompletion done) {
    start(account, k, [done, held](WebhookTestResult t) {
      held->reset();
      if (!t.configured) {
        done(bad_request(t.error));
        return;
      }
      done(json_response(200,
                         {{"ok", t.ok}, {"status", t.status}, {"error", t.error}, {"url", t.url}}));
    });
  };
  return r;
}

}  // namespace

net::HttpResponse handle_webhooks(const Call& c) {
  const auto& m = c.req.method;
  if (c.rest.size() == 1 && c.rest[0] == "test") {
    if (m != "POST") return method_not_allowed("POST");
    return test(c);
  }
  if (c.rest.empty() || c.rest[0] != "deliveries") return no_route();
  if (!c.svc.outbox) return error_response(503, "unavailable", "webhooks are not enabled");
  if (c.rest.size() == 1) {
    if (m != "GET" && m != "HEAD") return method_not_allowed("GET");
    auto page = page_request(c.req);
    if (!page) return bad_request(page.error().message);
    auto p = c.svc.outbox->list(c.account.id, page->limit, page->cursor);
    if (!p) return from_error(p.error());
    nlohmann::json items = nlohmann::json::array();
    for (const auto& i : p->items) items.push_back(item_json(i));
    return json_response(
        200, {{"items", items},
              {"nextCursor",
               p->next_cursor.empty() ? nlohmann::json(nullptr) : nlohmann::json(p->next_cursor)}});
  }
  auto id = parse_id(c.rest[1]);
  if (c.rest.size() == 2) {
    if (m != "GET" && m != "HEAD") return method_not_allowed("GET");
    if (!id) return not_found("webhook delivery");
    auto it = c.svc.outbox->find(c.account.id, *id);
    if (!it) return from_error(it.error());
    if (!*it) return not_found("webhook delivery");
    return json_response(200, item_json(**it));
  }
  if (c.rest.size() != 3 || c.rest[2] != "retry") return no_route();
  if (m != "POST") return method_not_allowed("POST");
  if (!id) return not_found("webhook delivery");
  auto it = c.svc.outbox->find(c.account.id, *id);
  if (!it) return from_error(it.error());
  if (!*it) return not_found("webhook delivery");
  if ((*it)->state == store::OutboxState::sent)
    return error_response(409, "conflict", "this webhook delivery was sent already");
  auto ok = c.svc.outbox->retry_now(c.account.id, *id, c.now_ms());
  if (!ok) return from_error(ok.error());
  if (c.svc.webhooks_enqueued) c.svc.webhooks_enqueued();
  auto again = c.svc.outbox->find(c.account.id, *id);
  if (!again) return from_error(again.error());
  if (!*again) return not_found("webhook delivery");
  return json_response(202, item_json(**again));
}

}  // namespace tern::api
