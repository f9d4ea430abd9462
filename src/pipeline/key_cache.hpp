// Parsed DKIM signing keys per (account, From domain), cached so a message costs no database
// read and no PEM parse. Entries (also "no keys") expire after a TTL so a domain whose selector
// just checked ok starts signing, and a rotated key is picked up, within that time.
//
// Invariants:
// - A failed load (database away, a sealed key without the master key, an unreadable PEM) is an
//   error to the caller and is never cached: the message is deferred (451 4.3.0 / HTTP 503),
//   never sent unsigned, and the next message asks the loader again (Postfix's rule: when a
//   decision cannot be made because of a temporary error, defer). Except: when the loader's
//   error is temporary (the database is away, issue 12) and an expired entry of that
//   (account, domain) is still held (entries are swept only by successful loads), that entry
//   is used, so signed mail keeps flowing through an outage with the keys it had before.
// - Parsed keys are shared between entries by (domain, selector, algorithm, version) and are
//   dropped once no fresh entry uses them (a rotated selector's old key does not live forever);
//   expired entries are dropped on the next load.
// Thread-safe; the loader runs outside the lock (it may block: call get() off the I/O threads
// when cached() misses).
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "pipeline/message_signer.hpp"

namespace tern::pipeline {

struct KeySpec {
  std::string domain, selector;
  dkim::Algorithm algorithm = dkim::Algorithm::rsa_sha256;
  std::string private_pem;
  int64_t version = 0;
};

class KeyCache {
 public:
  using Loader =
      std::function<core::Result<std::vector<KeySpec>>(int64_t account, const std::string& domain)>;
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  explicit KeyCache(Loader loader, std::chrono::milliseconds ttl = std::chrono::seconds(30),
                    Clock clock = {});

  // Cached keys if fresh, else nullopt (then call get()).
  std::optional<std::vector<SignerKey>> cached(int64_t account, const std::string& domain);
  // Loads (through the loader) when not fresh. Empty keys = the domain is not signed (not the
  // account's, not verified, selector not checked ok yet). An error (temporary) means the keys
  // could not be read now: defer the message; nothing is cached.
  core::Result<std::vector<SignerKey>> get(int64_t account, const std::string& domain);

  // Forgets every entry (a domain or DKIM key changed on another node: store/change_feed.hpp);
  // parsed keys still in use by a reload are reused.
  void clear();

  size_t parsed_keys() const;  // parsed keys held (tests)
  size_t entries() const;      // (account, domain) entries held (tests)

 private:
  struct Entry {
    std::vector<SignerKey> keys;
    std::chrono::steady_clock::time_point loaded;
  };
  std::chrono::steady_clock::time_point now() const;
  void sweep(std::chrono::steady_clock::time_point now);  // under mu_

  Loader loader_;
  std::chrono::milliseconds ttl_;
  Clock clock_;
  mutable std::mutex mu_;
  std::map<std::pair<int64_t, std::string>, Entry> entries_;
  // Parsed keys by "domain/selector/algorithm/version": a reload that finds the same version
  // reuses the parsed key (RSA PEM parsing is the expensive part).
  std::map<std::string, std::shared_ptr<const dkim::PrivateKey>> parsed_;
};

}  // namespace tern::pipeline
