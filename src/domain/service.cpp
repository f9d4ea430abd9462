#include "domain/service.hpp"

#include <fmt/format.h>

#include "core/address.hpp"
#include "domain/check.hpp"

namespace tern::domain {

namespace {
template <class T>
core::Error err(const core::Result<T>& r) {
  return r.error();
}
}  // namespace

Domains::Domains(store::Store& store, Platform platform, KeyGenerator gen, const core::Clock& clock)
    : store_(store), platform_(std::move(platform)), gen_(std::move(gen)), clock_(clock) {}

std::string Domains::owner_of(const store::DomainDetail& d) {
  return d.dkim_mode == "delegated" ? std::string() : d.domain;
}

core::Result<Report> Domains::load(const std::string& domain, int64_t account_id) {
  auto d = store_.domains.find(domain, account_id);
  if (!d) return d.error();
  if (!*d) return core::Error::not_found("no such domain: " + core::to_lower(domain));
  Report rep;
  rep.detail = std::move(**d);
  auto acc = store_.accounts.find(std::to_string(rep.detail.account_id));
  if (!acc) return acc.error();
  if (!*acc) return core::Error::internal("domain without account");
  rep.account = **acc;
  if (rep.detail.dkim_mode == "delegated" && platform_.dkim_zone.empty())
    return core::Error::perm("delegated DKIM needs [platform] dkim_zone");
  auto keys = store_.domains.keys(rep.detail.account_id, owner_of(rep.detail), false);
  if (!keys) return keys.error();
  rep.records = expected_records(rep.detail, rep.account.code, *keys, platform_);
  rep.keys = std::move(*keys);
  return rep;
}

core::Result<store::DkimKey> Domains::new_key(int slot, dkim::Algorithm algorithm) {
  auto g = gen_(algorithm);
  if (!g) return g.error();
  store::DkimKey k;
  k.slot = slot;
  k.algorithm = algorithm;
  k.selector = selector_name(slot, algorithm);
  k.public_b64 = g->public_b64;
  k.private_pem = std::move(g->private_pem);
  return k;
}

core::Result<void> Domains::ensure_keys(const store::DomainDetail& d) {
  const std::string owner = owner_of(d);
  auto have = store_.domains.keys(d.account_id, owner, false);
  if (!have) return have.error();
  std::vector<store::DkimKey> missing;
  for (int slot : {1, 2}) {
    for (dkim::Algorithm alg : dkim::kAlgorithms) {
      if (alg == dkim::Algorithm::ed25519_sha256 && !d.ed25519) continue;
      bool found = false;
      for (const auto& k : *have) found |= k.slot == slot && k.algorithm == alg;
      if (found) continue;
      auto k = new_key(slot, alg);
      if (!k) return k.error();
      missing.push_back(std::move(k.value()));
    }
  }
  if (missing.empty()) return core::ok();
  auto put = store_.domains.put_keys(d.account_id, owner, std::move(missing), false);
  if (!put) return put.error();
  return core::ok();
}

core::Result<Report> Domains::add(const std::string& account, const std::string& domain,
                                  const AddOptions& o) {
  if (o.dkim_mode && *o.dkim_mode != "direct" && *o.dkim_mode != "delegated")
    return core::Error::perm("--dkim must be direct or delegated");
  if (o.dkim_mode && *o.dkim_mode == "delegated" && platform_.dkim_zone.empty())
    return core::Error::perm("delegated DKIM needs [platform] dkim_zone");
  auto acc = store_.accounts.find(account);
  if (!acc) return acc.error();
  if (!*acc) return core::Error::not_found("no such account: " + account);
  const int64_t account_id = (*acc)->id;
  auto existing = store_.domains.find(domain, account_id);
  if (!existing) return existing.error();
  // Adding again without --verified must not take the flag away from a verified domain.
  const bool verified = o.verified || (*existing && (*existing)->verified);
  if (auto r = store_.domains.add(account_id, domain, verified, o.max_unverified); !r)
    return r.error();
  auto d = store_.domains.find(domain, account_id);
  if (!d) return d.error();
  if (!*d) return core::Error::unavailable("domain vanished while being added");
  const std::string mode = o.dkim_mode.value_or((*d)->dkim_mode);
  const bool ed = o.ed25519.value_or((*d)->ed25519);
  if (mode != (*d)->dkim_mode || ed != (*d)->ed25519) {
    if (auto r = store_.domains.set_dkim((*d)->domain, mode, ed, account_id); !r) return r.error();
    (*d)->dkim_mode = mode;
    (*d)->ed25519 = ed;
  }
  if (auto r = ensure_keys(**d); !r) return r.error();
  return load(domain, account_id);
}

core::Result<Report> Domains::records(const std::string& domain, int64_t account_id) {
  return load(domain, account_id);
}

core::Result<Report> Domains::check(const std::string& domain, dns::Resolver& resolver,
                                    int64_t account_id) {
  auto rep = load(domain, account_id);
  if (!rep) return rep;
  auto ips = platform_addresses(resolver, platform_);
  auto checked = check_records(resolver, rep->detail.domain, rep->records, platform_, ips);
  auto t = apply_check(rep->detail, checked, clock_.now_ms());
  t.update.account_id = rep->detail.account_id;
  t.update.seen_next_slot = rep->detail.next_slot;
  for (const auto& k : rep->keys) t.update.key_versions.emplace_back(k.selector, k.version);
  if (auto r = store_.domains.save_check(t.update); !r) return r.error();
  auto after = load(domain, rep->detail.account_id);
  if (!after) return after;
  // Stored states for the record list, with this run's DNS errors shown as such.
  for (auto& r : after->records)
    for (const auto& c : checked)
      if (c.id == r.id && c.status == store::RecordStatus::error) {
        r.status = store::RecordStatus::error;
        r.found = c.found;
        after->dns_error = true;
      }
  after->changes = std::move(t.changes);
  return after;
}

void Domains::check_all(
    dns::Resolver& resolver, const std::function<bool()>& stop,
    const std::function<void(const std::string&, const core::Result<Report>&)>& on_report) {
  auto all = store_.domains.all();
  if (!all) {
    on_report("", all.error());
    return;
  }
  for (const auto& d : *all) {
    if (stop()) return;
    // A claim another account's verification removed earlier in this round is gone: skip it.
    auto still = store_.domains.find(d.domain, d.account_id);
    if (still && !*still) continue;
    on_report(d.domain, check(d.domain, resolver, d.account_id));
  }
}

core::Result<Report> Domains::rotate(const std::string& domain, int64_t account_id) {
  auto rep = load(domain, account_id);
  if (!rep) return rep;
  const auto& d = rep->detail;
  const int slot = idle_slot(d.active_slot);
  std::vector<store::DkimKey> keys;
  for (dkim::Algorithm alg : dkim::kAlgorithms) {
    if (alg == dkim::Algorithm::ed25519_sha256 && !d.ed25519) continue;
    auto k = new_key(slot, alg);
    if (!k) return k.error();
    keys.push_back(std::move(k.value()));
  }
  if (auto r = store_.domains.put_keys(d.account_id, owner_of(d), std::move(keys), true); !r)
    return r.error();
  return load(domain, d.account_id);
}

core::Result<std::string> Domains::export_key(const std::string& domain,
                                              const std::string& selector, int64_t account_id) {
  auto rep = load(domain, account_id);
  if (!rep) return rep.error();
  auto keys = store_.domains.keys(rep->detail.account_id, owner_of(rep->detail), true);
  if (!keys) return keys.error();
  for (auto& k : *keys)
    if (k.selector == selector) return std::move(k.private_pem);
  return core::Error::not_found(fmt::format("{} has no selector {}", rep->detail.domain, selector));
}

core::Result<std::vector<ZoneEntry>> Domains::zone_entries() {
  std::vector<ZoneEntry> out;
  if (platform_.dkim_zone.empty()) return core::Error::perm("[platform] dkim_zone is not set");
  auto accounts = store_.accounts.list();
  if (!accounts) return accounts.error();
  for (const auto& a : *accounts) {
    auto keys = store_.domains.keys(a.id, "", false);
    if (!keys) return keys.error();
    for (const auto& k : *keys)
      out.push_back({delegated_target(k.selector, a.code, platform_.dkim_zone),
                     dkim_txt(k.algorithm, k.public_b64)});
  }
  return out;
}

}  // namespace tern::domain
