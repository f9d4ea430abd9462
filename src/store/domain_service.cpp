#include "store/domain_service.hpp"

#include <fmt/format.h>
#include <sodium.h>

#include "core/address.hpp"
#include "store/secrets.hpp"

namespace tern::store {

namespace {

using Mode = Database::Mode;

core::Error no_domain(const std::string& d) {
  return core::Error::not_found(fmt::format("no such domain: {}", d));
}

// The claim an operation addresses: account_id's own when given, else (0) the verified claim,
// else the oldest. nullopt when there is none.
core::Result<std::optional<DomainDetail>> claim_of(Tx& tx, const std::string& domain,
                                                   int64_t account_id) {
  if (account_id != 0) return tx.domains().claim(domain, account_id);
  auto all = tx.domains().claims(domain);
  if (!all) return all.error();
  if (all->empty()) return std::optional<DomainDetail>();
  return std::optional<DomainDetail>(std::move(all->front()));
}

// The domain became verified for account_id: every other account's claim on it goes, with its
// record states and its direct DKIM keys.
core::Result<void> drop_other_claims(Tx& tx, const std::string& domain, int64_t account_id) {
  auto all = tx.domains().claims(domain);
  if (!all) return all.error();
  for (const auto& c : *all) {
    if (c.account_id == account_id) continue;
    if (c.dkim_mode == "direct")
      if (auto r = tx.domains().remove_keys(c.account_id, domain); !r) return r;
    if (auto r = tx.domains().remove(domain, c.account_id); !r) return r.error();
  }
  return core::ok();
}

std::string owner_of(const DomainDetail& d) {
  return d.dkim_mode == "delegated" ? std::string() : d.domain;
}

}  // namespace

core::Result<void> DomainService::add(int64_t account_id, const std::string& domain, bool verified,
                                      int max_unverified) {
  std::string d = core::to_lower(domain);
  // Address literals are valid in envelopes but cannot be sending domains (no DNS, no DKIM).
  if (d.empty() || d.front() == '[' || d.back() == '.' || !core::valid_domain(d))
    return core::Error::invalid("invalid domain name");
  const int64_t now = clock_.now_ms();
  return in_tx(db_, Mode::write, [&](Tx& tx) -> core::Result<void> {
    auto acc = tx.accounts().by_id(account_id);
    if (!acc) return acc.error();
    if (!*acc) return core::Error::not_found(fmt::format("no account with id {}", account_id));
    auto claims = tx.domains().claims(d);
    if (!claims) return claims.error();
    std::optional<DomainDetail> mine;
    for (const auto& c : *claims) {
      // Only a verified claim excludes others; unverified claims never block anyone.
      if (c.verified && c.account_id != account_id)
        return core::Error::conflict(fmt::format("domain {} belongs to another account", d));
      if (c.account_id == account_id) mine = c;
    }
    if (mine) {
      // Already ours: adding again only sets the verified flag.
      mine->verified = verified;
      if (auto r = tx.domains().update(*mine); !r) return r;
    } else {
      if (!verified && max_unverified > 0) {
        auto own = tx.domains().of_account(account_id);
        if (!own) return own.error();
        int unverified = 0;
        for (const auto& c : *own) unverified += !c.verified;
        if (unverified >= max_unverified)
          return core::Error::forbidden(
                     fmt::format("quota: at most {} unverified domains per account; verify or "
                                 "remove one first",
                                 max_unverified))
              .because(core::ErrorReason::quota_exceeded);
      }
      DomainDetail fresh;
      fresh.account_id = account_id;
      fresh.domain = d;
      fresh.verified = verified;
      fresh.token = secrets::random_token();
      fresh.created_ms = now;
      if (auto r = tx.domains().insert(fresh); !r) return r;
    }
    // The operator's --verified wins over every unverified claim.
    if (verified)
      if (auto r = drop_other_claims(tx, d, account_id); !r) return r;
    return core::ok();
  });
}

core::Result<std::vector<Domain>> DomainService::list(int64_t account_id) {
  return in_tx(db_, Mode::read, [&](Tx& tx) -> core::Result<std::vector<Domain>> {
    auto all = tx.domains().of_account(account_id);
    if (!all) return all.error();
    std::vector<Domain> out;
    for (const auto& d : *all) out.push_back({d.account_id, d.domain, d.verified});
    return out;
  });
}

core::Result<std::optional<DomainDetail>> DomainService::find(const std::string& domain,
                                                              int64_t account_id) {
  const std::string d = core::to_lower(domain);
  return in_tx(db_, Mode::read, [&](Tx& tx) { return claim_of(tx, d, account_id); });
}

core::Result<std::vector<DomainDetail>> DomainService::all() {
  return in_tx(db_, Mode::read, [](Tx& tx) { return tx.domains().all(); });
}

core::Result<void> DomainService::set_dkim(const std::string& domain, const std::string& mode,
                                           bool ed25519, int64_t account_id) {
  if (mode != "direct" && mode != "delegated")
    return core::Error::invalid("DKIM form must be direct or delegated");
  const std::string d = core::to_lower(domain);
  return in_tx(db_, Mode::write, [&](Tx& tx) -> core::Result<void> {
    auto claim = claim_of(tx, d, account_id);
    if (!claim) return claim.error();
    if (!*claim) return no_domain(d);
    DomainDetail c = std::move(claim).value().value();
    const bool changed = c.dkim_mode != mode;
    c.dkim_mode = mode;
    c.ed25519 = ed25519;
    if (changed) {
      // Another key set now stands behind the selectors: what was checked no longer holds.
      for (const auto& r : c.records)
        if (r.id.starts_with("dkim:"))
          if (auto w =
                  tx.domains().put_record(c.account_id, d, {r.id, RecordStatus::pending, "", 0});
              !w)
            return w;
      c.next_slot = 0;
    }
    return tx.domains().update(c);
  });
}

core::Result<void> DomainService::save_check(const DomainCheckUpdate& u) {
  if ((u.active_slot != 1 && u.active_slot != 2) || u.next_slot < 0 || u.next_slot > 2)
    return core::Error::invalid("selector slots are 1 or 2");
  return in_tx(db_, Mode::write, [&](Tx& tx) -> core::Result<void> {
    auto claim = claim_of(tx, u.domain, u.account_id);
    if (!claim) return claim.error();
    if (!*claim) return no_domain(u.domain);
    DomainDetail c = std::move(claim).value().value();
    const std::string owner = owner_of(c);
    // A rotation started after the check read the domain: leave its slots alone.
    const bool slots_current = u.seen_next_slot < 0 || c.next_slot == u.seen_next_slot;
    // First to verify wins: the other claims go (one verified claim per domain).
    if (u.verified && !c.verified)
      if (auto r = drop_other_claims(tx, u.domain, c.account_id); !r) return r;
    c.verified = c.verified || u.verified;
    c.checked_ms = u.checked_ms;
    if (slots_current) {
      c.active_slot = u.active_slot;
      c.next_slot = u.next_slot;
    }
    if (auto r = tx.domains().update(c); !r) return r;
    std::optional<std::vector<StoredKey>> keys;  // read when a DKIM state needs it
    for (const auto& rec : u.records) {
      if (rec.id.starts_with("dkim:")) {
        const std::string selector = rec.id.substr(5);
        int64_t seen = -1;
        for (const auto& [sel, v] : u.key_versions)
          if (sel == selector) seen = v;
        if (seen >= 0) {
          if (!keys) {
            auto k = tx.domains().keys(c.account_id, owner);
            if (!k) return k.error();
            keys = std::move(k).value();
          }
          bool same = false;
          for (const auto& k : *keys) same |= k.selector == selector && k.version == seen;
          if (!same) continue;  // key replaced meanwhile
        }
      }
      if (auto r = tx.domains().put_record(c.account_id, u.domain, rec); !r) return r;
    }
    return core::ok();
  });
}

core::Result<std::vector<DkimKey>> DomainService::put_keys(int64_t account_id,
                                                           const std::string& owner_in,
                                                           std::vector<DkimKey> keys,
                                                           bool rotation) {
  const std::string owner = core::to_lower(owner_in);
  for (const auto& k : keys) {
    if (k.slot != 1 && k.slot != 2) return core::Error::invalid("selector slots are 1 or 2");
    if (k.selector.empty() || k.public_b64.empty() || k.private_pem.empty())
      return core::Error::invalid("DKIM key without selector or key material");
  }
  const int64_t now = clock_.now_ms();
  auto r = in_tx(db_, Mode::write, [&](Tx& tx) -> core::Result<void> {
    auto acc = tx.accounts().by_id(account_id);
    if (!acc) return acc.error();
    if (!*acc) return core::Error::not_found(fmt::format("no account with id {}", account_id));
    // Domains whose selectors this key set stands behind.
    std::vector<DomainDetail> users;
    if (owner.empty()) {
      auto all = tx.domains().of_account(account_id);
      if (!all) return all.error();
      for (auto& d : *all)
        if (d.dkim_mode == "delegated") users.push_back(std::move(d));
    } else {
      auto own = tx.domains().claim(owner, account_id);
      if (!own) return own.error();
      if (!*own)
        return core::Error::not_found(fmt::format("domain {} is not this account's", owner));
      users.push_back(std::move(own).value().value());
    }
    for (auto& k : keys) {
      StoredKey stored = k;
      stored.account_id = account_id;
      stored.owner = owner;
      stored.private_pem = sealer_.seal(k.private_pem);
      auto version = tx.domains().put_key(stored, now);
      sodium_memzero(stored.private_pem.data(), stored.private_pem.size());
      if (!version) return version.error();
      k.account_id = account_id;
      k.owner = owner;
      k.version = *version;
      k.created_ms = now;
      for (const auto& d : users)
        if (auto w = tx.domains().put_record(account_id, d.domain,
                                             {"dkim:" + k.selector, RecordStatus::pending, "", 0});
            !w)
          return w;
    }
    if (rotation && !keys.empty()) {
      for (auto& d : users) {
        d.next_slot = keys.front().slot;
        if (auto w = tx.domains().update(d); !w) return w;
      }
    }
    return core::ok();
  });
  for (auto& k : keys)
    sodium_memzero(k.private_pem.data(), k.private_pem.size()), k.private_pem.clear();
  if (!r) return r.error();
  return keys;
}

core::Result<std::vector<DkimKey>> DomainService::keys(int64_t account_id, const std::string& owner,
                                                       bool with_private) {
  const std::string o = core::to_lower(owner);
  auto keys = in_tx(db_, Mode::read, [&](Tx& tx) { return tx.domains().keys(account_id, o); });
  if (!keys) return keys.error();
  for (auto& k : *keys) {
    std::string stored = std::move(k.private_pem);
    k.private_pem.clear();
    if (with_private) {
      auto pem = sealer_.open(stored);
      if (!pem) return pem.error();
      k.private_pem = std::move(pem).value();
    }
    sodium_memzero(stored.data(), stored.size());
  }
  return keys;
}

core::Result<void> DomainService::remove(int64_t account_id, const std::string& domain) {
  const std::string d = core::to_lower(domain);
  return in_tx(db_, Mode::write, [&](Tx& tx) -> core::Result<void> {
    auto gone = tx.domains().remove(d, account_id);
    if (!gone) return gone.error();
    if (!*gone) return no_domain(d);
    // A direct domain owns its key set; delegated keys belong to the account and stay.
    return tx.domains().remove_keys(account_id, d);
  });
}

core::Result<std::vector<SigningKey>> DomainService::signing_keys(int64_t account_id,
                                                                  const std::string& domain) {
  using Keys = std::vector<SigningKey>;
  const std::string name = core::to_lower(domain);
  struct Found {
    DomainDetail detail;
    std::vector<StoredKey> keys;
  };
  auto found = in_tx(db_, Mode::read, [&](Tx& tx) -> core::Result<std::optional<Found>> {
    auto d = tx.domains().claim(name, account_id);
    if (!d) return d.error();
    if (!*d || !(*d)->verified) return std::optional<Found>();
    auto keys = tx.domains().keys(account_id, owner_of(**d));
    if (!keys) return keys.error();
    return std::optional<Found>(Found{std::move(**d), std::move(keys).value()});
  });
  if (!found) return found.error();
  if (!*found) return Keys{};
  const DomainDetail& d = (*found)->detail;
  auto checked_ok = [&](const StoredKey& k) {
    const RecordState* r = d.record("dkim:" + k.selector);
    return r && r->status == RecordStatus::ok;
  };
  // RSA is what every receiver verifies: nothing signs until its record checks ok. Ed25519
  // (RFC 8463) is a second signature, added when asked for and its own record checks ok.
  const StoredKey* rsa = nullptr;
  const StoredKey* ed = nullptr;
  for (const auto& k : (*found)->keys) {
    if (k.slot != d.active_slot || !checked_ok(k)) continue;
    if (k.algorithm == dkim::Algorithm::rsa_sha256) rsa = &k;
    if (k.algorithm == dkim::Algorithm::ed25519_sha256 && d.ed25519) ed = &k;
  }
  Keys out;
  if (rsa) {
    for (const StoredKey* k : {ed, rsa}) {
      if (!k) continue;
      auto pem = sealer_.open(k->private_pem);
      if (!pem) return pem.error();
      out.push_back({d.domain, k->selector, k->algorithm, std::move(pem).value(), k->version});
    }
  }
  for (auto& k : (*found)->keys) sodium_memzero(k.private_pem.data(), k.private_pem.size());
  return out;
}

}  // namespace tern::store
