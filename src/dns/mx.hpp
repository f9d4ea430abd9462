// MX selection for direct delivery (SPEC §4): which hosts to try for a recipient domain, in
// which order, at which addresses. Pure policy over the Resolver interface; the delivery driver
// connects (and picks the port: delivery.mx_port) and walks the plan in order.
//
// Rules (RFC 5321 §5.1, RFC 7505):
// - MX records sorted by preference, lowest first; hosts of equal preference in random order
//   (RFC 5321 §5.1 "SHOULD ... randomize"), from an injected Rng so tests are deterministic.
// - No MX records (nodata) → implicit MX: the domain itself, preference 0, but only when it has
//   A or AAAA records. Without either → permanent 5.4.4 (unable to route, RFC 3463 §3.5).
// - Null MX (RFC 7505 §3: one MX, exchange ".") → permanent 5.1.10 "recipient address has null
//   MX" (RFC 7505 §4.1 wants it reported with reply 556; that is the bounce's business: we carry
//   no invented remote code). No fallback to A/AAAA. A "." mixed with real MX records violates
//   §3; the "." entries are ignored and the real ones used. A lone "." of any preference is
//   treated as null MX (it names no host either way).
// - NXDOMAIN for the domain → permanent 5.1.2 (bad destination system address). A name that is
//   not a usable DNS host name → the same; the domain must be ASCII (an internationalized
//   domain arrives as A-labels, "xn--..."; converting U-labels is the caller's job). Address
//   literals ("[192.0.2.1]") are not domains and are not handled here.
// - DNS temporary failure (SERVFAIL, timeout, CNAME loop) for the MX query → temporary 4.4.3.
// - Each MX host gets its A then AAAA addresses (IPv4 first, then IPv6, each in resolver order,
//   duplicates removed). A host whose name is an IP literal ("192.0.2.1") is used as that
//   address; a host that is a CNAME is followed by the resolver (tolerated, though RFC 2181
//   §10.3 forbids it). Hosts with no address, a temporary lookup failure or a name that is no
//   hostname (escaped odd bytes) are skipped and listed in `skipped`.
// - When every host was skipped: temporary 4.4.3 if any lookup failed temporarily, else
//   temporary 4.4.4 (the MX hosts may be fixed soon; the retry schedule bounds the wait).
// - Loopback: kept by default — integration tests run MX hosts on 127.0.0.1. With
//   MxOptions::reject_loopback, loopback/unspecified addresses are dropped, and a plan left
//   empty only because of them is permanent 5.4.6 (routing loop).
// - Bounded work for hostile zones: at most max_hosts MX hosts are looked up (after ordering),
//   at most max_addrs_per_host addresses kept per host.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/outcome.hpp"
#include "dns/resolver.hpp"

namespace tern::dns {

// Randomness behind an interface: tests pass a seeded generator and get one fixed order.
class Rng {
 public:
  virtual ~Rng() = default;
  virtual uint64_t next_u64() = 0;
  // Uniform in [0, n); n > 0 (0 answers 0). Rejection sampling, no modulo bias.
  uint64_t below(uint64_t n);
};

// splitmix64: fast, seedable, good enough to spread load across equal MX hosts (not crypto).
class SplitMixRng final : public Rng {
 public:
  explicit SplitMixRng(uint64_t seed) : s_(seed) {}
  uint64_t next_u64() override;

 private:
  uint64_t s_;
};

struct MxHost {
  std::string host;  // MX exchange (or the domain for an implicit MX)
  uint16_t preference = 0;
  std::vector<std::string> addrs;  // IPv4 first, then IPv6; never empty in a plan
};

struct MxPlan {
  std::string domain;                          // normalized
  bool implicit = false;                       // no MX records: the domain itself is the host
  std::vector<MxHost> hosts;                   // try in this order; empty when error is set
  std::vector<std::string> skipped;            // "host: reason" for hosts left out (logs, reports)
  std::optional<core::DeliveryOutcome> error;  // phase "dns"; temp or perm
  bool ok() const { return !error.has_value(); }
};

struct MxOptions {
  size_t max_hosts = 10;
  size_t max_addrs_per_host = 8;
  bool reject_loopback = false;
};

MxPlan plan_mx(Resolver& resolver, const std::string& domain, Rng& rng,
               const MxOptions& options = {});

}  // namespace tern::dns
