#include "policy/auth_limiter.hpp"

#include <algorithm>

#include "core/client_key.hpp"

namespace tern::policy {

namespace {
constexpr size_t kMaxUserKey = 256;
}

AuthLimiter::AuthLimiter(const core::Clock& clock, Limits limits)
    : clock_(clock),
      limits_(limits),
      ips_(std::make_shared<MemoryAuthCounts>(limits.max_entries,
                                              std::max(limits.window_ms, limits.block_ms))),
      pairs_(std::make_shared<MemoryAuthCounts>(limits.max_entries,
                                                std::max(limits.window_ms, limits.block_ms))) {}

AuthLimiter::AuthLimiter(const core::Clock& clock, Limits limits,
                         std::shared_ptr<AuthCounts> counts)
    : clock_(clock), limits_(limits), ips_(counts), pairs_(std::move(counts)) {}

std::string AuthLimiter::ip_key(std::string_view ip) { return core::client_key(ip); }

std::string AuthLimiter::pair_key(const std::string& ip_key, std::string_view username) {
  std::string k = ip_key;
  k += '\n';  // never inside an address key
  k += username.substr(0, kMaxUserKey);
  return k;
}

AuthCount AuthLimiter::next_count(const std::optional<AuthCount>& current, int64_t now, int max,
                                  const Limits& l) {
  AuthCount e = current.value_or(AuthCount{0, now, 0});
  if (e.blocked_until > now) return e;  // already blocked: no extension
  if (e.blocked_until != 0 || now - e.window_start >= l.window_ms) e = AuthCount{0, now, 0};
  if (++e.failures >= max) e.blocked_until = now + l.block_ms;
  return e;
}

bool AuthLimiter::allowed(std::string_view ip, std::string_view username) const {
  const int64_t now = clock_.now_ms();
  const std::string ipk = ip_key(ip);
  if (ips_->blocked(ipk, now)) return false;
  if (!username.empty() && pairs_->blocked(pair_key(ipk, username), now)) return false;
  return true;
}

void AuthLimiter::record_failure(std::string_view ip, std::string_view username) {
  const int64_t now = clock_.now_ms();
  const std::string ipk = ip_key(ip);
  const Limits& l = limits_;
  ips_->update(ipk, now, [&](const std::optional<AuthCount>& c) {
    return next_count(c, now, l.max_failures_per_ip, l);
  });
  if (!username.empty())
    pairs_->update(pair_key(ipk, username), now, [&](const std::optional<AuthCount>& c) {
      return next_count(c, now, l.max_failures_per_user, l);
    });
}

void AuthLimiter::record_success(std::string_view ip, std::string_view username) {
  if (!username.empty()) pairs_->clear(pair_key(ip_key(ip), username));
}

size_t AuthLimiter::tracked() const { return ips_->size() + (pairs_ != ips_ ? pairs_->size() : 0); }

}  // namespace tern::policy
