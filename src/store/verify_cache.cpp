#include "store/verify_cache.hpp"

#include <sodium.h>

namespace tern::store {

VerifyCache::VerifyCache(const core::Clock& clock, int64_t ttl_ms, size_t max_entries)
    : clock_(clock), ttl_ms_(ttl_ms), max_entries_(max_entries == 0 ? 1 : max_entries) {
  static_assert(sizeof(Tag) >= crypto_generichash_BYTES_MIN);
  crypto_generichash_keygen(key_.data());
}

VerifyCache::Tag VerifyCache::tag_of(std::string_view password) const {
  Tag t;
  crypto_generichash(t.data(), t.size(), reinterpret_cast<const unsigned char*>(password.data()),
                     password.size(), key_.data(), key_.size());
  return t;
}

std::optional<int64_t> VerifyCache::lookup(std::string_view username, std::string_view password) {
  const Tag t = tag_of(password);  // outside the lock: hashing is the only real work
  const int64_t now = clock_.now_ms();
  std::lock_guard lock(mu_);
  auto it = entries_.find(std::string(username));
  if (it == entries_.end()) return std::nullopt;
  if (now >= it->second.expires_ms) {
    entries_.erase(it);
    return std::nullopt;
  }
  if (sodium_memcmp(t.data(), it->second.tag.data(), t.size()) != 0) return std::nullopt;
  return it->second.account_id;
}

void VerifyCache::insert(std::string_view username, std::string_view password, int64_t account_id) {
  const Tag t = tag_of(password);
  const int64_t now = clock_.now_ms();
  std::lock_guard lock(mu_);
  std::string key(username);
  if (entries_.size() >= max_entries_ && entries_.find(key) == entries_.end()) {
    std::erase_if(entries_, [now](const auto& kv) { return now >= kv.second.expires_ms; });
    if (entries_.size() >= max_entries_) entries_.clear();
  }
  entries_[std::move(key)] = Entry{t, account_id, now + ttl_ms_};
}

void VerifyCache::forget(std::string_view username) {
  std::lock_guard lock(mu_);
  entries_.erase(std::string(username));
}

size_t VerifyCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace tern::store
