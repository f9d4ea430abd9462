#include "pipeline/key_cache.hpp"

#include <spdlog/spdlog.h>

namespace tern::pipeline {

KeyCache::KeyCache(Loader loader, std::chrono::milliseconds ttl)
    : loader_(std::move(loader)), ttl_(ttl) {}

std::optional<std::vector<SignerKey>> KeyCache::cached(int64_t account, const std::string& domain) {
  std::lock_guard lk(mu_);
  auto it = entries_.find({account, domain});
  if (it == entries_.end() || std::chrono::steady_clock::now() - it->second.loaded > ttl_)
    return std::nullopt;
  return it->second.keys;
}

std::vector<SignerKey> KeyCache::get(int64_t account, const std::string& domain) {
  if (auto c = cached(account, domain)) return *c;
  auto specs = loader_(account, domain);
  Entry fresh;
  fresh.loaded = std::chrono::steady_clock::now();
  if (!specs) {
    spdlog::warn("dkim: keys for {} (account {}): {}", domain, account, specs.error().message);
  } else {
    for (const auto& s : specs.value()) {
      const std::string id = s.domain + "/" + s.selector + "/" +
                             std::string(dkim::key_type(s.algorithm)) + "/" +
                             std::to_string(s.version);
      std::shared_ptr<const dkim::PrivateKey> key;
      {
        std::lock_guard lk(mu_);
        if (auto p = parsed_.find(id); p != parsed_.end()) key = p->second;
      }
      if (!key) {
        key = dkim::PrivateKey::from_pem(s.private_pem);
        if (!key) {
          spdlog::error("dkim: unreadable private key for {} selector {}", s.domain, s.selector);
          continue;
        }
        std::lock_guard lk(mu_);
        parsed_[id] = key;
      }
      fresh.keys.push_back(SignerKey{s.domain, s.selector, std::move(key)});
    }
  }
  std::lock_guard lk(mu_);
  entries_[{account, domain}] = fresh;
  return fresh.keys;
}

}  // namespace tern::pipeline
