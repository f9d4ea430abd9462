#include "net/delivery_engine.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cctype>
#include <chrono>
#include <cstring>
#include <future>
#include <limits>
#include <unordered_map>

#include "core/address.hpp"
#include "core/histogram.hpp"
#include "core/ids.hpp"
#include "delivery/bounce.hpp"
#include "dns/ip.hpp"
#include "dns/mx.hpp"
#include "dns/resolver.hpp"
#include "message/date.hpp"
#include "net/capture_delivery.hpp"
#include "net/smtp_client.hpp"
#include "queue/spool.hpp"
#include "store/store.hpp"

namespace tern::net {

namespace asio = boost::asio;
using delivery::Job;

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string domain_of(const std::string& addr) {
  auto at = addr.rfind('@');
  return core::to_lower(at == std::string::npos ? std::string_view{}
                                                : std::string_view(addr).substr(at + 1));
}

// A remote reply's text without its codes: "550-5.1.1 No such\r\n550 5.1.1 user" →
// "No such user" (the code and enhanced code are kept in their own fields).
std::string reply_text(std::string_view full, std::string_view enhanced) {
  std::string out;
  size_t pos = 0;
  while (pos < full.size()) {
    size_t end = full.find('\n', pos);
    std::string_view line = full.substr(pos, end == std::string_view::npos ? end : end - pos);
    pos = end == std::string_view::npos ? full.size() : end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() >= 3 && std::isdigit(static_cast<unsigned char>(line[0])))
      line.remove_prefix(std::min<size_t>(4, line.size()));
    if (!enhanced.empty() && line.substr(0, enhanced.size()) == enhanced) {
      line.remove_prefix(enhanced.size());
      while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    }
    if (line.empty()) continue;
    if (!out.empty()) out += ' ';
    out += line;
  }
  return out;
}

core::DeliveryOutcome convert(const smtp::client::Outcome& o, const ClientPeer& peer) {
  core::DeliveryOutcome d;
  d.kind = o.severity == core::Severity::ok          ? core::DeliveryOutcome::delivered
           : o.severity == core::Severity::temporary ? core::DeliveryOutcome::temp
                                                     : core::DeliveryOutcome::perm;
  d.code = o.remote ? o.code : 0;
  d.enhanced = o.enhanced;
  d.text = o.remote ? reply_text(o.text, o.enhanced) : o.text;
  // core::DeliveryOutcome names the reply to the final dot "data-end" (the client says "dot").
  d.phase = smtp::client::core_phase(o.phase);
  d.mx_host = peer.host;
  d.tls = o.tls;
  d.local_ip = peer.local_addr;
  return d;
}

constexpr int64_t kSettingsTtlMs = 30'000;  // account settings changes apply within this
constexpr int64_t kTargetTtlMs = 60'000;    // resolved MX / relay addresses are reused this long
constexpr int64_t kDeadBackoffMs = 5'000;   // a destination that refused a connection rests
constexpr size_t kEventBatch = 2000;

}  // namespace

struct DeliveryEngine::Impl : std::enable_shared_from_this<Impl> {
  struct Msg {
    queue::QueuedMessage m;
    std::vector<uint8_t> busy;      // recipient is in a job (scheduled, ready or in flight)
    std::vector<uint8_t> inflight;  // recipient's job is handed out to a connection
  };
  struct CachedSettings {
    store::AccountSettings s;
    int64_t fetched_ms = 0;
  };
  struct CachedTarget {
    ClientTarget t;
    int64_t expires_ms = 0;
  };

  asio::io_context& io;
  DeliveryConfig cfg;
  DeliveryServices svc;
  delivery::Scheduler sched;
  std::shared_ptr<asio::ssl::context> tls;
  asio::steady_timer timer;
  int64_t timer_at = std::numeric_limits<int64_t>::max();
  asio::steady_timer events_timer;
  // Event batches are written (and handed to on_events) one after another, in the order they
  // were cut: a slow write never lets a later batch (DELIVERED) overtake an earlier (PENDING).
  asio::strand<asio::thread_pool::executor_type> events_strand;
  bool events_armed = false;
  bool stopped = false;
  uint64_t rng_state = 0;

  std::unordered_map<std::string, Msg> msgs;
  std::unordered_map<int64_t, CachedSettings> settings;
  std::unordered_map<std::string, delivery::Route> routes;  // dest → route (latest seen)
  std::unordered_map<std::string, CachedTarget> targets;
  std::unordered_map<std::string, size_t> waiting;   // dest → reserved slots awaiting a target
  std::unordered_map<std::string, int64_t> backoff;  // dest → no new connection before
  std::vector<store::DeliveryEvent> events;

  std::atomic<uint64_t> c_delivered{0}, c_deferred{0}, c_bounced{0}, c_expired{0}, c_rejected{0},
      c_connections{0}, c_notices{0}, c_queued{0};

  Impl(asio::io_context& io_, DeliveryConfig c, DeliveryServices s)
      : io(io_),
        cfg(std::move(c)),
        svc(std::move(s)),
        sched(cfg.limits),
        tls(make_client_context(cfg.ca_file)),
        timer(io_),
        events_timer(io_),
        events_strand(asio::make_strand(svc.blocking->get_executor())),
        rng_state(static_cast<uint64_t>(now_ms())) {
    if (cfg.helo_name.empty()) cfg.helo_name = svc.hostname;
  }

  // ---------------------------------------------------------------- messages in

  void add(queue::QueuedMessage m) {
    const std::string id = m.id;
    auto [it, fresh] = msgs.try_emplace(id);
    if (!fresh) return;  // already known (start() and a late submitted() may overlap)
    Msg& M = it->second;
    M.m = std::move(m);
    M.busy.assign(M.m.recipients.size(), 0);
    M.inflight.assign(M.m.recipients.size(), 0);
    c_queued = msgs.size();
    if (M.m.held) return;
    reject_suppressed(M);
    schedule(M, 0);
    settle(id);
  }

  // Recipients never tried yet that are on the account's suppression list: rejected, not tried.
  void reject_suppressed(Msg& M) {
    if (M.m.account_id == 0) return;  // no account, no list
    bool changed = false;
    for (size_t i = 0; i < M.m.recipients.size(); ++i) {
      auto& r = M.m.recipients[i];
      if (r.state != queue::RcptState::pending || r.attempts != 0) continue;
      auto s = svc.store->suppressions.contains(M.m.account_id, r.address);
      if (!s || !s.value()) continue;
      auto o = core::DeliveryOutcome::local(
          core::DeliveryOutcome::perm, "5.1.1",
          "recipient is on the account's suppression list after a hard bounce "
          "(tern suppression remove allows it again)");
      r.state = queue::RcptState::rejected;
      r.attempts = 1;
      r.last_reply = o.summary();
      record(M.m, r, o);
      ++c_rejected;
      changed = true;
    }
    if (changed) persist(M);
  }

  // Groups the message's recipients that are not final and not in a job into jobs per
  // destination; each job is due when its earliest recipient is (never before not_before).
  void schedule(Msg& M, int64_t not_before) {
    if (M.m.held) return;
    std::unordered_map<std::string, Job> jobs;
    std::unordered_map<std::string, int64_t> due;
    const store::AccountSettings* s = nullptr;
    for (size_t i = 0; i < M.m.recipients.size(); ++i) {
      auto& r = M.m.recipients[i];
      if (queue::is_final(r.state) || M.busy[i]) continue;
      if (!s) {
        auto got = settings_for(M.m.account_id);
        if (!got) {
          spdlog::error("delivery {}: account settings: {}", M.m.id, got.error().message);
          // Try again in a minute; the recipients stay as they are.
          for (auto& [dest, j] : jobs)
            for (uint32_t k : j.rcpts) M.busy[k] = 0;
          retry_settings_later(M.m.id);
          return;
        }
        s = got.value();
      }
      delivery::Route rt =
          delivery::route_for(M.m.account_id, *s, cfg.smarthost, domain_of(r.address), cfg.mx_port);
      auto& j = jobs[rt.dest];
      if (j.rcpts.empty()) {
        j.queue_id = M.m.id;
        j.account_id = M.m.account_id;
        j.dest = rt.dest;
        due[rt.dest] = std::max(r.next_attempt_ms, not_before);
      } else {
        due[rt.dest] = std::min(due[rt.dest], std::max(r.next_attempt_ms, not_before));
      }
      j.rcpts.push_back(static_cast<uint32_t>(i));
      M.busy[i] = 1;
      routes[rt.dest] = std::move(rt);
    }
    for (auto& [dest, j] : jobs) sched.add(std::move(j), due[dest]);
  }

  void retry_settings_later(const std::string& id) {
    auto t = std::make_shared<asio::steady_timer>(io, std::chrono::seconds(60));
    t->async_wait([self = shared_from_this(), t, id](const boost::system::error_code&) {
      auto it = self->msgs.find(id);
      if (it == self->msgs.end()) return;
      self->schedule(it->second, 0);
      self->pump();
    });
  }

  core::Result<const store::AccountSettings*> settings_for(int64_t account) {
    const int64_t now = now_ms();
    auto it = settings.find(account);
    if (it != settings.end() && now - it->second.fetched_ms < kSettingsTtlMs) return &it->second.s;
    if (account == 0) {
      auto& c = settings[0];
      c.fetched_ms = now;
      return &c.s;
    }
    auto r = svc.store->settings.get(account, true);
    if (!r) return r.error();
    auto& c = settings[account];
    c.s = std::move(r.value());
    c.fetched_ms = now;
    return &c.s;
  }

  // ---------------------------------------------------------------- connections

  void pump() {
    if (stopped) return;
    const int64_t now = now_ms();
    sched.tick(now);
    for (auto& dest : sched.connections_to_open()) open(dest, now);
    arm_timer();
  }

  void arm_timer() {
    auto next = sched.next_due_ms();
    int64_t at = next ? *next : std::numeric_limits<int64_t>::max();
    for (const auto& [d, until] : backoff) at = std::min(at, until);
    if (at >= timer_at) return;
    timer_at = at;
    const int64_t delay = std::max<int64_t>(0, at - now_ms());
    timer.expires_after(std::chrono::milliseconds(delay + 1));
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      self->timer_at = std::numeric_limits<int64_t>::max();
      const int64_t now = now_ms();
      std::erase_if(self->backoff, [now](const auto& kv) { return kv.second <= now; });
      self->pump();
    });
  }

  void open(const std::string& dest, int64_t now) {
    if (auto b = backoff.find(dest); b != backoff.end() && now < b->second) {
      sched.connection_closed(dest);
      return;
    }
    // route=sandbox: no look-up, no socket; the capture sink takes the messages.
    if (auto rt = routes.find(dest);
        rt != routes.end() && rt->second.kind == delivery::Route::Kind::sandbox)
      return launch_capture(dest, rt->second.account_id);
    auto t = targets.find(dest);
    if (t != targets.end() && now < t->second.expires_ms) return launch(dest, t->second.t);
    if (waiting[dest]++ > 0) return;  // a look-up is under way; it launches for all waiting
    auto rt = routes.find(dest);
    if (rt == routes.end()) {  // cannot happen: every job's dest got a route in schedule()
      waiting.erase(dest);
      sched.connection_closed(dest);
      return;
    }
    asio::post(*svc.blocking, [self = shared_from_this(), route = rt->second, seed = ++rng_state] {
      auto target = self->resolve(route, seed);
      asio::post(self->io, [self, dest = route.dest, target = std::move(target)]() mutable {
        self->resolved(dest, std::move(target));
      });
    });
  }

  // Blocking: runs on the blocking pool. Endpoints for the route, or the DNS outcome.
  std::variant<ClientTarget, core::DeliveryOutcome> resolve(const delivery::Route& rt,
                                                            uint64_t seed) const {
    ClientTarget t;
    t.session.helo_name = cfg.helo_name;
    t.connect_timeout_s = cfg.connect_timeout_s;
    t.command_timeout_s = cfg.command_timeout_s;
    t.data_timeout_s = cfg.data_timeout_s;
    if (rt.kind == delivery::Route::Kind::mx) {
      dns::SplitMixRng rng(seed);
      dns::MxOptions opt;
      opt.reject_loopback = cfg.reject_loopback_mx;
      dns::MxPlan plan = dns::plan_mx(*svc.resolver, rt.host, rng, opt);
      if (!plan.ok()) return *plan.error;
      for (const auto& h : plan.hosts)
        for (const auto& a : h.addrs) t.endpoints.push_back({h.host, a, rt.port});
      t.session.tls = smtp::client::TlsPolicy::opportunistic;
      return t;
    }
    // A relay: the customer's server or the smarthost. Every address is judged before it
    // becomes an endpoint, so nothing else is ever connected to (a name that resolves to a
    // private address, or to something else on the next look-up, is refused the same).
    const bool customer = rt.dest != "smarthost";
    std::vector<std::string> addrs;
    bool temp = false;
    if (auto ip = dns::IpAddr::parse(rt.host)) {
      addrs.push_back(ip->to_string());
    } else {
      for (auto type : {dns::RType::A, dns::RType::AAAA}) {
        auto a = svc.resolver->query(rt.host, type);
        if (a.status == dns::Answer::Status::temp_error) temp = true;
        for (const auto& addr : a.addrs) addrs.push_back(addr);
      }
    }
    std::string refused;
    for (const auto& addr : addrs) {
      auto ip = dns::IpAddr::parse(addr);
      if (!ip) continue;
      if (is_own_listener(*ip, rt.port))
        return core::DeliveryOutcome::local(core::DeliveryOutcome::perm, "5.4.6",
                                            "relay host " + rt.host + " (" + ip->to_string() +
                                                " port " + std::to_string(rt.port) +
                                                ") is Tern itself: mail would loop",
                                            core::Phase::connect);
      if (customer) {
        if (auto ok = report::check_address(*ip, cfg.relay_policy); !ok) {
          if (refused.empty()) refused = ok.error().message;
          continue;
        }
      }
      t.endpoints.push_back({rt.host, ip->to_string(), rt.port});
    }
    if (t.endpoints.empty() && !refused.empty())
      return core::DeliveryOutcome::local(
          core::DeliveryOutcome::perm, "5.4.4",
          "relay host " + rt.host + ": " + refused + " (the operator's [delivery] relay_allow)",
          core::Phase::connect);
    if (t.endpoints.empty())
      return core::DeliveryOutcome::local(
          core::DeliveryOutcome::temp, temp ? "4.4.3" : "4.4.4",
          "relay host " + rt.host + (temp ? ": DNS lookup failed" : " has no address"),
          core::Phase::dns);
    t.session.loop_names = {svc.hostname, cfg.helo_name};
    t.session.username = rt.username;
    t.session.password = rt.password;
    if (rt.security == store::RelaySecurity::none) {
      t.session.tls = smtp::client::TlsPolicy::none;
    } else {
      t.session.tls = smtp::client::TlsPolicy::required;
      t.session.implicit_tls = rt.security == store::RelaySecurity::tls;
      t.verify_peer = true;
      t.verify_name = rt.host;
    }
    return t;
  }

  // One of Tern's own listening sockets (an unspecified listener address stands for every
  // loopback address; other local addresses on it are not known here).
  bool is_own_listener(const dns::IpAddr& ip, uint16_t port) const {
    for (const auto& [host, p] : svc.own_listeners) {
      if (p != port) continue;
      if (host.empty() || host == "0.0.0.0" || host == "::") {
        if (!report::refusal(ip).value_or("").starts_with("loopback")) continue;
        return true;
      }
      auto own = dns::IpAddr::parse(host);
      if (own && own->to_string() == ip.to_string()) return true;
    }
    return false;
  }

  void resolved(const std::string& dest, std::variant<ClientTarget, core::DeliveryOutcome> r) {
    size_t n = waiting[dest];
    waiting.erase(dest);
    if (auto* t = std::get_if<ClientTarget>(&r)) {
      targets[dest] = {*t, now_ms() + kTargetTtlMs};
      for (size_t i = 0; i < n; ++i) launch(dest, *t);
      return;
    }
    const auto& o = std::get<core::DeliveryOutcome>(r);
    for (size_t i = 0; i < n; ++i) sched.connection_closed(dest);
    fail_destination(dest, o);
    pump();
  }

  // Every ready job of the destination gets the outcome (DNS failure, nothing answered).
  void fail_destination(const std::string& dest, const core::DeliveryOutcome& o) {
    for (auto& job : sched.take_ready(dest)) {
      std::vector<core::DeliveryOutcome> outs(job.rcpts.size(), o);
      apply(job, outs, false);
    }
  }

  struct Conn;
  void launch(const std::string& dest, const ClientTarget& t);
  void launch_capture(const std::string& dest, int64_t account_id);
  asio::thread_pool& capture_pool() const {
    return svc.capture_pool ? *svc.capture_pool : *svc.blocking;
  }

  // ---------------------------------------------------------------- outcomes

  void apply(const Job& job, const std::vector<core::DeliveryOutcome>& outs, bool handed) {
    auto it = msgs.find(job.queue_id);
    if (it == msgs.end()) return;  // deleted meanwhile
    Msg& M = it->second;
    const int64_t now = now_ms();
    std::vector<delivery::FailedRecipient> failed;
    for (size_t k = 0; k < job.rcpts.size() && k < outs.size(); ++k) {
      const uint32_t i = job.rcpts[k];
      if (i >= M.m.recipients.size()) continue;
      M.busy[i] = 0;
      if (handed) M.inflight[i] = 0;
      auto& r = M.m.recipients[i];
      if (queue::is_final(r.state)) continue;
      const auto& o = outs[k];
      r = cfg.retry.next(r, M.m.received_ms, now, o, M.m.id).recipient;
      record(M.m, r, o);
      switch (r.state) {
        case queue::RcptState::delivered:
          ++c_delivered;
          core::delivery_latency().observe(static_cast<double>(now - M.m.received_ms) / 1000.0);
          break;
        case queue::RcptState::deferred:
          ++c_deferred;
          break;
        case queue::RcptState::bounced:
          ++c_bounced;
          break;
        case queue::RcptState::expired:
          ++c_expired;
          break;
        default:
          break;
      }
      if (r.state == queue::RcptState::bounced || r.state == queue::RcptState::expired) {
        failed.push_back({r.address,
                          o.enhanced.empty() ? (o.is_perm() ? "5.0.0" : "4.0.0") : o.enhanced,
                          o.mx_host, o.code, o.text, r.state == queue::RcptState::expired, now});
        if (r.state == queue::RcptState::bounced &&
            delivery::is_hard_bounce(o.code, o.enhanced, o.phase))
          suppress(M.m, r.address, o.summary());
      }
    }
    if (!failed.empty()) notify_sender(M, std::move(failed), now);
    schedule(M, 0);
    persist(M);
    settle(M.m.id);
  }

  void persist(Msg& M) {
    bool all_final = std::all_of(M.m.recipients.begin(), M.m.recipients.end(),
                                 [](const auto& r) { return queue::is_final(r.state); });
    if (all_final) return;  // settle() finishes it
    svc.spool->update_async(M.m, [id = M.m.id](core::Result<void> r) {
      if (!r) spdlog::error("delivery {}: spool update: {}", id, r.error().message);
    });
  }

  // A message whose recipients are all final is done: DONE record, forgotten.
  void settle(const std::string& id) {
    auto it = msgs.find(id);
    if (it == msgs.end()) return;
    for (const auto& r : it->second.m.recipients)
      if (!queue::is_final(r.state)) return;
    svc.spool->finish_async(id, [id](core::Result<void> r) {
      if (!r) spdlog::error("delivery {}: spool finish: {}", id, r.error().message);
    });
    msgs.erase(it);
    c_queued = msgs.size();
  }

  void record(const queue::QueuedMessage& m, const queue::Recipient& r,
              const core::DeliveryOutcome& o) {
    store::DeliveryEvent e;
    e.time_ms = now_ms();
    e.queue_id = m.id;
    e.account_id = m.account_id;
    e.recipient = r.address;
    e.event = queue::event_of(r.state);
    e.attempt = r.attempts;
    e.code = o.code;
    e.enhanced = o.enhanced;
    e.reply = o.text;
    e.mx_host = o.mx_host;
    e.tls = o.tls;
    e.phase = o.phase;
    e.sending_ip = o.local_ip;
    e.first_attempt_ms = r.first_attempt_ms;
    spdlog::info("{}: to=<{}> status={} attempt={} {}", m.id, r.address, core::to_string(e.event),
                 r.attempts, o.summary());
    events.push_back(std::move(e));
    if (events.size() >= kEventBatch) return flush_events();
    if (!events_armed) {
      events_armed = true;
      events_timer.expires_after(std::chrono::milliseconds(100));
      events_timer.async_wait([self = shared_from_this()](const boost::system::error_code&) {
        self->events_armed = false;
        self->flush_events();
      });
    }
  }

  void flush_events() {
    if (events.empty()) return;
    asio::post(events_strand, [st = svc.store, on = svc.on_events, batch = std::move(events)] {
      if (auto r = st->events.record(batch); !r)
        spdlog::error("delivery: recording {} events: {}", batch.size(), r.error().message);
      // Reports follow even when the store write failed: the outcome happened either way.
      if (on) on(batch);
    });
    events.clear();
  }

  void suppress(const queue::QueuedMessage& m, const std::string& addr, std::string reason) {
    if (m.account_id == 0) return;
    store::Suppression s{m.account_id, addr, std::move(reason), m.id, now_ms()};
    asio::post(*svc.blocking, [st = svc.store, s = std::move(s)] {
      if (auto r = st->suppressions.add(s); !r)
        spdlog::error("suppression {}: {}", s.address, r.error().message);
    });
  }

  // RFC 3464 notice to the envelope sender (never for a bounce: its sender is empty).
  void notify_sender(Msg& M, std::vector<delivery::FailedRecipient> failed, int64_t now) {
    if (M.m.sender.empty()) return;
    auto s = settings_for(M.m.account_id);
    if (s && !s.value()->bounce_notices) return;
    delivery::BounceInput in;
    in.reporting_mta = svc.hostname;
    in.to = M.m.sender;
    in.queue_id = M.m.id;
    in.original_message_id = M.m.message_id;
    in.arrival_ms = M.m.received_ms;
    in.now_ms = now;
    in.recipients = std::move(failed);
    const std::string id = core::new_queue_id();
    in.message_id = "<" + id + "@" + svc.hostname + ">";
    if (auto rd = svc.spool->open_content(M.m.id)) {
      std::string head(64 * 1024, '\0');
      size_t got = 0;
      while (got < head.size()) {
        auto n = rd.value()->read(head.data() + got, head.size() - got);
        if (!n || n.value() == 0) break;
        got += n.value();
      }
      head.resize(got);
      in.original_headers = delivery::header_section_of(head);
    }
    std::string bytes = delivery::build_bounce(in);
    if (bytes.empty()) return;  // nothing is due (no recipients, or a null sender)
    auto w = svc.spool->begin(id);
    if (auto r = w->append(bytes); !r) {
      spdlog::error("bounce for {}: spool: {}", M.m.id, r.error().message);
      return;
    }
    queue::QueuedMessage b;
    b.id = id;
    b.account_id = M.m.account_id;
    b.account_name = M.m.account_name;
    b.sender = "";
    queue::Recipient rc;
    rc.address = M.m.sender;
    b.recipients.push_back(std::move(rc));
    b.received_ms = now;
    b.client_ip = "127.0.0.1";
    b.helo = svc.hostname;
    b.message_id = in.message_id;
    b.header_from = "MAILER-DAEMON@" + svc.hostname;
    svc.spool->commit(std::move(w), b, [self = shared_from_this(), b](queue::CommitOutcome o) {
      if (!o.ok) return spdlog::error("bounce {}: commit: {}", b.id, o.error);
      asio::post(self->io, [self, b]() mutable {
        ++self->c_notices;
        self->add(std::move(b));
        self->pump();
      });
    });
  }

  // ---------------------------------------------------------------- operator commands

  ControlReply on_engine(std::function<ControlReply()> f) {
    std::promise<ControlReply> p;
    auto fut = p.get_future();
    asio::post(io, [&p, &f] { p.set_value(f()); });
    return fut.get();
  }

  template <class F>
  ControlReply each(const std::string& id, F f) {
    ControlReply rep;
    if (id.empty()) {
      std::vector<std::string> ids;
      for (auto& [k, v] : msgs) ids.push_back(k);
      for (auto& k : ids)
        if (auto it = msgs.find(k); it != msgs.end() && f(it->second)) ++rep.count;
    } else {
      auto it = msgs.find(id);
      if (it == msgs.end()) {
        rep.message = "no such message in the queue: " + id;
        return rep;
      }
      if (f(it->second)) ++rep.count;
    }
    rep.ok = true;
    pump();
    return rep;
  }

  // Runs f on the engine thread and waits for its result (callers: any other thread).
  template <class F>
  auto on_engine_thread(F f) -> decltype(f()) {
    std::promise<decltype(f())> p;
    auto fut = p.get_future();
    asio::post(io, [&p, &f] { p.set_value(f()); });
    return fut.get();
  }

  // ------------------------------------------------------------ queue view (issue 13)

  // The destination a live recipient's next attempt goes to (as schedule() would pick).
  std::string destination_of(const Msg& M, const queue::Recipient& r) {
    auto s = settings_for(M.m.account_id);
    if (!s) return "unknown";
    return delivery::route_for(M.m.account_id, *s.value(), cfg.smarthost, domain_of(r.address),
                               cfg.mx_port)
        .dest;
  }

  delivery::QueueMessageView view_of(const Msg& M) {
    delivery::QueueMessageView v;
    v.id = M.m.id;
    v.account_id = M.m.account_id;
    v.account_name = M.m.account_name;
    v.sender = M.m.sender;
    v.received_ms = M.m.received_ms;
    v.held = M.m.held;
    for (const auto& r : M.m.recipients) {
      if (queue::is_final(r.state)) continue;
      v.recipients.push_back({r.address, queue::to_string(r.state), r.attempts, r.next_attempt_ms,
                              r.last_reply, destination_of(M, r)});
    }
    return v;
  }

  std::vector<std::string> select(const delivery::QueueSelector& s) {
    std::vector<std::string> ids;
    if (!s.ids.empty()) {
      for (const auto& id : s.ids)
        if (msgs.count(id)) ids.push_back(id);
      return ids;
    }
    for (auto& [id, M] : msgs) {
      if (s.account_id != 0) {
        if (M.m.account_id == s.account_id) ids.push_back(id);
        continue;
      }
      for (const auto& r : M.m.recipients)
        if (!queue::is_final(r.state) && destination_of(M, r) == s.destination) {
          ids.push_back(id);
          break;
        }
    }
    return ids;
  }

  // The operator's commands on one message (engine thread); true when it changed.
  bool retry_one(Msg& M) { return sched.expedite(M.m.id, now_ms()) > 0; }
  bool hold_one(Msg& M) {
    if (M.m.held) return false;
    M.m.held = true;
    sched.remove(M.m.id);
    M.busy = M.inflight;  // jobs in flight finish; nothing new starts
    svc.spool->update_async(M.m, [](core::Result<void>) {});
    return true;
  }
  bool release_one(Msg& M) {
    if (!M.m.held) return false;
    M.m.held = false;
    svc.spool->update_async(M.m, [](core::Result<void>) {});
    schedule(M, 0);
    return true;
  }
  void remove_ids(const std::vector<std::string>& gone) {
    for (const auto& g : gone) {
      sched.remove(g);
      svc.spool->finish_async(g, [](core::Result<void>) {});
      msgs.erase(g);
    }
    c_queued = msgs.size();
  }
};

// One delivery connection: pulls jobs of its destination from the scheduler.
struct DeliveryEngine::Impl::Conn final : ClientDelegate {
  std::shared_ptr<Impl> e;
  std::string dest;
  size_t handed = 0;
  uint64_t next_tag = 1;
  std::unordered_map<uint64_t, Job> jobs;

  Conn(std::shared_ptr<Impl> engine, std::string d) : e(std::move(engine)), dest(std::move(d)) {}

  std::optional<ClientMessage> next_message() override {
    while (!e->stopped && handed < e->cfg.max_messages_per_connection) {
      auto job = e->sched.next_job(dest);
      if (!job) return std::nullopt;
      auto it = e->msgs.find(job->queue_id);
      if (it == e->msgs.end()) continue;  // deleted
      Msg& M = it->second;
      auto reader = e->svc.spool->open_content(M.m.id);
      if (!reader) {
        std::vector<core::DeliveryOutcome> outs(
            job->rcpts.size(), core::DeliveryOutcome::local(core::DeliveryOutcome::temp, "4.3.0",
                                                            "spool: " + reader.error().message));
        e->apply(*job, outs, false);
        continue;
      }
      ClientMessage cm;
      cm.envelope.sender = M.m.sender;
      for (uint32_t i : job->rcpts) {
        cm.envelope.recipients.push_back(M.m.recipients[i].address);
        M.inflight[i] = 1;
      }
      cm.envelope.size = reader.value()->size();
      cm.envelope.smtputf8 = M.m.smtputf8;
      cm.envelope.eightbit = M.m.eightbit;
      cm.content = std::move(reader.value());
      cm.tag = next_tag++;
      cm.queue_id = M.m.id;
      jobs.emplace(cm.tag, std::move(*job));
      ++handed;
      return cm;
    }
    return std::nullopt;
  }

  void message_done(uint64_t tag, std::vector<smtp::client::Outcome> outcomes,
                    const ClientPeer& peer) override {
    auto it = jobs.find(tag);
    if (it == jobs.end()) return;
    std::vector<core::DeliveryOutcome> outs;
    outs.reserve(outcomes.size());
    for (const auto& o : outcomes) outs.push_back(convert(o, peer));
    e->apply(it->second, outs, true);
    jobs.erase(it);
  }

  void done(std::optional<smtp::client::Outcome> failure, const ClientPeer& peer) override {
    e->sched.connection_closed(dest);
    // Jobs still held (cannot happen by the driver's contract) are put back as deferred.
    for (auto& [tag, job] : jobs) {
      std::vector<core::DeliveryOutcome> outs(
          job.rcpts.size(),
          core::DeliveryOutcome::network("connection ended", core::Phase::data, peer.host));
      e->apply(job, outs, true);
    }
    jobs.clear();
    if (failure && handed == 0) {
      // Nothing could be sent: every endpoint failed. When no other connection to this
      // destination is alive, the destination is down: its ready jobs all get this outcome
      // (one attempt each, not one connection per message), and it rests before a new try.
      e->targets.erase(dest);  // look the hosts up again next time
      if (e->sched.connections(dest) == 0) e->fail_destination(dest, convert(*failure, peer));
      e->backoff[dest] = now_ms() + kDeadBackoffMs;
    }
    e->pump();
  }
};

namespace {

// The test message, held in memory: it never enters the spool.
class StringContent final : public queue::Spool::ContentReader {
 public:
  explicit StringContent(std::string s) : s_(std::move(s)) {}
  core::Result<size_t> read(char* buf, size_t n) override {
    const size_t k = std::min(n, s_.size() - pos_);
    std::memcpy(buf, s_.data() + pos_, k);
    pos_ += k;
    return k;
  }
  uint64_t size() const override { return s_.size(); }

 private:
  std::string s_;
  size_t pos_ = 0;
};

std::string test_message(const std::string& from, const std::string& to,
                         const std::string& hostname, int64_t now) {
  const std::string id = core::new_queue_id();
  std::string m;
  m += "From: <" + from + ">\r\n";
  m += "To: <" + to + ">\r\n";
  m += "Subject: Tern test email\r\n";
  m += "Date: " + message::rfc5322_date(now / 1000) + "\r\n";
  m += "Message-ID: <" + id + ".test@" + hostname + ">\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: text/plain; charset=us-ascii\r\n";
  m += "\r\n";
  m += "This is a test email sent by Tern through your account's configured route.\r\n";
  return m;
}

TestSendResult test_result(const core::DeliveryOutcome& o, std::string route) {
  TestSendResult r;
  r.outcome = o.is_delivered() ? "delivered" : o.is_temp() ? "deferred" : "bounced";
  r.code = o.code;
  r.enhanced = o.enhanced;
  r.reply = o.text;
  r.host = o.mx_host;
  r.tls = o.tls;
  r.route = std::move(route);
  return r;
}

// The caller's callback, called exactly once: by the attempt's outcome or by the time limit,
// whichever comes first.
struct TestOnce {
  std::atomic<bool> fired{false};
  std::function<void(TestSendResult)> done;
  void fire(TestSendResult r) {
    if (fired.exchange(true)) return;
    auto f = std::move(done);
    f(std::move(r));
  }
};

// One message on one connection; the first outcome (message_done, else done's failure) is the
// answer.
struct TestConn final : ClientDelegate {
  std::shared_ptr<TestOnce> once;
  std::optional<ClientMessage> msg;
  std::string route;
  bool answered = false;

  std::optional<ClientMessage> next_message() override {
    if (!msg) return std::nullopt;
    auto m = std::move(msg);
    msg.reset();
    return m;
  }
  void message_done(uint64_t, std::vector<smtp::client::Outcome> outs,
                    const ClientPeer& peer) override {
    if (answered || outs.empty()) return;
    answered = true;
    once->fire(test_result(convert(outs.front(), peer), route));
  }
  void done(std::optional<smtp::client::Outcome> failure, const ClientPeer& peer) override {
    if (answered) return;
    answered = true;
    if (failure) return once->fire(test_result(convert(*failure, peer), route));
    TestSendResult r;
    r.outcome = "error";
    r.reply = "the connection ended without an answer";
    r.host = peer.host;
    r.route = route;
    once->fire(std::move(r));
  }
};

}  // namespace

void DeliveryEngine::Impl::launch(const std::string& dest, const ClientTarget& t) {
  ++c_connections;
  start_delivery(io, tls, t, std::make_shared<Conn>(shared_from_this(), dest));
}

void DeliveryEngine::Impl::launch_capture(const std::string& dest, int64_t account_id) {
  start_capture(io, capture_pool(), svc.capture, account_id,
                std::make_shared<Conn>(shared_from_this(), dest));
}

// ------------------------------------------------------------------ public

DeliveryEngine::DeliveryEngine(asio::io_context& io, DeliveryConfig cfg, DeliveryServices svc)
    : impl_(std::make_shared<Impl>(io, std::move(cfg), std::move(svc))) {}

DeliveryEngine::~DeliveryEngine() { stop(); }

void DeliveryEngine::start() {
  asio::post(impl_->io, [self = impl_] {
    auto all = self->svc.spool->list();
    spdlog::info("delivery: {} queued messages to deliver", all.size());
    for (auto& m : all) {
      if (self->svc.on_recovered) self->svc.on_recovered(m);
      self->add(std::move(m));
    }
    self->pump();
  });
}

void DeliveryEngine::stop() {
  asio::post(impl_->io, [self = impl_] {
    self->stopped = true;
    self->timer.cancel();
    self->flush_events();
  });
}

void DeliveryEngine::submitted(const queue::QueuedMessage& m) {
  asio::post(impl_->io, [self = impl_, m]() mutable {
    self->add(std::move(m));
    self->pump();
  });
}

ControlReply DeliveryEngine::retry(const std::string& id) {
  auto& e = *impl_;
  return e.on_engine([&] {
    // The operator says "now": destinations resting after a failed connection try again too,
    // with fresh look-ups.
    e.backoff.clear();
    e.targets.clear();
    return e.each(id, [&](Impl::Msg& M) { return e.retry_one(M); });
  });
}

ControlReply DeliveryEngine::hold(const std::string& id) {
  auto& e = *impl_;
  return e.on_engine([&] { return e.each(id, [&](Impl::Msg& M) { return e.hold_one(M); }); });
}

ControlReply DeliveryEngine::release(const std::string& id) {
  auto& e = *impl_;
  return e.on_engine([&] { return e.each(id, [&](Impl::Msg& M) { return e.release_one(M); }); });
}

ControlReply DeliveryEngine::remove(const std::string& id) {
  auto& e = *impl_;
  return e.on_engine([&] {
    std::vector<std::string> gone;
    auto rep = e.each(id, [&](Impl::Msg& M) {
      gone.push_back(M.m.id);
      return true;
    });
    e.remove_ids(gone);
    return rep;
  });
}

std::vector<delivery::QueueMessageView> DeliveryEngine::queue_snapshot(
    const delivery::QueueFilter& f) {
  auto& e = *impl_;
  return e.on_engine_thread([&] {
    std::vector<delivery::QueueMessageView> out;
    for (auto& [id, M] : e.msgs) {
      if (f.account_id != 0 && M.m.account_id != f.account_id) continue;
      auto v = e.view_of(M);
      if (delivery::queue_matches(v, f)) out.push_back(std::move(v));
    }
    return out;
  });
}

delivery::QueueActionResult DeliveryEngine::queue_action(delivery::QueueAction a,
                                                         const delivery::QueueSelector& s) {
  auto& e = *impl_;
  return e.on_engine_thread([&] {
    delivery::QueueActionResult r;
    const auto ids = e.select(s);
    if (a == delivery::QueueAction::retry) {
      e.backoff.clear();
      e.targets.clear();
    }
    std::vector<std::string> gone;
    for (const auto& id : ids) {
      auto it = e.msgs.find(id);
      if (it == e.msgs.end()) continue;
      bool changed = false;
      switch (a) {
        case delivery::QueueAction::retry:
          changed = e.retry_one(it->second);
          break;
        case delivery::QueueAction::hold:
          changed = e.hold_one(it->second);
          break;
        case delivery::QueueAction::release:
          changed = e.release_one(it->second);
          break;
        case delivery::QueueAction::remove:
          gone.push_back(id);
          changed = true;
          break;
      }
      if (changed) ++r.count;
    }
    e.remove_ids(gone);
    e.pump();
    return r;
  });
}

TestSendResult DeliveryEngine::test_send(int64_t account_id, const std::string& from,
                                         const std::string& to) {
  auto p = std::make_shared<std::promise<TestSendResult>>();
  auto fut = p->get_future();
  test_send_async(account_id, from, to, [p](TestSendResult r) { p->set_value(std::move(r)); });
  return fut.get();  // bounded: test_send_async answers within its time limit
}

void DeliveryEngine::test_send_async(int64_t account_id, const std::string& from,
                                     const std::string& to,
                                     std::function<void(TestSendResult)> done) {
  TestSendResult err;
  err.outcome = "error";
  auto from_mb = core::parse_mailbox(from);
  auto to_mb = core::parse_mailbox(to);
  if (!from_mb || !to_mb) {
    err.reply = !from_mb ? "invalid from address" : "invalid to address";
    return done(std::move(err));
  }
  auto& e = *impl_;
  if (!e.cfg.enabled) {
    err.reply = "delivery is disabled";
    return done(std::move(err));
  }
  auto once = std::make_shared<TestOnce>();
  once->done = std::move(done);
  // Whatever the relay does, the caller hears within a minute: every endpoint may time out in
  // turn, so the attempt itself may last longer (its outcome is then dropped).
  auto limit = std::make_shared<asio::steady_timer>(e.io, std::chrono::seconds(60));
  limit->async_wait([once, limit](const boost::system::error_code&) {
    TestSendResult r;
    r.outcome = "error";
    r.reply = "no outcome within 60 seconds";
    once->fire(std::move(r));
  });
  // Settings (with the relay password) and the route's look-up on the blocking pool; the
  // connection on the engine's io.
  asio::post(*e.svc.blocking, [self = impl_, once, limit, account_id, from = from_mb->str(),
                               to = to_mb->str(), seed = now_ms()] {
    auto finish = [&](TestSendResult r) {
      once->fire(std::move(r));
      asio::post(self->io, [limit] { limit->cancel(); });
    };
    store::AccountSettings s;
    if (account_id != 0) {
      auto got = self->svc.store->settings.get(account_id, true);
      if (!got) {
        TestSendResult r;
        r.outcome = "error";
        r.reply = "account settings: " + got.error().message;
        return finish(std::move(r));
      }
      s = std::move(got).value();
    }
    delivery::Route rt =
        delivery::route_for(account_id, s, self->cfg.smarthost, domain_of(to), self->cfg.mx_port);
    const std::string route = rt.kind == delivery::Route::Kind::sandbox ? "sandbox"
                              : rt.kind == delivery::Route::Kind::mx    ? "platform"
                              : rt.dest == "smarthost"                  ? "smarthost"
                                                                        : "custom";
    auto conn = std::make_shared<TestConn>();
    conn->once = once;
    conn->route = route;
    ClientMessage cm;
    cm.envelope.sender = from;
    cm.envelope.recipients.push_back(to);
    auto content =
        std::make_unique<StringContent>(test_message(from, to, self->svc.hostname, now_ms()));
    cm.envelope.size = content->size();
    cm.content = std::move(content);
    cm.tag = 1;
    cm.queue_id = core::new_queue_id();
    conn->msg = std::move(cm);
    if (rt.kind == delivery::Route::Kind::sandbox) {
      asio::post(self->io, [self, conn, account_id] {
        start_capture(self->io, self->capture_pool(), self->svc.capture, account_id, conn);
      });
      return;
    }
    auto target = self->resolve(rt, static_cast<uint64_t>(seed));
    if (auto* o = std::get_if<core::DeliveryOutcome>(&target))
      return finish(test_result(*o, route));
    ClientTarget t = std::get<ClientTarget>(std::move(target));
    // A person is waiting: shorter deadlines than queued mail gets.
    t.connect_timeout_s = std::min(t.connect_timeout_s, 15);
    t.command_timeout_s = std::min(t.command_timeout_s, 30);
    t.data_timeout_s = std::min(t.data_timeout_s, 30);
    asio::post(self->io, [self, t = std::move(t), conn]() mutable {
      ++self->c_connections;
      start_delivery(self->io, self->tls, std::move(t), conn);
    });
  });
}

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
  return c;
}

}  // namespace tern::net
