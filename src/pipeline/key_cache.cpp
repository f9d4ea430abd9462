#include "pipeline/key_cache.hpp"

#include <spdlog/spdlog.h>

#include <set>

namespace tern::pipeline {

KeyCache::KeyCache(Loader loader, std::chrono::milliseconds ttl, Clock clock)
    : loader_(std::move(loader)), ttl_(ttl), clock_(std::move(clock)) {}

std::chrono::steady_clock::time_point KeyCache::now() const {
  return clock_ ? clock_() : std::chrono::steady_clock::now();
}

std::optional<std::vector<SignerKey>> KeyCache::cached(int64_t account, const std::string& domain) {
  const auto t = now();
  std::lock_guard lk(mu_);
  auto it = entries_.find({account, domain});
  if (it == entries_.end() || t - it->second.loaded > ttl_) return std::nullopt;
  return it->second.keys;
}

core::Result<std::vector<SignerKey>> KeyCache::get(int64_t account, const std::string& domain) {
  if (auto c = cached(account, domain)) return std::move(*c);
  auto specs = loader_(account, domain);
  if (!specs) {
    if (specs.error().temporary) {
      // The database is away (issue 12): an expired entry still held beats deferring every
      // message until it is back; it is not refreshed (the next get asks the loader again).
      std::lock_guard lk(mu_);
      if (auto it = entries_.find({account, domain}); it != entries_.end()) {
        spdlog::warn("dkim: keys for {} (account {}) unavailable, using the last ones: {}", domain,
                     account, specs.error().message);
        return it->second.keys;
      }
    }
    spdlog::warn("dkim: keys for {} (account {}) unavailable, deferring: {}", domain, account,
                 specs.error().message);
    return core::Error::temp("DKIM signing keys unavailable");
  }
  Entry fresh;
  std::vector<std::string> ids;
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
        spdlog::error("dkim: unreadable private key for {} selector {}, deferring", s.domain,
                      s.selector);
        return core::Error::temp("DKIM signing key unreadable");
      }
    }
    ids.push_back(id);
    fresh.keys.push_back(SignerKey{s.domain, s.selector, std::move(key)});
  }
  fresh.loaded = now();
  std::lock_guard lk(mu_);
  for (size_t i = 0; i < ids.size(); ++i) parsed_.emplace(ids[i], fresh.keys[i].key);
  entries_[{account, domain}] = fresh;
  sweep(fresh.loaded);
  return std::move(fresh.keys);
}

void KeyCache::sweep(std::chrono::steady_clock::time_point t) {
  for (auto it = entries_.begin(); it != entries_.end();)
    it = (t - it->second.loaded > ttl_) ? entries_.erase(it) : std::next(it);
  std::set<const dkim::PrivateKey*> used;
  for (const auto& [k, e] : entries_)
    for (const auto& sk : e.keys) used.insert(sk.key.get());
  for (auto it = parsed_.begin(); it != parsed_.end();)
    it = used.count(it->second.get()) ? std::next(it) : parsed_.erase(it);
}

void KeyCache::clear() {
  std::lock_guard lk(mu_);
  entries_.clear();
}

size_t KeyCache::parsed_keys() const {
  std::lock_guard lk(mu_);
  return parsed_.size();
}

size_t KeyCache::entries() const {
  std::lock_guard lk(mu_);
  return entries_.size();
}

}  // namespace tern::pipeline
