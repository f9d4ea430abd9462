// Parsed DKIM signing keys per (account, From domain), cached so a message costs no database
// read and no PEM parse. Entries (also "no keys") expire after a TTL so a domain whose selector
// just checked ok starts signing, and a rotated key is picked up, within that time.
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
  explicit KeyCache(Loader loader, std::chrono::milliseconds ttl = std::chrono::seconds(30));

  // Cached keys if fresh, else nullopt (then call get()).
  std::optional<std::vector<SignerKey>> cached(int64_t account, const std::string& domain);
  // Loads (through the loader) when not fresh. A load error yields no keys (the message is
  // sent unsigned rather than refused) and is logged; it is retried on the next message.
  std::vector<SignerKey> get(int64_t account, const std::string& domain);

 private:
  struct Entry {
    std::vector<SignerKey> keys;
    std::chrono::steady_clock::time_point loaded;
  };
  Loader loader_;
  std::chrono::milliseconds ttl_;
  std::mutex mu_;
  std::map<std::pair<int64_t, std::string>, Entry> entries_;
  // Parsed keys by "domain/selector/algorithm/version": a reload that finds the same version
  // reuses the parsed key (RSA PEM parsing is the expensive part).
  std::map<std::string, std::shared_ptr<const dkim::PrivateKey>> parsed_;
};

}  // namespace tern::pipeline
