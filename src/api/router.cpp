// api::handle: the one entry of the HTTP surface besides /healthz and /metrics. Matches the
// path, authenticates, scopes the call to one account, and dispatches to a resource file.
//   /t/...                         tracking (tracking_endpoint.cpp), no auth
//   /v/<token>                     sender verification (verify.cpp), no auth
//   /, /console/...                the web console (console_assets.cpp), no auth
//   /api/v1/openapi.json           the OpenAPI document, no auth
//   /api/v1/accounts[/{id}]        operator (an API key sees only its own account)
//   /api/v1/accounts/{id}/<res>/.. operator, or an API key of that account
//   /api/v1/<res>/..               an API key: its own account
//   /api/v1/session                the console's cookie login (session.cpp)
//   /api/v1/platform               any caller; /api/v1/queue: operator; /api/v1/stats: the
//                                  operator's all-accounts view (an API key: its own)
// Console sessions (cookie): requests that change state pass the CSRF rules first
// (console_auth.hpp, 403 "csrf"). An account's key or session while the account is suspended:
// 403 "suspended" (the operator still reaches the account).
// Invariants: every answer under /api/ is JSON; an API key naming another account gets 404 as
// for a missing one; bodies over 1 MiB are 413 before anything reads them (POST /messages may
// carry attachments: up to kMaxSendBody); the request's token is never logged or echoed.
#include <spdlog/spdlog.h>

#include <set>

#include "api/console_assets.hpp"
#include "api/console_auth.hpp"
#include "api/request.hpp"
#include "api/resources.hpp"
#include "api/send.hpp"
#include "api/slow_calls.hpp"
#include "api/tracking_endpoint.hpp"
#include "core/clock.hpp"
#include "store/suspensions.hpp"

namespace tern::api {

namespace {
constexpr size_t kMaxBody = 1 << 20;
constexpr size_t kMaxSendBody = 30u << 20;

const std::set<std::string>& account_resources() {
  static const std::set<std::string> r = {"credentials", "api-keys",     "domains",  "senders",
                                          "settings",    "suppressions", "messages", "captured",
                                          "stats",       "webhooks"};
  return r;
}

// Routes outside accounts that still need a caller.
const std::set<std::string>& global_resources() {
  static const std::set<std::string> r = {"platform", "queue"};
  return r;
}

net::HttpResponse dispatch(const std::string& resource, const Call& c) {
  if (resource == "credentials") return handle_credentials(c);
  if (resource == "api-keys") return handle_api_keys(c);
  if (resource == "domains") return handle_domains(c);
  if (resource == "senders") return handle_senders(c);
  if (resource == "settings") return handle_settings(c);
  if (resource == "suppressions") return handle_suppressions(c);
  if (resource == "messages") {
    if (c.rest.empty() && c.req.method == "POST") return handle_send(c.svc, c.account.id, c.req);
    return handle_messages(c);
  }
  if (resource == "captured") return handle_captured(c);
  if (resource == "webhooks") return handle_webhooks(c);
  if (resource == "stats") return handle_stats(c, c.account.id);
  return no_route();
}

// A response answered later keeps the slow-call slot until it is written.
net::HttpResponse keep_slot(net::HttpResponse r, std::optional<SlowGate::Ticket> slot) {
  if (!r.later || !slot) return r;
  auto held = std::make_shared<SlowGate::Ticket>(std::move(*slot));
  r.later = [inner = std::move(r.later), held](net::HttpCompletion done) mutable {
    inner([done, held](net::HttpResponse x) { done(std::move(x)); });
  };
  return r;
}

net::HttpResponse handle_api(const ApiServices& svc, const net::HttpRequest& req,
                             std::vector<std::string> segs) {
  if (segs.size() == 1 && segs[0] == "openapi.json") {
    if (req.method != "GET" && req.method != "HEAD") return method_not_allowed("GET");
    return handle_openapi(svc);
  }
  if (!segs.empty() && segs[0] == "session") {
    if (req.body.size() > kMaxBody)
      return error_response(413, "payload_too_large", "request body over 1 MiB");
    return handle_session(svc, req, {segs.begin() + 1, segs.end()});
  }
  if (segs.empty() || (segs[0] != "accounts" && !account_resources().contains(segs[0]) &&
                       !global_resources().contains(segs[0])))
    return no_route();
  const bool is_send = req.method == "POST" &&
                       ((segs.size() == 1 && segs[0] == "messages") ||
                        (segs.size() == 3 && segs[0] == "accounts" && segs[2] == "messages"));
  if (req.body.size() > (is_send ? kMaxSendBody : kMaxBody))
    return error_response(413, "payload_too_large",
                          is_send ? "request body over 30 MiB" : "request body over 1 MiB");
  auto auth = authenticate(svc, req);
  if (auto* r = std::get_if<net::HttpResponse>(&auth)) return std::move(*r);
  const Principal who = std::get<Principal>(auth);
  // Cookie requests that change state: the console's own page, with its token (CSRF).
  if (who.via_session)
    if (auto why = csrf_refusal(req, who.csrf, origin_of(svc.public_url)))
      return error_response(403, "csrf", *why);
  // A suspended account's own keys and sessions stop here; the operator goes on.
  if (!who.is_operator && svc.suspensions) {
    auto s = svc.suspensions->get(who.account_id);
    if (!s) return from_error(s.error());
    if (*s) return error_response(403, "suspended", "Account suspended: " + (*s)->reason);
  }
  if (segs[0] == "platform") {
    if (segs.size() != 1) return no_route();
    return handle_platform(svc, req);
  }
  if (segs[0] == "queue" || (segs[0] == "stats" && who.is_operator)) {
    Call c{svc, req, who, {}, {segs.begin() + 1, segs.end()}};
    return segs[0] == "queue" ? handle_queue(c) : handle_stats(c, 0);
  }

  std::string resource;
  std::vector<std::string> rest;
  store::Account account;
  if (segs[0] == "accounts") {
    if (segs.size() >= 2) {
      auto found = svc.store->accounts.find(segs[1]);
      if (!found) return from_error(found.error());
      // An API key reaches its own account only: any other is "not found", like a missing one.
      if (!*found || (!who.is_operator && (*found)->id != who.account_id))
        return not_found("account");
      account = **found;
    }
    if (segs.size() <= 2 ||
        (segs.size() == 3 && (segs[2] == "suspend" || segs[2] == "unsuspend"))) {
      Call c{svc, req, who, account, {segs.begin() + 1, segs.end()}};
      return handle_accounts(c);
    }
    resource = segs[2];
    rest.assign(segs.begin() + 3, segs.end());
    if (!account_resources().contains(resource)) return no_route();
  } else {
    if (who.is_operator)
      return bad_request(
          "the operator token has no account of its own: use /api/v1/accounts/{id}/" + segs[0]);
    auto found = svc.store->accounts.find(std::to_string(who.account_id));
    if (!found) return from_error(found.error());
    if (!*found) return error_response(401, "unauthorized", "missing or invalid bearer token");
    account = **found;
    resource = segs[0];
    rest.assign(segs.begin() + 1, segs.end());
  }
  // One tenant's slow calls (a test email to a relay that never answers, DNS that does not
  // reply) are bounded per account, so they cannot occupy the slow pool for everyone.
  std::optional<SlowGate::Ticket> slot;
  if (svc.slow_gate && is_slow(req)) {
    slot = svc.slow_gate->enter(account.id);
    if (!slot) {
      auto r = error_response(429, "too_many_requests",
                              "another slow request of this account (test email, domain check or "
                              "key generation) is still running; try again when it is done");
      r.headers.emplace_back("Retry-After", "5");
      return r;
    }
  }
  Call c{svc, req, who, account, std::move(rest)};
  return keep_slot(dispatch(resource, c), std::move(slot));
}
}  // namespace

int64_t Call::now_ms() const {
  if (svc.clock) return svc.clock->now_ms();
  return core::SystemClock().now_ms();
}

net::HttpResponse no_route() { return error_response(404, "not_found", "no such endpoint"); }

net::HttpResponse not_found(const std::string& what) {
  return error_response(404, "not_found", what + " not found");
}

net::HttpResponse method_not_allowed(const std::string& allow) {
  auto r = error_response(405, "method_not_allowed", "method not allowed here; allowed: " + allow);
  r.headers.emplace_back("Allow", allow);
  return r;
}

net::HttpResponse bad_request(const std::string& message) {
  return error_response(400, "bad_request", message);
}

net::HttpResponse no_content() { return {204, "application/json", ""}; }

net::HttpResponse handle(const ApiServices& svc, const net::HttpRequest& req) {
  std::string_view path = req.path();
  if (is_console_path(path)) return handle_console(req);
  if (path.starts_with("/t/")) return handle_tracking(svc, req);
  if (path.starts_with("/v/")) return handle_verify(svc, req);
  if (path != "/api/v1" && !path.starts_with("/api/v1/")) return no_route();
  auto segs = split_path(path.substr(7));
  if (!segs) return bad_request("malformed path (bad percent-escape or empty segment)");
  return handle_api(svc, req, std::move(*segs));
}

}  // namespace tern::api
