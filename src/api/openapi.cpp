// GET /api/v1/openapi.json (and `tern openapi`): the OpenAPI 3.0 document of every route
// router.cpp serves, built from the tables below. Account-scoped routes appear twice:
// /api/v1/accounts/{accountId}/... (operator token, or an API key of that account) and the
// short /api/v1/... (API key only).
//
// Invariants (issue 14: client generators; checked by tests):
// - Every operation has a unique operationId, derived from its method and path (operation_id())
//   unless the table names one; every one declares its 4xx answers with the Error schema, its
//   success body with a named schema (or the real media type: HTML, GIF, a 302 redirect).
// - Response schemas list their required fields and no others (additionalProperties false), so
//   the integration test that validates live answers against them (test_openapi) catches drift.
// - The document is clean under Redocly's recommended rules (tests/openapi, in `make test`).
// A unit test walks this document against the router, so a route missing from either side
// fails it.
#include <cctype>

#include "api/resources.hpp"
#include "store/settings.hpp"

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
  // 4xx answers beyond those every operation of its kind has (401 with auth; 400 with a body or
  // query parameters; 404 with path parameters or an account in the path; 413 with a body),
  // e.g. "403 409".
  const char* errors = "";
  const char* operation_id = nullptr;  // nullptr: derived from method and path
  const char* query = nullptr;         // other query parameters, comma-separated
  const char* media = nullptr;         // a success body that is not JSON ("message/rfc822")
};

// Routes of one account (both forms).
const Op kAccountOps[] = {
    {"/credentials", "get", "List the account's SMTP logins", 200, nullptr, true, "Credential"},
    {"/credentials", "post", "Create an SMTP login; the password is shown once", 201,
     "NewCredential", false, "CreatedCredential", "409"},
    {"/credentials/{username}", "delete", "Delete an SMTP login", 204, nullptr},
    {"/api-keys", "get", "List API keys (prefixes only)", 200, nullptr, true, "ApiKey"},
    {"/api-keys", "post", "Create an API key; the key is shown once", 201, nullptr, false,
     "CreatedApiKey"},
    {"/api-keys/{prefix}", "delete",
     "Revoke an API key by its 12-character prefix (its console sessions end too)", 204, nullptr},
    {"/domains", "get", "List sending domains", 200, nullptr, true, "DomainSummary"},
    {"/domains", "post", "Add a sending domain (answers the DNS records to publish)", 201,
     "NewDomain", false, "Domain", "403 409 429"},
    {"/domains/{domain}", "get", "A domain with its records and their check states", 200, nullptr,
     false, "Domain"},
    {"/domains/{domain}", "delete", "Remove a sending domain", 204, nullptr},
    {"/domains/{domain}/check", "post", "Check the domain's records in DNS now", 200, nullptr,
     false, "Domain", "429"},
    {"/domains/{domain}/rotate", "post", "Rotate the DKIM key (new selector)", 200, nullptr, false,
     "Domain", "429"},
    {"/senders", "get", "List registered senders", 200, nullptr, true, "Sender"},
    {"/senders", "post", "Register a sender; a verification link is emailed to it", 201,
     "NewSender", false, "Sender", "403 409"},
    {"/senders/{address}", "get", "One registered sender", 200, nullptr, false, "Sender"},
    {"/senders/{address}", "delete", "Remove a registered sender", 204, nullptr},
    {"/settings", "get", "Delivery and report settings (secrets as set / not set)", 200, nullptr,
     false, "Settings"},
    {"/settings", "patch", "Change settings, all or nothing", 200, "SettingsPatch", false,
     "Settings"},
    {"/settings/webhook-secret", "post", "Generate a webhook signing secret (shown once)", 200,
     nullptr, false, "WebhookSecret"},
    {"/settings/test-email", "post",
     "Send a test email now (one at a time per account); the outcome is data", 200, "TestEmail",
     false, "TestEmailResult", "429"},
    {"/suppressions", "get",
     "List suppressed recipients by address (q: address contains, reason: reason contains)", 200,
     nullptr, true, "Suppression", "", nullptr, "q,reason"},
    {"/suppressions", "post", "Suppress a recipient", 201, "NewSuppression", false, "Suppression"},
    {"/suppressions/bulk", "post", "Add and remove up to 1000 addresses in one transaction", 200,
     "SuppressionBulk", false, "SuppressionBulkResult"},
    {"/suppressions/{address}", "delete", "Remove a recipient from the suppression list", 204,
     nullptr},
    {"/messages", "get", "Search messages (recipient, bulkId, status, from, to)", 200, nullptr,
     true, "Message"},
    {"/messages", "post", "Send a message (JSON)", 200, "SendMessage", false, "SendResult"},
    {"/messages/{messageId}", "get", "A message with its events and webhook attempts", 200, nullptr,
     false, "MessageDetail"},
    {"/stats", "get", "Delivery counters per hour or day (operator: /api/v1/stats = every account)",
     200, nullptr, false, "Stats", "", nullptr, "from,to,step"},
    {"/captured", "get", "Mail kept by the sandbox route, newest first", 200, nullptr, true,
     "CapturedMessage"},
    {"/captured/{capturedId}", "get", "A captured message: headers, text, HTML, attachments", 200,
     nullptr, false, "CapturedDetail"},
    {"/captured/{capturedId}/raw", "get", "A captured message as sent (message/rfc822 download)",
     200, nullptr, false, nullptr, "", nullptr, nullptr, "message/rfc822"},
    {"/captured/{capturedId}/html", "get",
     "A captured message's HTML part under a sandboxing CSP (for an <iframe sandbox>)", 200,
     nullptr, false, nullptr, "", nullptr, nullptr, "text/html"},
    {"/webhooks/deliveries", "get",
     "The account's webhook deliveries (reports, tracking events), newest first", 200, nullptr,
     true, "WebhookDelivery"},
    {"/webhooks/deliveries/{deliveryId}", "get", "One webhook delivery", 200, nullptr, false,
     "WebhookDelivery"},
    {"/webhooks/deliveries/{deliveryId}/retry", "post",
     "Send a webhook delivery again now (a given-up one is pending again)", 202, nullptr, false,
     "WebhookDelivery", "409"},
    {"/webhooks/test", "post",
     "One signed sample POST to the account's notify or tracking URL, now; the outcome is data",
     200, "WebhookTest", false, "WebhookTestResult", "429"},
};

const Op kGlobalOps[] = {
    {"/accounts", "get", "List accounts (operator; an API key sees its own)", 200, nullptr, true,
     "Account"},
    {"/accounts", "post", "Create an account (operator); SMTP password shown once", 201,
     "NewAccount", false, "CreatedAccount", "403 409"},
    {"/accounts/{accountId}", "get", "One account", 200, nullptr, false, "Account"},
    {"/accounts/{accountId}", "delete", "Delete an account and all it owns (operator)", 204,
     nullptr, false, nullptr, "403"},
    {"/accounts/{accountId}/suspend", "post",
     "Suspend an account (operator): SMTP 550 5.7.1 and HTTP 403 for its own keys", 200,
     "Suspension", false, "Account", "403"},
    {"/accounts/{accountId}/unsuspend", "post", "Lift an account's suspension (operator)", 200,
     nullptr, false, "Account", "403"},
    {"/platform", "get",
     "How to connect: host, listeners, AUTH methods, platform domains and route, limits", 200,
     nullptr, false, "Platform"},
    {"/queue", "get", "The delivery queue by destination or account (operator)", 200, nullptr,
     false, "QueueGroups", "403", nullptr, "by"},
    {"/queue/messages", "get", "Queued messages, oldest first (operator)", 200, nullptr, true,
     "QueueMessage", "403", nullptr, "destination,account,state"},
    {"/queue/actions", "post", "Retry, hold, release or delete queued messages in bulk (operator)",
     200, "QueueAction", false, "QueueActionResult", "403"},
};

// The console's login: authenticated by its body or by the cookie, not by a bearer token.
const Op kSessionOps[] = {
    {"/session", "post",
     "Log in to the console with the operator token, an API key or a one-time login code: sets "
     "the __Host-tern_session cookie",
     201, "Login", false, "Session", "401 403 429", "createSession"},
    {"/session", "get", "The console session of the cookie (csrf included)", 200, nullptr, false,
     "Session", "401", "getSession"},
    {"/session", "delete", "Log out: end the session, clear the cookie", 204, nullptr, false,
     nullptr, "403", "deleteSession"},
};

json str() { return {{"type", "string"}}; }
json ref(const std::string& name) { return {{"$ref", "#/components/schemas/" + name}}; }
json nullable(json s) {
  s["nullable"] = true;
  return s;
}
// An object schema of exactly these properties; `required` lists those always present.
json object(json props, std::vector<std::string> required) {
  json o{{"type", "object"}, {"additionalProperties", false}, {"properties", std::move(props)}};
  if (!required.empty()) o["required"] = required;
  return o;
}
// All properties required.
json record(json props) {
  std::vector<std::string> req;
  for (auto& [k, v] : props.items()) req.push_back(k);
  return object(std::move(props), std::move(req));
}

json error_schema() {
  return record(
      {{"error",
        record({{"code",
                 {{"type", "string"},
                  {"description",
                   "Machine-readable: bad_request, unauthorized, forbidden, not_found, conflict, "
                   "method_not_allowed, payload_too_large, quota_exceeded, rate_limited, "
                   "sender_not_authorized, too_many_requests, too_many_connections, "
                   "unavailable, internal; the console's: csrf, suspended."}}},
                {"message", {{"type", "string"}, {"description", "For people; may change."}}}})}});
}

// The console's answers (issue 13).
void console_schemas(json& s) {
  json time = {{"type", "string"}, {"format", "date-time"}};
  json ntime = nullable(time);
  json boolean = {{"type", "boolean"}};
  json integer = {{"type", "integer"}};
  json nstr = nullable(str());
  auto arr = [](json items) { return json{{"type", "array"}, {"items", std::move(items)}}; };
  s["Session"] =
      record({{"kind", {{"type", "string"}, {"enum", {"operator", "account"}}}},
              {"account",
               {{"type", "object"}, {"nullable", true}, {"allOf", json::array({ref("Account")})}}},
              {"csrf", str()},
              {"idleExpiresAt", time},
              {"expiresAt", time}});
  s["Platform"] = record(
      {{"hostname", str()},
       {"version", str()},
       {"publicUrl", str()},
       {"listeners",
        arr(record({{"name", str()},
                    {"address", str()},
                    {"port", integer},
                    {"tls", {{"type", "string"}, {"enum", {"starttls", "implicit", "none"}}}}}))},
       {"authMethods", arr(str())},
       {"plaintextAuth", boolean},
       {"platformDomains", arr(str())},
       {"platformRoute", object({{"kind", {{"type", "string"}, {"enum", {"mx", "smarthost"}}}},
                                 {"host", str()},
                                 {"port", integer},
                                 {"security", str()}},
                                {"kind"})},
       {"dkimZone", str()},
       {"spfInclude", str()},
       {"limits", record({{"maxMessageSize", integer},
                          {"maxRecipients", integer},
                          {"testEmailsPerMinute", integer},
                          {"maxUnverifiedDomains", integer},
                          {"capturedPerAccount", integer},
                          {"capturedMaxAgeSeconds", integer}})}});
  json counts = {{"accepted", integer}, {"delivered", integer}, {"deferred", integer},
                 {"bounced", integer},  {"expired", integer},   {"rejected", integer},
                 {"opened", integer},   {"clicked", integer}};
  json bucket = counts;
  bucket["t"] = time;
  s["Stats"] = record({{"step", {{"type", "string"}, {"enum", {"hour", "day"}}}},
                       {"from", time},
                       {"to", time},
                       {"series", arr(record(bucket))},
                       {"totals", record(counts)},
                       {"bounceRate", {{"type", "number"}, {"nullable", true}}}});
  s["QueueGroups"] = record({{"by", {{"type", "string"}, {"enum", {"destination", "account"}}}},
                             {"groups", arr(object({{"key", str()},
                                                    {"accountId", integer},
                                                    {"messages", integer},
                                                    {"recipients", integer},
                                                    {"held", integer},
                                                    {"oldestAt", ntime},
                                                    {"nextAttemptAt", ntime}},
                                                   {"key", "messages", "recipients", "held",
                                                    "oldestAt", "nextAttemptAt"}))}});
  s["QueueMessage"] = record({{"id", str()},
                              {"account", str()},
                              {"accountId", integer},
                              {"from", str()},
                              {"recipients", arr(record({{"to", str()},
                                                         {"state", str()},
                                                         {"attempts", integer},
                                                         {"nextAttemptAt", ntime},
                                                         {"lastReply", str()},
                                                         {"destination", str()}}))},
                              {"createdAt", time},
                              {"held", boolean}});
  s["QueueActionResult"] = record({{"action", str()}, {"count", integer}});
  s["QueueActionPending"] = object({{"action", str()},
                                    {"count", integer},
                                    {"status", {{"type", "string"}, {"enum", {"queued"}}}},
                                    {"pending", arr(record({{"node", str()}, {"alive", boolean}}))},
                                    {"message", str()},
                                    {"error", str()}},
                                   {"action", "count", "status", "pending", "message"});
  s["WebhookDelivery"] =
      object({{"id", str()},
              {"kind", {{"type", "string"}, {"enum", {"report", "tracking"}}}},
              {"url", str()},
              {"status", {{"type", "string"}, {"enum", {"pending", "failed", "given_up", "sent"}}}},
              {"attempts", integer},
              {"lastCode", nullable(integer)},
              {"lastError", nstr},
              {"nextAttemptAt", ntime},
              {"createdAt", time},
              {"sentAt", ntime},
              {"messageId", str()},
              {"recipient", str()}},
             {"id", "kind", "url", "status", "attempts", "lastCode", "lastError", "createdAt",
              "messageId", "recipient"});
  s["WebhookTestResult"] =
      record({{"ok", boolean}, {"status", integer}, {"error", str()}, {"url", str()}});
  s["SuppressionBulkResult"] =
      record({{"added", integer}, {"removed", integer}, {"invalid", arr(str())}});
  json captured = {{"id", str()},      {"queueId", str()},   {"messageId", str()},
                   {"from", str()},    {"sender", str()},    {"to", arr(str())},
                   {"subject", str()}, {"capturedAt", time}, {"size", integer}};
  s["CapturedMessage"] = record(captured);
  json cdetail = captured;
  cdetail["headers"] = arr(record({{"name", str()}, {"value", str()}}));
  cdetail["text"] = nstr;
  cdetail["html"] = nstr;
  cdetail["attachments"] =
      arr(record({{"filename", str()}, {"contentType", str()}, {"size", integer}}));
  cdetail["truncated"] = boolean;
  s["CapturedDetail"] = record(cdetail);
}

json schemas() {
  json s;
  json time = {{"type", "string"}, {"format", "date-time"}};
  json ntime = nullable(time);
  json boolean = {{"type", "boolean"}};
  json integer = {{"type", "integer"}};
  json strings = {{"type", "array"}, {"items", str()}};
  json one_or_many = {{"oneOf", {str(), strings}},
                      {"description", "One address, or a list of addresses"}};

  s["Error"] = error_schema();

  // Request bodies (unknown fields are ignored, so these stay open).
  s["NewAccount"] = {{"type", "object"}, {"required", {"name"}}, {"properties", {{"name", str()}}}};
  s["NewCredential"] = {{"type", "object"}, {"properties", {{"username", str()}}}};
  s["NewDomain"] = {{"type", "object"},
                    {"required", {"domain"}},
                    {"properties",
                     {{"domain", str()},
                      {"dkim", {{"type", "string"}, {"enum", {"direct", "delegated"}}}},
                      {"ed25519", boolean},
                      {"verified", {{"type", "boolean"}, {"description", "operator only"}}}}}};
  s["NewSender"] = {{"type", "object"},
                    {"required", {"address"}},
                    {"properties",
                     {{"address", str()},
                      {"verified", {{"type", "boolean"}, {"description", "operator only"}}}}}};
  // Settings: every key of store/settings.hpp, as GET shows it and as PATCH takes it.
  // null resets a key: each property is nullable (for a oneOf, its first branch: OpenAPI 3.0
  // allows "nullable" only beside "type").
  json on_off = {{"oneOf", {nullable(boolean), {{"type", "string"}, {"enum", {"on", "off"}}}}}};
  json one_or_many_or_null = {{"oneOf", {nullable(str()), strings}},
                              {"description", "One address, or a list of addresses"}};
  json patch_props = {
      {"route", {{"type", "string"}, {"enum", {"platform", "custom", "sandbox", ""}}}},
      {"relay.host", str()},
      {"relay.port",
       {{"oneOf", {nullable({{"type", "integer"}, {"minimum", 1}, {"maximum", 65535}}), str()}}}},
      {"relay.security", {{"type", "string"}, {"enum", {"none", "starttls", "tls", ""}}}},
      {"relay.username", str()},
      {"relay.password", {{"type", "string"}, {"description", "write only"}}},
      {"mail_from", str()},
      {"cc", one_or_many_or_null},
      {"bcc", one_or_many_or_null},
      {"bounce_notices", on_off},
      {"notify_url", str()},
      {"report_format", {{"type", "string"}, {"enum", {"json", "xml", ""}}}},
      {"intermediate_report", on_off},
      {"tracking_url", str()},
      {"webhook_secret",
       {{"type", "string"},
        {"description",
         "16 to 256 characters, write only; the old secret keeps signing too "
         "for [webhooks] secret_grace_s"}}}};
  for (auto& [k, v] : patch_props.items())
    if (v.contains("type")) v["nullable"] = true;
  s["SettingsPatch"] = {{"type", "object"},
                        {"description", "Keys to change; null or \"\" resets a key."},
                        {"minProperties", 1},
                        {"additionalProperties", false},
                        {"properties", patch_props}};
  json shown = json::object();
  for (const auto& key : store::setting_keys())
    shown[key] = store::is_secret_key(key)
                     ? json{{"type", "string"}, {"enum", {"set", "not set"}}}
                     : json{{"type", "string"}, {"description", "The value, or its default"}};
  s["Settings"] = record(shown);
  s["WebhookSecret"] = record({{"webhookSecret", str()}});
  s["TestEmail"] = {
      {"type", "object"}, {"required", {"to"}}, {"properties", {{"to", str()}, {"from", str()}}}};
  s["NewSuppression"] = {{"type", "object"},
                         {"required", {"address"}},
                         {"properties", {{"address", str()}, {"reason", str()}}}};
  s["SendMessage"] = {{"type", "object"},
                      {"required", {"from", "to"}},
                      {"properties",
                       {{"from", str()},
                        {"to", one_or_many},
                        {"cc", one_or_many},
                        {"bcc", one_or_many},
                        {"replyTo", str()},
                        {"subject", str()},
                        {"text", str()},
                        {"html", str()},
                        {"attachments",
                         {{"type", "array"},
                          {"items",
                           {{"type", "object"},
                            {"required", {"content"}},
                            {"properties",
                             {{"filename", str()},
                              {"contentType", str()},
                              {"content", {{"type", "string"}, {"format", "byte"}}}}}}}}},
                        {"headers", {{"type", "object"}, {"additionalProperties", str()}}},
                        {"bulkId", str()},
                        {"notifyUrl", str()},
                        {"notifyContentType",
                         {{"type", "string"}, {"enum", {"application/json", "application/xml"}}}},
                        {"trackingUrl", str()},
                        {"callbackData", str()},
                        {"intermediateReport", boolean}}}};
  s["Suspension"] = {{"type", "object"},
                     {"required", {"reason"}},
                     {"properties", {{"reason", {{"type", "string"}, {"maxLength", 200}}}}}};
  s["Login"] = {{"type", "object"},
                {"description", "Exactly one of token (operator token or API key) and code."},
                {"properties", {{"token", str()}, {"code", str()}}}};
  s["SuppressionBulk"] = {{"type", "object"},
                          {"properties",
                           {{"add", {{"type", "array"}, {"items", str()}, {"maxItems", 1000}}},
                            {"remove", {{"type", "array"}, {"items", str()}, {"maxItems", 1000}}},
                            {"reason", str()}}}};
  s["QueueAction"] = {
      {"type", "object"},
      {"required", {"action"}},
      {"description", "action and exactly one of ids, destination, account."},
      {"properties",
       {{"action", {{"type", "string"}, {"enum", {"retry", "hold", "release", "delete"}}}},
        {"ids", {{"type", "array"}, {"items", str()}, {"maxItems", 1000}}},
        {"destination", str()},
        {"account",
         {{"description", "account id or name"}, {"oneOf", {str(), {{"type", "integer"}}}}}}}}};
  s["WebhookTest"] = {
      {"type", "object"},
      {"properties", {{"kind", {{"type", "string"}, {"enum", {"report", "tracking"}}}}}}};

  // Answers.
  s["Account"] = record({{"id", integer},
                         {"name", str()},
                         {"code", str()},
                         {"createdAt", time},
                         {"suspended", boolean},
                         {"suspendedReason", nullable(str())},
                         {"suspendedAt", ntime}});
  s["CreatedAccount"] =
      record({{"account", ref("Account")}, {"username", str()}, {"password", str()}});
  s["Credential"] = record({{"username", str()}, {"createdAt", time}});
  s["CreatedCredential"] = record({{"username", str()}, {"password", str()}});
  s["ApiKey"] =
      record({{"prefix", str()}, {"createdAt", time}, {"active", boolean}, {"revokedAt", ntime}});
  s["CreatedApiKey"] = record({{"key", str()}, {"prefix", str()}});
  s["DomainSummary"] = object({{"domain", str()},
                               {"verified", boolean},
                               {"dkim", str()},
                               {"ed25519", boolean},
                               {"recordsOk", integer},
                               {"states", {{"type", "object"}, {"additionalProperties", str()}}},
                               {"checkedAt", ntime}},
                              {"domain", "verified"});
  s["DnsRecord"] = object(
      {{"id", str()},
       {"type", str()},
       {"name", str()},
       {"value", str()},
       {"purpose", str()},
       {"status", {{"type", "string"}, {"enum", {"pending", "ok", "missing", "wrong", "error"}}}},
       {"found", str()}},
      {"id", "type", "name", "value", "purpose", "status"});
  s["Domain"] = object(
      {{"domain", str()},
       {"account", str()},
       {"verified", boolean},
       {"dkim", str()},
       {"ed25519", boolean},
       {"activeSelector", str()},
       {"rotationSelector", nullable(str())},
       {"checkedAt", ntime},
       {"records", {{"type", "array"}, {"items", ref("DnsRecord")}}},
       {"changes",
        {{"type", "array"}, {"items", record({{"what", str()}, {"from", str()}, {"to", str()}})}}},
       {"dnsError", boolean}},
      {"domain", "account", "verified", "dkim", "ed25519", "activeSelector", "rotationSelector",
       "checkedAt", "records"});
  s["Sender"] = object({{"address", str()},
                        {"verified", boolean},
                        {"verificationSent", boolean},
                        {"verificationExpiresAt", time}},
                       {"address", "verified"});
  s["Suppression"] =
      record({{"address", str()}, {"reason", str()}, {"queueId", str()}, {"createdAt", time}});
  s["TestEmailResult"] = record(
      {{"outcome", {{"type", "string"}, {"enum", {"delivered", "deferred", "bounced", "error"}}}},
       {"code", integer},
       {"enhanced", str()},
       {"reply", str()},
       {"host", str()},
       {"tls", boolean},
       {"route", str()}});
  s["MessageStatus"] = record({{"groupId", integer},
                               {"groupName", str()},
                               {"id", integer},
                               {"name", str()},
                               {"description", str()}});
  s["SendResult"] = record(
      {{"bulkId", str()},
       {"messages",
        {{"type", "array"},
         {"items",
          record({{"to", str()}, {"messageId", str()}, {"status", ref("MessageStatus")}})}}}});
  json message = {
      {"messageId", str()},
      {"queueId", str()},
      {"bulkId", str()},
      {"sender", str()},
      {"to", str()},
      {"from", str()},
      {"subject", str()},
      {"status",
       {{"type", "string"},
        {"enum", {"accepted", "deferred", "delivered", "bounced", "expired", "rejected"}}}},
      {"callbackData", str()},
      {"createdAt", time},
      {"updatedAt", time},
      // The node that accepted the message and holds it in its spool ("" before node ids).
      {"node", str()}};
  s["Message"] = record(message);
  s["DeliveryEvent"] = record({{"time", time},
                               {"recipient", str()},
                               {"event", str()},
                               {"attempt", integer},
                               {"code", integer},
                               {"enhanced", str()},
                               {"reply", str()},
                               {"mxHost", str()},
                               {"tls", boolean}});
  s["WebhookAttempts"] = record({{"kind", {{"type", "string"}, {"enum", {"report", "tracking"}}}},
                                 {"url", str()},
                                 {"contentType", str()},
                                 {"state", str()},
                                 {"attempts", integer},
                                 {"lastError", str()},
                                 {"createdAt", time},
                                 {"nextAttemptAt", time}});
  json detail = message;
  detail["events"] = {{"type", "array"}, {"items", ref("DeliveryEvent")}};
  detail["webhooks"] = {{"type", "array"}, {"items", ref("WebhookAttempts")}};
  s["MessageDetail"] = record(detail);
  console_schemas(s);
  s["OpenApiDocument"] = {
      {"type", "object"},
      {"required", {"openapi", "info", "paths"}},
      {"properties",
       {{"openapi", str()}, {"info", {{"type", "object"}}}, {"paths", {{"type", "object"}}}}}};
  return s;
}

// "getAccountsDomainsCheck"-like names: the method (list for a paged GET), then each fixed path
// segment after /api/v1 capitalized, each parameter as "By<Name>". Unique because (method, path)
// is; stable because paths are.
std::string operation_id(const Op& op, const std::string& full_path) {
  std::string id = op.list ? "list" : op.method;
  std::string_view p = full_path;
  if (p.starts_with("/api/v1")) p.remove_prefix(7);
  bool upper = true;
  for (size_t i = 0; i < p.size(); ++i) {
    char ch = p[i];
    if (ch == '/' || ch == '-' || ch == '.' || ch == '_') {
      upper = true;
      continue;
    }
    if (ch == '{') {
      id += "By";
      upper = true;
      continue;
    }
    if (ch == '}') continue;
    id += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(ch))) : ch;
    upper = false;
  }
  return id;
}

json error_answer(const char* description) {
  return {{"description", description},
          {"content", {{"application/json", {{"schema", ref("Error")}}}}}};
}

const char* error_text(int status) {
  switch (status) {
    case 400:
      return "Bad request: the message names the field (also a malformed HTTP request)";
    case 401:
      return "No or unknown bearer token";
    case 403:
      return "Not allowed for this principal, or over a quota";
    case 404:
      return "No such resource (also another account's)";
    case 409:
      return "Conflicts with an existing resource";
    case 410:
      return "Gone";
    case 413:
      return "Request body too large";
    case 429:
      return "Too many requests: slow calls per account, or a per-minute limit";
    default:
      return "Error";
  }
}

json operation(const Op& op, const std::string& full_path, bool auth, bool scoped_short) {
  json o{{"summary", op.summary},
         {"operationId",
          op.operation_id ? std::string(op.operation_id) : operation_id(op, full_path)}};
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
  if (op.query) {
    std::string_view q = op.query;
    while (!q.empty()) {
      const size_t comma = q.find(',');
      params.push_back(
          {{"name", std::string(q.substr(0, comma))}, {"in", "query"}, {"schema", str()}});
      q = comma == std::string_view::npos ? std::string_view{} : q.substr(comma + 1);
    }
  }
  if (!params.empty()) o["parameters"] = params;
  if (op.body)
    o["requestBody"] = {{"required", true},
                        {"content", {{"application/json", {{"schema", ref(op.body)}}}}}};
  json responses;
  const std::string code = std::to_string(op.success);
  responses[code] = {{"description", op.success == 204 ? "Done" : "OK"}};
  if (op.media) {
    responses[code]["content"] = {{op.media, {{"schema", str()}}}};
  } else if (op.success != 204) {
    json schema = op.result ? ref(op.result) : json{{"type", "object"}};
    if (op.list)
      schema = record(
          {{"items", {{"type", "array"}, {"items", schema}}}, {"nextCursor", nullable(str())}});
    responses[code]["content"] = {{"application/json", {{"schema", schema}}}};
  }
  // A region: a queue action whose holders have not all answered in time (app/queue_router).
  if (std::string_view(op.path) == "/queue/actions")
    responses["202"] = {
        {"description",
         "Several nodes: a node holding picked messages has not answered within 3 s or is down; "
         "its command stays queued for it"},
        {"content", {{"application/json", {{"schema", ref("QueueActionPending")}}}}}};
  // 4xx: what every operation of its kind can answer, plus the table's extras.
  std::vector<int> errors;
  if (auth) errors.push_back(401);
  if (op.body || !params.empty()) errors.push_back(400);
  if (full_path.find('{') != std::string::npos) errors.push_back(404);
  if (op.body) errors.push_back(413);
  for (const char* e = op.errors; *e;) {
    while (*e == ' ') ++e;
    if (!*e) break;
    errors.push_back(std::atoi(e));
    while (*e && *e != ' ') ++e;
  }
  for (int status : errors) responses[std::to_string(status)] = error_answer(error_text(status));
  responses["default"] = error_answer("Any other error (503 unavailable, 500 internal)");
  o["responses"] = responses;
  if (!auth) o["security"] = json::array();
  if (scoped_short)
    o["description"] =
        "Short form for an API key (its own account). The operator token uses "
        "/api/v1/accounts/{accountId}/... instead.";
  return o;
}

// The routes outside /api/v1/... that are not JSON: their real media types and statuses.
void add_public_routes(json& paths) {
  json token = json::array({{{"name", "token"},
                             {"in", "path"},
                             {"required", true},
                             {"schema", str()},
                             {"description", "Signed token from the email"}}});
  json html = {{"text/html", {{"schema", str()}}}};
  paths["/v/{token}"]["get"] = {
      {"summary", "Sender verification link: verifies the sender and answers a page"},
      {"operationId", "verifySender"},
      {"security", json::array()},
      {"parameters", token},
      {"responses",
       {{"200", {{"description", "Verified (HTML page)"}, {"content", html}}},
        {"404", {{"description", "Unknown, used or forged link (HTML page)"}, {"content", html}}},
        {"410", {{"description", "Expired link (HTML page)"}, {"content", html}}}}}};
  paths["/t/o/{token}"]["get"] = {
      {"summary", "Open-tracking pixel: records an open, answers a 1x1 GIF"},
      {"operationId", "trackOpen"},
      {"security", json::array()},
      {"parameters", token},
      {"responses",
       {{"200",
         {{"description", "The pixel"},
          {"content", {{"image/gif", {{"schema", {{"type", "string"}, {"format", "binary"}}}}}}}}},
        {"404", error_answer("Unknown or forged token")},
        {"default", error_answer("Any other error (503 unavailable, 500 internal)")}}}};
  paths["/t/c/{token}"]["get"] = {
      {"summary", "Click-tracking redirect: records a click, redirects to the link"},
      {"operationId", "trackClick"},
      {"security", json::array()},
      {"parameters", token},
      {"responses",
       {{"302",
         {{"description", "Redirect to the original link"},
          {"headers",
           {{"Location",
             {{"description", "The link the recipient clicked"},
              {"schema", {{"type", "string"}, {"format", "uri"}}}}}}}}},
        {"404", error_answer("Unknown or forged token, or an unsafe link")},
        {"default", error_answer("Any other error (503 unavailable, 500 internal)")}}}};
}
}  // namespace

nlohmann::json openapi_document(const std::string& public_url) {
  json paths = json::object();
  for (const auto& op : kGlobalOps) {
    std::string p = std::string("/api/v1") + op.path;
    paths[p][op.method] = operation(op, p, true, false);
  }
  for (const auto& op : kSessionOps) {
    std::string p = std::string("/api/v1") + op.path;
    json o = operation(op, p, false, false);
    o["description"] =
        "The console's cookie login (issue 13). Cookie requests that change state need "
        "X-Tern-CSRF (the session's csrf) and Sec-Fetch-Site: same-origin (or an Origin of this "
        "server); otherwise 403 csrf. Logins are rate limited per client address (429).";
    paths[p][op.method] = std::move(o);
  }
  for (const auto& op : kAccountOps) {
    std::string scoped = std::string("/api/v1/accounts/{accountId}") + op.path;
    paths[scoped][op.method] = operation(op, scoped, true, false);
    std::string short_form = std::string("/api/v1") + op.path;
    paths[short_form][op.method] = operation(op, short_form, true, true);
  }
  paths["/api/v1/openapi.json"]["get"] =
      operation({"/openapi.json", "get", "This document", 200, nullptr, false, "OpenApiDocument",
                 "400", "getOpenApiDocument"},
                "/api/v1/openapi.json", false, false);
  add_public_routes(paths);
  json doc{
      {"openapi", "3.0.3"},
      {"info",
       {{"title", "Tern API"},
        {"version", "1"},
        {"description",
         "Tern's REST API. Authenticate with 'Authorization: Bearer <token>': the operator "
         "token (every account) or an account's API key (its own account only); the web "
         "console uses a session cookie from POST /api/v1/session instead. Lists page with ?limit= "
         "and ?cursor= and answer {\"items\":[...],\"nextCursor\":...}. "
         "Errors answer {\"error\":{\"code\",\"message\"}}."}}},
      {"servers", json::array({{{"url", public_url.empty() ? "/" : public_url}}})},
      {"security", json::array({{{"bearer", json::array()}}, {{"session", json::array()}}})},
      {"paths", paths},
      {"components",
       {{"securitySchemes",
         {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}},
          {"session", {{"type", "apiKey"}, {"in", "cookie"}, {"name", "__Host-tern_session"}}}}},
        {"schemas", schemas()}}}};
  return doc;
}

net::HttpResponse handle_openapi(const ApiServices& svc) {
  return json_response(200, openapi_document(svc.public_url));
}

}  // namespace tern::api
