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
  const char* id;      // operationId (account routes: the short form's; the long form adds
                       // "ForAccount")
  const char* summary;
  int success;                   // 200, 201, 202, 204, 302
  const char* body;              // schema name in components, or nullptr
  bool list = false;             // takes ?limit= and ?cursor=
  const char* result = nullptr;  // schema of the answer (of each item when list)
  const char* query = nullptr;   // other query parameters, comma-separated
  const char* media = nullptr;   // a success body that is not JSON ("message/rfc822")
};

// Routes of one account (both forms).
const Op kAccountOps[] = {
    {"/credentials", "get", "listCredentials", "List the account's SMTP logins", 200, nullptr, true,
     "Credential"},
    {"/credentials", "post", "createCredential", "Create an SMTP login; the password is shown once",
     201, "NewCredential", false, "CreatedCredential"},
    {"/credentials/{username}", "delete", "deleteCredential", "Delete an SMTP login", 204, nullptr},
    {"/api-keys", "get", "listApiKeys", "List API keys (prefixes only)", 200, nullptr, true,
     "ApiKey"},
    {"/api-keys", "post", "createApiKey", "Create an API key; the key is shown once", 201, nullptr,
     false, "CreatedApiKey"},
    {"/api-keys/{prefix}", "delete", "revokeApiKey",
     "Revoke an API key by its 12-character prefix (its console sessions end too)", 204, nullptr},
    {"/domains", "get", "listDomains", "List sending domains", 200, nullptr, true, "DomainSummary"},
    {"/domains", "post", "addDomain", "Add a sending domain (answers the DNS records to publish)",
     201, "NewDomain", false, "Domain"},
    {"/domains/{domain}", "get", "getDomain", "A domain with its records and their check states",
     200, nullptr, false, "Domain"},
    {"/domains/{domain}", "delete", "deleteDomain", "Remove a sending domain", 204, nullptr},
    {"/domains/{domain}/check", "post", "checkDomain", "Check the domain's records in DNS now", 200,
     nullptr, false, "Domain"},
    {"/domains/{domain}/rotate", "post", "rotateDomainKey", "Rotate the DKIM key (new selector)",
     200, nullptr, false, "Domain"},
    {"/senders", "get", "listSenders", "List registered senders", 200, nullptr, true, "Sender"},
    {"/senders", "post", "addSender", "Register a sender; a verification link is emailed to it",
     201, "NewSender", false, "Sender"},
    {"/senders/{address}", "get", "getSender", "One registered sender", 200, nullptr, false,
     "Sender"},
    {"/senders/{address}", "delete", "deleteSender", "Remove a registered sender", 204, nullptr},
    {"/settings", "get", "getSettings", "Delivery and report settings (secrets as set / not set)",
     200, nullptr, false, "SettingsView"},
    {"/settings", "patch", "patchSettings", "Change settings, all or nothing", 200, "Settings",
     false, "SettingsView"},
    {"/settings/webhook-secret", "post", "newWebhookSecret",
     "Generate a webhook signing secret (shown once)", 200, nullptr, false, "WebhookSecret"},
    {"/settings/test-email", "post", "sendTestEmail",
     "Send a test email now (one at a time per account); the outcome is data", 200, "TestEmail",
     false, "TestEmailResult"},
    {"/suppressions", "get", "listSuppressions",
     "List suppressed recipients by address (q: address contains, reason: reason contains)", 200,
     nullptr, true, "Suppression", "q,reason"},
    {"/suppressions", "post", "addSuppression", "Suppress a recipient", 201, "NewSuppression",
     false, "Suppression"},
    {"/suppressions/bulk", "post", "bulkSuppressions",
     "Add and remove up to 1000 addresses in one transaction", 200, "SuppressionBulk", false,
     "SuppressionBulkResult"},
    {"/suppressions/{address}", "delete", "deleteSuppression",
     "Remove a recipient from the suppression list", 204, nullptr},
    {"/messages", "get", "searchMessages", "Search messages (recipient, bulkId, status, from, to)",
     200, nullptr, true, "Message", "recipient,bulkId,status,from,to"},
    {"/messages", "post", "sendMessage", "Send a message (JSON)", 200, "SendMessage", false,
     "SendResult"},
    {"/messages/{messageId}", "get", "getMessage", "A message with its events and webhook attempts",
     200, nullptr, false, "MessageDetail"},
    {"/stats", "get", "getStats",
     "Delivery counters per hour or day (operator: /api/v1/stats = every account)", 200, nullptr,
     false, "Stats", "from,to,step"},
    {"/captured", "get", "listCaptured", "Mail kept by the sandbox route, newest first", 200,
     nullptr, true, "CapturedMessage"},
    {"/captured/{capturedId}", "get", "getCaptured",
     "A captured message: headers, text, HTML, attachments", 200, nullptr, false, "CapturedDetail"},
    {"/captured/{capturedId}/raw", "get", "getCapturedRaw",
     "A captured message as sent (message/rfc822 download)", 200, nullptr, false, nullptr, nullptr,
     "message/rfc822"},
    {"/captured/{capturedId}/html", "get", "getCapturedHtml",
     "A captured message's HTML part under a sandboxing CSP (for an <iframe sandbox>)", 200,
     nullptr, false, nullptr, nullptr, "text/html"},
    {"/webhooks/deliveries", "get", "listWebhookDeliveries",
     "The account's webhook deliveries (reports, tracking events), newest first", 200, nullptr,
     true, "WebhookDelivery"},
    {"/webhooks/deliveries/{deliveryId}", "get", "getWebhookDelivery", "One webhook delivery", 200,
     nullptr, false, "WebhookDelivery"},
    {"/webhooks/deliveries/{deliveryId}/retry", "post", "retryWebhookDelivery",
     "Send a webhook delivery again now (a given-up one is pending again)", 202, nullptr, false,
     "WebhookDelivery"},
    {"/webhooks/test", "post", "testWebhook",
     "One signed sample POST to the account's notify or tracking URL, now; the outcome is data",
     200, "WebhookTest", false, "WebhookTestResult"},
};

const Op kGlobalOps[] = {
    {"/accounts", "get", "listAccounts", "List accounts (operator; an API key sees its own)", 200,
     nullptr, true, "Account"},
    {"/accounts", "post", "createAccount", "Create an account (operator); SMTP password shown once",
     201, "NewAccount", false, "CreatedAccount"},
    {"/accounts/{accountId}", "get", "getAccount", "One account", 200, nullptr, false, "Account"},
    {"/accounts/{accountId}", "delete", "deleteAccount",
     "Delete an account and all it owns (operator)", 204, nullptr},
    {"/accounts/{accountId}/suspend", "post", "suspendAccount",
     "Suspend an account (operator): SMTP 550 5.7.1 and HTTP 403 for its own keys", 200,
     "Suspension", false, "Account"},
    {"/accounts/{accountId}/unsuspend", "post", "unsuspendAccount",
     "Lift an account's suspension (operator)", 200, nullptr, false, "Account"},
    {"/platform", "get", "getPlatform",
     "How to connect: host, listeners, AUTH methods, platform domains and route, limits", 200,
     nullptr, false, "Platform"},
    {"/queue", "get", "getQueueGroups", "The delivery queue by destination or account (operator)",
     200, nullptr, false, "QueueGroups", "by"},
    {"/queue/messages", "get", "listQueueMessages", "Queued messages, oldest first (operator)", 200,
     nullptr, true, "QueueMessage", "destination,account,state"},
    {"/queue/actions", "post", "queueAction",
     "Retry, hold, release or delete queued messages in bulk (operator)", 200, "QueueAction", false,
     "QueueActionResult"},
};

// The console's login: authenticated by its body or by the cookie, not by a bearer token.
const Op kSessionOps[] = {
    {"/session", "post", "createSession",
     "Log in to the console with the operator token, an API key or a one-time login code: sets "
     "the __Host-tern_session cookie",
     201, "Login", false, "Session"},
    {"/session", "get", "getSession", "The console session of the cookie (csrf included)", 200,
     nullptr, false, "Session"},
    {"/session", "delete", "deleteSession", "Log out: end the session, clear the cookie", 204,
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
                   {"bad_request", "sender_not_authorized", "unauthorized", "forbidden", "csrf",
                    "suspended", "quota_exceeded", "not_found", "conflict", "method_not_allowed",
                    "payload_too_large", "rate_limited", "too_many_requests", "unavailable",
                    "internal"}}}},
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
  {
    // PATCH: each key takes a string, a number, a boolean (on/off) or, for cc and bcc, an array
    // of strings; null or "" resets it.
    json any = {{"nullable", true},
                {"oneOf", json::array({str(),
                                       {{"type", "integer"}},
                                       {{"type", "boolean"}},
                                       {{"type", "array"}, {"items", str()}}})}};
    json props = json::object(), view = json::object();
    for (const char* k :
         {"route", "relay.host", "relay.port", "relay.security", "relay.username", "relay.password",
          "mail_from", "cc", "bcc", "bounce_notices", "notify_url", "report_format",
          "intermediate_report", "tracking_url", "webhook_secret"}) {
      props[k] = any;
      view[k] = str();
    }
    props["route"] = {
        {"type", "string"}, {"nullable", true}, {"enum", {"platform", "custom", "sandbox", ""}}};
    props["relay.security"] = {
        {"type", "string"}, {"nullable", true}, {"enum", {"none", "starttls", "tls", ""}}};
    props["report_format"] = {
        {"type", "string"}, {"nullable", true}, {"enum", {"json", "xml", ""}}};
    view["route"] = {{"type", "string"}, {"enum", {"platform", "custom", "sandbox"}}};
    view["relay.password"] = {{"type", "string"}, {"enum", {"set", "not set"}}};
    view["webhook_secret"] = {{"type", "string"}, {"enum", {"set", "not set"}}};
    s["Settings"] = {{"type", "object"},
                     {"description", "Keys to change; null or \"\" resets a key."},
                     {"properties", props},
                     {"additionalProperties", false}};
    s["SettingsView"] = {{"type", "object"},
                         {"description",
                          "Every key with defaults filled in, as text; secrets as \"set\" or "
                          "\"not set\"."},
                         {"required", json::array()},
                         {"properties", view}};
    for (auto& [k, v] : view.items()) s["SettingsView"]["required"].push_back(k);
  }
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
  json time = {{"type", "string"}, {"format", "date-time"}};
  json ntime = {{"type", "string"}, {"format", "date-time"}, {"nullable", true}};
  json boolean = {{"type", "boolean"}};
  json integer = {{"type", "integer"}};
  auto obj = [](json props) { return json{{"type", "object"}, {"properties", std::move(props)}}; };
  json nstr = {{"type", "string"}, {"nullable", true}};
  json nint = {{"type", "integer"}, {"nullable", true}};
  auto arr = [](json items) { return json{{"type", "array"}, {"items", std::move(items)}}; };
  auto ref = [](const char* name) {
    return json{{"$ref", std::string("#/components/schemas/") + name}};
  };
  s["Account"] = obj({{"id", integer},
                      {"name", str()},
                      {"code", str()},
                      {"createdAt", time},
                      {"suspended", boolean},
                      {"suspendedReason", nstr},
                      {"suspendedAt", ntime}});
  s["CreatedAccount"] =
      obj({{"account", ref("Account")}, {"username", str()}, {"password", str()}});
  s["WebhookSecret"] = obj({{"webhookSecret", str()}});
  s["SendResult"] =
      obj({{"bulkId", str()},
           {"messages",
            arr(obj({{"to", str()}, {"messageId", str()}, {"status", {{"type", "object"}}}}))}});
  s["Session"] = obj({{"kind", {{"type", "string"}, {"enum", {"operator", "account"}}}},
                      {"account", {{"allOf", json::array({ref("Account")})}, {"nullable", true}}},
                      {"csrf", str()},
                      {"idleExpiresAt", time},
                      {"expiresAt", time}});
  s["Platform"] =
      obj({{"hostname", str()},
           {"version", str()},
           {"publicUrl", str()},
           {"listeners",
            arr(obj({{"name", str()},
                     {"address", str()},
                     {"port", integer},
                     {"tls", {{"type", "string"}, {"enum", {"starttls", "implicit", "none"}}}}}))},
           {"authMethods", arr(str())},
           {"plaintextAuth", boolean},
           {"platformDomains", arr(str())},
           {"platformRoute", obj({{"kind", {{"type", "string"}, {"enum", {"mx", "smarthost"}}}},
                                  {"host", str()},
                                  {"port", integer},
                                  {"security", str()}})},
           {"dkimZone", str()},
           {"spfInclude", str()},
           {"limits", obj({{"maxMessageSize", integer},
                           {"maxRecipients", integer},
                           {"testEmailsPerMinute", integer},
                           {"maxUnverifiedDomains", integer},
                           {"capturedPerAccount", integer},
                           {"capturedMaxAgeSeconds", integer}})}});
  json counts = obj({{"accepted", integer},
                     {"delivered", integer},
                     {"deferred", integer},
                     {"bounced", integer},
                     {"expired", integer},
                     {"rejected", integer},
                     {"opened", integer},
                     {"clicked", integer}});
  json bucket = counts;
  bucket["properties"]["t"] = time;
  s["Stats"] = obj({{"step", {{"type", "string"}, {"enum", {"hour", "day"}}}},
                    {"from", time},
                    {"to", time},
                    {"series", arr(bucket)},
                    {"totals", counts},
                    {"bounceRate", {{"type", "number"}, {"nullable", true}}}});
  s["QueueGroups"] = obj({{"by", {{"type", "string"}, {"enum", {"destination", "account"}}}},
                          {"groups", arr(obj({{"key", str()},
                                              {"accountId", integer},
                                              {"messages", integer},
                                              {"recipients", integer},
                                              {"held", integer},
                                              {"oldestAt", ntime},
                                              {"nextAttemptAt", ntime}}))}});
  s["QueueMessage"] = obj({{"id", str()},
                           {"account", str()},
                           {"accountId", integer},
                           {"from", str()},
                           {"recipients", arr(obj({{"to", str()},
                                                   {"state", str()},
                                                   {"attempts", integer},
                                                   {"nextAttemptAt", ntime},
                                                   {"lastReply", str()},
                                                   {"destination", str()}}))},
                           {"createdAt", time},
                           {"held", boolean}});
  s["QueueActionResult"] = obj({{"action", str()}, {"count", integer}});
  s["WebhookDelivery"] =
      obj({{"id", str()},
           {"kind", {{"type", "string"}, {"enum", {"report", "tracking"}}}},
           {"url", str()},
           {"status", {{"type", "string"}, {"enum", {"pending", "failed", "given_up", "sent"}}}},
           {"attempts", integer},
           {"lastCode", nint},
           {"lastError", nstr},
           {"nextAttemptAt", ntime},
           {"createdAt", time},
           {"sentAt", ntime},
           {"messageId", str()},
           {"recipient", str()}});
  s["WebhookTestResult"] =
      obj({{"ok", boolean}, {"status", integer}, {"error", str()}, {"url", str()}});
  s["SuppressionBulkResult"] =
      obj({{"added", integer}, {"removed", integer}, {"invalid", arr(str())}});
  json captured = obj({{"id", str()},
                       {"queueId", str()},
                       {"messageId", str()},
                       {"from", str()},
                       {"sender", str()},
                       {"to", arr(str())},
                       {"subject", str()},
                       {"capturedAt", time},
                       {"size", integer}});
  s["CapturedMessage"] = captured;
  json cdetail = captured;
  cdetail["properties"]["headers"] = arr(obj({{"name", str()}, {"value", str()}}));
  cdetail["properties"]["text"] = nstr;
  cdetail["properties"]["html"] = nstr;
  cdetail["properties"]["attachments"] =
      arr(obj({{"filename", str()}, {"contentType", str()}, {"size", integer}}));
  cdetail["properties"]["truncated"] = boolean;
  s["CapturedDetail"] = cdetail;
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
       {"route", {{"type", "string"}, {"enum", {"platform", "smarthost", "custom", "sandbox"}}}}});
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

json operation(const Op& op, const std::string& full_path, bool auth, bool scoped_short,
               const std::string& id_suffix = "") {
  json o{{"summary", op.summary}, {"operationId", std::string(op.id) + id_suffix}};
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
    o["requestBody"] = {
        {"required", true},
        {"content",
         {{"application/json",
           {{"schema", {{"$ref", std::string("#/components/schemas/") + op.body}}}}}}}};
  json responses;
  const std::string code = std::to_string(op.success);
  responses[code] = {{"description", op.success == 204 ? "Done" : "OK"}};
  if (op.media) {
    responses[code]["content"] = {{op.media, {{"schema", {{"type", "string"}}}}}};
  } else if (op.success != 204) {
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
    paths[scoped][op.method] = operation(op, scoped, true, false, "ForAccount");
    std::string short_form = std::string("/api/v1") + op.path;
    paths[short_form][op.method] = operation(op, short_form, true, true);
  }
  paths["/api/v1/openapi.json"]["get"] =
      operation({"/openapi.json", "get", "getOpenApi", "This document", 200, nullptr},
                "/api/v1/openapi.json", false, false);
  paths["/v/{token}"]["get"] =
      operation({"/v/{token}", "get", "verifySender",
                 "Sender verification link (HTML; 404 unknown, 410 expired)", 200, nullptr, false,
                 nullptr, nullptr, "text/html"},
                "/v/{token}", false, false);
  paths["/t/o/{token}"]["get"] =
      operation({"/t/o/{token}", "get", "trackOpen", "Open-tracking pixel (GIF)", 200, nullptr,
                 false, nullptr, nullptr, "image/gif"},
                "/t/o/{token}", false, false);
  paths["/t/c/{token}"]["get"] = operation(
      {"/t/c/{token}", "get", "trackClick", "Click-tracking redirect (302)", 302, nullptr},
      "/t/c/{token}", false, false);
  json doc{
      {"openapi", "3.0.3"},
      {"info",
       {{"title", "Tern API"},
        {"version", "1"},
        {"description",
         "Tern's REST API. Authenticate with 'Authorization: Bearer <token>': the operator "
         "token (every account) or an account's API key (its own account only); the web "
         "console uses a session cookie from POST /api/v1/session instead. Lists page with "
         "?limit= and ?cursor= and answer {\"items\":[...],\"nextCursor\":...}."}}},
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
