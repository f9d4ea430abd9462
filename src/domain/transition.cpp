#include "domain/transition.hpp"

namespace tern::domain {

namespace {
std::string label(const std::string& id) { return id.starts_with("dkim:") ? id.substr(5) : id; }
}  // namespace

Transition apply_check(const store::DomainDetail& d, const std::vector<Record>& checked,
                       int64_t now_ms) {
  Transition t;
  auto& u = t.update;
  u.domain = d.domain;
  u.verified = d.verified;
  u.active_slot = d.active_slot;
  u.next_slot = d.next_slot;
  u.checked_ms = now_ms;
  for (const auto& r : checked) {
    if (r.status == store::RecordStatus::error) continue;
    const auto* old = d.record(r.id);
    const store::RecordStatus before = old ? old->status : store::RecordStatus::pending;
    if (before != r.status)
      t.changes.push_back(
          {label(r.id), std::string(to_string(before)), std::string(to_string(r.status))});
    u.records.push_back({r.id, r.status, r.found, now_ms});
    if (r.id == "ownership" && r.status == store::RecordStatus::ok && !d.verified) {
      u.verified = true;
      t.changes.push_back({"verified", "no", "yes"});
    }
  }
  if (d.next_slot == 1 || d.next_slot == 2) {
    // Every key on the target slot the domain signs with must check ok: RSA, and Ed25519 when
    // the domain signs with it too.
    bool any = false, all_ok = true;
    const std::string rsa = "dkim:" + selector_name(d.next_slot, dkim::Algorithm::rsa_sha256);
    const std::string ed = "dkim:" + selector_name(d.next_slot, dkim::Algorithm::ed25519_sha256);
    for (const auto& r : checked) {
      if (r.id != rsa && !(d.ed25519 && r.id == ed)) continue;
      any = true;
      all_ok &= r.status == store::RecordStatus::ok;
    }
    if (any && all_ok) {
      if (d.next_slot != d.active_slot)
        t.changes.push_back({"active selector",
                             selector_name(d.active_slot, dkim::Algorithm::rsa_sha256),
                             selector_name(d.next_slot, dkim::Algorithm::rsa_sha256)});
      u.active_slot = d.next_slot;
      u.next_slot = 0;
    }
  }
  return t;
}

}  // namespace tern::domain
