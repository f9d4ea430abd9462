// The delivery driver: delivery::Engine's actions turned into pool work and connections (see
// the header for which thread does what).
#include "net/delivery_engine.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <future>
#include <limits>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "core/address.hpp"
#include "core/clock.hpp"
#include "delivery/bounce.hpp"
#include "delivery/engine.hpp"
#include "delivery/suppression_batches.hpp"
#include "net/capture_delivery.hpp"
#include "net/delivery_target.hpp"
#include "net/smtp_client.hpp"
#include "queue/spool.hpp"
#include "store/store.hpp"

namespace tern::net {

namespace asio = boost::asio;

namespace {

delivery::EngineConfig engine_config(const DeliveryConfig& c, const std::string& hostname) {
  delivery::EngineConfig e;
  e.limits = c.limits;
  e.max_messages_per_connection = c.max_messages_per_connection;
  e.retry = c.retry;
  e.smarthost = c.smarthost;
  e.mx_port = c.mx_port;
  e.hostname = hostname;
  e.max_active_messages = c.max_active_messages;
  return e;
}

TargetContext target_context(const DeliveryConfig& c, const DeliveryServices& s) {
  TargetContext t;
  t.resolver = s.resolver;
  t.hostname = s.hostname;
  t.helo_name = c.helo_name.empty() ? s.hostname : c.helo_name;
  t.connect_timeout_s = c.connect_timeout_s;
  t.command_timeout_s = c.command_timeout_s;
  t.data_timeout_s = c.data_timeout_s;
  t.reject_loopback_mx = c.reject_loopback_mx;
  t.relay_policy = c.relay_policy;
  t.own_listeners = s.own_listeners;
  return t;
}

}  // namespace

struct DeliveryEngine::Impl : std::enable_shared_from_this<Impl> {
  asio::io_context& io;
  DeliveryConfig cfg;
  DeliveryServices svc;
  TargetContext target_ctx;
  core::SystemClock clock;
  delivery::Engine core;  // connection thread only
  std::shared_ptr<asio::ssl::context> tls;
  asio::steady_timer timer;
  int64_t timer_at = std::numeric_limits<int64_t>::max();
  asio::strand<asio::thread_pool::executor_type> spool_strand, events_strand;
  std::unordered_map<std::string, ClientTarget> targets;  // dest → endpoints of its last Resolve
  std::unordered_map<std::string, int64_t> sandboxes;     // dest → account (route=sandbox)
  std::atomic<std::thread::id> engine_tid{};
  std::atomic<bool> queue_loaded{false};  // the engine has the spool's index (start() ran)
  std::unique_ptr<TestSender> tester;
  // Published after every input, for counters() from any thread.
  std::atomic<uint64_t> c_delivered{0}, c_deferred{0}, c_bounced{0}, c_expired{0}, c_rejected{0},
      c_connections{0}, c_notices{0}, c_queued{0}, c_active{0};
  bool trimmed = true;                       // memory given back since the queue last emptied
  delivery::SuppressionBatches sup_batches;  // connection thread only

  // Messages the spool recovered whose on_recovered hook has not run yet. The hook runs
  // before the engine sees the envelope (LoadEnvelopes), so a recovered message's rows reach
  // the reports before any of its events; a background pass catches up the rest.
  struct Recovered {
    std::mutex mu;
    std::condition_variable cv;
    bool ready = true;             // false while the set is being built (at start)
    std::vector<std::string> ids;  // sorted
    std::vector<bool> done;
    bool claim(const std::string& id) {
      std::unique_lock lk(mu);
      cv.wait(lk, [this] { return ready; });
      auto it = std::lower_bound(ids.begin(), ids.end(), id);
      if (it == ids.end() || *it != id) return false;
      const size_t i = static_cast<size_t>(it - ids.begin());
      if (done[i]) return false;
      done[i] = true;
      return true;
    }
  } recovered;

  Impl(asio::io_context& io_, DeliveryConfig c, DeliveryServices s)
      : io(io_),
        cfg(std::move(c)),
        svc(std::move(s)),
        target_ctx(target_context(cfg, svc)),
        core(engine_config(cfg, svc.hostname), clock),
        tls(make_client_context(cfg.ca_file)),
        timer(io_),
        spool_strand(asio::make_strand(svc.blocking->get_executor())),
        events_strand(asio::make_strand(svc.blocking->get_executor())) {
    TestSendServices ts;
    ts.io = &io;
    ts.pool = svc.blocking;
    ts.tls = tls;
    ts.store = svc.store;
    ts.target = target_ctx;
    ts.smarthost = cfg.smarthost;
    ts.mx_port = cfg.mx_port;
    ts.capture = svc.capture;
    ts.capture_pool = svc.capture_pool;
    tester = std::make_unique<TestSender>(std::move(ts));
  }

  // Every store and spool call below is made through this check: never on the connection
  // thread (a breach is a bug that would stall every delivery; it aborts loudly).
  void on_pool() const {
    if (std::this_thread::get_id() == engine_tid.load(std::memory_order_relaxed)) {
      spdlog::critical("delivery: store or spool call on the connection thread");
      std::abort();
    }
  }

  // Runs f on the connection thread (the engine's), then the actions it caused.
  template <class F>
  void on_engine(F f) {
    asio::post(io, [self = shared_from_this(), f = std::move(f)]() mutable {
      self->engine_tid.store(std::this_thread::get_id(), std::memory_order_relaxed);
      f(self->core);
      self->run();
    });
  }

  // ---------------------------------------------------------------- actions

  void run() {
    for (auto& a : core.take_actions()) std::visit([this](auto& x) { act(x); }, a);
    publish();
    arm_timer();
  }

  void publish() {
    const auto c = core.counters();
    c_delivered = c.delivered;
    c_deferred = c.deferred;
    c_bounced = c.bounced;
    c_expired = c.expired;
    c_rejected = c.rejected;
    c_connections = c.connections;
    c_notices = c.bounce_notices;
    c_queued = c.queued_messages;
    c_active = c.active_messages;
    if (c.queued_messages == 0 && !trimmed) {
      trimmed = true;
      targets.clear();
      // The queue drained: give the freed heap back to the system (glibc keeps it otherwise),
      // now and again when the last events and reports of the drain have been written.
      asio::post(*svc.blocking, [] { ::malloc_trim(0); });
      for (int s : {10, 60}) {
        auto t = std::make_shared<asio::steady_timer>(io, std::chrono::seconds(s));
        t->async_wait([self = shared_from_this(), t](const boost::system::error_code& ec) {
          if (ec || self->c_queued != 0) return;
          asio::post(*self->svc.blocking, [] { ::malloc_trim(0); });
        });
      }
    } else if (c.queued_messages > 0) {
      trimmed = false;
    }
  }

  void arm_timer() {
    auto next = core.next_wakeup_ms();
    const int64_t at = next ? *next : std::numeric_limits<int64_t>::max();
    if (at >= timer_at) return;
    timer_at = at;
    const int64_t delay = std::max<int64_t>(0, at - clock.now_ms());
    timer.expires_after(std::chrono::milliseconds(delay + 1));
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      self->timer_at = std::numeric_limits<int64_t>::max();
      self->core.tick();
      self->run();
    });
  }

  void act(delivery::LoadEnvelopes& a) {
    asio::post(*svc.blocking, [self = shared_from_this(), ids = std::move(a.ids)] {
      self->on_pool();
      std::vector<delivery::LoadedEnvelope> batch;
      batch.reserve(ids.size());
      for (const auto& id : ids) {
        delivery::LoadedEnvelope l;
        l.id = id;
        l.msg = self->svc.spool->get(id);
        if (l.msg && self->svc.on_recovered && self->recovered.claim(id))
          self->svc.on_recovered(*l.msg);
        if (l.msg) {
          if (auto src = self->svc.spool->content_source(*l.msg))
            l.content = std::move(src).value();
          else
            l.error = src.error().message;
        }
        batch.push_back(std::move(l));
      }
      self->on_engine([batch = std::move(batch)](delivery::Engine& e) mutable {
        e.envelopes_loaded(std::move(batch));
      });
    });
  }

  void act(delivery::LoadSettings& a) {
    asio::post(*svc.blocking, [self = shared_from_this(), account = a.account_id] {
      self->on_pool();
      auto r = self->svc.store->settings.get(account, true);
      if (!r) spdlog::error("delivery: account {} settings: {}", account, r.error().message);
      self->on_engine([account, r = std::move(r)](delivery::Engine& e) mutable {
        e.settings_loaded(account, std::move(r));
      });
    });
  }

  // One look-up at a time (delivery/suppression_batches.hpp): the queries that come while one
  // runs go out together in the next.
  void act(delivery::CheckSuppression& a) {
    if (auto b = sup_batches.add(std::move(a.queries))) look_up_suppressions(std::move(*b));
  }

  void look_up_suppressions(delivery::SuppressionBatches::Batch next) {
    asio::post(*svc.blocking, [self = shared_from_this(), qs = std::move(next)]() mutable {
      self->on_pool();
      // One look-up per account for the whole batch.
      std::unordered_map<int64_t, std::vector<size_t>> by_account;
      for (size_t i = 0; i < qs.size(); ++i) by_account[qs[i].account_id].push_back(i);
      for (const auto& [account, idx] : by_account) {
        std::vector<std::string> addrs;
        addrs.reserve(idx.size());
        for (size_t i : idx) addrs.push_back(qs[i].address);
        auto listed = self->svc.store->suppressions.listed(account, addrs);
        if (!listed) {
          spdlog::error("delivery: suppression look-up (account {}, {} addresses): {}", account,
                        addrs.size(), listed.error().message);
          continue;  // not suppressed: a failed look-up never loses mail
        }
        const std::unordered_set<std::string> on(listed->begin(), listed->end());
        for (size_t i : idx) qs[i].suppressed = on.count(qs[i].address) > 0;
      }
      self->on_engine([self, qs = std::move(qs)](delivery::Engine& e) mutable {
        e.suppression_checked(std::move(qs));
        if (auto b = self->sup_batches.done()) self->look_up_suppressions(std::move(*b));
      });
    });
  }

  void act(delivery::Resolve& a) {
    if (a.route.kind == delivery::Route::Kind::sandbox) {
      // route=sandbox: no look-up; Connect hands the messages to the capture sink.
      sandboxes[a.route.dest] = a.route.account_id;
      on_engine([dest = a.route.dest](delivery::Engine& e) { e.resolved(dest, std::nullopt); });
      return;
    }
    asio::post(
        *svc.blocking, [self = shared_from_this(), route = std::move(a.route), seed = a.seed] {
          auto target = resolve_target(self->target_ctx, route, seed);
          self->on_engine(
              [self, dest = route.dest, target = std::move(target)](delivery::Engine& e) mutable {
                if (auto* t = std::get_if<ClientTarget>(&target)) {
                  self->targets[dest] = std::move(*t);
                  e.resolved(dest, std::nullopt);
                } else {
                  e.resolved(dest, std::get<core::DeliveryOutcome>(std::move(target)));
                }
              });
        });
  }

  struct Conn;
  void act(delivery::Connect& a);

  void act(delivery::RecordEvents& a) {
    asio::post(events_strand, [self = shared_from_this(), batch = std::move(a.events)] {
      self->on_pool();
      for (const auto& e : batch) {
        const core::DeliveryOutcome o{
            core::DeliveryOutcome::temp, e.code, e.enhanced, e.reply, e.phase, e.mx_host, e.tls};
        spdlog::info("{}: to=<{}> status={} attempt={} {}", e.queue_id, e.recipient,
                     core::to_string(e.event), e.attempt, o.summary());
      }
      // With the reports' journal (issue 12) on_events records them: durable locally first,
      // applied to the store with idempotency keys, kept while the database is away.
      if (!self->svc.reports_record_events)
        if (auto r = self->svc.store->events.record(batch); !r)
          spdlog::error("delivery: recording {} events: {}", batch.size(), r.error().message);
      // Reports follow even when the store write failed: the outcome happened either way.
      if (self->svc.on_events) self->svc.on_events(batch);
    });
  }

  void act(delivery::AddSuppression& a) {
    store::Suppression s{a.account_id, a.address, std::move(a.reason), a.queue_id, a.time_ms};
    asio::post(*svc.blocking, [self = shared_from_this(), s = std::move(s)] {
      self->on_pool();
      if (self->svc.on_suppression) return self->svc.on_suppression(s);  // journaled
      if (auto r = self->svc.store->suppressions.add(s); !r)
        spdlog::error("suppression {}: {}", s.address, r.error().message);
    });
  }

  void act(delivery::PersistState& a) {
    asio::post(spool_strand, [self = shared_from_this(), m = std::move(a.msg)] {
      self->on_pool();
      self->svc.spool->update_async(m, [id = m.id](core::Result<void> r) {
        if (!r) spdlog::error("delivery {}: spool update: {}", id, r.error().message);
      });
    });
  }

  void act(delivery::PersistHeld& a) {
    asio::post(spool_strand, [self = shared_from_this(), id = std::move(a.id), held = a.held] {
      self->on_pool();
      auto m = self->svc.spool->get(id);
      if (!m) return;  // finished meanwhile
      m->held = held;
      self->svc.spool->update_async(*m, [id](core::Result<void> r) {
        if (!r) spdlog::error("delivery {}: spool update: {}", id, r.error().message);
      });
    });
  }

  void act(delivery::Finish& a) {
    asio::post(spool_strand, [self = shared_from_this(), id = std::move(a.id)] {
      self->on_pool();
      self->svc.spool->finish_async(id, [id](core::Result<void> r) {
        if (!r) spdlog::error("delivery {}: spool finish: {}", id, r.error().message);
      });
    });
  }

  void act(delivery::SpoolBounce& a) {
    asio::post(spool_strand, [self = shared_from_this(), b = std::move(a)]() mutable {
      self->on_pool();
      self->spool_bounce(std::move(b));
    });
  }

  // Spool strand: the notice is built from the original's header section (the original is
  // still live: its Finish comes after this on the same strand) and committed like any message.
  void spool_bounce(delivery::SpoolBounce b) {
    auto& spool = *svc.spool;
    if (auto rd = spool.open_content(b.original_id)) {
      std::string head(64 * 1024, '\0');
      size_t got = 0;
      while (got < head.size()) {
        auto n = rd.value()->read(head.data() + got, head.size() - got);
        if (!n || n.value() == 0) break;
        got += n.value();
      }
      head.resize(got);
      b.in.original_headers = delivery::header_section_of(head);
    }
    std::string bytes = delivery::build_bounce(b.in);
    if (bytes.empty()) return;  // nothing is due (no recipients, or a null sender)
    auto w = spool.begin(b.notice.id);
    if (auto r = w->append(bytes); !r) {
      spdlog::error("bounce for {}: spool: {}", b.original_id, r.error().message);
      return;
    }
    queue::QueuedMessage notice = b.notice;
    spool.commit(std::move(w), std::move(b.notice),
                 [self = shared_from_this(), notice](queue::CommitOutcome o) mutable {
                   if (!o.ok) return spdlog::error("bounce {}: commit: {}", notice.id, o.error);
                   self->submit(std::move(notice), true);
                 });
  }

  // A committed message on its way in: where its bytes lie is found on the pool, then the
  // engine gets it.
  void submit(queue::QueuedMessage m, bool notice) {
    asio::post(*svc.blocking, [self = shared_from_this(), m = std::move(m), notice]() mutable {
      self->on_pool();
      std::shared_ptr<const queue::Spool::ContentSource> src;
      std::string error;
      if (auto s = self->svc.spool->content_source(m))
        src = std::move(s).value();
      else
        error = s.error().message;
      self->on_engine([m = std::move(m), src = std::move(src), error = std::move(error),
                       notice](delivery::Engine& e) mutable {
        e.submitted(std::move(m), std::move(src), std::move(error), notice);
      });
    });
  }

  ControlReply command(delivery::Command c) { return commands(c.kind, {std::move(c.id)}, false); }

  // Runs one command per id on the engine thread; the reply waits for the engine, then for
  // the spool strand to have written what the commands caused (a `tern queue list` right after
  // `hold` sees the message held). skip_unknown: ids no longer queued are not errors (a bulk
  // action on a snapshot taken a moment ago).
  ControlReply commands(delivery::Command::Kind kind, std::vector<std::string> ids,
                        bool skip_unknown) {
    auto p = std::make_shared<std::promise<ControlReply>>();
    auto fut = p->get_future();
    asio::post(io, [self = shared_from_this(), kind, ids = std::move(ids), skip_unknown, p] {
      self->engine_tid.store(std::this_thread::get_id(), std::memory_order_relaxed);
      ControlReply rep;
      rep.ok = true;
      for (const auto& id : ids) {
        ControlReply one = self->core.command({kind, id});
        if (!one.ok && !skip_unknown) {
          rep = one;
          break;
        }
        rep.count += one.count;
      }
      self->run();
      asio::post(self->spool_strand, [p, rep] { p->set_value(rep); });
    });
    return fut.get();
  }

  // The operator's queue view (QueueControl): every live envelope from the spool, each
  // recipient's destination from its account's route (settings read once per account).
  // Caller's thread (an API worker): never the connection thread.
  std::vector<delivery::QueueMessageView> snapshot(int64_t account_filter) {
    on_pool();
    std::vector<delivery::QueueMessageView> out;
    std::unordered_map<int64_t, std::optional<store::AccountSettings>> settings;
    auto settings_of = [&](int64_t account) -> const store::AccountSettings* {
      auto it = settings.find(account);
      if (it == settings.end()) {
        std::optional<store::AccountSettings> got;
        if (account == 0) {
          got.emplace();
        } else if (auto r = svc.store->settings.get(account, false)) {
          got = std::move(r).value();
        }
        it = settings.emplace(account, std::move(got)).first;
      }
      return it->second ? &*it->second : nullptr;
    };
    for (auto& m : svc.spool->list()) {
      if (account_filter != 0 && m.account_id != account_filter) continue;
      delivery::QueueMessageView v;
      v.id = m.id;
      v.account_id = m.account_id;
      v.account_name = m.account_name;
      v.sender = m.sender;
      v.received_ms = m.received_ms;
      v.held = m.held;
      const auto* s = settings_of(m.account_id);
      for (const auto& r : m.recipients) {
        if (queue::is_final(r.state)) continue;
        const auto at = r.address.rfind('@');
        const std::string domain =
            core::to_lower(at == std::string::npos ? std::string_view{}
                                                   : std::string_view(r.address).substr(at + 1));
        const std::string dest =
            s ? delivery::route_for(m.account_id, *s, cfg.smarthost, domain, cfg.mx_port).dest
              : std::string("unknown");
        v.recipients.push_back({r.address, queue::to_string(r.state), r.attempts, r.next_attempt_ms,
                                r.last_reply, dest});
      }
      if (!v.recipients.empty()) out.push_back(std::move(v));
    }
    return out;
  }
};

// One delivery connection: pulls the engine's handouts for its destination.
struct DeliveryEngine::Impl::Conn final : ClientDelegate {
  std::shared_ptr<Impl> e;
  uint64_t id;

  Conn(std::shared_ptr<Impl> engine, uint64_t conn) : e(std::move(engine)), id(conn) {}

  std::optional<ClientMessage> next_message() override {
    auto h = e->core.next_message(id);
    e->run();
    if (!h) return std::nullopt;
    ClientMessage cm;
    cm.envelope.sender = std::move(h->sender);
    cm.envelope.recipients = std::move(h->recipients);
    cm.envelope.smtputf8 = h->smtputf8;
    cm.envelope.eightbit = h->eightbit;
    cm.content = h->content->reader();
    cm.envelope.size = cm.content->size();
    cm.tag = h->handle;
    cm.queue_id = std::move(h->queue_id);
    return cm;
  }

  void message_done(uint64_t tag, std::vector<smtp::client::Outcome> outcomes,
                    const ClientPeer& peer) override {
    std::vector<core::DeliveryOutcome> outs;
    outs.reserve(outcomes.size());
    for (const auto& o : outcomes) outs.push_back(to_outcome(o, peer));
    e->core.message_done(id, tag, outs);
    e->run();
  }

  void done(std::optional<smtp::client::Outcome> failure, const ClientPeer& peer) override {
    std::optional<core::DeliveryOutcome> f;
    if (failure) f = to_outcome(*failure, peer);
    e->core.connection_done(id, std::move(f));
    e->run();
  }
};

void DeliveryEngine::Impl::act(delivery::Connect& a) {
  if (auto sb = sandboxes.find(a.dest); sb != sandboxes.end()) {
    auto& pool = svc.capture_pool ? *svc.capture_pool : *svc.blocking;
    start_capture(io, pool, svc.capture, sb->second,
                  std::make_shared<Conn>(shared_from_this(), a.conn));
    return;
  }
  auto t = targets.find(a.dest);
  if (t == targets.end()) {  // cannot happen: Connect follows a successful Resolve
    core.connection_done(
        a.conn, core::DeliveryOutcome::local(core::DeliveryOutcome::temp, "4.4.4",
                                             "no endpoints for " + a.dest, core::Phase::connect));
    return;
  }
  start_delivery(io, tls, t->second, std::make_shared<Conn>(shared_from_this(), a.conn));
}

// ------------------------------------------------------------------ public

DeliveryEngine::DeliveryEngine(asio::io_context& io, DeliveryConfig cfg, DeliveryServices svc)
    : impl_(std::make_shared<Impl>(io, std::move(cfg), std::move(svc))) {}

DeliveryEngine::~DeliveryEngine() { stop(); }

void DeliveryEngine::start() {
  asio::post(*impl_->svc.blocking, [self = impl_] {
    self->on_pool();
    auto entries = self->svc.spool->index();
    spdlog::info("delivery: {} queued messages to deliver", entries.size());
    std::vector<std::string> sorted;
    const bool catch_up = self->svc.on_recovered && !entries.empty();
    if (catch_up) {
      sorted.reserve(entries.size());
      for (const auto& e : entries) sorted.push_back(e.id);
      std::lock_guard lk(self->recovered.mu);
      self->recovered.ready = false;  // loads wait for the set (built below, after the engine
                                      // has its index: readiness does not wait for the sort)
    }
    self->on_engine([self, entries = std::move(entries)](delivery::Engine& e) mutable {
      e.start(entries);
      self->queue_loaded = true;
      std::vector<queue::QueueEntry>().swap(entries);
      // What the start copied around is freed: give it back (the queue may be a million).
      asio::post(*self->svc.blocking, [] { ::malloc_trim(0); });
    });
    if (!catch_up) return;
    std::sort(sorted.begin(), sorted.end());
    {
      std::lock_guard lk(self->recovered.mu);
      self->recovered.done.assign(sorted.size(), false);
      self->recovered.ids = std::move(sorted);
      self->recovered.ready = true;
    }
    self->recovered.cv.notify_all();
    // The reports catch up in the background (messages not due for hours too); delivery does
    // not wait for them. recovered.ids does not change until this pass ends (only done[] does,
    // under the lock), so it is read here without the lock.
    asio::post(*self->svc.blocking, [self] {
      const auto& ids = self->recovered.ids;
      for (const auto& id : ids) {
        if (self->svc.recovered_known && self->svc.recovered_known(id)) continue;
        if (self->recovered.claim(id))
          if (auto m = self->svc.spool->get(id)) self->svc.on_recovered(*m);
      }
      {
        std::lock_guard lk(self->recovered.mu);
        self->recovered.ids = {};
        self->recovered.done = {};
      }
      ::malloc_trim(0);
    });
  });
}

void DeliveryEngine::stop() {
  impl_->on_engine([self = impl_.get()](delivery::Engine& e) {
    e.stop();
    self->timer.cancel();
  });
}

void DeliveryEngine::submitted(const queue::QueuedMessage& m) { impl_->submit(m, false); }

ControlReply DeliveryEngine::retry(const std::string& id) {
  return impl_->command({delivery::Command::Kind::retry, id});
}
ControlReply DeliveryEngine::hold(const std::string& id) {
  return impl_->command({delivery::Command::Kind::hold, id});
}
ControlReply DeliveryEngine::release(const std::string& id) {
  return impl_->command({delivery::Command::Kind::release, id});
}
ControlReply DeliveryEngine::remove(const std::string& id) {
  return impl_->command({delivery::Command::Kind::remove, id});
}

void DeliveryEngine::settings_changed(int64_t account_id) {
  impl_->on_engine([account_id](delivery::Engine& e) { e.settings_changed(account_id); });
}

bool DeliveryEngine::queue_loaded() const { return impl_->queue_loaded; }

DeliveryCounters DeliveryEngine::counters() const {
  const auto& e = *impl_;
  DeliveryCounters c;
  c.delivered = e.c_delivered;
  c.deferred = e.c_deferred;
  c.bounced = e.c_bounced;
  c.expired = e.c_expired;
  c.rejected = e.c_rejected;
  c.connections = e.c_connections;
  c.bounce_notices = e.c_notices;
  c.queued_messages = e.c_queued;
  c.active_messages = e.c_active;
  return c;
}

void DeliveryEngine::test_send_async(int64_t account_id, const std::string& from,
                                     const std::string& to,
                                     std::function<void(TestSendResult)> done) {
  if (!impl_->cfg.enabled) {
    TestSendResult r;
    r.outcome = "error";
    r.reply = "delivery is disabled";
    return done(std::move(r));
  }
  impl_->tester->send_async(account_id, from, to, std::move(done));
}

TestSendResult DeliveryEngine::test_send(int64_t account_id, const std::string& from,
                                         const std::string& to) {
  if (!impl_->cfg.enabled) {
    TestSendResult r;
    r.outcome = "error";
    r.reply = "delivery is disabled";
    return r;
  }
  return impl_->tester->send(account_id, from, to);
}

}  // namespace tern::net

namespace tern::net {

std::vector<delivery::QueueMessageView> DeliveryEngine::queue_snapshot(
    const delivery::QueueFilter& f) {
  auto all = impl_->snapshot(f.account_id);
  std::vector<delivery::QueueMessageView> out;
  for (auto& v : all)
    if (delivery::queue_matches(v, f)) out.push_back(std::move(v));
  return out;
}

delivery::QueueActionResult DeliveryEngine::queue_action(delivery::QueueAction a,
                                                         const delivery::QueueSelector& s) {
  std::vector<std::string> ids = s.ids;
  if (ids.empty()) {
    for (const auto& v : impl_->snapshot(s.account_id)) {
      if (s.account_id != 0) {
        ids.push_back(v.id);
        continue;
      }
      for (const auto& r : v.recipients)
        if (r.destination == s.destination) {
          ids.push_back(v.id);
          break;
        }
    }
  }
  using K = delivery::Command::Kind;
  const K kind = a == delivery::QueueAction::retry     ? K::retry
                 : a == delivery::QueueAction::hold    ? K::hold
                 : a == delivery::QueueAction::release ? K::release
                                                       : K::remove;
  delivery::QueueActionResult r;
  if (ids.empty()) return r;  // nothing matches: nothing changes (not "every message")
  auto rep = impl_->commands(kind, std::move(ids), true);
  r.ok = rep.ok;
  r.count = rep.count;
  r.message = rep.message;
  return r;
}

}  // namespace tern::net
