// The test email (seed 000) as the API, the console and the control socket ask for it: the
// checks before any attempt, then one asynchronous delivery through the account's route
// (net/test_send.hpp: at most one per account at a time, within a time limit, no thread waits
// for the remote).
// Invariants:
// - from "" = the account's mail_from, else postmaster@hostname; like any submission, a given
//   from (or the stored mail_from) must pass the account's sender policy (issue 10 item 2).
// - Each account gets [limits] test_emails_per_minute; over it the answer is rate_limited and
//   nothing is sent.
// - The store's error text stays in the log: the tenant sees a fixed text.
// - `done` is called exactly once, on the caller's thread (an answer given at once) or on the
//   engine's (the attempt's outcome).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <variant>

#include "api/api.hpp"
#include "app/config.hpp"
#include "net/test_send.hpp"
#include "policy/rate_limiter.hpp"

namespace tern::store {
class Store;
}
namespace tern::net {
class DeliveryEngine;
}

namespace tern::app {

class TestEmails {
 public:
  // engine null: delivery is disabled ([delivery] enabled = false), every request says so.
  TestEmails(const Config& cfg, store::Store& store, net::DeliveryEngine* engine,
             const core::Clock& clock);
  void send(int64_t account_id, std::string from, const std::string& to,
            std::function<void(net::TestSendResult)> done);
  // The API's form (issue 13): answered through HttpResponse::later.
  void send_api(int64_t account_id, const std::string& from, const std::string& to,
                std::function<void(api::TestEmailResult)> done);
  // The control socket's form: the account by name or id.
  void send_control(const std::string& account, const std::string& from, const std::string& to,
                    std::function<void(net::TestSendResult)> done);

 private:
  // An answer to give at once (nothing sent), or the from to send with.
  std::variant<net::TestSendResult, std::string> precheck(int64_t account_id, std::string from);
  const Config& cfg_;
  store::Store& store_;
  net::DeliveryEngine* engine_;
  policy::RateLimiter limiter_;
};

}  // namespace tern::app
