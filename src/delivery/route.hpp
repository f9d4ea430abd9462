// Which way a recipient's mail leaves (SPEC §4, seed 000): the account's route setting and the
// operator's smarthost decide a destination. Pure; header-only (a few lines of policy).
//
//  - route=custom: the account's own SMTP server. One destination per account
//    ("relay:<account id>"): its credentials are the account's alone, so two accounts never
//    share a connection even when they name the same host.
//  - route=platform with a smarthost configured: every message of every platform account goes
//    through it ("smarthost").
//  - route=platform without: direct to the recipient domain's MX hosts ("mx:<domain>").
//  - route=sandbox: nowhere outside; the engine hands the message to its capture sink
//    ("sandbox:<account id>", one destination per account; SPEC §9).
// Security → session policy: none = plaintext (AUTH allowed), starttls = STARTTLS required and
// the certificate verified, tls = implicit TLS (SMTPS) verified. MX delivery is opportunistic
// STARTTLS without verification (RFC 7435).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "store/settings.hpp"

namespace tern::delivery {

struct RelayConfig {  // the operator's smarthost ([delivery] smarthost*)
  std::string host;   // "" = none: direct MX delivery
  uint16_t port = 587;
  store::RelaySecurity security = store::RelaySecurity::starttls;
  std::string username, password;
};

struct Route {
  enum class Kind { mx, relay, sandbox } kind = Kind::mx;
  std::string dest;  // destination key for the scheduler
  std::string host;  // relay host; for mx the recipient domain
  uint16_t port = 25;
  // relay: as configured; mx: unused (opportunistic STARTTLS without verification).
  store::RelaySecurity security = store::RelaySecurity::starttls;
  std::string username, password;
  int64_t account_id = 0;  // sandbox: whose capture store
};

inline Route route_for(int64_t account_id, const store::AccountSettings& s,
                       const RelayConfig& smarthost, std::string_view rcpt_domain,
                       uint16_t mx_port) {
  Route r;
  if (s.route == store::Route::sandbox) {
    r.kind = Route::Kind::sandbox;
    r.dest = "sandbox:" + std::to_string(account_id);
    r.account_id = account_id;
    r.host = "sandbox";
    r.port = 0;
    r.security = store::RelaySecurity::none;
  } else if (s.route == store::Route::custom && !s.relay_host.empty()) {
    r.kind = Route::Kind::relay;
    r.dest = "relay:" + std::to_string(account_id);
    r.host = s.relay_host;
    r.port = static_cast<uint16_t>(s.effective_relay_port());
    r.security = s.relay_security;
    r.username = s.relay_username;
    r.password = s.relay_password;
  } else if (!smarthost.host.empty()) {
    r.kind = Route::Kind::relay;
    r.dest = "smarthost";
    r.host = smarthost.host;
    r.port = smarthost.port;
    r.security = smarthost.security;
    r.username = smarthost.username;
    r.password = smarthost.password;
  } else {
    r.kind = Route::Kind::mx;
    r.dest = "mx:" + std::string(rcpt_domain);
    r.host = std::string(rcpt_domain);
    r.port = mx_port;
  }
  return r;
}

}  // namespace tern::delivery
