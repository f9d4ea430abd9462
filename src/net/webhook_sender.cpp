// The webhook sender driver (see webhook_sender.hpp for the contract): outbox batches → bodies →
// signed POSTs → marks and "webhook" events. Which batches are claimed and started, the
// per-host rule, retries and give-up are events::WebhookScheduler / events::settle (pure, unit
// tested in tests/unit/events); this file does the I/O: outbox and store calls, rendering,
// signing, the HTTP exchange (net::start_http_post) and the timer on the sender's io_context
// thread, and the outbox and store calls in rounds on the store thread (store_round; the Round
// carries its input there and its results back, nothing else is shared but the atomic
// counters and the Outbox/Store, which are thread-safe).
//
// Invariants: every item the scheduler started is marked (sent or failed) unless the process
// stops first; at most one round runs; a mark names our newest claim of the item, read on the
// io thread when its round is prepared (after every earlier round's claims are known). A round
// stores its marks and claims in one Outbox::mark_and_claim (SQLite: one commit); when it fails,
// its marks go back to the coalescer with their claims, their items stay held (not sent again by
// this process) and the counters are not counted: the next round (after the store back-off, or
// sooner when a POST ends) stores them.
#include "net/webhook_sender.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <charconv>
#include <chrono>
#include <future>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <unordered_set>
#include <utility>

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

  std::shared_ptr<asio::thread_pool> store_pool;  // the store thread (one)

  // The io thread only:
  events::WebhookScheduler sched;
  events::MarkCoalescer marks;                         // of POSTs ended since the last round
  std::vector<int64_t> pending_marked;                 // their items (held until stored)
  std::vector<store::DeliveryEvent> pending_attempts;  // their attempt events
  std::vector<events::StartPost> ready;  // batches handed to a freed host: wait for secrets
  bool round_busy = false;               // a store round runs (at most one at a time)
  bool round_again = false;              // something asked for a round meanwhile
  // drain(): who waits for everything ended to be stored (resolved by drain_step).
  std::vector<std::shared_ptr<std::promise<bool>>> drain_waiters;
  uint64_t pending_failed = 0;  // failed attempts to count once their marks are stored

  std::atomic<uint64_t> c_sent{0}, c_failed{0}, c_given_up{0}, c_backlog{0}, c_in_flight{0};
  int64_t backlog_read_ms = 0;  // when backlog() was last asked (the sender's thread; 0 never)
  // Our newest claim per item (the io thread only): when an item's lease ran out while its POST
  // was in flight, this sender may claim it again (the scheduler does not post it twice); the
  // mark must then name that newer claim, which is ours too.
  std::unordered_map<int64_t, int64_t> our_token;

  Impl(asio::io_context& io_, WebhookConfig c, WebhookServices s,
       std::shared_ptr<asio::thread_pool> pool)
      : io(io_),
        cfg(std::move(c)),
        svc(s),
        timer(io_),
        store_pool(std::move(pool)),
        sched(events::WebhookPolicyConfig{cfg.max_concurrent, cfg.batch, cfg.max_waiting_per_host,
                                          cfg.idle_poll_ms}) {
    http.resolver = svc.resolver;
    http.blocking = svc.blocking;
    http.tls = make_client_context(cfg.ca_file);
    http.policy = cfg.policy;
  }

  int64_t now() const { return svc.clock ? svc.clock->now_ms() : system_clock.now_ms(); }

  // test_post, on the io thread with the settings its store thread read.
  static void test_post_now(const std::shared_ptr<Impl>& self, const std::string& kind,
                            const core::Result<store::AccountSettings>& s,
                            std::function<void(WebhookTest)> done);

  // ---------------------------------------------------------------- store rounds

  // The store work of one round, prepared on the io thread and done on the store thread.
  struct Round {
    int64_t t = 0;
    std::vector<events::MarkGroup> marks;                 // ids with the claims to name (tokens)
    std::vector<std::vector<store::OutboxClaim>> claims;  // per mark group
    std::vector<int64_t> marked_ids;                      // held until the marks are stored
    std::vector<store::DeliveryEvent> attempts;
    std::vector<events::StartPost> starts;  // ready to start: their secrets are read
    size_t budget = 0;                      // batches to claim
    size_t batch = 0;                       // items per batch at most
    std::vector<std::string> skip_urls;
    bool want_backlog = false;
    uint64_t failed = 0;  // failed attempts among the marks
    // Results (the store thread).
    std::vector<Batch> claimed;
    bool store_error = false;
    bool marks_failed = false;  // the marks were not stored: they go out again
    bool more_due = false;      // due() filled the budget: more may be due now
    bool none_pending = false;  // next_due_ms() said so
    std::optional<int64_t> next_due;
    std::optional<uint64_t> backlog;
    std::unordered_map<int64_t, core::Result<std::vector<std::string>>> secrets;
  };

  // Something to store or look at: a round now, or right after the running one.
  void pump() { request_round(true); }

  void request_round(bool fresh) {
    if (round_busy) {
      round_again = true;
      return;
    }
    dispatch(fresh);
  }

  void dispatch(bool fresh) {
    const int64_t t = now();
    if (fresh) sched.begin_pump();
    auto r = std::make_shared<Round>();
    r->t = t;
    r->marks = marks.take();
    for (const auto& g : r->marks) r->claims.push_back(claims_for(g.ids));
    r->marked_ids = std::move(pending_marked);
    pending_marked.clear();
    r->attempts = std::move(pending_attempts);
    pending_attempts.clear();
    r->failed = std::exchange(pending_failed, 0);
    if (!stopped) {
      r->starts = std::move(ready);
      r->budget = sched.claim_budget();
      r->batch = sched.config().batch;
      if (r->budget > 0) r->skip_urls = sched.full_urls();
    }
    ready.clear();
    if (backlog_read_ms == 0 || t - backlog_read_ms >= 1'000 || t < backlog_read_ms) {
      backlog_read_ms = t;
      r->want_backlog = true;
    }
    if (r->marks.empty() && r->attempts.empty() && r->starts.empty() && r->budget == 0 &&
        !r->want_backlog) {
      // Nothing to store, claim or look at (every slot runs, or this pump claimed enough).
      c_in_flight = sched.running();
      arm_timer(t, sched.wake_at(t, t, false));
      return;
    }
    round_busy = true;
    asio::post(*store_pool, [self = shared_from_this(), r, work = asio::make_work_guard(io)] {
      self->store_round(*r);
      asio::post(self->io, [self, r] { self->round_done(*r); });
    });
  }

  // The store thread: marks and the claim (one transaction), attempt events, secrets for the
  // POSTs about to start and the batches claimed.
  void store_round(Round& r) {
    std::vector<store::OutboxMark> marks;
    marks.reserve(r.marks.size());
    for (size_t g = 0; g < r.marks.size(); ++g) {
      const auto& m = r.marks[g];
      marks.push_back({m.sent, m.give_up, m.at_ms, m.code, m.error, r.claims[g]});
    }
    uint64_t sent = 0, given_up = 0;
    size_t got = 0;
    if (!marks.empty() || r.budget > 0) {
      auto done = svc.outbox->mark_and_claim(marks, r.t, r.budget, r.batch, r.skip_urls);
      if (!done) {
        r.store_error = true;
        r.marks_failed = !marks.empty();
        if (r.marks_failed)
          spdlog::error("webhooks: marking {} item(s): {} (kept: marked again in the next round)",
                        r.marked_ids.size(), done.error().message);
        else
          spdlog::warn("webhooks: reading the outbox: {}", done.error().message);
      } else {
        for (size_t g = 0; g < r.marks.size(); ++g) {
          const auto& m = r.marks[g];
          const size_t n = m.ids.size();
          if (done->marked.at(g) < n)
            spdlog::warn(
                "webhooks: {} of {} item(s) were claimed again after our lease ran out; "
                "their new holder's result stands",
                n - done->marked[g], n);
          if (m.sent) sent += n;
          if (m.give_up) given_up += n;
        }
        r.claimed = std::move(done->claimed);
        got = r.claimed.size();
      }
    }
    record(r.attempts);
    if (!r.marks_failed) {
      c_sent += sent;  // after the events: a reader of the counter finds the attempts recorded
      c_given_up += given_up;
      c_failed += r.failed;
    }
    for (const auto& p : r.starts) read_secrets(r, p.batch.front().account_id);
    for (const auto& b : r.claimed)
      if (!b.empty()) read_secrets(r, b.front().account_id);
    if (!r.store_error) {
      if (events::look_for_next_due(r.budget, got)) {
        if (auto next = svc.outbox->next_due_ms()) {
          r.next_due = next.value();
          r.none_pending = r.next_due == 0;
        }
      } else {
        r.next_due = r.t;  // more is due now (or no claim was asked: see look_for_next_due)
        r.more_due = r.budget > 0;
      }
    }
    if (r.want_backlog)
      if (auto b = svc.outbox->backlog()) r.backlog = b.value();
  }

  // Read for every POST, never cached: in the store round just before the POST starts (once
  // per account and round), so a new or rotated secret signs the very next webhook.
  void read_secrets(Round& r, int64_t account) {
    if (!r.secrets.count(account)) r.secrets.emplace(account, secrets_for(account, r.t));
  }

  // The io thread: the round's marks are stored, its POSTs start. round_busy stays set until
  // the end: a POST that ends at once (local error, nothing to send) asks for the next round.
  void round_done(Round& r) {
    if (r.marks_failed) {
      // Stored in a later round under the same claims; the items stay held meanwhile (a POST
      // that ended is not sent again, even when its lease runs out before the store is back).
      for (const auto& claims : r.claims)
        for (const auto& c : claims)
          if (c.token != 0) our_token.emplace(c.id, c.token);
      marks.put_back(std::move(r.marks));
      pending_marked.insert(pending_marked.end(), r.marked_ids.begin(), r.marked_ids.end());
      pending_failed += r.failed;
    } else {
      sched.marked(r.marked_ids);
    }
    if (r.backlog) c_backlog = *r.backlog;
    if (r.none_pending) c_backlog = 0;  // exact, not a second old
    for (const auto& b : r.claimed)
      for (const auto& i : b) our_token[i.id] = i.lease_token;
    std::vector<events::StartPost> go = std::move(r.starts);
    if (r.budget > 0 && !r.store_error)
      for (auto& p : sched.offer(std::move(r.claimed))) go.push_back(std::move(p));
    for (auto& p : go) {
      if (stopped) break;
      start_post(std::move(p), r.secrets);
    }
    for (auto& [account, s] : r.secrets)
      if (s)
        for (auto& k : *s) sodium_memzero(k.data(), k.size());
    c_in_flight = sched.running();
    round_busy = false;
    // After a store error the next round waits for the back-off (wake_at) or a POST that ends:
    // never at once, or a store that is down would be asked in a loop.
    if (!r.store_error &&
        (round_again || !marks.empty() || !pending_attempts.empty() || !ready.empty())) {
      dispatch(std::exchange(round_again, false));
    } else if (r.more_due && sched.claim_budget() > 0 && !stopped) {
      dispatch(false);  // slots still free and more is due (bounded by kClaimRounds a pump)
    } else {
      const int64_t t = now();
      arm_timer(t, sched.wake_at(t, r.next_due, r.store_error));
    }
    drain_step(r.marks_failed);
  }

  // drain(): once no round runs, one more round stores what ended (stopped: it claims nothing);
  // the waiters learn true once nothing is left to store, false when a round failed.
  void drain_step(bool failed) {
    if (drain_waiters.empty()) return;
    const bool left = !marks.empty() || !pending_attempts.empty();
    if (!failed && round_busy) return;  // round_done comes back here
    if (!failed && left) return dispatch(false);
    for (auto& w : std::exchange(drain_waiters, {})) w->set_value(!failed && !left);
  }

  // The claims a mark names: the newest claim of each item that is ours (see our_token).
  std::vector<store::OutboxClaim> claims_for(const std::vector<int64_t>& ids) {
    std::vector<store::OutboxClaim> out;
    out.reserve(ids.size());
    for (int64_t id : ids) {
      auto newest = our_token.find(id);
      out.push_back({id, newest != our_token.end() ? newest->second : 0});
      if (newest != our_token.end()) our_token.erase(newest);
    }
    return out;
  }

  void arm_timer(int64_t t, std::optional<int64_t> at) {
    timer.cancel();
    if (!at || stopped) return;
    timer.expires_after(std::chrono::milliseconds(*at - t));
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->pump();
    });
  }

  // ---------------------------------------------------------------- one POST

  // The store thread. Never cached (see read_secrets): one indexed read and an unseal per
  // account and round.
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

  // Starts one POST the scheduler chose (its host is marked busy there), signed with the
  // secrets its store round read. Ends in finished().
  void start_post(events::StartPost p,
                  const std::unordered_map<int64_t, core::Result<std::vector<std::string>>>& keys) {
    c_in_flight = sched.running();
    const int64_t t = now();
    Batch& b = p.batch;

    std::vector<std::pair<store::OutboxItem, std::string>> bad;
    std::string content_type;
    std::string body = render(b, bad, content_type);
    for (auto& [item, why] : bad) {
      ++pending_failed;
      spdlog::warn("webhooks: item {} of message {} given up: {}", item.id, item.message_id, why);
      events::Settlement s;
      s.given_up.push_back(item.id);
      settled({item}, s, t, "not sent: " + why, 0);
    }
    if (b.empty()) {
      if (auto next = sched.ended(p)) ready.push_back(std::move(*next));
      request_round(true);
      return;
    }

    HttpPost req;
    req.url = b.front().url;
    req.content_type = content_type;
    req.timeout_s = cfg.timeout_s;
    req.body = std::move(body);
    const int64_t ts = t / 1000;
    req.headers.emplace_back("X-Tern-Timestamp", std::to_string(ts));
    std::string local_error;
    auto secrets = keys.find(b.front().account_id);
    if (secrets == keys.end()) {
      local_error = "account settings: not read";  // cannot happen: the round reads them
    } else if (!secrets->second) {
      local_error = "account settings: " + secrets->second.error().message;
    } else if (!secrets->second->empty()) {
      auto sig = report::signature_header(secrets->second.value(), ts, req.body);
      if (sig)
        req.headers.emplace_back("X-Tern-Signature", sig.value());
      else
        local_error = "cannot sign: " + sig.error().message;
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

  // The POST ended: its marks and attempt events wait for the next store round (coalesced
  // with those of every POST that ends meanwhile); its host takes its next waiting batch, or
  // frees its slot, at once. Its items stay held until their marks are stored.
  void finished(events::StartPost p, HttpPostResult r) {
    const Batch& b = p.batch;
    const int64_t t = now();
    std::string reply = "POST " + url_for_log(b.front().url) + ": ";
    if (r.ok() || r.status_error)
      reply += std::to_string(r.status) + (r.reason.empty() ? "" : " " + r.reason);
    else
      reply += r.error;
    if (!r.ok()) ++pending_failed;
    const auto s = events::settle(b, events::PostOutcome{r.status, r.permanent}, t, cfg.max_age_ms);
    if (!s.given_up.empty())
      spdlog::warn("webhooks: giving up {} item(s) for {}: {}", s.given_up.size(),
                   url_for_log(b.front().url), reply);
    settled(b, s, t, reply, r.status);
    if (auto next = sched.ended(p)) ready.push_back(std::move(*next));
    c_in_flight = sched.running();
    request_round(true);
  }

  // Queues what settle decided for the next store round, and one attempt event per item.
  // Marks are fenced by our newest claim of each item (claims_for): when our lease ran out and
  // another node claimed an item again, its result is the one kept and ours changes nothing
  // (logged).
  void settled(const Batch& items, const events::Settlement& s, int64_t t, const std::string& reply,
               int code) {
    marks.add(s, t, reply, code);
    const std::unordered_set<int64_t> gave_up(s.given_up.begin(), s.given_up.end());
    for (const auto& i : items) {
      pending_marked.push_back(i.id);
      store::DeliveryEvent e;
      e.time_ms = t;
      e.queue_id = i.queue_id;
      e.account_id = i.account_id;
      e.recipient = i.recipient;
      e.event = core::EventKind::webhook;
      e.attempt = i.attempts + 1;
      e.code = code;
      e.reply = gave_up.count(i.id) ? reply + " (given up)" : reply;
      pending_attempts.push_back(std::move(e));
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
};

WebhookSender::WebhookSender(asio::io_context& io, WebhookConfig cfg, WebhookServices svc)
    : store_(std::make_shared<asio::thread_pool>(1)),
      impl_(std::make_shared<Impl>(io, std::move(cfg), svc, store_)) {}

// The store thread ends with its round (the io_context runs no more, or this sender's stop()
// keeps it from starting POSTs); after the join no round can drop the last reference to Impl
// on the store thread.
WebhookSender::~WebhookSender() {
  stop();
  store_->join();
}

void WebhookSender::start() {
  asio::post(impl_->io, [self = impl_] { self->pump(); });
}

void WebhookSender::stop() {
  asio::post(impl_->io, [self = impl_] {
    self->stopped = true;
    self->timer.cancel();
  });
}

bool WebhookSender::drain(std::chrono::milliseconds timeout) {
  auto done = std::make_shared<std::promise<bool>>();
  auto stored = done->get_future();
  asio::post(impl_->io, [self = impl_, done] {
    self->drain_waiters.push_back(done);
    self->drain_step(false);
  });
  if (stored.wait_for(timeout) != std::future_status::ready) {
    spdlog::warn(
        "webhooks: the last marks were not stored within {} ms (their items go out "
        "again after the outbox lease)",
        timeout.count());
    return false;
  }
  if (!stored.get()) {
    spdlog::warn(
        "webhooks: the last marks could not be stored (their items go out again after "
        "the outbox lease)");
    return false;
  }
  return true;
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
  // The account's settings are read on the store thread; the POST is made on the io thread.
  asio::post(*store_, [self = impl_, account_id, kind, done = std::move(done),
                       work = asio::make_work_guard(impl_->io)]() mutable {
    auto settings = self->svc.store->settings.get(account_id, true);
    asio::post(self->io, [self, kind, s = std::move(settings), done = std::move(done)]() mutable {
      Impl::test_post_now(self, kind, s, std::move(done));
    });
  });
}

void WebhookSender::Impl::test_post_now(const std::shared_ptr<Impl>& self, const std::string& kind,
                                        const core::Result<store::AccountSettings>& s,
                                        std::function<void(WebhookTest)> done) {
  {
    WebhookTest out;
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
  }
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
