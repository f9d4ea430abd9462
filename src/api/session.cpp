// /api/v1/session: the console's login (issue 13; rules in console_auth.hpp).
//   POST   {"token"} (operator token or API key) or {"code"} (one-time operator login code)
//          → 201 {kind, account, csrf, idleExpiresAt, expiresAt} + Set-Cookie; a session cookie
//          the request carried is ended first (a login never keeps an old session id).
//          Wrong token or code → 401; after [auth] max_failures_per_ip failures from one
//          address within the window → 429 until the block ends (policy::AuthLimiter, like SMTP
//          AUTH); a suspended account's key → 403 suspended, no session.
//   GET    (cookie) → 200 the same body, or 401.
//   DELETE (cookie; CSRF rules) → 204, cookie cleared; without a valid session also 204.
// Every answer is Cache-Control: no-store.
#include <fmt/format.h>

#include "api/console_auth.hpp"
#include "api/json_views.hpp"
#include "api/request.hpp"
#include "api/resources.hpp"
#include "policy/auth_limiter.hpp"
#include "store/secrets.hpp"
#include "store/sessions.hpp"
#include "store/suspensions.hpp"

namespace tern::api {

namespace {

net::HttpResponse no_store(net::HttpResponse r) {
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

int64_t now_of(const ApiServices& svc) {
  return svc.clock ? svc.clock->now_ms() : core::SystemClock().now_ms();
}

// The body of POST and GET: who this session is and when it ends.
core::Result<nlohmann::json> session_body(const ApiServices& svc, bool is_operator,
                                          int64_t account_id, const std::string& csrf,
                                          int64_t idle_expires_ms, int64_t expires_ms) {
  nlohmann::json account = nullptr;
  if (!is_operator) {
    auto a = svc.store->accounts.by_id(account_id);
    if (!a) return a.error();
    if (!*a) return core::Error::not_found("account gone");
    account = account_view(svc, **a);
  }
  return nlohmann::json{{"kind", is_operator ? "operator" : "account"},
                        {"account", account},
                        {"csrf", csrf},
                        {"idleExpiresAt", iso_time(idle_expires_ms)},
                        {"expiresAt", iso_time(expires_ms)}};
}

net::HttpResponse login(const ApiServices& svc, const net::HttpRequest& req) {
  if (!svc.sessions) return error_response(503, "unavailable", "console sessions are not enabled");
  if (auto why = login_refusal(req, origin_of(svc.public_url)))
    return error_response(403, "csrf", *why);
  const std::string ip = req.remote_ip;
  if (svc.login_limiter && !svc.login_limiter->allowed(ip, "")) {
    auto r = error_response(429, "too_many_requests",
                            "too many failed logins from your address; try again later");
    r.headers.emplace_back("Retry-After", "60");
    return r;
  }
  auto body = json_object_body(req);
  if (!body) return bad_request(body.error().message);
  auto token = string_member(*body, "token");
  if (!token) return bad_request(token.error().message);
  auto code = string_member(*body, "code");
  if (!code) return bad_request(code.error().message);
  if (!*token == !*code) return bad_request("give exactly one of \"token\" and \"code\"");
  const std::string given = *token ? **token : **code;
  if (given.empty() || given.size() > 512) return bad_request("empty or overlong credential");

  auto failed = [&] {
    if (svc.login_limiter) svc.login_limiter->record_failure(ip, "");
    return error_response(401, "unauthorized", "wrong token or login code");
  };
  const int64_t now = now_of(svc);
  std::optional<store::Sessions::Created> made;
  if (*code) {
    auto ok = svc.sessions->consume_login_code(given, now);
    if (!ok) return from_error(ok.error());
    if (!*ok) return failed();
    const std::string op = operator_token_hash(svc);
    if (op.empty()) return error_response(503, "unavailable", "no operator token is configured");
    auto s = svc.sessions->create_operator(op, now);
    if (!s) return from_error(s.error());
    made = std::move(*s);
  } else if (!svc.admin_token.empty() && secret_equals(given, svc.admin_token)) {
    auto s = svc.sessions->create_operator(operator_token_hash(svc), now);
    if (!s) return from_error(s.error());
    made = std::move(*s);
  } else {
    // An API key: its account must exist and not be suspended.
    auto acc = svc.store->api_keys.verify(given);
    if (!acc) return from_error(acc.error());
    if (!*acc) return failed();
    if (svc.suspensions) {
      auto s = svc.suspensions->get(**acc);
      if (!s) return from_error(s.error());
      if (*s) return error_response(403, "suspended", "Account suspended: " + (*s)->reason);
    }
    auto s = svc.sessions->create_for_api_key(given, now);
    if (!s) return from_error(s.error());
    if (!*s) return failed();  // revoked meanwhile
    made = std::move(**s);
  }
  if (svc.login_limiter) svc.login_limiter->record_success(ip, "");
  // A session id the browser brought along is never kept (no fixation): end it.
  if (auto old = cookie_value(req, kSessionCookie); old && !old->empty())
    (void)svc.sessions->remove(*old);
  const auto& ss = made->session;
  auto out = session_body(svc, ss.is_operator, ss.account_id, csrf_token(made->secret),
                          ss.idle_expires_ms, ss.expires_ms);
  if (!out) return from_error(out.error());
  auto r = json_response(201, *out);
  r.headers.emplace_back(
      "Set-Cookie", session_cookie(made->secret, (ss.expires_ms - ss.created_ms + 999) / 1000));
  return no_store(std::move(r));
}

}  // namespace

net::HttpResponse handle_session(const ApiServices& svc, const net::HttpRequest& req,
                                 const std::vector<std::string>& rest) {
  if (!rest.empty()) return no_route();
  const auto& m = req.method;
  if (m == "POST") return login(svc, req);
  if (m != "GET" && m != "HEAD" && m != "DELETE") return method_not_allowed("GET, POST, DELETE");
  const auto cookie = cookie_value(req, kSessionCookie);
  if (m == "DELETE") {
    net::HttpResponse r = no_content();
    if (svc.sessions && cookie && !cookie->empty()) {
      auto who = authenticate(svc, req);  // a valid session must pass the CSRF rules
      if (auto* p = std::get_if<Principal>(&who); p && p->via_session) {
        if (auto why = csrf_refusal(req, p->csrf, origin_of(svc.public_url)))
          return no_store(error_response(403, "csrf", *why));
        if (auto rm = svc.sessions->remove(*cookie); !rm) return from_error(rm.error());
      }
    }
    r.headers.emplace_back("Set-Cookie", cleared_session_cookie());
    return no_store(std::move(r));
  }
  if (!svc.sessions || !cookie || cookie->empty() || !req.header("authorization").empty())
    return no_store(error_response(401, "unauthorized", "no console session"));
  auto who = authenticate(svc, req);
  if (auto* r = std::get_if<net::HttpResponse>(&who)) return no_store(std::move(*r));
  const auto& p = std::get<Principal>(who);
  auto out =
      session_body(svc, p.is_operator, p.account_id, p.csrf, p.idle_expires_ms, p.expires_ms);
  if (!out) {  // the account is gone: the session is, too; a store failure stays a 503
    if (out.error().code == core::ErrorCode::not_found)
      return no_store(error_response(401, "unauthorized", "no console session"));
    return no_store(from_error(out.error()));
  }
  return no_store(json_response(200, *out));
}

}  // namespace tern::api
