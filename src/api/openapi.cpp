// GET /api/v1/openapi.json: the OpenAPI 3.0 document of every route router.cpp serves, built
// from one table below. Account-scoped routes appear twice: /api/v1/accounts/{accountId}/...
// (operator token, or an API key of that account) and the short /api/v1/... (API key only).
// A unit test walks this document against the router, so a route missing from either side
// fails it.
#include "api/resources.hpp"

namespace tern::api {

namespace {
using nlohmann::json;

struct Op {
  const char* path;    // after /api/v1 (or the absolute path when absolute)
  const char* method;  // lower case
  const char* summary;
  int success;                   // 200, 201, 204, 302
  const char* body;              // schema name in components, or nullptr
  bool list = false;             // takes ?limit= and ?cursor=
  const char* result = nullptr;  // schema of the answer (of each item when list)
};

// Routes of one account (both forms).
const Op kAccountOps[] = {
    {"/credentials", "get", "List the account's SMTP logins", 200, nullptr, true, "Credential"},
    {"/credentials", "post", "Create an SMTP login; the password is shown once", 201,
     "NewCredential", false, "CreatedCredential"},
    {"/credentials/{username}", "delete", "Delete an SMTP login", 204, nullptr},
    {"/api-keys", "get", "List API keys (prefixes only)", 200, nullptr, true, "ApiKey"},
    {"/api-keys", "post", "Create an API key; the key is shown once", 201, nullptr, false,
     "CreatedApiKey"},
    {"/api-keys/{prefix}", "delete", "Revoke an API key by its 12-character prefix", 204, nullptr},
    {"/domains", "get", "List sending domains", 200, nullptr, true, "DomainSummary"},
    {"/domains", "post", "Add a sending domain (answers the DNS records to publish)", 201,
     "NewDomain", false, "Domain"},
    {"/domains/{domain}", "get", "A domain with its records and their check states", 200, nullptr,
     false, "Domain"},
    {"/domains/{domain}", "delete", "Remove a sending domain", 204, nullptr},
    {"/domains/{domain}/check", "post", "Check the domain's records in DNS now", 200, nullptr,
     false, "Domain"},
    {"/domains/{domain}/rotate", "post", "Rotate the DKIM key (new selector)", 200, nullptr, false,
     "Domain"},
    {"/senders", "get", "List registered senders", 200, nullptr, true, "Sender"},
    {"/senders", "post", "Register a sender; a verification link is emailed to it", 201,
     "NewSender", false, "Sender"},
    {"/senders/{address}", "get", "One registered sender", 200, nullptr, false, "Sender"},
    {"/senders/{address}", "delete", "Remove a registered sender", 204, nullptr},
    {"/settings", "get", "Delivery and report settings (secrets as set / not set)", 200, nullptr},
    {"/settings", "patch", "Change settings, all or nothing", 200, "Settings"},
    {"/settings/webhook-secret", "post", "Generate a webhook signing secret (shown once)", 200,
     nullptr},
    {"/settings/test-email", "post", "Send a test email now; the outcome is data", 200, "TestEmail",
     false, "TestEmailResult"},
    {"/suppressions", "get", "List suppressed recipients", 200, nullptr, true, "Suppression"},
    {"/suppressions", "post", "Suppress a recipient", 201, "NewSuppression", false, "Suppression"},
    {"/suppressions/{address}", "delete", "Remove a recipient from the suppression list", 204,
     nullptr},
    {"/messages", "get", "Search messages (recipient, bulkId, status, from, to)", 200, nullptr,
     true, "Message"},
    {"/messages", "post", "Send a message (JSON)", 200, "SendMessage"},
    {"/messages/{messageId}", "get", "A message with its events and webhook attempts", 200, nullptr,
     false, "MessageDetail"},
};

const Op kGlobalOps[] = {
    {"/accounts", "get", "List accounts (operator; an API key sees its own)", 200, nullptr, true,
     "Account"},
    {"/accounts", "post", "Create an account (operator); SMTP password shown once", 201,
     "NewAccount"},
    {"/accounts/{accountId}", "get", "One account", 200, nullptr, false, "Account"},
    {"/accounts/{accountId}", "delete", "Delete an account and all it owns (operator)", 204,
     nullptr},
};

json error_schema() {
  return {{"type", "object"},
          {"required", {"error"}},
          {"properties",
           {{"error",
             {{"type", "object"},
              {"required", {"code", "message"}},
              {"properties",
               {{"code",
                 {{"type", "string"},
                  {"enum",
                   {"bad_request", "unauthorized", "forbidden", "not_found", "conflict",
                    "method_not_allowed", "payload_too_large", "unavailable", "internal"}}}},
                {"message", {{"type", "string"}}}}}}}}}};
}

json str() { return {{"type", "string"}}; }

json schemas() {
  json s;
  s["Error"] = error_schema();
  s["NewAccount"] = {{"type", "object"}, {"required", {"name"}}, {"properties", {{"name", str()}}}};
  s["NewCredential"] = {{"type", "object"}, {"properties", {{"username", str()}}}};
  s["NewDomain"] = {{"type", "object"},
                    {"required", {"domain"}},
                    {"properties",
                     {{"domain", str()},
                      {"dkim", {{"type", "string"}, {"enum", {"direct", "delegated"}}}},
                      {"ed25519", {{"type", "boolean"}}},
                      {"verified", {{"type", "boolean"}, {"description", "operator only"}}}}}};
  s["NewSender"] = {{"type", "object"},
                    {"required", {"address"}},
                    {"properties",
                     {{"address", str()},
                      {"verified", {{"type", "boolean"}, {"description", "operator only"}}}}}};
  s["Settings"] = {{"type", "object"},
                   {"description",
                    "Keys: route, relay.host, relay.port, relay.security, relay.username, "
                    "relay.password, mail_from, cc, bcc, bounce_notices, notify_url, "
                    "report_format, intermediate_report, tracking_url, webhook_secret. "
                    "null or \"\" resets a key."},
                   {"additionalProperties", true}};
  s["TestEmail"] = {
      {"type", "object"}, {"required", {"to"}}, {"properties", {{"to", str()}, {"from", str()}}}};
  s["NewSuppression"] = {{"type", "object"},
                         {"required", {"address"}},
                         {"properties", {{"address", str()}, {"reason", str()}}}};
  json addr_list = {{"type", "array"}, {"items", str()}};
  s["SendMessage"] = {{"type", "object"},
                      {"required", {"from", "to"}},
                      {"properties",
                       {{"from", str()},
                        {"to", addr_list},
                        {"cc", addr_list},
                        {"bcc", addr_list},
                        {"replyTo", str()},
                        {"subject", str()},
                        {"text", str()},
                        {"html", str()},
                        {"attachments",
                         {{"type", "array"},
                          {"items",
                           {{"type", "object"},
                            {"properties",
                             {{"filename", str()},
                              {"contentType", str()},
                              {"content", {{"type", "string"}, {"format", "byte"}}}}}}}}},
                        {"headers", {{"type", "object"}, {"additionalProperties", str()}}},
                        {"bulkId", str()},
                        {"notifyUrl", str()},
                        {"notifyContentType", str()},
                        {"trackingUrl", str()},
                        {"callbackData", str()},
                        {"intermediateReport", {{"type", "boolean"}}}}}};
  // Answers.
  json time = {{"type", "string"}, {"format", "date-time"}};
  json ntime = {{"type", "string"}, {"format", "date-time"}, {"nullable", true}};
  json boolean = {{"type", "boolean"}};
  json integer = {{"type", "integer"}};
  auto obj = [](json props) { return json{{"type", "object"}, {"properties", std::move(props)}}; };
  s["Account"] = obj({{"id", integer}, {"name", str()}, {"code", str()}, {"createdAt", time}});
  s["Credential"] = obj({{"username", str()}, {"createdAt", time}});
  s["CreatedCredential"] = obj({{"username", str()}, {"password", str()}});
  s["ApiKey"] =
      obj({{"prefix", str()}, {"createdAt", time}, {"active", boolean}, {"revokedAt", ntime}});
  s["CreatedApiKey"] = obj({{"key", str()}, {"prefix", str()}});
  s["DomainSummary"] = obj({{"domain", str()},
                            {"verified", boolean},
                            {"dkim", str()},
                            {"ed25519", boolean},
                            {"recordsOk", integer},
                            {"states", {{"type", "object"}, {"additionalProperties", str()}}},
                            {"checkedAt", ntime}});
  json record = obj(
      {{"id", str()},
       {"type", str()},
       {"name", str()},
       {"value", str()},
       {"purpose", str()},
       {"status", {{"type", "string"}, {"enum", {"pending", "ok", "missing", "wrong", "error"}}}},
       {"found", str()}});
  s["Domain"] =
      obj({{"domain", str()},
           {"account", str()},
           {"verified", boolean},
           {"dkim", str()},
           {"ed25519", boolean},
           {"activeSelector", str()},
           {"rotationSelector", {{"type", "string"}, {"nullable", true}}},
           {"checkedAt", ntime},
           {"records", {{"type", "array"}, {"items", record}}},
           {"changes",
            {{"type", "array"}, {"items", obj({{"what", str()}, {"from", str()}, {"to", str()}})}}},
           {"dnsError", boolean}});
  s["Sender"] = obj({{"address", str()},
                     {"verified", boolean},
                     {"verificationSent", boolean},
                     {"verificationExpiresAt", time}});
  s["Suppression"] =
      obj({{"address", str()}, {"reason", str()}, {"queueId", str()}, {"createdAt", time}});
  s["TestEmailResult"] = obj(
      {{"outcome", {{"type", "string"}, {"enum", {"delivered", "deferred", "bounced", "error"}}}},
       {"code", integer},
       {"enhanced", str()},
       {"reply", str()},
       {"host", str()},
       {"tls", boolean},
       {"route", str()}});
  json message = obj({{"messageId", str()},
                      {"queueId", str()},
                      {"bulkId", str()},
                      {"sender", str()},
                      {"to", str()},
                      {"from", str()},
                      {"subject", str()},
                      {"status", str()},
                      {"callbackData", str()},
                      {"createdAt", time},
                      {"updatedAt", time}});
  s["Message"] = message;
  json detail = message;
  detail["properties"]["events"] = {{"type", "array"},
                                    {"items", obj({{"time", time},
                                                   {"recipient", str()},
                                                   {"event", str()},
                                                   {"attempt", integer},
                                                   {"code", integer},
                                                   {"enhanced", str()},
                                                   {"reply", str()},
                                                   {"mxHost", str()},
                                                   {"tls", boolean}})}};
  detail["properties"]["webhooks"] = {{"type", "array"},
                                      {"items", obj({{"kind", str()},
                                                     {"url", str()},
                                                     {"contentType", str()},
                                                     {"state", str()},
                                                     {"attempts", integer},
                                                     {"lastError", str()},
                                                     {"createdAt", time},
                                                     {"nextAttemptAt", time}})}};
  s["MessageDetail"] = detail;
  return s;
}

json operation(const Op& op, const std::string& full_path, bool auth, bool scoped_short) {
  json o{{"summary", op.summary}};
  json params = json::array();
  // Path parameters from the template.
  for (size_t i = full_path.find('{'); i != std::string::npos; i = full_path.find('{', i + 1)) {
    size_t end = full_path.find('}', i);
    params.push_back({{"name", full_path.substr(i + 1, end - i - 1)},
                      {"in", "path"},
                      {"required", true},
                      {"schema", str()}});
  }
  if (op.list) {
    params.push_back(
        {{"name", "limit"},
         {"in", "query"},
         {"schema", {{"type", "integer"}, {"minimum", 1}, {"maximum", 1000}, {"default", 50}}}});
    params.push_back({{"name", "cursor"}, {"in", "query"}, {"schema", str()}});
  }
  if (std::string(op.path) == "/messages" && std::string(op.method) == "get") {
    for (const char* q : {"recipient", "bulkId", "status", "from", "to"})
      params.push_back({{"name", q}, {"in", "query"}, {"schema", str()}});
  }
  if (!params.empty()) o["parameters"] = params;
  if (op.body)
    o["requestBody"] = {
        {"required", true},
        {"content",
         {{"application/json",
           {{"schema", {{"$ref", std::string("#/components/schemas/") + op.body}}}}}}}};
  json responses;
  const std::string code = std::to_string(op.success);
  responses[code] = {{"description", op.success == 204 ? "Done" : "OK"}};
  if (op.success != 204) {
    json schema = {{"type", "object"}};
    if (op.result) schema = {{"$ref", std::string("#/components/schemas/") + op.result}};
    if (op.list)
      schema = {{"type", "object"},
                {"properties",
                 {{"items", {{"type", "array"}, {"items", schema}}},
                  {"nextCursor", {{"type", "string"}, {"nullable", true}}}}}};
    responses[code]["content"] = {{"application/json", {{"schema", schema}}}};
  }
  responses["default"] = {
      {"description", "Error"},
      {"content", {{"application/json", {{"schema", {{"$ref", "#/components/schemas/Error"}}}}}}}};
  o["responses"] = responses;
  if (!auth) o["security"] = json::array();
  if (scoped_short)
    o["description"] =
        "Short form for an API key (its own account). The operator token uses "
        "/api/v1/accounts/{accountId}/... instead.";
  return o;
}
}  // namespace

nlohmann::json openapi_document(const std::string& public_url) {
  json paths = json::object();
  for (const auto& op : kGlobalOps) {
    std::string p = std::string("/api/v1") + op.path;
    paths[p][op.method] = operation(op, p, true, false);
  }
  for (const auto& op : kAccountOps) {
    std::string scoped = std::string("/api/v1/accounts/{accountId}") + op.path;
    paths[scoped][op.method] = operation(op, scoped, true, false);
    std::string short_form = std::string("/api/v1") + op.path;
    paths[short_form][op.method] = operation(op, short_form, true, true);
  }
  paths["/api/v1/openapi.json"]["get"] =
      operation({"/openapi.json", "get", "This document", 200, nullptr}, "/api/v1/openapi.json",
                false, false);
  paths["/v/{token}"]["get"] =
      operation({"/v/{token}", "get", "Sender verification link (HTML; 404 unknown, 410 expired)",
                 200, nullptr},
                "/v/{token}", false, false);
  paths["/t/o/{token}"]["get"] =
      operation({"/t/o/{token}", "get", "Open-tracking pixel (GIF)", 200, nullptr}, "/t/o/{token}",
                false, false);
  paths["/t/c/{token}"]["get"] =
      operation({"/t/c/{token}", "get", "Click-tracking redirect (302)", 302, nullptr},
                "/t/c/{token}", false, false);
  json doc{{"openapi", "3.0.3"},
           {"info",
            {{"title", "Tern API"},
             {"version", "1"},
             {"description",
              "Tern's REST API. Authenticate with 'Authorization: Bearer <token>': the operator "
              "token (every account) or an account's API key (its own account only). Lists "
              "page with ?limit= and ?cursor= and answer {\"items\":[...],\"nextCursor\":...}."}}},
           {"servers", json::array({{{"url", public_url.empty() ? "/" : public_url}}})},
           {"security", json::array({{{"bearer", json::array()}}})},
           {"paths", paths},
           {"components",
            {{"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}}},
             {"schemas", schemas()}}}};
  return doc;
}

net::HttpResponse handle_openapi(const ApiServices& svc) {
  return json_response(200, openapi_document(svc.public_url));
}

}  // namespace tern::api
