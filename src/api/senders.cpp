// /senders: registered sender addresses (seed 000). POST {"address"} registers the address
// unverified and emails it a verification link <public_url>/v/<token> valid for 48 hours
// (Tern's own mail: From noreply@<hostname>, submitted with no account, so no sender policy
// applies); opening the link (verify.cpp) verifies it. An address already verified is answered
// as is, without mail. The operator may register an address verified at once ("verified":
// true). An address on a domain another account has verified is refused (409, nothing sent):
// that domain's mailboxes are the other account's identities. DELETE removes the address and
// its pending links.
#include <fmt/format.h>

#include "api/json_views.hpp"
#include "api/pagination.hpp"
#include "api/request.hpp"
#include "api/resources.hpp"
#include "core/address.hpp"
#include "message/compose.hpp"
#include "pipeline/submission.hpp"

namespace tern::api {

namespace {
constexpr int64_t kLinkLifetimeMs = 48LL * 3600 * 1000;

// The account's registered sender with this (normalised) address, nullopt when there is none.
core::Result<std::optional<store::Sender>> find_sender(const Call& c, const std::string& address) {
  auto list = c.svc.store->senders.list(c.account.id);
  if (!list) return list.error();
  for (const auto& s : *list)
    if (s.address == address) return std::optional<store::Sender>(s);
  return std::optional<store::Sender>();
}

// The verification email, composed like any API message (message::compose) and submitted as
// Tern's own mail.
core::Result<void> send_link(const Call& c, const std::string& address, const std::string& token) {
  if (!c.svc.submission) return core::Error::temp("mail submission is not configured");
  std::string base = c.svc.public_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string link = base + "/v/" + token;
  message::ComposeInput in;
  in.from = "Tern <noreply@" + c.svc.hostname + ">";
  in.to = {address};
  in.subject = "Verify your sender address";
  in.text = fmt::format(
      "Account \"{}\" asked to send mail as {} through Tern.\r\n\r\n"
      "If this is your address and you agree, open this link within 48 hours:\r\n\r\n"
      "{}\r\n\r\n"
      "If you did not ask for this, ignore this message: nothing will be sent as this address.\r\n",
      c.account.name, address, link);
  message::ComposeOptions opt;
  opt.hostname = c.svc.hostname;
  opt.now_unix = c.now_ms() / 1000;
  auto composed = message::compose(in, opt);
  if (!composed) return composed.error();
  pipeline::SubmitRequest req;
  req.account = nullptr;
  req.sender = "noreply@" + c.svc.hostname;
  req.recipients = composed->recipients;
  req.message = std::move(composed->message);
  req.smtputf8 = composed->smtputf8;
  req.client_ip = c.req.remote_ip;
  req.via = "HTTP";
  auto r = c.svc.submission->submit(std::move(req));
  if (!r) return r.error();
  return core::ok();
}

net::HttpResponse list(const Call& c) {
  return paged_list(c.req, c.svc.store->senders.list(c.account.id), [](const auto& s, size_t) {
    return std::pair<std::string, nlohmann::json>(s.address, sender_json(s));
  });
}

net::HttpResponse add(const Call& c) {
  auto body = json_object_body(c.req);
  if (!body) return bad_request(body.error().message);
  auto given = string_member(*body, "address");
  if (!given) return bad_request(given.error().message);
  if (!*given) return bad_request("\"address\" is required");
  if ((*given)->find_first_of(std::string("\r\n\0", 3)) != std::string::npos)
    return bad_request("\"address\" must not contain CR, LF or NUL");
  auto mb = core::parse_mailbox(**given);
  if (!mb) return bad_request("\"address\" is not a valid email address");
  const std::string address = mb->str();
  bool verified_now = false;
  if (auto it = body->find("verified"); it != body->end() && !it->is_null()) {
    if (!it->is_boolean()) return bad_request("\"verified\" must be true or false");
    if (it->get<bool>() && !c.who.is_operator)
      return error_response(403, "forbidden", "only the operator may register a verified sender");
    verified_now = it->get<bool>();
  }
  // Another account's verified domain is that account's identity: nobody else may even ask
  // its mailboxes to vouch for them (issue 10 item 3). Nothing is stored or sent.
  if (auto d = c.svc.store->domains.find(mb->domain); !d) {
    return from_error(d.error());
  } else if (*d && (*d)->verified && (*d)->account_id != c.account.id) {
    return error_response(409, "conflict",
                          "\"address\": " + mb->domain + " is a sending domain of another account");
  }
  auto found = find_sender(c, address);
  if (!found) return from_error(found.error());
  const std::optional<store::Sender>& existing = *found;
  if (existing && existing->verified) return json_response(200, sender_json(*existing));
  if (auto r = c.svc.store->senders.add(c.account.id, address, verified_now); !r)
    return from_error(r.error());
  if (verified_now)
    return json_response(existing ? 200 : 201, sender_json({c.account.id, address, true}));
  const int64_t expires = c.now_ms() + kLinkLifetimeMs;
  auto token = c.svc.store->senders.create_verification(c.account.id, address, expires);
  if (!token) return from_error(token.error());
  if (auto r = send_link(c, address, *token); !r)
    return from_error(r.error().context("the verification email could not be sent"));
  nlohmann::json j = sender_json({c.account.id, address, false});
  j["verificationSent"] = true;
  j["verificationExpiresAt"] = iso_time(expires);
  return json_response(existing ? 200 : 201, j);
}
}  // namespace

net::HttpResponse handle_senders(const Call& c) {
  const auto& m = c.req.method;
  if (c.rest.empty()) {
    if (m == "GET") return list(c);
    if (m == "POST") return add(c);
    return method_not_allowed("GET, POST");
  }
  if (c.rest.size() != 1) return no_route();
  auto mb = core::parse_mailbox(c.rest[0]);
  if (!mb) return not_found("sender");
  if (m == "GET") {
    auto s = find_sender(c, mb->str());
    if (!s) return from_error(s.error());
    if (!*s) return not_found("sender");
    return json_response(200, sender_json(**s));
  }
  if (m == "DELETE") {
    auto r = c.svc.store->senders.remove(c.account.id, mb->str());
    if (!r) return from_error(r.error());
    return no_content();
  }
  return method_not_allowed("GET, DELETE");
}

}  // namespace tern::api
