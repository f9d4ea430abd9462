// Counts open connections, in total and per client (core::client_key: IPv4 address, IPv6 /64),
// so one client cannot take every slot of a listener. Shared by the SMTP and HTTP listeners.
// Invariants: enter() either admits (and counts) or says which cap refused; every admitted
// connection calls leave() exactly once with the same address. Thread-safe.
#pragma once
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/client_key.hpp"

namespace tern::net {

class ConnectionRegistry {
 public:
  enum class Admit { ok, total_full, client_full };

  Admit enter(const std::string& ip, size_t per_client, size_t total) {
    const std::string key = core::client_key(ip);
    std::lock_guard lk(mu_);
    if (total_ >= total) return Admit::total_full;
    auto& n = per_client_[key];
    if (n >= per_client) {
      if (n == 0) per_client_.erase(key);
      return Admit::client_full;
    }
    ++n;
    ++total_;
    return Admit::ok;
  }
  void leave(const std::string& ip) {
    const std::string key = core::client_key(ip);
    std::lock_guard lk(mu_);
    auto it = per_client_.find(key);
    if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
    --total_;
  }
  size_t total() const {
    std::lock_guard lk(mu_);
    return total_;
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, size_t> per_client_;
  size_t total_ = 0;
};

}  // namespace tern::net
