// The webhook sender driver (see webhook_sender.hpp for the contract): outbox batches → bodies →
// signed POSTs → marks and "webhook" events. Which batches are claimed and started, the
// per-host rule, retries and give-up are events::WebhookScheduler / events::settle (pure, unit
// tested in tests/unit/events); this file does the I/O: outbox and store calls, rendering,
// signing, the HTTP exchange (net::start_http_post) and the timer. Everything here runs on the
// sender's io_context thread.
//
// Invariant: every item the scheduler started is marked (sent or failed) unless the process
// stops first.
#include "net/webhook_sender.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <chrono>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <unordered_set>

#include "core/clock.hpp"
#include "dns/ip.hpp"
#include "events/webhook_policy.hpp"
#include "net/http_client.hpp"
#include "net/smtp_client.hpp"
#include "report/report.hpp"
#include "report/signature.hpp"
#include "store/outbox.hpp"
#include "store/store.hpp"

namespace tern::net {

namespace asio = boost::asio;

core::Result<report::TargetPolicy> webhook_policy(bool allow_loopback,
                                                  const std::vector<std::string>& allow) {
  return report::make_policy(allow_loopback, allow, "[webhooks] allow");
}

namespace {

using Batch = std::vector<store::OutboxItem>;

// A reply text for the message log: the URL without its query (it may carry a token), capped.
std::string url_for_log(const std::string& url) {
  std::string u = url.substr(0, url.find('?'));
  if (u.size() > 200) u = u.substr(0, 200) + "...";
  return u;
}

}  // namespace

struct WebhookSender::Impl : std::enable_shared_from_this<WebhookSender::Impl> {
  asio::io_context& io;
  WebhookConfig cfg;
  WebhookServices svc;
  core::SystemClock system_clock;
  HttpClientServices http;
  asio::steady_timer timer;
  bool stopped = false;
  std::atomic<bool> poke_pending{false};

  events::WebhookScheduler sched;

  std::atomic<uint64_t> c_sent{0}, c_failed{0}, c_given_up{0}, c_backlog{0}, c_in_flight{0};
  int64_t backlog_read_ms = 0;  // when backlog() was last asked (the sender's thread; 0 never)
  // Our newest claim per item (the io thread only): when an item's lease ran out while its POST
  // was in flight, this sender may claim it again (the scheduler does not post it twice); the
  // mark must then name that newer claim, which is ours too.
  std::unordered_map<int64_t, int64_t> our_token;

  Impl(asio::io_context& io_, WebhookConfig c, WebhookServices s)
      : io(io_),
        cfg(std::move(c)),
        svc(s),
        timer(io_),
        sched(events::WebhookPolicyConfig{cfg.max_concurrent, cfg.batch, cfg.max_waiting_per_host,
                                          cfg.idle_poll_ms}) {
    http.resolver = svc.resolver;
    http.blocking = svc.blocking;
    http.tls = make_client_context(cfg.ca_file);
    http.policy = cfg.policy;
  }

  int64_t now() const { return svc.clock ? svc.clock->now_ms() : system_clock.now_ms(); }

  // ---------------------------------------------------------------- taking work

  void pump() {
    if (stopped) return;
    const int64_t t = now();
    bool store_error = false;
    sched.begin_pump();
    for (size_t n; !store_error && (n = sched.claim_budget()) > 0;) {
      auto r = svc.outbox->due(t, n, sched.config().batch, sched.full_urls());
      if (!r) {
        spdlog::warn("webhooks: reading the outbox: {}", r.error().message);
        store_error = true;
        break;
      }
      if (r->empty()) break;
      for (const auto& b : *r)
        for (const auto& i : b) our_token[i.id] = i.lease_token;
      for (auto& p : sched.offer(std::move(r).value())) start_post(std::move(p));
    }
    // The backlog is a metric: counted at most once a second (a COUNT over every pending
    // item; it took 5 ms per POST with 20,000 pending).
    if (backlog_read_ms == 0 || t - backlog_read_ms >= 1'000 || t < backlog_read_ms) {
      backlog_read_ms = t;
      if (auto b = svc.outbox->backlog()) c_backlog = b.value();
    }
    c_in_flight = sched.running();
    std::optional<int64_t> next_due;
    if (!store_error) {
      if (auto next = svc.outbox->next_due_ms()) next_due = next.value();
    }
    if (next_due && *next_due == 0) c_backlog = 0;  // nothing pending: exact, not a second old
    arm_timer(t, sched.wake_at(t, next_due, store_error));
  }

  void arm_timer(int64_t t, std::optional<int64_t> at) {
    timer.cancel();
    if (!at) return;
    timer.expires_after(std::chrono::milliseconds(*at - t));
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->pump();
    });
  }

  // ---------------------------------------------------------------- one POST

  // Read for every POST, never cached: a new or rotated secret signs the very next webhook
  // (one indexed read and an unseal per POST; POSTs are batches, at most max_concurrent at once).
  core::Result<std::vector<std::string>> secrets_for(int64_t account, int64_t t) {
    auto s = svc.store->settings.get(account, true);
    if (!s) return s.error();
    auto out = report::signing_secrets(s->webhook_secret, s->webhook_secret_previous,
                                       s->webhook_secret_changed_ms, t, cfg.secret_grace_ms);
    sodium_memzero(s->webhook_secret.data(), s->webhook_secret.size());
    sodium_memzero(s->webhook_secret_previous.data(), s->webhook_secret_previous.size());
    return out;
  }

  // Renders the body; items that cannot be rendered are moved to `bad` with the reason.
  std::string render(Batch& items, std::vector<std::pair<store::OutboxItem, std::string>>& bad,
                     std::string& content_type) {
    Batch good;
    std::string body;
    const store::OutboxKind kind = items.front().kind;
    const bool xml = items.front().content_type.find("xml") != std::string::npos;
    if (kind == store::OutboxKind::report) {
      std::vector<report::ReportResult> results;
      for (auto& i : items) {
        auto r = report::result_from_json(i.item);
        if (!r) {
          bad.emplace_back(std::move(i), r.error().message);
          continue;
        }
        results.push_back(std::move(r.value()));
        good.push_back(std::move(i));
      }
      content_type = xml ? "application/xml" : "application/json";
      body = xml ? report::to_xml(results) : report::to_json(results);
    } else {  // OutboxKind::tracking
      auto arr = nlohmann::json::array();
      for (auto& i : items) {
        auto j = nlohmann::json::parse(i.item, nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
          bad.emplace_back(std::move(i), "tracking event: not a JSON object");
          continue;
        }
        arr.push_back(std::move(j));
        good.push_back(std::move(i));
      }
      content_type = "application/json";
      body = nlohmann::json{{"events", std::move(arr)}}.dump(
          -1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    items = std::move(good);
    return body;
  }

  // Starts one POST the scheduler chose (its host is marked busy there). Ends in finished().
  void start_post(events::StartPost p) {
    c_in_flight = sched.running();
    const int64_t t = now();
    Batch& b = p.batch;

    std::vector<std::pair<store::OutboxItem, std::string>> bad;
    std::string content_type;
    std::string body = render(b, bad, content_type);
    if (!bad.empty()) {
      std::vector<store::DeliveryEvent> attempts;
      for (auto& [item, why] : bad) {
        ++c_failed;
        spdlog::warn("webhooks: item {} of message {} given up: {}", item.id, item.message_id, why);
        events::Settlement s;
        s.given_up.push_back(item.id);
        mark({item}, s, t, "not sent: " + why, 0, attempts);
        sched.settled_apart(item.id);
      }
      record(attempts);
    }
    if (b.empty()) {
      release(std::move(p));
      return;
    }

    HttpPost req;
    req.url = b.front().url;
    req.content_type = content_type;
    req.timeout_s = cfg.timeout_s;
    req.body = std::move(body);
    const int64_t ts = t / 1000;
    req.headers.emplace_back("X-Tern-Timestamp", std::to_string(ts));
    auto secrets = secrets_for(b.front().account_id, t);
    std::string local_error;
    if (!secrets) {
      local_error = "account settings: " + secrets.error().message;
    } else if (!secrets->empty()) {
      auto sig = report::signature_header(*secrets, ts, req.body);
      if (sig)
        req.headers.emplace_back("X-Tern-Signature", sig.value());
      else
        local_error = "cannot sign: " + sig.error().message;
      for (auto& k : *secrets) sodium_memzero(k.data(), k.size());
    }
    if (!local_error.empty()) {
      HttpPostResult r;
      r.url = req.url;
      r.error = local_error;
      finished(std::move(p), std::move(r));
      return;
    }
    start_http_post(io, http, std::move(req),
                    [self = shared_from_this(), p = std::move(p)](HttpPostResult r) mutable {
                      self->finished(std::move(p), std::move(r));
                    });
  }

  void finished(events::StartPost p, HttpPostResult r) {
    const Batch& b = p.batch;
    const int64_t t = now();
    std::string reply = "POST " + url_for_log(b.front().url) + ": ";
    if (r.ok() || r.status_error)
      reply += std::to_string(r.status) + (r.reason.empty() ? "" : " " + r.reason);
    else
      reply += r.error;
    if (!r.ok()) ++c_failed;
    const auto s = events::settle(b, events::PostOutcome{r.status, r.permanent}, t, cfg.max_age_ms);
    if (!s.given_up.empty())
      spdlog::warn("webhooks: giving up {} item(s) for {}: {}", s.given_up.size(),
                   url_for_log(b.front().url), reply);
    std::vector<store::DeliveryEvent> attempts;
    mark(b, s, t, reply, r.status, attempts);
    record(attempts);
    release(std::move(p));
  }

  // Marks what settle decided and adds one attempt event per item. Marks are fenced by the
  // claim each item came with: when our lease ran out and another node claimed an item again,
  // its result is the one kept and ours changes nothing (logged).
  void mark(const Batch& items, const events::Settlement& s, int64_t t, const std::string& reply,
            int code, std::vector<store::DeliveryEvent>& attempts) {
    std::unordered_map<int64_t, int64_t> token;
    for (const auto& i : items) token.emplace(i.id, i.lease_token);
    auto claims = [&](const std::vector<int64_t>& ids) {
      std::vector<store::OutboxClaim> out;
      out.reserve(ids.size());
      for (int64_t id : ids) {
        auto newest = our_token.find(id);
        out.push_back({id, newest != our_token.end() ? newest->second : token[id]});
        if (newest != our_token.end()) our_token.erase(newest);
      }
      return out;
    };
    auto fenced = [&](core::Result<size_t> m, size_t n, std::string_view what) {
      if (!m)
        spdlog::error("webhooks: marking {} item(s) {}: {}", n, what, m.error().message);
      else if (*m < n)
        spdlog::warn(
            "webhooks: {} of {} item(s) were claimed again after our lease ran out; "
            "their new holder's result stands",
            n - *m, n);
    };
    if (!s.sent.empty()) {
      fenced(svc.outbox->mark_sent(claims(s.sent), t, code), s.sent.size(), "sent");
      c_sent += s.sent.size();
    }
    for (const auto& [next, ids] : s.retry_at)
      fenced(svc.outbox->mark_failed(claims(ids), next, reply, false, code), ids.size(), "failed");
    if (!s.given_up.empty()) {
      fenced(svc.outbox->mark_failed(claims(s.given_up), t, reply, true, code), s.given_up.size(),
             "failed");
      c_given_up += s.given_up.size();
    }
    const std::unordered_set<int64_t> gave_up(s.given_up.begin(), s.given_up.end());
    for (const auto& i : items) {
      store::DeliveryEvent e;
      e.time_ms = t;
      e.queue_id = i.queue_id;
      e.account_id = i.account_id;
      e.recipient = i.recipient;
      e.event = core::EventKind::webhook;
      e.attempt = i.attempts + 1;
      e.code = code;
      e.reply = gave_up.count(i.id) ? reply + " (given up)" : reply;
      attempts.push_back(std::move(e));
    }
  }

  void record(const std::vector<store::DeliveryEvent>& attempts) {
    if (attempts.empty()) return;
    if (svc.record_events) return svc.record_events(attempts);
    if (!svc.store) return;
    if (auto r = svc.store->events.record(attempts); !r)
      spdlog::error("webhooks: recording {} attempt event(s): {}", attempts.size(),
                    r.error().message);
  }

  // The POST ended and its items are marked: the scheduler frees the host or hands its next
  // waiting batch; then look at the outbox again.
  void release(events::StartPost p) {
    auto next = sched.finished(p);
    if (next && !stopped) start_post(std::move(*next));
    c_in_flight = sched.running();
    pump();
  }
};

WebhookSender::WebhookSender(asio::io_context& io, WebhookConfig cfg, WebhookServices svc)
    : impl_(std::make_shared<Impl>(io, std::move(cfg), svc)) {}

WebhookSender::~WebhookSender() { stop(); }

void WebhookSender::start() {
  asio::post(impl_->io, [self = impl_] { self->pump(); });
}

void WebhookSender::stop() {
  asio::post(impl_->io, [self = impl_] {
    self->stopped = true;
    self->timer.cancel();
  });
}

void WebhookSender::poke() {
  if (impl_->poke_pending.exchange(true)) return;
  asio::post(impl_->io, [self = impl_] {
    self->poke_pending = false;
    self->pump();
  });
}

void WebhookSender::test_post(int64_t account_id, const std::string& kind,
                              std::function<void(WebhookTest)> done) {
  asio::post(impl_->io, [self = impl_, account_id, kind, done = std::move(done)]() mutable {
    WebhookTest out;
    auto s = self->svc.store->settings.get(account_id, true);
    if (!s) {
      out.error = "account settings: " + s.error().message;
      return done(std::move(out));
    }
    const bool report = kind == "report";
    out.url = report ? s->notify_url : s->tracking_url;
    if (out.url.empty()) {
      out.configured = false;
      out.error =
          report ? "the account has no notify_url set" : "the account has no tracking_url set";
      return done(std::move(out));
    }
    const int64_t t = self->now();
    auto time = report::format_time(t);
    HttpPost req;
    req.url = out.url;
    req.timeout_s = self->cfg.timeout_s;
    if (report) {
      report::ReportInput in;
      in.bulk_id = "tern-webhook-test";
      in.message_id = "tern-webhook-test";
      in.to = "test@example.invalid";
      in.sent_at_ms = t;
      in.done_at_ms = t;
      in.event = core::EventKind::delivered;
      in.code = 250;
      in.enhanced = "2.0.0";
      in.reply = "test report sent from the Tern console";
      in.mx_host = "example.invalid";
      in.attempt = 1;
      in.callback_data = "tern-webhook-test";
      auto r = report::make_result(in);
      if (!r) {
        out.error = r.error().message;
        return done(std::move(out));
      }
      const bool xml = s->report_format == store::ReportFormat::xml;
      req.content_type = xml ? "application/xml" : "application/json";
      req.body = xml ? report::to_xml({*r}) : report::to_json({*r});
    } else {
      req.content_type = "application/json";
      nlohmann::json ev = {{"type", "OPENED"},
                           {"messageId", "tern-webhook-test"},
                           {"bulkId", "tern-webhook-test"},
                           {"recipient", "test@example.invalid"},
                           {"url", ""},
                           {"time", time ? time.value() : std::string()},
                           {"userAgent", "Tern console test"},
                           {"ip", ""},
                           {"callbackData", "tern-webhook-test"}};
      req.body = nlohmann::json{{"events", nlohmann::json::array({ev})}}.dump();
    }
    const int64_t ts = t / 1000;
    req.headers.emplace_back("X-Tern-Timestamp", std::to_string(ts));
    req.headers.emplace_back("X-Tern-Test", "1");
    if (!s->webhook_secret.empty()) {
      auto sig = report::signature_header(s->webhook_secret, ts, req.body);
      if (!sig) {
        out.error = "cannot sign: " + sig.error().message;
        return done(std::move(out));
      }
      req.headers.emplace_back("X-Tern-Signature", sig.value());
    }
    start_http_post(self->io, self->http, std::move(req),
                    [self, out, done = std::move(done)](HttpPostResult r) mutable {
                      out.status = r.status;
                      out.ok = r.ok();
                      out.error = r.error;
                      done(std::move(out));
                    });
  });
}

WebhookCounters WebhookSender::counters() const {
  WebhookCounters c;
  c.sent = impl_->c_sent;
  c.failed_attempts = impl_->c_failed;
  c.given_up = impl_->c_given_up;
  c.backlog = impl_->c_backlog;
  c.in_flight = impl_->c_in_flight;
  return c;
}

}  // namespace tern::net
