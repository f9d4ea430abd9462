// From a delivery route to the endpoints a connection may use (SPEC §4), and from the SMTP
// client's outcome to a delivery outcome. Shared by the delivery driver and the test email.
//
// resolve_target() blocks (DNS look-ups): call it on a pool, never on the connection thread.
//  - MX route: dns::plan_mx (MX records, null MX, implicit MX, address limits), opportunistic
//    STARTTLS.
//  - Relay route (the customer's server or the smarthost): every resolved address is judged
//    before it becomes an endpoint, so nothing else is ever connected to. A customer's relay
//    follows the webhook SSRF rules (report/target_policy; the operator's relay_allow are the
//    exceptions); the smarthost is the operator's own and is not checked. A relay that is one
//    of Tern's own listeners fails permanently (5.4.6: mail would loop).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/outcome.hpp"
#include "delivery/route.hpp"
#include "net/smtp_client.hpp"
#include "report/target_policy.hpp"
#include "smtp/client_session.hpp"

namespace tern::dns {
class Resolver;
}

namespace tern::net {

struct TargetContext {
  dns::Resolver* resolver = nullptr;  // blocking, thread-safe
  std::string hostname;               // loop detection
  std::string helo_name;
  int connect_timeout_s = 30;
  int command_timeout_s = 300;
  int data_timeout_s = 600;
  bool reject_loopback_mx = false;
  report::TargetPolicy relay_policy;
  std::vector<std::pair<std::string, uint16_t>> own_listeners;
};

// Endpoints for the route, or the outcome that ends the attempt (DNS failure, refused relay).
std::variant<ClientTarget, core::DeliveryOutcome> resolve_target(const TargetContext& ctx,
                                                                 const delivery::Route& rt,
                                                                 uint64_t seed);

// The client's outcome as a delivery outcome (reply text without its codes, phase names as
// core::DeliveryOutcome has them, the host that answered).
core::DeliveryOutcome to_outcome(const smtp::client::Outcome& o, const ClientPeer& peer);

}  // namespace tern::net
