// /settings: the account's delivery and report settings (store/settings.hpp keys).
//   GET                      every key with defaults filled in; secrets as "set" / "not set"
//   PATCH {key: value, ...}  all or nothing (store::SettingsService::set); 400 names the key;
//                            mail_from, relay.host, notify_url and tracking_url must pass
//                            report::check_settings (the account's identities, SSRF rules);
//                            strings, numbers, booleans (on/off) or arrays of strings (cc, bcc);
//                            null or "" resets a key
//   POST /webhook-secret     a new random secret, stored sealed, answered once
//   POST /test-email         {"to", "from"?}: one delivery attempt now through the account's
//                            route; 200 with the outcome as data (a remote's refusal is not an
//                            HTTP error). A from (or the stored mail_from) the account may not
//                            use: 400 sender_not_authorized, nothing sent; more than
//                            [limits] test_emails_per_minute: 429 rate_limited. At most one
//                            at a time per account (429 too_many_requests); answered through
//                            HttpResponse::later, so no API thread waits for the remote.
#include "store/settings.hpp"

#include <fmt/format.h>

#include "api/json_views.hpp"
#include "api/request.hpp"
#include "api/resources.hpp"
#include "api/slow_calls.hpp"
#include "core/address.hpp"
#include "report/settings_guard.hpp"
#include "store/secrets.hpp"

namespace tern::api {

namespace {

net::HttpResponse show(const Call& c) {
  auto s = c.svc.store->settings.get(c.account.id, false);
  if (!s) return from_error(s.error());
  return json_response(200, settings_json(*s));
}

core::Result<std::string> value_text(const std::string& key, const nlohmann::json& v) {
  if (v.is_null()) return std::string();
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return std::string(v.get<bool>() ? "on" : "off");
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_array()) {
    std::string out;
    for (const auto& e : v) {
      if (!e.is_string()) return core::Error::perm(key + ": array items must be strings");
      if (!out.empty()) out += ",";
      out += e.get<std::string>();
    }
    return out;
  }
  return core::Error::perm(key + ": must be a string, number, boolean, array or null");
}

net::HttpResponse patch(const Call& c) {
  auto body = json_object_body(c.req);
  if (!body) return bad_request(body.error().message);
  if (body->empty()) return bad_request("no settings given");
  const auto& keys = store::setting_keys();
  std::vector<std::pair<std::string, std::string>> kv;
  for (auto& [k, v] : body->items()) {
    if (std::find(keys.begin(), keys.end(), k) == keys.end())
      return bad_request(fmt::format("{}: unknown setting", quote_short(k)));
    auto text = value_text(k, v);
    if (!text) return bad_request(text.error().message);
    kv.emplace_back(k, std::move(*text));
  }
  // Identities and targets the account may not hold (report/settings_guard.hpp).
  auto ctx = c.svc.store->account_context(c.account.id);
  if (!ctx) return from_error(ctx.error());
  report::SettingsContext guard{
      std::move(ctx).value(), c.svc.webhook_policy, c.svc.relay_policy, {c.svc.hostname}};
  for (const auto& d : c.svc.platform_domains) guard.identity.platform_domains.push_back(d);
  if (auto r = report::check_settings(kv, guard); !r) return bad_request(r.error().message);
  if (auto r = c.svc.store->settings.set(c.account.id, kv); !r) return from_error(r.error());
  if (c.svc.settings_changed) c.svc.settings_changed(c.account.id);
  return show(c);
}

net::HttpResponse new_webhook_secret(const Call& c) {
  // 256 random bits, base32: "whsec_" + 52 characters.
  std::string secret = "whsec_" + store::secrets::random_token() + store::secrets::random_token();
  if (auto r = c.svc.store->settings.set(c.account.id, {{"webhook_secret", secret}}); !r)
    return from_error(r.error());
  if (c.svc.settings_changed) c.svc.settings_changed(c.account.id);
  return json_response(200, {{"webhookSecret", secret}});
}

net::HttpResponse test_email_answer(const TestEmailResult& r) {
  if (r.outcome == "refused") return error_response(400, "sender_not_authorized", r.reply);
  if (r.outcome == "rate_limited") return error_response(429, "rate_limited", r.reply);
  if (r.outcome == "busy") {  // the account's previous test email is still under way
    auto e = error_response(429, "too_many_requests", r.reply);
    e.headers.emplace_back("Retry-After", "5");
    return e;
  }
  return json_response(200, {{"outcome", r.outcome},
                             {"code", r.code},
                             {"enhanced", r.enhanced},
                             {"reply", r.reply},
                             {"host", r.host},
                             {"tls", r.tls},
                             {"route", r.route}});
}

net::HttpResponse test_email(const Call& c) {
  auto body = json_object_body(c.req);
  if (!body) return bad_request(body.error().message);
  auto to = string_member(*body, "to");
  if (!to) return bad_request(to.error().message);
  if (!*to || (*to)->empty()) return bad_request("\"to\" is required");
  auto from = string_member(*body, "from");
  if (!from) return bad_request(from.error().message);
  const std::string bad = std::string("\r\n\0", 3);
  if ((*to)->find_first_of(bad) != std::string::npos ||
      (*from && (*from)->find_first_of(bad) != std::string::npos))
    return bad_request("addresses must not contain CR, LF or NUL");
  auto to_mb = core::parse_mailbox(**to);
  if (!to_mb) return bad_request("\"to\" is not a valid email address");
  std::string from_addr;
  if (*from && !(*from)->empty()) {
    auto mb = core::parse_mailbox(**from);
    if (!mb) return bad_request("\"from\" is not a valid email address");
    from_addr = mb->str();
  }
  if (!c.svc.test_email && !c.svc.test_email_async)
    return error_response(503, "unavailable", "test email needs delivery to be enabled");
  if (!c.svc.test_email_async)
    return test_email_answer(c.svc.test_email(c.account.id, from_addr, to_mb->str()));
  // No thread waits for the remote server: the answer is written when the attempt ends. The
  // engine bounds it (net/test_send.hpp): one at a time per account ("busy" → 429), in time.
  net::HttpResponse r;
  r.later = [start = c.svc.test_email_async, account = c.account.id, from_addr,
             to = to_mb->str()](net::HttpCompletion done) {
    start(account, from_addr, to, [done](TestEmailResult t) { done(test_email_answer(t)); });
  };
  return r;
}

}  // namespace

net::HttpResponse handle_settings(const Call& c) {
  const auto& m = c.req.method;
  if (c.rest.empty()) {
    if (m == "GET") return show(c);
    if (m == "PATCH") return patch(c);
    return method_not_allowed("GET, PATCH");
  }
  if (c.rest.size() != 1) return no_route();
  if (c.rest[0] == "webhook-secret") {
    if (m != "POST") return method_not_allowed("POST");
    return new_webhook_secret(c);
  }
  if (c.rest[0] == "test-email") {
    if (m != "POST") return method_not_allowed("POST");
    return test_email(c);
  }
  return no_route();
}

}  // namespace tern::api
