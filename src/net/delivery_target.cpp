#include "net/delivery_target.hpp"

#include <algorithm>
#include <cctype>

#include "dns/ip.hpp"
#include "dns/mx.hpp"
#include "dns/resolver.hpp"

namespace tern::net {

namespace {

// A remote reply's text without its codes: "550-5.1.1 No such\r\n550 5.1.1 user" →
// "No such user" (the code and enhanced code are kept in their own fields).
std::string reply_text(std::string_view full, std::string_view enhanced) {
  std::string out;
  size_t pos = 0;
  while (pos < full.size()) {
    size_t end = full.find('\n', pos);
    std::string_view line = full.substr(pos, end == std::string_view::npos ? end : end - pos);
    pos = end == std::string_view::npos ? full.size() : end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() >= 3 && std::isdigit(static_cast<unsigned char>(line[0])))
      line.remove_prefix(std::min<size_t>(4, line.size()));
    if (!enhanced.empty() && line.substr(0, enhanced.size()) == enhanced) {
      line.remove_prefix(enhanced.size());
      while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    }
    if (line.empty()) continue;
    if (!out.empty()) out += ' ';
    out += line;
  }
  return out;
}

// One of Tern's own listening sockets (an unspecified listener address stands for every
// loopback address; other local addresses on it are not known here).
bool is_own_listener(const TargetContext& ctx, const dns::IpAddr& ip, uint16_t port) {
  for (const auto& [host, p] : ctx.own_listeners) {
    if (p != port) continue;
    if (host.empty() || host == "0.0.0.0" || host == "::") {
      if (!report::refusal(ip).value_or("").starts_with("loopback")) continue;
      return true;
    }
    auto own = dns::IpAddr::parse(host);
    if (own && own->to_string() == ip.to_string()) return true;
  }
  return false;
}

}  // namespace

core::DeliveryOutcome to_outcome(const smtp::client::Outcome& o, const ClientPeer& peer) {
  core::DeliveryOutcome d;
  d.kind = o.severity == core::Severity::ok          ? core::DeliveryOutcome::delivered
           : o.severity == core::Severity::temporary ? core::DeliveryOutcome::temp
                                                     : core::DeliveryOutcome::perm;
  d.code = o.remote ? o.code : 0;
  d.enhanced = o.enhanced;
  d.text = o.remote ? reply_text(o.text, o.enhanced) : o.text;
  d.phase = smtp::client::core_phase(o.phase);
  d.mx_host = peer.host;
  d.tls = o.tls;
  d.local_ip = peer.local_addr;
  return d;
}

std::variant<ClientTarget, core::DeliveryOutcome> resolve_target(const TargetContext& ctx,
                                                                 const delivery::Route& rt,
                                                                 uint64_t seed) {
  ClientTarget t;
  t.session.helo_name = ctx.helo_name;
  t.connect_timeout_s = ctx.connect_timeout_s;
  t.command_timeout_s = ctx.command_timeout_s;
  t.data_timeout_s = ctx.data_timeout_s;
  if (rt.kind == delivery::Route::Kind::mx) {
    dns::SplitMixRng rng(seed);
    dns::MxOptions opt;
    opt.reject_loopback = ctx.reject_loopback_mx;
    dns::MxPlan plan = dns::plan_mx(*ctx.resolver, rt.host, rng, opt);
    if (!plan.ok()) return *plan.error;
    for (const auto& h : plan.hosts)
      for (const auto& a : h.addrs) t.endpoints.push_back({h.host, a, rt.port});
    t.session.tls = smtp::client::TlsPolicy::opportunistic;
    return t;
  }
  // A relay: the customer's server or the smarthost. Every address is judged before it
  // becomes an endpoint, so nothing else is ever connected to (a name that resolves to a
  // private address, or to something else on the next look-up, is refused the same).
  const bool customer = rt.dest != "smarthost";
  std::vector<std::string> addrs;
  bool temp = false;
  if (auto ip = dns::IpAddr::parse(rt.host)) {
    addrs.push_back(ip->to_string());
  } else {
    for (auto type : {dns::RType::A, dns::RType::AAAA}) {
      auto a = ctx.resolver->query(rt.host, type);
      if (a.status == dns::Answer::Status::temp_error) temp = true;
      for (const auto& addr : a.addrs) addrs.push_back(addr);
    }
  }
  std::string refused;
  for (const auto& addr : addrs) {
    auto ip = dns::IpAddr::parse(addr);
    if (!ip) continue;
    if (is_own_listener(ctx, *ip, rt.port))
      return core::DeliveryOutcome::local(core::DeliveryOutcome::perm, "5.4.6",
                                          "relay host " + rt.host + " (" + ip->to_string() +
                                              " port " + std::to_string(rt.port) +
                                              ") is Tern itself: mail would loop",
                                          core::Phase::connect);
    if (customer) {
      if (auto ok = report::check_address(*ip, ctx.relay_policy); !ok) {
        if (refused.empty()) refused = ok.error().message;
        continue;
      }
    }
    t.endpoints.push_back({rt.host, ip->to_string(), rt.port});
  }
  if (t.endpoints.empty() && !refused.empty())
    return core::DeliveryOutcome::local(
        core::DeliveryOutcome::perm, "5.4.4",
        "relay host " + rt.host + ": " + refused + " (the operator's [delivery] relay_allow)",
        core::Phase::connect);
  if (t.endpoints.empty())
    return core::DeliveryOutcome::local(
        core::DeliveryOutcome::temp, temp ? "4.4.3" : "4.4.4",
        "relay host " + rt.host + (temp ? ": DNS lookup failed" : " has no address"),
        core::Phase::dns);
  t.session.loop_names = {ctx.hostname, ctx.helo_name};
  t.session.username = rt.username;
  t.session.password = rt.password;
  if (rt.security == store::RelaySecurity::none) {
    t.session.tls = smtp::client::TlsPolicy::none;
  } else {
    t.session.tls = smtp::client::TlsPolicy::required;
    t.session.implicit_tls = rt.security == store::RelaySecurity::tls;
    t.verify_peer = true;
    t.verify_name = rt.host;
  }
  return t;
}

}  // namespace tern::net
