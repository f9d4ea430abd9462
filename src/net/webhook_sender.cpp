// The webhook sender loop (see webhook_sender.hpp for the contract): outbox batches → bodies →
// signed POSTs → marks and "webhook" events. Everything here runs on the sender's io_context
// thread; the HTTP exchange itself is net::start_http_post.
//
// Invariants:
//  - An item id is in `held` from the moment due() hands it out until it is marked, so a batch
//    the outbox hands out again (its lease ran out while it waited or was in flight) is dropped
//    instead of being sent twice by this process.
//  - running + queued never exceeds max_concurrent (queued = batches waiting for their host).
//  - Every item taken is marked (sent or failed) unless the process stops first.
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
#include <deque>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <unordered_set>

#include "core/clock.hpp"
#include "dns/ip.hpp"
#include "net/http_client.hpp"
#include "net/smtp_client.hpp"
#include "report/report.hpp"
#include "report/signature.hpp"
#include "store/outbox.hpp"
#include "store/store.hpp"

namespace tern::net {

namespace asio = boost::asio;

int64_t webhook_backoff_ms(int failed_attempts) {
  static constexpr int64_t kSteps[] = {30'000,  60'000,    120'000,  300'000,
                                       600'000, 1'200'000, 1'800'000};
  constexpr int kN = static_cast<int>(sizeof kSteps / sizeof kSteps[0]);
  if (failed_attempts < 1) failed_attempts = 1;
  return failed_attempts <= kN ? kSteps[failed_attempts - 1] : 3'600'000;
}

core::Result<report::TargetPolicy> webhook_policy(bool allow_loopback,
                                                  const std::vector<std::string>& allow) {
  return report::make_policy(allow_loopback, allow, "[webhooks] allow");
}

namespace {

constexpr int64_t kRetryOnStoreErrorMs = 5'000;

using Batch = std::vector<store::OutboxItem>;

std::string host_key(const std::string& url) {
  auto t = report::parse_url(url);
  return t ? t->host : url;
}

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

  std::unordered_set<int64_t> held;
  std::unordered_set<std::string> busy_hosts;
  std::unordered_map<std::string, std::deque<Batch>> waiting;
  size_t running = 0, queued = 0;

  std::atomic<uint64_t> c_sent{0}, c_failed{0}, c_given_up{0}, c_backlog{0}, c_in_flight{0};

  Impl(asio::io_context& io_, WebhookConfig c, WebhookServices s)
      : io(io_), cfg(std::move(c)), svc(s), timer(io_) {
    if (cfg.max_concurrent == 0) cfg.max_concurrent = 1;
    if (cfg.batch == 0) cfg.batch = 1;
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
    const size_t used = running + queued;
    bool store_error = false;
    if (used < cfg.max_concurrent) {
      auto r = svc.outbox->due(t, cfg.max_concurrent - used, cfg.batch);
      if (!r) {
        spdlog::warn("webhooks: reading the outbox: {}", r.error().message);
        store_error = true;
      } else {
        for (auto& b : r.value()) {
          // Items still ours from an earlier due() (their lease ran out while they waited or
          // were in flight) stay with that batch; the rest of this one goes out.
          std::erase_if(b, [&](const store::OutboxItem& i) { return held.count(i.id) > 0; });
          if (b.empty()) continue;
          for (const auto& i : b) held.insert(i.id);
          dispatch(std::move(b));
        }
      }
    }
    if (auto b = svc.outbox->backlog()) c_backlog = b.value();
    arm_timer(t, store_error);
  }

  void arm_timer(int64_t t, bool store_error) {
    int64_t at = std::numeric_limits<int64_t>::max();
    if (store_error) {
      at = t + kRetryOnStoreErrorMs;
    } else if (running + queued < cfg.max_concurrent) {
      // With every slot taken a finishing POST pumps again; no timer needed.
      auto next = svc.outbox->next_due_ms();
      if (!next)
        at = t + kRetryOnStoreErrorMs;
      else if (next.value() != 0)
        at = std::max(next.value(), t + 200);  // never spin
    }
    timer.cancel();
    if (at == std::numeric_limits<int64_t>::max()) return;
    timer.expires_after(std::chrono::milliseconds(at - t));
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->pump();
    });
  }

  void dispatch(Batch b) {
    std::string host = host_key(b.front().url);
    if (busy_hosts.count(host)) {
      waiting[host].push_back(std::move(b));
      ++queued;
      return;
    }
    start_post(std::move(b), host);
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

  void start_post(Batch b, const std::string& host) {
    busy_hosts.insert(host);
    ++running;
    c_in_flight = running;
    const int64_t t = now();

    std::vector<std::pair<store::OutboxItem, std::string>> bad;
    std::string content_type;
    std::string body = render(b, bad, content_type);
    if (!bad.empty()) {
      std::vector<store::DeliveryEvent> events;
      for (auto& [item, why] : bad) {
        ++c_failed;
        spdlog::warn("webhooks: item {} of message {} given up: {}", item.id, item.message_id, why);
        settle({item}, t, false, true, "not sent: " + why, 0, events);
      }
      record(events);
    }
    if (b.empty()) {
      release(host);
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
      finished(std::move(b), host, std::move(r));
      return;
    }
    start_http_post(io, http, std::move(req),
                    [self = shared_from_this(), b = std::move(b), host](HttpPostResult r) mutable {
                      self->finished(std::move(b), host, std::move(r));
                    });
  }

  void finished(Batch b, const std::string& host, HttpPostResult r) {
    const int64_t t = now();
    std::string reply = "POST " + url_for_log(b.front().url) + ": ";
    if (r.ok() || r.status_error)
      reply += std::to_string(r.status) + (r.reason.empty() ? "" : " " + r.reason);
    else
      reply += r.error;
    std::vector<store::DeliveryEvent> events;
    if (r.ok()) {
      settle(b, t, true, false, reply, r.status, events);
    } else {
      ++c_failed;
      // Per item: its own attempt count decides the backoff, its own age the give-up.
      Batch retry, give_up;
      for (auto& i : b) {
        if (r.permanent || t - i.created_ms >= cfg.max_age_ms)
          give_up.push_back(std::move(i));
        else
          retry.push_back(std::move(i));
      }
      if (!give_up.empty()) {
        spdlog::warn("webhooks: giving up {} item(s) for {}: {}", give_up.size(),
                     url_for_log(give_up.front().url), reply);
        settle(give_up, t, false, true, reply, r.status, events);
      }
      if (!retry.empty()) settle(retry, t, false, false, reply, r.status, events);
    }
    record(events);
    for (const auto& i : b) held.erase(i.id);
    release(host);
  }

  // Marks items and adds their attempt events.
  void settle(const Batch& items, int64_t t, bool sent, bool give_up, const std::string& reply,
              int code, std::vector<store::DeliveryEvent>& events) {
    if (items.empty()) return;
    if (sent) {
      std::vector<int64_t> ids;
      for (const auto& i : items) ids.push_back(i.id);
      if (auto m = svc.outbox->mark_sent(ids, t, code); !m)
        spdlog::error("webhooks: marking {} item(s) sent: {}", ids.size(), m.error().message);
      c_sent += ids.size();
    } else {
      std::map<int64_t, std::vector<int64_t>> by_next;
      for (const auto& i : items)
        by_next[give_up ? t : t + webhook_backoff_ms(i.attempts + 1)].push_back(i.id);
      for (const auto& [next, ids] : by_next)
        if (auto m = svc.outbox->mark_failed(ids, next, reply, give_up, code); !m)
          spdlog::error("webhooks: marking {} item(s) failed: {}", ids.size(), m.error().message);
      if (give_up) c_given_up += items.size();
    }
    for (const auto& i : items) {
      held.erase(i.id);
      store::DeliveryEvent e;
      e.time_ms = t;
      e.queue_id = i.queue_id;
      e.account_id = i.account_id;
      e.recipient = i.recipient;
      e.event = core::EventKind::webhook;
      e.attempt = i.attempts + 1;
      e.code = code;
      e.reply = give_up ? reply + " (given up)" : reply;
      events.push_back(std::move(e));
    }
  }

  void record(const std::vector<store::DeliveryEvent>& events) {
    if (events.empty() || !svc.store) return;
    if (auto r = svc.store->events.record(events); !r)
      spdlog::error("webhooks: recording {} attempt event(s): {}", events.size(),
                    r.error().message);
  }

  void release(const std::string& host) {
    --running;
    auto w = waiting.find(host);
    if (w != waiting.end() && !w->second.empty() && !stopped) {
      Batch next = std::move(w->second.front());
      w->second.pop_front();
      --queued;
      if (w->second.empty()) waiting.erase(w);
      busy_hosts.erase(host);
      start_post(std::move(next), host);
    } else {
      busy_hosts.erase(host);
    }
    c_in_flight = running;
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
