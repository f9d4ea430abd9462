// Sending domains end to end (SPEC §3), over the Store: add a domain (ownership token, DKIM
// key set), list its records, check them through a Resolver and save what changed, rotate the
// DKIM key, list the platform's delegated keys. The CLI and the server's periodic re-check
// both go through here, so they agree on every rule.
// Key generation is injected (the real one is dkim::PrivateKey::generate) so unit tests need
// no RSA key generation; DNS is injected as a dns::Resolver (blocking).
// Key sets: a direct domain owns slots 1 and 2 (RSA, plus Ed25519 when asked); delegated
// domains share their account's set, published by the platform in its DKIM zone.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "dns/resolver.hpp"
#include "domain/records.hpp"
#include "domain/transition.hpp"
#include "domain/zone.hpp"
#include "store/store.hpp"

namespace tern::domain {

struct GeneratedKey {
  std::string private_pem;
  std::string public_b64;
};
// RSA (2048 bits) or Ed25519.
using KeyGenerator = std::function<core::Result<GeneratedKey>(dkim::Algorithm algorithm)>;
KeyGenerator dkim_key_generator();

struct Report {
  store::DomainDetail detail;
  store::Account account;
  std::vector<Record> records;
  std::vector<store::DkimKey> keys;  // the key set behind the selectors (public halves)
  std::vector<Change> changes;       // check only
  bool dns_error = false;            // check only: some look-up failed temporarily
};

struct AddOptions {
  std::optional<std::string> dkim_mode;  // "direct" / "delegated"; unset: keep (new: direct)
  std::optional<bool> ed25519;           // unset: keep (new: false)
  bool verified = false;                 // operator override
  int max_unverified = 0;                // > 0: quota of unverified claims (the REST API)
};

class Domains {
 public:
  Domains(store::Store& store, Platform platform, KeyGenerator gen, const core::Clock& clock);

  core::Result<Report> add(const std::string& account, const std::string& domain,
                           const AddOptions& o);
  // `account_id` picks whose claim on the domain (several accounts may hold unverified
  // claims); 0 = the verified claim, else the oldest (the CLI, by domain name).
  core::Result<Report> records(const std::string& domain, int64_t account_id = 0);
  core::Result<Report> check(const std::string& domain, dns::Resolver& resolver,
                             int64_t account_id = 0);
  // New key(s) on the idle selector slot; signing switches after a check finds them ok.
  core::Result<Report> rotate(const std::string& domain, int64_t account_id = 0);
  // The private key (PEM, decrypted) on a selector of the domain, e.g. for opendkim-testkey.
  core::Result<std::string> export_key(const std::string& domain, const std::string& selector,
                                       int64_t account_id = 0);
  // One round of the periodic re-check: every domain, in name order, until stop() says so.
  // on_report gets each domain's report, or its error (the round goes on either way).
  void check_all(
      dns::Resolver& resolver, const std::function<bool()>& stop,
      const std::function<void(const std::string& domain, const core::Result<Report>&)>& on_report);
  // Every delegated key of every account, for `tern dns zone`.
  core::Result<std::vector<ZoneEntry>> zone_entries();

  const Platform& platform() const { return platform_; }

 private:
  core::Result<Report> load(const std::string& domain, int64_t account_id);
  core::Result<void> ensure_keys(const store::DomainDetail& d);
  // A freshly generated key for one selector slot and algorithm.
  core::Result<store::DkimKey> new_key(int slot, dkim::Algorithm algorithm);
  static std::string owner_of(const store::DomainDetail& d);

  store::Store& store_;
  Platform platform_;
  KeyGenerator gen_;
  const core::Clock& clock_;
};

}  // namespace tern::domain
