#include "domain/records.hpp"

#include <fmt/format.h>

namespace tern::domain {

std::string selector_name(int slot, dkim::Algorithm algorithm) {
  return fmt::format("tern{}{}", slot, algorithm == dkim::Algorithm::ed25519_sha256 ? "e" : "");
}

std::string delegated_target(const std::string& selector, const std::string& account_code,
                             const std::string& zone) {
  return fmt::format("{}-{}._domainkey.{}", selector, account_code, zone);
}

std::string dkim_txt(dkim::Algorithm algorithm, const std::string& public_b64) {
  return fmt::format("v=DKIM1; k={}; p={}", dkim::key_type(algorithm), public_b64);
}

std::string spf_record(const Platform& p) {
  if (!p.spf_include.empty()) return fmt::format("v=spf1 include:{} ~all", p.spf_include);
  if (p.sending_ips.empty()) return {};
  std::string out = "v=spf1";
  for (const auto& ip : p.sending_ips)
    out += (ip.find(':') != std::string::npos ? " ip6:" : " ip4:") + ip;
  return out + " ~all";
}

std::vector<Record> expected_records(const store::DomainDetail& d, const std::string& account_code,
                                     const std::vector<store::DkimKey>& keys, const Platform& p) {
  std::vector<Record> out;
  out.push_back({"ownership", "TXT", "_tern." + d.domain, kOwnershipPrefix + d.token,
                 "ownership: proves the domain is yours; verifies it for sending",
                 store::RecordStatus::pending, "", ""});
  if (auto spf = spf_record(p); !spf.empty())
    out.push_back({"spf", "TXT", d.domain, spf,
                   "SPF: authorizes the platform's servers (merge into an existing v=spf1 "
                   "record: a domain may have only one)",
                   store::RecordStatus::pending, "", ""});
  const bool delegated = d.dkim_mode == "delegated";
  for (int slot : {1, 2}) {
    for (dkim::Algorithm alg : dkim::kAlgorithms) {
      if (alg == dkim::Algorithm::ed25519_sha256 && !d.ed25519) continue;
      const store::DkimKey* k = nullptr;
      for (const auto& c : keys)
        if (c.slot == slot && c.algorithm == alg) k = &c;
      if (!k) continue;
      const std::string role = slot == d.active_slot ? "active"
                               : slot == d.next_slot ? "rotation target"
                                                     : "standby for rotation";
      Record r;
      r.id = "dkim:" + k->selector;
      r.name = k->selector + "._domainkey." + d.domain;
      r.purpose =
          fmt::format("DKIM {} selector {} ({})",
                      alg == dkim::Algorithm::rsa_sha256 ? "RSA" : "Ed25519", k->selector, role);
      r.key_txt = dkim_txt(k->algorithm, k->public_b64);
      if (delegated) {
        r.type = "CNAME";
        r.value = delegated_target(k->selector, account_code, p.dkim_zone);
        r.purpose += ": the platform publishes the key";
      } else {
        r.type = "TXT";
        r.value = r.key_txt;
      }
      out.push_back(std::move(r));
    }
  }
  out.push_back({"dmarc", "TXT", "_dmarc." + d.domain,
                 fmt::format("v=DMARC1; p=none; rua=mailto:dmarc@{}", d.domain),
                 "DMARC (suggestion): reports on mail using the domain; tighten p= later",
                 store::RecordStatus::pending, "", ""});
  for (auto& r : out) {
    if (const auto* st = d.record(r.id)) {
      r.status = st->status;
      r.found = st->found;
    }
  }
  return out;
}

}  // namespace tern::domain
