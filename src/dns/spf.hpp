// SPF evaluation: RFC 7208 check_host() through the Resolver interface, so `tern domain
// check` can say whether the platform's sending addresses pass a customer domain's policy
// (include chains and all), instead of string-matching the record.
//
// What is implemented (RFC 7208 sections):
//   - §4.3–4.5 record selection: malformed or single-label domain, NXDOMAIN or no "v=spf1"
//     record → none; two or more "v=spf1" records → permerror; TXT lookup failure → temperror.
//   - §4.6 syntax: the whole record is parsed before anything is evaluated; any syntax error,
//     unknown mechanism, or a repeated redirect=/exp= → permerror. Terms are separated by SP
//     only (a TAB or NUL inside a record is a syntax error). Unknown modifiers are ignored.
//   - §5 mechanisms all, include, a, mx, ip4, ip6 (with dual CIDR lengths), exists. ptr is
//     deprecated (§5.5): it counts as a DNS lookup and never matches.
//   - §6.1 redirect= (a target without a record → permerror); §6.2 exp= is parsed and ignored.
//   - §4.6.4 limits: more than 10 terms that query DNS (include, a, mx, ptr, exists, redirect)
//     across the whole evaluation → permerror; more than 10 MX hosts for one mx → permerror;
//     more than 2 void lookups (NXDOMAIN / no data for a, mx, exists) → permerror.
//   - include/redirect loops → permerror (caught directly, before the lookup limit would).
//   - §7 macros in domain-specs: letters d, i, s, l, o, v, p with transformers (digits, r) and
//     delimiters, %%, %_, %-, and upper-case letters URL-escaped. There is no real envelope
//     sender here: s/l/o use "postmaster@<domain>" (RFC 7208 §4.3's rule for an empty local
//     part), p is "unknown" (§7.3 allows it). h (HELO) is not known → permerror; c, r, t are
//     only valid in exp= (§7.3) → permerror elsewhere.
//   - An expanded domain-spec longer than 253 characters loses labels from the left (§4.8).
// Outcomes are values; nothing here throws.
#pragma once
#include <string>
#include <vector>

#include "dns/resolver.hpp"

namespace tern::dns {

enum class SpfOutcome { none, neutral, pass, fail, softfail, temperror, permerror };

const char* to_string(SpfOutcome o);

struct SpfResult {
  SpfOutcome outcome = SpfOutcome::none;
  // Which mechanism decided (e.g. "example.com: include:_spf.p.test -> _spf.p.test:
  // ip4:192.0.2.0/24"), or why the result is an error or none.
  std::string explanation;
  int dns_lookups = 0;  // terms that counted against the limit of 10
  int void_lookups = 0;
};

// RFC 7208 §4: the SPF result for mail from `ip` (IPv4 or IPv6 text) with MAIL FROM domain
// `domain`. An `ip` that is not an address → permerror.
SpfResult check_host(Resolver& resolver, const std::string& ip, const std::string& domain);

struct SpfIpResult {
  std::string ip;
  SpfResult result;
};

struct SpfVerdict {
  bool all_pass = false;             // every IP got pass; false for an empty list
  std::vector<SpfIpResult> results;  // one per IP, in the order given
};

// Whether every platform sending address passes `domain`'s SPF policy.
SpfVerdict evaluate_platform(Resolver& resolver, const std::string& domain,
                             const std::vector<std::string>& platform_ips);

}  // namespace tern::dns
