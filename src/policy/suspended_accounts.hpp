// The suspended accounts, in memory (issue 13), for the SMTP path: AUTH and MAIL ask it for
// every session without touching the database. The server fills it from store::SuspensionService at
// start and every few seconds (so `tern` CLI changes apply), and the API updates it at once
// when the operator suspends or lifts a suspension. Thread-safe (readers share a lock).
// Invariant: reply_text() is what an SMTP reply may carry: printable ASCII only (anything else
// becomes '?'), at most 200 bytes, never CR or LF.
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>

namespace tern::policy {

class SuspendedAccounts {
 public:
  std::optional<std::string> reason(int64_t account_id) const {
    std::shared_lock lk(mu_);
    auto it = reasons_.find(account_id);
    if (it == reasons_.end()) return std::nullopt;
    return it->second;
  }
  void set(int64_t account_id, const std::string& reason) {
    std::unique_lock lk(mu_);
    reasons_[account_id] = reason;
  }
  void clear(int64_t account_id) {
    std::unique_lock lk(mu_);
    reasons_.erase(account_id);
  }
  void replace(std::map<int64_t, std::string> all) {
    std::unique_lock lk(mu_);
    reasons_ = std::move(all);
  }

  // "Account suspended: <reason>" for an SMTP reply.
  static std::string reply_text(const std::string& reason) {
    std::string out = "Account suspended: ";
    for (unsigned char c : reason.substr(0, 200))
      out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
    return out;
  }

 private:
  mutable std::shared_mutex mu_;
  std::map<int64_t, std::string> reasons_;
};

}  // namespace tern::policy
