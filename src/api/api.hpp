// The HTTP surface besides /healthz and /metrics (SPEC §5–6, issue 5), as one handler the
// composition root mounts on net::HttpServer (handlers run on a pool: they may block):
//   /api/v1/...           REST API (JSON), bearer auth: operator token or an account's API key
//   /api/v1/openapi.json  OpenAPI 3 document (no auth)
//   /t/o/<token>, /t/c/<token>   open pixel and click redirect (tracking_endpoint.hpp)
//   /v/<token>            registered-sender verification link
//   /, /console/...       the web console, embedded at build time (console_assets.hpp)
//
// Errors are JSON {"error":{"code","message"}}; list endpoints page with ?limit= and ?cursor=
// and answer {"items":[...],"nextCursor":"..."}. The operator token reaches every account; an
// API key reaches only its own account: another account's resource is 404, never 403, so ids
// cannot be probed.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "net/http_server.hpp"
#include "report/target_policy.hpp"

namespace tern::store {
class Store;
class MessageLog;
class Outbox;
class SessionService;
class SuspensionService;
class SuppressionService;
class StatsService;
class CaptureService;
}  // namespace tern::store
namespace tern::policy {
class AuthLimiter;
}
namespace tern::delivery {
class QueueControl;
}
namespace tern::pipeline {
class Submission;
}
namespace tern::core {
class Clock;
}
namespace tern::dns {
class Resolver;
}

namespace tern::api {

class SlowGate;

// What `POST /api/v1/settings/test-email` and `tern account test-email` report: the outcome of
// one delivery attempt through the account's configured route, made now.
struct TestEmailResult {
  std::string outcome;   // "delivered", "deferred" (temporary failure), "bounced", "error";
                         // not sent: "refused" (sender policy), "rate_limited"
  int code = 0;          // remote reply code, 0 = none
  std::string enhanced;  // "2.0.0"
  std::string reply;     // remote reply text or local reason
  std::string host;      // the server that answered
  bool tls = false;
  std::string route;  // "platform", "smarthost" or "custom"
};

// What GET /api/v1/platform shows (CONSOLE.md, the seed page): how to connect, never a secret.
struct PlatformInfo {
  struct Listener {
    std::string name;     // "smtp", "submission", "submissions"
    std::string address;  // as configured ("127.0.0.1")
    int port = 0;
    std::string tls;  // "starttls", "implicit" or "none"
  };
  std::string hostname, version, public_url, dkim_zone;
  std::vector<Listener> listeners;
  std::vector<std::string> auth_methods;
  bool plaintext_auth = false;  // AUTH allowed before TLS
  std::vector<std::string> platform_domains;
  // The platform route: "mx" (direct) or "smarthost" with host, port, security (no username,
  // no password).
  std::string route_kind = "mx";
  std::string route_host, route_security;
  int route_port = 0;
  size_t max_message_size = 0, max_recipients = 0;
  int test_emails_per_minute = 0, max_unverified_domains = 0;
  size_t captured_per_account = 0;
  int64_t captured_max_age_s = 0;
};

// The outcome of POST /webhooks/test: one signed POST to the account's URL, made now.
struct WebhookTestResult {
  bool ok = false;
  int status = 0;          // HTTP status, 0 = none
  std::string error;       // "" when 2xx
  std::string url;         // where it went ("" when the account has none)
  bool configured = true;  // false: the account has no URL of that kind (error says which)
};

struct ApiServices {
  store::Store* store = nullptr;
  store::MessageLog* messages = nullptr;
  store::Outbox* outbox = nullptr;
  pipeline::Submission* submission = nullptr;
  core::Clock* clock = nullptr;
  std::string admin_token;      // operator bearer token
  std::string public_url;       // base of /v/ and /t/ links
  std::string hostname;         // Tern's own mail: noreply@<hostname>
  std::string tracking_secret;  // tracking::verify_token key
  // Domains: DNS checks use a fresh resolver on this address ("" = system).
  std::string dns_resolver;
  // Seam for tests: when set, domain checks use the resolver it makes instead.
  std::function<std::unique_ptr<dns::Resolver>()> make_resolver;
  std::string dkim_zone, spf_include;
  std::vector<std::string> sending_ips;
  std::vector<std::string> platform_domains;
  // Where settings may point (PATCH /settings): [webhooks] rules for notify_url/tracking_url,
  // [delivery] relay_allow for relay.host.
  report::TargetPolicy webhook_policy, relay_policy;
  int max_unverified_domains = 0;  // [limits]; 0 = no quota
  // Sends one test message now through the account's route (the delivery engine); blocks.
  std::function<TestEmailResult(int64_t account_id, const std::string& from, const std::string& to)>
      test_email;
  // Bounds the slow calls (slow_calls.hpp: test email, domain checks, key generation) of one
  // account in flight at once; null: unbounded (unit tests).
  SlowGate* slow_gate = nullptr;
  // Wakes the webhook sender after tracking events were enqueued (may be empty).
  std::function<void()> webhooks_enqueued;

  // --- The console (issue 13) ---
  store::SessionService* sessions = nullptr;  // null: no cookie sessions (POST /session → 503)
  store::SuspensionService* suspensions = nullptr;
  store::StatsService* stats = nullptr;
  store::CaptureService* captured = nullptr;
  store::SuppressionService* suppression_list = nullptr;
  // Failed console logins per client address (like SMTP AUTH); null: unlimited (unit tests).
  policy::AuthLimiter* login_limiter = nullptr;
  // A suspension changed (reason, or nullopt: lifted): the SMTP side's cache follows at once.
  std::function<void(int64_t account_id, const std::optional<std::string>& reason)>
      suspension_changed;
  // The account's settings were written: the delivery engine and the report thread read them
  // again at once instead of using their copies (up to 30 s old).
  std::function<void(int64_t account_id)> settings_changed;
  PlatformInfo platform;
  // The test email without holding a thread: starts the attempt and calls done (any thread,
  // exactly once, within the engine's time limit; outcome "busy" while the account's previous
  // one is under way). When set, POST /settings/test-email uses it (answering through
  // HttpResponse::later) instead of test_email.
  std::function<void(int64_t account_id, const std::string& from, const std::string& to,
                     std::function<void(TestEmailResult)> done)>
      test_email_async;
  // At most one webhook test of an account at a time; null: unbounded.
  SlowGate* webhook_test_gate = nullptr;
  // One signed test POST to the account's report or tracking URL; done once (any thread).
  std::function<void(int64_t account_id, const std::string& kind,
                     std::function<void(WebhookTestResult)> done)>
      webhook_test;
  delivery::QueueControl* queue = nullptr;  // the operator's queue view and actions
};

// Everything under /api/v1, /t/, /v/ and /console/; 404 JSON for anything else.
net::HttpResponse handle(const ApiServices& svc, const net::HttpRequest& req);

// The OpenAPI document GET /api/v1/openapi.json answers (`tern openapi` prints it).
nlohmann::json openapi_document(const std::string& public_url);

}  // namespace tern::api
