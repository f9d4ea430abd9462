#include "api/slow_calls.hpp"

#include "api/request.hpp"

namespace tern::api {

bool is_slow(const net::HttpRequest& req) {
  if (req.method != "POST") return false;
  std::string_view path = req.path();
  if (!path.starts_with("/api/v1/")) return false;
  auto segs = split_path(path.substr(7));
  if (!segs || segs->empty()) return false;
  auto& s = *segs;
  size_t at = 0;  // index of the resource name
  if (s[0] == "accounts") {
    if (s.size() < 3) return false;
    at = 2;
  }
  const size_t rest = s.size() - at - 1;
  if (s[at] == "settings") return rest == 1 && s[at + 1] == "test-email";
  if (s[at] == "domains")
    return rest == 0 || (rest == 2 && (s[at + 2] == "check" || s[at + 2] == "rotate"));
  return false;
}

std::optional<SlowGate::Ticket> SlowGate::enter(int64_t account) {
  std::lock_guard lk(mu_);
  int& n = in_flight_[account];
  if (n >= per_account_) return std::nullopt;
  ++n;
  return Ticket(this, account);
}

int SlowGate::in_flight(int64_t account) const {
  std::lock_guard lk(mu_);
  auto it = in_flight_.find(account);
  return it == in_flight_.end() ? 0 : it->second;
}

int SlowGate::total_in_flight() const {
  std::lock_guard lk(mu_);
  int n = 0;
  for (const auto& [k, v] : in_flight_) n += v;
  return n;
}

void SlowGate::release(int64_t account) {
  std::lock_guard lk(mu_);
  auto it = in_flight_.find(account);
  if (it != in_flight_.end() && --it->second <= 0) in_flight_.erase(it);
}

}  // namespace tern::api
