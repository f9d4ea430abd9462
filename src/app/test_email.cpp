#include "app/test_email.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/address.hpp"
#include "net/delivery_engine.hpp"
#include "policy/sender.hpp"
#include "store/store.hpp"

namespace tern::app {

TestEmails::TestEmails(const Config& cfg, store::Store& store, net::DeliveryEngine* engine,
                       const core::Clock& clock)
    : cfg_(cfg),
      store_(store),
      engine_(engine),
      limiter_(clock, {cfg.test_emails_per_minute, cfg.test_emails_per_minute}) {}

std::variant<net::TestSendResult, std::string> TestEmails::precheck(int64_t account_id,
                                                                    std::string from) {
  // Syntax first (the engine's own answers), then the account's policy.
  if (!from.empty() && !core::parse_mailbox(from))
    return net::TestSendResult{"error", 0, "", "invalid from address", "", false, ""};
  auto ctx = store_.account_context(account_id);
  if (!ctx) {  // the store's text stays in the log: the reply goes to the tenant
    spdlog::error("test email: account {}: {}", account_id, ctx.error().message);
    return net::TestSendResult{"error", 0, "", "the account could not be loaded", "", false, ""};
  }
  for (const auto& d : cfg_.smtp.platform_domains) ctx->platform_domains.push_back(d);
  if (from.empty()) from = ctx->mail_from;
  if (!from.empty()) {
    const core::Status s = policy::authorize_sender(*ctx, from);
    if (!s.ok()) return net::TestSendResult{"refused", s.code, s.enhanced, s.text, "", false, ""};
  } else {
    from = "postmaster@" + cfg_.hostname;
  }
  if (int64_t wait_ms = limiter_.take(account_id))
    return net::TestSendResult{"rate_limited",
                               0,
                               "",
                               fmt::format("at most {} test emails per minute; retry in {} s",
                                           cfg_.test_emails_per_minute, (wait_ms + 999) / 1000),
                               "",
                               false,
                               ""};
  return from;
}

void TestEmails::send(int64_t account_id, std::string from, const std::string& to,
                      std::function<void(net::TestSendResult)> done) {
  if (!engine_)
    return done(net::TestSendResult{"error", 0, "", "delivery is disabled", "", false, ""});
  auto p = precheck(account_id, std::move(from));
  if (auto* r = std::get_if<net::TestSendResult>(&p)) return done(std::move(*r));
  engine_->test_send_async(account_id, std::get<std::string>(p), to, std::move(done));
}

void TestEmails::send_api(int64_t account_id, const std::string& from, const std::string& to,
                          std::function<void(api::TestEmailResult)> done) {
  send(account_id, from, to, [done = std::move(done)](net::TestSendResult t) {
    done(api::TestEmailResult{t.outcome, t.code, t.enhanced, t.reply, t.host, t.tls, t.route});
  });
}

void TestEmails::send_control(const std::string& account, const std::string& from,
                              const std::string& to,
                              std::function<void(net::TestSendResult)> done) {
  auto a = store_.accounts.find(account);
  if (!a || !a.value())
    return done(net::TestSendResult{"error", 0, "", "no such account: " + account, "", false, ""});
  send(a.value()->id, from, to, std::move(done));
}

}  // namespace tern::app
