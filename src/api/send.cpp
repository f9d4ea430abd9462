// POST /api/v1/messages: JSON → message::compose → pipeline::Submission. See send.hpp.
//
// Options (bulkId, notifyUrl, trackingUrl, callbackData, intermediateReport,
// notifyContentType) are validated by the same function as the X-IB-* header fields
// (policy::apply_option) and merged over the account's defaults, so both paths accept exactly
// the same values.
#include "api/send.hpp"

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "api/errors.hpp"
#include "api/response.hpp"
#include "core/clock.hpp"
#include "core/ids.hpp"
#include "message/compose.hpp"
#include "pipeline/submission.hpp"
#include "policy/options.hpp"
#include "store/store.hpp"

namespace tern::api {

namespace {

using nlohmann::json;

struct BadRequest {
  std::string message;
};

std::string str(const json& body, const char* name, bool required = false) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) {
    if (required) throw BadRequest{std::string(name) + ": is required"};
    return {};
  }
  if (!it->is_string()) throw BadRequest{std::string(name) + ": must be a string"};
  return it->get<std::string>();
}

// A recipient list: one address as a string, or an array of strings.
std::vector<std::string> list(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return {};
  if (it->is_string()) return {it->get<std::string>()};
  if (!it->is_array())
    throw BadRequest{std::string(name) + ": must be a string or an array of strings"};
  std::vector<std::string> out;
  for (const auto& v : *it) {
    if (!v.is_string())
      throw BadRequest{std::string(name) + ": must be a string or an array of strings"};
    out.push_back(v.get<std::string>());
  }
  return out;
}

message::ComposeInput compose_input(const json& body) {
  message::ComposeInput in;
  in.from = str(body, "from", true);
  in.to = list(body, "to");
  in.cc = list(body, "cc");
  in.bcc = list(body, "bcc");
  in.reply_to = str(body, "replyTo");
  in.subject = str(body, "subject");
  in.text = str(body, "text");
  in.html = str(body, "html");
  if (auto it = body.find("attachments"); it != body.end() && !it->is_null()) {
    if (!it->is_array()) throw BadRequest{"attachments: must be an array"};
    size_t i = 0;
    for (const auto& a : *it) {
      const std::string field = "attachments[" + std::to_string(i++) + "]";
      if (!a.is_object()) throw BadRequest{field + ": must be an object"};
      message::ComposeAttachment att;
      try {
        att.filename = str(a, "filename");
        att.content_type = str(a, "contentType");
        att.content = str(a, "content", true);
      } catch (const BadRequest& e) {
        throw BadRequest{field + "." + e.message};
      }
      in.attachments.push_back(std::move(att));
    }
  }
  if (auto it = body.find("headers"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) throw BadRequest{"headers: must be an object of strings"};
    for (const auto& [k, v] : it->items()) {
      if (!v.is_string()) throw BadRequest{"headers: must be an object of strings"};
      in.headers.emplace_back(k, v.get<std::string>());
    }
  }
  return in;
}

// The JSON options validated like the X-IB-* fields they stand for, over the account defaults.
policy::MessageOptions options(const json& body, policy::MessageOptions opts) {
  static const std::pair<const char*, const char*> kMap[] = {
      {"bulkId", "X-IB-bulk-id"},
      {"notifyUrl", "X-IB-notify-url"},
      {"trackingUrl", "X-IB-tracking-url"},
      {"callbackData", "X-IB-callback-data"},
      {"notifyContentType", "X-IB-notify-content-type"},
      {"intermediateReport", "X-IB-intermediate-report"}};
  std::set<std::string> seen;
  for (const auto& [key, header] : kMap) {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) continue;
    std::string value;
    if (it->is_string())
      value = it->get<std::string>();
    else if (it->is_boolean() && std::string_view(key) == "intermediateReport")
      value = it->get<bool>() ? "true" : "false";
    else
      throw BadRequest{std::string(key) + ": must be a " +
                       (std::string_view(key) == "intermediateReport" ? "boolean" : "string")};
    const policy::OptionVerdict v = policy::set_option(opts, seen, header, value);
    if (v.problem) throw BadRequest{std::string(key) + ": " + v.problem};
  }
  return opts;
}

json pending_status() {
  return {{"groupId", 1},
          {"groupName", "PENDING"},
          {"id", 26},
          {"name", "PENDING_ACCEPTED"},
          {"description", "Message accepted"}};
}

}  // namespace

net::HttpResponse handle_send(const ApiServices& svc, int64_t account_id,
                              const net::HttpRequest& req) {
  if (!svc.submission || !svc.store)
    return error_response(503, "unavailable", "sending is not available");
  json body;
  try {
    body = json::parse(req.body);
  } catch (const json::exception&) {
    return error_response(400, "bad_request", "body is not valid JSON");
  }
  if (!body.is_object()) return error_response(400, "bad_request", "body must be a JSON object");

  auto ctx = svc.store->account_context(account_id);
  if (!ctx) return from_error(ctx.error());
  auto account = std::make_shared<policy::AccountContext>(std::move(ctx.value()));
  for (const auto& d : svc.platform_domains) account->platform_domains.push_back(d);

  message::ComposeInput in;
  policy::MessageOptions opts;
  try {
    in = compose_input(body);
    opts = options(body, account->defaults);
  } catch (const BadRequest& e) {
    return error_response(400, "bad_request", e.message);
  } catch (const json::exception&) {
    return error_response(400, "bad_request", "malformed request");
  }

  const int64_t now_ms = svc.clock ? svc.clock->now_ms()
                                   : std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count();
  message::ComposeOptions co;
  co.hostname = svc.hostname;
  co.id = core::new_queue_id();  // the Message-ID names the (first) queue id, as on SMTP
  co.now_unix = now_ms / 1000;
  auto composed = message::compose(in, co);
  if (!composed) return error_response(400, "bad_request", composed.error().message);

  pipeline::SubmitRequest sr;
  sr.account = account;
  sr.sender = composed->sender;
  sr.recipients = composed->recipients;
  sr.message = std::move(composed->message);
  sr.options = std::move(opts);
  sr.client_ip = req.remote_ip;
  sr.via = "HTTP";
  sr.smtputf8 = composed->smtputf8;
  sr.queue_id = co.id;
  auto r = svc.submission->submit(std::move(sr));
  if (!r) return from_error(r.error());
  json messages = json::array();
  for (const auto& rc : r->recipients)
    messages.push_back({{"to", rc.to}, {"messageId", rc.message_id}, {"status", pending_status()}});
  return json_response(200, {{"bulkId", r->bulk_id}, {"messages", std::move(messages)}});
}

}  // namespace tern::api
