// The DNS records a customer publishes for a sending domain (SPEC §3): ownership TXT, SPF,
// one DKIM record per selector (direct: TXT with the public key; delegated, seed 002: CNAME to
// the platform's DKIM zone), and a DMARC suggestion. Pure: built from stored state and config.
// Invariants: names are absolute without the trailing dot, lower case; TXT values are the
// unquoted text (publish it split into ≤255-octet strings, RFC 7208 §3.3 / RFC 6376 §3.6.2.2);
// record ids are stable ("ownership", "spf", "dkim:<selector>", "dmarc") and key stored states.
#pragma once
#include <string>
#include <vector>

#include "store/store.hpp"

namespace tern::domain {

// Operator settings ([platform] in the config).
struct Platform {
  std::string dkim_zone;                 // zone the platform publishes delegated keys in
  std::string spf_include;               // host customers include: "v=spf1 include:<host> ~all"
  std::vector<std::string> sending_ips;  // the platform's outbound addresses (IPv4/IPv6 text)
};

struct Record {
  std::string id;    // "ownership", "spf", "dkim:tern1", "dmarc"
  std::string type;  // "TXT" or "CNAME"
  std::string name;
  std::string value;  // TXT text, or CNAME target
  std::string purpose;
  store::RecordStatus status = store::RecordStatus::pending;  // error: DNS failed (for now)
  std::string found;                                          // what DNS held, when not ok
  std::string key_txt;  // DKIM: the TXT that must hold the key (at name, or the CNAME target)
};

constexpr const char* kOwnershipPrefix = "tern-verification=";

// "tern1" / "tern2"; Ed25519 keys: "tern1e" / "tern2e".
std::string selector_name(int slot, dkim::Algorithm algorithm);
// Delegated DKIM CNAME target: "<selector>-<account code>._domainkey.<zone>".
std::string delegated_target(const std::string& selector, const std::string& account_code,
                             const std::string& zone);
// The DKIM TXT value: "v=DKIM1; k=rsa; p=<b64>" (k=ed25519 for Ed25519, RFC 8463 §4.2).
std::string dkim_txt(dkim::Algorithm algorithm, const std::string& public_b64);
// The SPF record to publish; empty when the platform configures neither include nor IPs.
std::string spf_record(const Platform& p);

// Every record for the domain, states filled from d.records. keys: the key set behind the
// domain's selectors (its own when direct, the account's when delegated).
std::vector<Record> expected_records(const store::DomainDetail& d, const std::string& account_code,
                                     const std::vector<store::DkimKey>& keys, const Platform& p);

}  // namespace tern::domain
