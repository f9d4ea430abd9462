// GET /api/v1/platform (any authenticated caller; issue 13): what the seed page shows about
// how to connect — host, listeners and their TLS mode, AUTH methods, platform domains, the
// platform route without credentials, DKIM zone, limits, version. Never a secret: the
// smarthost's username and password are not part of PlatformInfo at all.
#include "api/resources.hpp"

namespace tern::api {

net::HttpResponse handle_platform(const ApiServices& svc, const net::HttpRequest& req) {
  if (req.method != "GET" && req.method != "HEAD") return method_not_allowed("GET");
  const auto& p = svc.platform;
  nlohmann::json listeners = nlohmann::json::array();
  for (const auto& l : p.listeners)
    listeners.push_back(
        {{"name", l.name}, {"address", l.address}, {"port", l.port}, {"tls", l.tls}});
  nlohmann::json route = {{"kind", p.route_kind}};
  if (p.route_kind == "smarthost") {
    route["host"] = p.route_host;
    route["port"] = p.route_port;
    route["security"] = p.route_security;
  }
  return json_response(200, {{"hostname", p.hostname.empty() ? svc.hostname : p.hostname},
                             {"version", p.version},
                             {"publicUrl", svc.public_url},
                             {"listeners", listeners},
                             {"authMethods", p.auth_methods},
                             {"plaintextAuth", p.plaintext_auth},
                             {"platformDomains", svc.platform_domains},
                             {"platformRoute", route},
                             {"dkimZone", svc.dkim_zone},
                             {"spfInclude", svc.spf_include},
                             {"limits",
                              {{"maxMessageSize", p.max_message_size},
                               {"maxRecipients", p.max_recipients},
                               {"testEmailsPerMinute", p.test_emails_per_minute},
                               {"maxUnverifiedDomains", p.max_unverified_domains},
                               {"capturedPerAccount", p.captured_per_account},
                               {"capturedMaxAgeSeconds", p.captured_max_age_s}}}});
}

}  // namespace tern::api
