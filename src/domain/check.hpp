// Checks a domain's records through DNS (SPEC §3): each record is ok, missing, or wrong with
// what was found; "error" when DNS failed temporarily (the previous state then stands).
// Pure apart from the Resolver it is given (blocking: call off the I/O threads).
//  - ownership: a TXT at _tern.<domain> equal to "tern-verification=<token>".
//  - SPF: the domain's single v=spf1 record (RFC 7208 §4.5: two or more are an error) is
//    EVALUATED with dns::evaluate_platform: ok when every platform address passes. Platform
//    addresses: [platform] sending_ips; without them, the ip4/ip6 terms of the include host's
//    own policy (following its include:/redirect=, at most 10 look-ups); with neither, the
//    record is ok when it has the term include:<spf_include>.
//  - DKIM direct: the TXT at <selector>._domainkey.<domain> (CNAMEs followed) holds the key
//    (p= equal, k= the key's algorithm, RFC 6376 §3.6.1). Delegated: that name is a CNAME to
//    <selector>-<code>._domainkey.<platform zone> and the TXT there holds the key.
//  - DMARC: exactly one "v=DMARC1" TXT at _dmarc.<domain> (any policy: it is a suggestion).
#pragma once
#include <string>
#include <vector>

#include "dns/resolver.hpp"
#include "domain/records.hpp"

namespace tern::domain {

struct PlatformAddresses {
  std::vector<std::string> ips;
  bool temp_error = false;  // the include host's policy could not be read now
  std::string error;
};

PlatformAddresses platform_addresses(dns::Resolver& r, const Platform& p);

// Checks every expected record; returns them with status and found set.
std::vector<Record> check_records(dns::Resolver& r, const std::string& domain,
                                  std::vector<Record> expected, const Platform& p,
                                  const PlatformAddresses& ips);

// DKIM tag-list (RFC 6376 §3.2) value of tag `name` with folding whitespace removed;
// nullopt-like empty + found=false when absent.
struct Tag {
  bool present = false;
  std::string value;
};
Tag dkim_tag(const std::string& record, const std::string& name);

}  // namespace tern::domain
