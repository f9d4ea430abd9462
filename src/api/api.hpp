// The HTTP surface besides /healthz and /metrics (SPEC §5–6, issue 5), as one handler the
// composition root mounts on net::HttpServer (handlers run on a pool: they may block):
//   /api/v1/...           REST API (JSON), bearer auth: operator token or an account's API key
//   /api/v1/openapi.json  OpenAPI 3 document (no auth)
//   /t/o/<token>, /t/c/<token>   open pixel and click redirect (tracking_endpoint.hpp)
//   /v/<token>            registered-sender verification link
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
#include <string>
#include <vector>

#include "net/http_server.hpp"
#include "report/target_policy.hpp"

namespace tern::store {
class Store;
class MessageLog;
class Outbox;
}  // namespace tern::store
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
};

// Everything under /api/v1, /t/ and /v/; 404 JSON for anything else.
net::HttpResponse handle(const ApiServices& svc, const net::HttpRequest& req);

// The OpenAPI document GET /api/v1/openapi.json answers (`tern openapi` prints it).
nlohmann::json openapi_document(const std::string& public_url);

}  // namespace tern::api
