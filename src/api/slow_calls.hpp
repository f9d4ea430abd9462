// Requests that wait on the outside world (a test delivery to the account's relay, DNS checks
// of a domain) or burn CPU (DKIM key generation), and the per-account bound on them.
// Invariants (issue 10, item 1):
// - is_slow() is a pure function of method and path; the HTTP server runs the requests it
//   picks on a pool of their own, so they never hold the threads that answer the rest of the
//   API, and never an I/O thread.
// - SlowGate admits at most `per_account` slow calls of one account at a time; the next is
//   refused at once (429), so one tenant cannot fill the slow pool and stall everyone else's.
//   A Ticket gives its slot back when destroyed. Thread-safe.
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>

#include "net/http_server.hpp"

namespace tern::api {

// POST .../settings/test-email, POST .../domains, POST .../domains/{d}/check|rotate.
bool is_slow(const net::HttpRequest& req);

class SlowGate {
 public:
  explicit SlowGate(int per_account = 2) : per_account_(per_account) {}

  class Ticket {
   public:
    Ticket(SlowGate* g, int64_t account) : g_(g), account_(account) {}
    Ticket(Ticket&& o) noexcept : g_(o.g_), account_(o.account_) { o.g_ = nullptr; }
    Ticket& operator=(Ticket&& o) noexcept {
      if (this != &o) {
        if (g_) g_->release(account_);
        g_ = o.g_;
        account_ = o.account_;
        o.g_ = nullptr;
      }
      return *this;
    }
    ~Ticket() {
      if (g_) g_->release(account_);
    }

   private:
    SlowGate* g_;
    int64_t account_;
  };

  // A slot for this account, or nullopt when it already has per_account calls in flight.
  std::optional<Ticket> enter(int64_t account);
  int in_flight(int64_t account) const;
  int total_in_flight() const;

 private:
  void release(int64_t account);
  const int per_account_;
  mutable std::mutex mu_;
  std::map<int64_t, int> in_flight_;
};

}  // namespace tern::api
