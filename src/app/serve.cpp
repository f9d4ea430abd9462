#include "app/serve.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <variant>

#include "api/api.hpp"
#include "api/slow_calls.hpp"
#include "app/cluster_upkeep.hpp"
#include "app/control.hpp"
#include "app/fd_budget.hpp"
#include "app/node_id.hpp"
#include "app/platform_names.hpp"
#include "app/region_secrets.hpp"
#include "app/secret_files.hpp"
#include "core/address.hpp"
#include "core/clock.hpp"
#include "core/histogram.hpp"
#include "dns/resolver.hpp"
#include "domain/service.hpp"
#include "message/encoded_words.hpp"
#include "message/header.hpp"
#include "net/capture_delivery.hpp"
#include "net/delivery_engine.hpp"
#include "net/http_server.hpp"
#include "net/report_pipeline.hpp"
#include "net/smtp_server.hpp"
#include "net/tls.hpp"
#include "net/webhook_sender.hpp"
#include "pipeline/key_cache.hpp"
#include "pipeline/submission.hpp"
#include "policy/auth_limiter.hpp"
#include "policy/rate_limiter.hpp"
#include "policy/sender.hpp"
#include "policy/suspended_accounts.hpp"
#include "queue/spool.hpp"
#include "store/backend.hpp"
#include "store/captured.hpp"
#include "store/db_guard.hpp"
#include "store/message_log.hpp"
#include "store/outbox.hpp"
#include "store/sessions.hpp"
#include "store/sqlite_backend.hpp"
#include "store/stats.hpp"
#include "store/store.hpp"
#include "store/suspensions.hpp"

namespace tern::app {

namespace asio = boost::asio;

namespace {
// Holding 10,000+ connections needs descriptors: raise the soft limit to the hard limit, and
// return the limit in force.
uint64_t raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  return rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : static_cast<uint64_t>(rl.rlim_cur);
}
// Prometheus text exposition format (version 0.0.4).
std::string metrics_text(const net::SmtpServer& smtp, const pipeline::Submission& submission,
                         const queue::Spool& spool, const net::DeliveryEngine* delivery,
                         const net::WebhookSender* webhooks, const net::HttpServer* http,
                         const api::SlowGate* slow) {
  const auto& c = smtp.counters();
  const auto st = spool.stats();
  const auto d = delivery ? delivery->counters() : net::DeliveryCounters{};
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, uint64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
           name + " " + std::to_string(v) + "\n";
  };
  metric("tern_smtp_connections_total", "counter", "SMTP connections accepted.", c.connections);
  metric("tern_smtp_connections_active", "gauge", "SMTP connections open now.", c.active);
  metric("tern_smtp_connections_rejected_total", "counter", "Connections refused by limits.",
         c.rejected_connections);
  metric("tern_smtp_auth_failures_total", "counter", "Failed SMTP authentications.",
         c.auth_failures);
  // Every path: streamed SMTP, and what Submission stores (HTTP send, tracked SMTP copies, sender
  // verification mail).
  metric("tern_messages_accepted_total", "counter",
         "Messages accepted into the queue (SMTP, HTTP send; one per tracked copy).",
         c.accepted_messages + submission.accepted());
  metric("tern_spool_commits_total", "counter", "Spool commits since start.", st.commits);
  metric("tern_spool_fsyncs_total", "counter", "Spool fdatasync calls since start.", st.fsyncs);
  metric("tern_spool_quarantined_total", "counter", "Damaged spool entries quarantined.",
         st.quarantined);
  metric("tern_delivered_total", "counter", "Recipients delivered.", d.delivered);
  metric("tern_deferred_total", "counter", "Delivery attempts deferred.", d.deferred);
  metric("tern_bounced_total", "counter", "Recipients bounced.", d.bounced);
  metric("tern_expired_total", "counter", "Recipients expired.", d.expired);
  metric("tern_rejected_total", "counter", "Recipients rejected (suppressed).", d.rejected);
  metric("tern_delivery_connections_total", "counter", "Outbound SMTP connections.", d.connections);
  metric("tern_bounce_notices_total", "counter", "Bounce notices queued.", d.bounce_notices);
  metric("tern_queue_messages", "gauge", "Messages in the delivery queue.", d.queued_messages);
  const auto w = webhooks ? webhooks->counters() : net::WebhookCounters{};
  metric("tern_webhooks_sent_total", "counter", "Webhook items (reports, events) delivered.",
         w.sent);
  metric("tern_webhook_failures_total", "counter", "Webhook POSTs that got no 2xx.",
         w.failed_attempts);
  metric("tern_webhooks_given_up_total", "counter", "Webhook items given up.", w.given_up);
  metric("tern_webhook_backlog", "gauge", "Webhook items waiting in the outbox.", w.backlog);
  if (http) {
    const auto& h = http->counters();
    metric("tern_http_connections_active", "gauge", "HTTP connections open now.", h.active);
    metric("tern_http_connections_rejected_total", "counter", "HTTP connections refused by limits.",
           h.rejected_connections);
    metric("tern_http_accept_errors_total", "counter", "HTTP accept() failures (EMFILE...).",
           h.accept_errors);
  }
  metric("tern_smtp_timeouts_total", "counter",
         "SMTP sessions cut by a command, data-rate or session limit.", c.timeouts);
  if (slow)
    metric("tern_api_slow_calls_in_flight", "gauge",
           "Test emails, domain checks and key generations running.",
           static_cast<uint64_t>(slow->total_in_flight()));
  out += core::accept_latency().prometheus("tern_accept_latency_seconds",
                                           "End of DATA to the 250 reply (spool fsync included).");
  out += core::delivery_latency().prometheus("tern_delivery_latency_seconds",
                                             "Acceptance to delivery, per recipient.");
  return out;
}

// What GET /api/v1/platform shows: how to connect, from the configuration, without secrets.
api::PlatformInfo platform_info(const Config& cfg) {
  api::PlatformInfo p;
  p.hostname = cfg.hostname;
#ifdef TERN_VERSION
  p.version = TERN_VERSION;
#endif
  p.public_url = cfg.effective_public_url();
  p.dkim_zone = cfg.dkim_zone;  // resolved by resolve_platform_names in serve()
  const struct {
    const char* name;
    const std::string* addr;
    const char* tls;
  } ls[] = {{"smtp", &cfg.listen_smtp, "starttls"},
            {"submission", &cfg.listen_submission, "starttls"},
            {"submissions", &cfg.listen_submissions, "implicit"}};
  for (const auto& l : ls) {
    if (l.addr->empty()) continue;
    auto [host, port] = net::split_host_port(*l.addr);
    p.listeners.push_back({l.name, host, port, l.tls});
  }
  p.auth_methods = {"PLAIN", "LOGIN"};
  p.plaintext_auth = cfg.smtp.session.allow_plaintext_auth;
  p.platform_domains = cfg.smtp.platform_domains;
  if (!cfg.delivery.smarthost.host.empty()) {
    p.route_kind = "smarthost";
    p.route_host = cfg.delivery.smarthost.host;
    p.route_port = cfg.delivery.smarthost.port;
    p.route_security = std::string(store::to_string(cfg.delivery.smarthost.security));
  }
  p.max_message_size = cfg.smtp.session.max_message_size;
  p.max_recipients = cfg.smtp.session.max_recipients;
  p.test_emails_per_minute = cfg.test_emails_per_minute;
  p.max_unverified_domains = cfg.max_unverified_domains;
  p.captured_per_account = cfg.sandbox_max_messages;
  p.captured_max_age_s = cfg.sandbox_max_age_s;
  return p;
}

// route=sandbox (SPEC §9): the engine's capture sink, into the captured-mail store, with the
// header fields the console lists (From, Subject, Message-ID) read from the message itself.
class StoreCaptureSink final : public net::CaptureSink {
 public:
  explicit StoreCaptureSink(store::CaptureService& c) : c_(c) {}
  core::Result<void> capture(net::CaptureItem item) override {
    store::CapturedMessage m;
    m.account_id = item.account_id;
    m.queue_id = item.queue_id;
    m.recipients = std::move(item.recipients);
    m.sender = std::move(item.sender);
    const auto hs = message::parse_header_section(
        std::string_view(item.raw).substr(0, std::min<size_t>(item.raw.size(), 256 * 1024)));
    for (const auto& f : hs.fields) {
      const std::string name = core::to_lower(f.name);
      if (name == "from" && m.header_from.empty())
        m.header_from = message::decode_display_text(f.value(), 998);
      else if (name == "subject" && m.subject.empty())
        m.subject = message::decode_display_text(f.value(), 998);
      else if (name == "message-id" && m.message_id.empty())
        m.message_id = message::decode_display_text(f.value(), 998);
    }
    m.raw = std::move(item.raw);
    auto r = c_.add(std::move(m), core::SystemClock().now_ms());
    if (!r) return r.error();
    return core::ok();
  }

 private:
  store::CaptureService& c_;
};

}  // namespace

int serve(const Config& given) {
  namespace fs = std::filesystem;
  // Every platform name from the one place the CLI uses too (idempotent after main's load).
  Config cfg = given;
  for (const auto& w : resolve_platform_names(cfg).warnings) spdlog::warn("{}", w);
  fs::create_directories(cfg.data_dir);
  const uint64_t fd_limit = raise_fd_limit();
  auto budget = plan_fd_budget(fd_limit, cfg.smtp.max_connections, cfg.http_max_connections,
                               cfg.delivery.limits.max_connections + 16 /* webhooks, tests */);
  if (!budget) throw std::runtime_error(budget.error().message);
  if (!budget->warning.empty()) spdlog::warn("{}", budget->warning);

  // The store: sqlite:<data>/tern.db by default, or a PostgreSQL shared by a region.
  const std::string store_url = cfg.effective_store_url();
  const bool sqlite = cfg.store_is_sqlite();
  // The db_guard marker is about a SQLite file's WAL; PostgreSQL keeps its own journal.
  const std::string db_path = sqlite ? store_url.substr(std::string_view("sqlite:").size()) : "";
  if (sqlite) {
    if (auto lost = store::db_guard::check(db_path); !lost && cfg.force_db)
      spdlog::warn("{} (--force: going on with the database as it is)", lost.error().message);
  }
  // Declared before the store: removed (clean stop) only after every connection closed.
  struct RunMarker {
    std::string path;
    bool armed = false;
    ~RunMarker() {
      if (!armed) return;
      if (auto r = store::db_guard::mark_clean(path); !r) spdlog::error("{}", r.error().message);
    }
  } run_marker{db_path};
  // Everything persistent in one bundle (store/backend.hpp): the services over the
  // repositories, the message log and the webhook outbox. Declared before everything that uses
  // it, so it is closed last (the engine's last event batch is handled on the way down).
  // This node's id ([cluster] node_id or <data>/node.id): one live process per data dir.
  auto node = NodeId::claim(cfg.data_dir, cfg.node_id);
  if (!node) throw std::runtime_error(node.error().message);
  spdlog::info("node {} on a {} store", node->id(), sqlite ? "SQLite" : "PostgreSQL");
  store::BackendOptions backend_opt;
  backend_opt.node_id = node->id();
  backend_opt.force = cfg.force_db;
  backend_opt.master_key = read_master_key(cfg);  // secrets sealed at rest
  // A region: a dead node's claimed webhook items go out again after [cluster] lease_s (longer
  // than a POST may take). One node on SQLite keeps the outbox's own lease.
  if (!sqlite)
    backend_opt.outbox_lease_ms =
        int64_t{std::max(cfg.cluster_lease_s, 3 * cfg.webhook_timeout_s)} * 1000;
  auto backend = store::open_backend(store_url, backend_opt);
  if (!backend) throw std::runtime_error(backend.error().message);
  if (sqlite) {
    if (auto r = store::db_guard::mark_running(db_path); !r)
      throw std::runtime_error(r.error().message);
    run_marker.armed = true;
  }
  store::Store* const st = backend->store.get();
  queue::SpoolOptions spool_opt;
  spool_opt.reserve_bytes = cfg.spool_reserve_mb << 20;
  spool_opt.checkpoint = true;  // a restart reads the index checkpoint and the log after it
  auto spool = queue::Spool::open(cfg.data_dir, spool_opt);
  if (!spool) throw std::runtime_error("spool: " + spool.error().message);
  // (a count: list() would decode every envelope, a million of them after a backlog)
  spdlog::info("spool: {} queued messages recovered", spool.value()->stats().live);

  net::TlsFiles files{cfg.tls_cert, cfg.tls_key};
  if (files.cert.empty() || files.key.empty())
    files = net::ensure_self_signed(cfg.data_dir + "/tls", cfg.hostname);
  auto tls = net::make_server_context(files);

  core::SystemClock clock;
  policy::AuthLimiter limiter(
      clock, policy::AuthLimiter::Limits{static_cast<int>(cfg.auth_max_failures_per_ip),
                                         static_cast<int>(cfg.auth_max_failures_per_user),
                                         static_cast<int64_t>(cfg.auth_window_s) * 1000,
                                         static_cast<int64_t>(cfg.auth_window_s) * 1000});

  const unsigned n_threads = cfg.threads > 0 ? static_cast<unsigned>(cfg.threads)
                                             : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<asio::io_context*> workers;
  for (unsigned i = 0; i < n_threads; ++i) {
    contexts.push_back(std::make_unique<asio::io_context>(1));
    workers.push_back(contexts.back().get());
  }
  asio::thread_pool blocking(2);

  net::SmtpServerConfig scfg = cfg.smtp;
  scfg.session.hostname = cfg.hostname;
  scfg.max_connections = budget->smtp_max_connections;
  // DKIM: keys per (account, From domain), parsed once, refreshed every 30 s so a selector that
  // just checked ok (or a rotation) takes effect without a restart.
  pipeline::KeyCache dkim_keys(
      [st](int64_t account,
           const std::string& domain) -> core::Result<std::vector<pipeline::KeySpec>> {
        auto keys = st->domains.signing_keys(account, domain);
        if (!keys) return keys.error();
        std::vector<pipeline::KeySpec> out;
        for (auto& k : keys.value())
          out.push_back({k.domain, k.selector, k.algorithm, std::move(k.private_pem), k.version});
        return out;
      });
  // --- Reports (issue 5): message log rows for accepted mail, report items into the webhook
  // outbox for the engine's events. Created before the engine (its events come here) and
  // destroyed after it (the engine's last event batch is handled on the way down).
  // The console's stores (issue 13) are services of the Store: sessions, suspensions,
  // statistics, captured sandbox mail (bounded by [sandbox]), suppression search.
  st->captured.set_retention({cfg.sandbox_max_messages, cfg.sandbox_max_age_s * 1000});
  StoreCaptureSink capture_sink(st->captured);
  // Suspended accounts for the SMTP path, in memory: loaded now, refreshed by the upkeep
  // thread below (CLI changes), updated at once by the API.
  policy::SuspendedAccounts suspended;
  auto load_suspended = [&suspended, sus = &st->suspensions] {
    auto all = sus->all();
    if (!all) return spdlog::warn("suspensions: {}", all.error().message);
    std::map<int64_t, std::string> m;
    for (const auto& x : *all) m[x.account_id] = x.reason;
    suspended.replace(std::move(m));
  };
  load_suspended();
  // Wakes the webhook sender after reports were enqueued: its wiring sets the function
  // (poke_webhooks.set(...)); until then the sender finds the items on its own timer.
  struct Poke {
    std::mutex mu;
    std::function<void()> f;
    void set(std::function<void()> g) {
      std::lock_guard lk(mu);
      f = std::move(g);
    }
    void operator()() {
      std::lock_guard lk(mu);
      if (f) f();
    }
  } poke_webhooks;
  net::ReportPipeline reports(
      {st, backend->messages.get(), backend->outbox.get(), [&poke_webhooks] { poke_webhooks(); },
       100, report::Price{cfg.report_price_per_message, cfg.report_currency}, 5000, node->id()});

  // --- Delivery (SPEC §4): one engine thread; DNS and store work on a pool of its own, so a
  // slow resolver never holds the SMTP path's pool. The pool is declared before the
  // io_context: the engine's state (which holds a strand on the pool) can be owned by a
  // handler still queued on the io_context at shutdown, and is destroyed with it; the pool's
  // services must still exist then (UBSan in the sanitizer run found the opposite order).
  asio::thread_pool delivery_blocking(4);
  asio::io_context delivery_io(1);
  std::unique_ptr<dns::Resolver> mx_resolver;
  std::unique_ptr<net::DeliveryEngine> delivery;
  if (cfg.delivery.enabled) {
    mx_resolver = dns::make_unbound_resolver(cfg.dns_resolver);
    net::DeliveryServices dsvc;
    dsvc.spool = spool.value().get();
    dsvc.store = st;
    dsvc.resolver = mx_resolver.get();
    dsvc.blocking = &delivery_blocking;
    dsvc.hostname = cfg.hostname;
    for (const auto* l :
         {&cfg.listen_smtp, &cfg.listen_submission, &cfg.listen_submissions, &cfg.listen_http})
      if (!l->empty()) dsvc.own_listeners.push_back(net::split_host_port(*l));
    dsvc.on_events = [&reports](const auto& batch) { reports.events(batch); };
    // A pool thread, possibly for a million messages at start: every 1,000 the reports are
    // let catch up, so their queue never holds the whole spool.
    dsvc.recovered_known = [log = backend->messages.get()](const std::string& id) {
      auto r = log->for_queue(id);
      return !r || !r->empty();  // on a read error, assume known: never log twice
    };
    dsvc.on_recovered =
        [&reports, n = std::make_shared<std::atomic<uint64_t>>(0)](const queue::QueuedMessage& m) {
          reports.recovered(m);
          if (n->fetch_add(1) % 1000 == 999) reports.flush();
        };
    dsvc.capture = &capture_sink;
    delivery = std::make_unique<net::DeliveryEngine>(delivery_io, cfg.delivery, std::move(dsvc));
    delivery->start();
  }
  std::thread delivery_thread([&delivery_io] {
    auto guard = asio::make_work_guard(delivery_io);
    delivery_io.run();
  });
  struct StopDelivery {
    asio::io_context& io;
    std::thread& t;
    asio::thread_pool& pool;
    ~StopDelivery() {
      io.stop();
      if (t.joinable()) t.join();
      pool.join();
    }
  } stop_delivery{delivery_io, delivery_thread, delivery_blocking};

  // --- Webhooks (SPEC §5): the sender POSTs what the outbox holds (reports, tracking events)
  // from a thread of its own; look-ups of receivers' names on a small pool of its own. The
  // outbox is durable: what was pending before a restart goes out after it.
  store::Outbox* outbox = backend->outbox.get();
  asio::io_context webhook_io(1);
  asio::thread_pool webhook_blocking(2);
  auto webhook_resolver = dns::make_unbound_resolver(cfg.dns_resolver);
  net::WebhookConfig wcfg;
  wcfg.timeout_s = cfg.webhook_timeout_s;
  wcfg.max_age_ms = static_cast<int64_t>(cfg.webhook_max_age_s) * 1000;
  wcfg.batch = static_cast<size_t>(cfg.webhook_batch);
  wcfg.secret_grace_ms = static_cast<int64_t>(cfg.webhook_secret_grace_s) * 1000;
  wcfg.ca_file = cfg.delivery.ca_file;
  if (auto p = net::webhook_policy(cfg.webhook_allow_loopback, cfg.webhook_allow))
    wcfg.policy = std::move(p.value());
  else
    throw std::runtime_error(p.error().message);
  auto webhook_sender = std::make_unique<net::WebhookSender>(
      webhook_io, wcfg,
      net::WebhookServices{outbox, st, webhook_resolver.get(), &webhook_blocking, nullptr});
  webhook_sender->start();
  poke_webhooks.set([ws = webhook_sender.get()] { ws->poke(); });
  std::thread webhook_thread([&webhook_io] {
    auto guard = asio::make_work_guard(webhook_io);
    webhook_io.run();
  });
  struct StopWebhooks {
    Poke& poke;
    asio::io_context& io;
    std::thread& t;
    asio::thread_pool& pool;
    ~StopWebhooks() {
      poke.set(nullptr);  // the report pipeline may still enqueue on the way down
      io.stop();
      if (t.joinable()) t.join();
      pool.join();
    }
  } stop_webhooks{poke_webhooks, webhook_io, webhook_thread, webhook_blocking};
  auto* engine = delivery.get();
  // Test email (seed 000): one delivery now through the account's route, holding no thread
  // while the remote answers (net/test_send.hpp). from "" = the account's mail_from,
  // else postmaster@hostname. Like any submission, a given from (or the stored mail_from) must
  // pass the account's sender policy (issue 10 item 2), and each account gets a few per
  // minute ([limits] test_emails_per_minute): the remote's reply is shown to the tenant.
  policy::RateLimiter test_limiter(clock, {cfg.test_emails_per_minute, cfg.test_emails_per_minute});
  // The checks before any attempt: an answer to give at once (nothing sent), or the from to
  // send with.
  auto test_precheck = [st, &cfg, &test_limiter](
                           int64_t account_id,
                           std::string from) -> std::variant<net::TestSendResult, std::string> {
    // Syntax first (the engine's own answers), then the account's policy.
    if (!from.empty() && !core::parse_mailbox(from))
      return net::TestSendResult{"error", 0, "", "invalid from address", "", false, ""};
    auto ctx = st->account_context(account_id);
    if (!ctx) {  // the store's text stays in the log: the reply goes to the tenant
      spdlog::error("test email: account {}: {}", account_id, ctx.error().message);
      return net::TestSendResult{"error", 0, "", "the account could not be loaded", "", false, ""};
    }
    for (const auto& d : cfg.smtp.platform_domains) ctx->platform_domains.push_back(d);
    if (from.empty()) from = ctx->mail_from;
    if (!from.empty()) {
      const core::Status s = policy::authorize_sender(*ctx, from);
      if (!s.ok()) return net::TestSendResult{"refused", s.code, s.enhanced, s.text, "", false, ""};
    } else {
      from = "postmaster@" + cfg.hostname;
    }
    if (int64_t wait_ms = test_limiter.take(account_id))
      return net::TestSendResult{"rate_limited",
                                 0,
                                 "",
                                 fmt::format("at most {} test emails per minute; retry in {} s",
                                             cfg.test_emails_per_minute, (wait_ms + 999) / 1000),
                                 "",
                                 false,
                                 ""};
    return from;
  };
  // Asynchronous (net/test_send.hpp): the checks run on the caller's thread, the attempt
  // completes `done` — at most one per account at a time, within the time limit; no thread
  // waits for the remote. The API, the console and the control socket all use it.
  auto test_send_async = [engine, test_precheck](int64_t account_id, std::string from,
                                                 const std::string& to,
                                                 std::function<void(net::TestSendResult)> done) {
    if (!engine)
      return done(net::TestSendResult{"error", 0, "", "delivery is disabled", "", false, ""});
    auto p = test_precheck(account_id, std::move(from));
    if (auto* r = std::get_if<net::TestSendResult>(&p)) return done(std::move(*r));
    engine->test_send_async(account_id, std::get<std::string>(p), to, std::move(done));
  };
  auto to_api = [](const net::TestSendResult& t) {
    return api::TestEmailResult{t.outcome, t.code, t.enhanced, t.reply, t.host, t.tls, t.route};
  };
  // The API's form (issue 13): answered through HttpResponse::later.
  auto test_email_async = [test_send_async, to_api](
                              int64_t account_id, const std::string& from, const std::string& to,
                              std::function<void(api::TestEmailResult)> done) {
    test_send_async(account_id, from, to,
                    [done, to_api](net::TestSendResult t) { done(to_api(t)); });
  };
  ControlServer control(
      cfg.data_dir + "/control.sock",
      [engine](const std::string& cmd, const std::string& id) {
        if (!engine) return net::ControlReply{false, 0, "delivery is disabled"};
        if (cmd == "retry") return engine->retry(id);
        if (cmd == "hold") return engine->hold(id);
        if (cmd == "release") return engine->release(id);
        return engine->remove(id);
      },
      [test_send_async, st](const std::string& account, const std::string& from,
                            const std::string& to, std::function<void(net::TestSendResult)> done) {
        auto a = st->accounts.find(account);
        if (!a || !a.value())
          return done(
              net::TestSendResult{"error", 0, "", "no such account: " + account, "", false, ""});
        test_send_async(a.value()->id, from, to, std::move(done));
      });

  net::SmtpServices svc{spool.value().get(), st,      &limiter, tls, &blocking,
                        &dkim_keys,          nullptr, nullptr,  {}};
  // The message log first: its rows must exist before the engine reports the first outcome.
  svc.on_accepted = [engine, &reports](const queue::QueuedMessage& m) {
    reports.accepted(m);
    if (engine) engine->submitted(m);
  };
  // Whole messages (HTTP send, Tern's own mail, SMTP mail with tracking) take the same path
  // into the spool and on to the engine and the message log. The tracking key lives in a file
  // made on first start (0600), so links in mail already sent stay valid across restarts.
  // In a region the key is the region's (app/region_secrets.hpp): a link signed by one node
  // verifies on every node; this node's file is rewritten to match.
  store::Sealer region_sealer;
  region_sealer.set_key(backend_opt.master_key);
  const std::string tracking_file = cfg.effective_tracking_secret_file();
  std::string tracking_secret = load_or_create_secret(tracking_file, new_tracking_secret, false);
  if (!sqlite) {
    bool replaced = false;
    tracking_secret = adopt_region_secret(*backend->cluster, region_sealer, kSecretTrackingKey,
                                          tracking_file, tracking_secret, false, &replaced);
    if (replaced) spdlog::info("tracking key: the region's, written to {}", tracking_file);
  }
  pipeline::SubmissionServices sub_svc;
  sub_svc.spool = spool.value().get();
  sub_svc.dkim_keys = &dkim_keys;
  sub_svc.hostname = cfg.hostname;
  sub_svc.tracking_secret = tracking_secret;
  sub_svc.public_url = cfg.effective_public_url();
  sub_svc.on_accepted = svc.on_accepted;
  pipeline::Submission submission(std::move(sub_svc));
  svc.submission = &submission;
  asio::thread_pool submission_pool(2);  // tracked SMTP mail, apart from AUTH's pool
  svc.submission_pool = &submission_pool;
  scfg.session.suspended = &suspended;
  net::SmtpServer smtp(workers, scfg, svc);
  if (!cfg.listen_smtp.empty()) smtp.listen("smtp", cfg.listen_smtp, false);
  if (!cfg.listen_submission.empty()) smtp.listen("submission", cfg.listen_submission, false);
  if (!cfg.listen_submissions.empty()) smtp.listen("submissions", cfg.listen_submissions, true);

  // --- HTTP: /healthz, /metrics, and the API surface (api::handle: /api/v1, /t/, /v/) ---
  // The operator token lives in a file made on first start (0600).
  bool token_created = false;
  const std::string admin_token_file = cfg.effective_admin_token_file();
  std::string admin_token =
      load_or_create_secret(admin_token_file, new_admin_token, true, &token_created);
  if (!sqlite) {  // the region's token, on every node (app/region_secrets.hpp)
    bool replaced = false;
    admin_token = adopt_region_secret(*backend->cluster, region_sealer, kSecretOperatorToken,
                                      admin_token_file, admin_token, true, &replaced);
    if (replaced) spdlog::info("operator token: the region's, written to {}", admin_token_file);
  }
  if (admin_token.size() < 16)
    throw std::runtime_error(admin_token_file + ": the operator token must be 16+ characters");
  spdlog::info("api: {}/api/v1, operator token {} {}", cfg.effective_public_url(),
               token_created ? "created in" : "in", admin_token_file);
  api::ApiServices api_svc;
  api_svc.store = st;
  api_svc.messages = backend->messages.get();
  api_svc.outbox = backend->outbox.get();
  api_svc.submission = &submission;
  api_svc.clock = &clock;
  api_svc.admin_token = admin_token;
  api_svc.public_url = cfg.effective_public_url();
  api_svc.hostname = cfg.hostname;
  api_svc.tracking_secret = tracking_secret;
  api_svc.dns_resolver = cfg.dns_resolver;
  api_svc.dkim_zone = cfg.dkim_zone;
  api_svc.spf_include = cfg.spf_include;
  api_svc.sending_ips = cfg.sending_ips;
  api_svc.platform_domains = cfg.smtp.platform_domains;
  api_svc.webhook_policy = wcfg.policy;
  api_svc.relay_policy = cfg.delivery.relay_policy;
  api_svc.max_unverified_domains = cfg.max_unverified_domains;
  api_svc.test_email_async = test_email_async;
  api::SlowGate webhook_test_gate(1);
  api_svc.webhook_test_gate = &webhook_test_gate;
  api_svc.webhook_test = [ws = webhook_sender.get()](
                             int64_t account_id, const std::string& kind,
                             std::function<void(api::WebhookTestResult)> done) {
    ws->test_post(account_id, kind, [done](net::WebhookTest t) {
      done(api::WebhookTestResult{t.ok, t.status, t.error, t.url, t.configured});
    });
  };
  api_svc.sessions = &st->sessions;
  api_svc.suspensions = &st->suspensions;
  api_svc.stats = &st->stats;
  api_svc.captured = &st->captured;
  api_svc.suppression_list = &st->suppressions;
  api_svc.queue = engine;
  // Console logins are limited per client address like SMTP AUTH ([auth] limits), in a table
  // of their own.
  policy::AuthLimiter login_limiter(
      clock, policy::AuthLimiter::Limits{static_cast<int>(cfg.auth_max_failures_per_ip),
                                         static_cast<int>(cfg.auth_max_failures_per_user),
                                         static_cast<int64_t>(cfg.auth_window_s) * 1000,
                                         static_cast<int64_t>(cfg.auth_window_s) * 1000});
  api_svc.login_limiter = &login_limiter;
  api_svc.suspension_changed = [&suspended](int64_t id, const std::optional<std::string>& why) {
    if (why)
      suspended.set(id, *why);
    else
      suspended.clear(id);
  };
  api_svc.platform = platform_info(cfg);
  api_svc.webhooks_enqueued = [&poke_webhooks] { poke_webhooks(); };
  // Handlers block (SQLite, a spool fsync): they run on a pool of their own, never on an I/O
  // thread. Calls that wait on the outside world or burn CPU (a test email to the account's
  // relay, DNS checks, DKIM key generation: api::is_slow) run on a second pool, at most two per
  // account at once (api::SlowGate), so they can never hold up the rest of the API.
  // Bodies up to 32 MiB reach the router, which answers 413 above its per-route limits.
  asio::thread_pool http_pool(4);
  asio::thread_pool http_slow_pool(8);
  api::SlowGate slow_gate(2);
  api_svc.slow_gate = &slow_gate;
  auto* q = spool.value().get();
  net::HttpServerOptions http_opts;
  http_opts.pool = &http_pool;
  http_opts.slow_pool = &http_slow_pool;
  http_opts.is_slow = [](const net::HttpRequest& r) { return api::is_slow(r); };
  http_opts.max_body = 32u << 20;
  http_opts.max_connections = budget->http_max_connections;
  http_opts.max_connections_per_ip = cfg.http_max_connections_per_ip;
  net::HttpServer* http_ptr = nullptr;
  net::HttpServer http(
      *workers.front(),
      [&smtp, &submission, q, engine, &api_svc, ws = webhook_sender.get(), &http_ptr,
       &slow_gate](const net::HttpRequest& r) -> net::HttpResponse {
        if (r.target == "/healthz") return {200, "text/plain; charset=utf-8", "ok\n"};
        if (r.target == "/metrics")
          return {200, "text/plain; version=0.0.4",
                  metrics_text(smtp, submission, *q, engine, ws, http_ptr, &slow_gate)};
        return api::handle(api_svc, r);
      },
      std::move(http_opts));
  http_ptr = &http;
  if (!cfg.listen_http.empty()) http.listen(cfg.listen_http);

  // SIGTERM/SIGINT: listeners close at once; every SMTP session between commands answers
  // 421 4.3.2, one in DATA finishes its message first (up to 10 s), then everything stops.
  asio::signal_set signals(*workers.front(), SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: stopping", sig);
    smtp.stop();
    http.stop();
    asio::co_spawn(
        *workers.front(),
        [&]() -> asio::awaitable<void> {
          const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
          asio::steady_timer t(*workers.front());
          while (smtp.counters().active > 0 && std::chrono::steady_clock::now() < until) {
            t.expires_after(std::chrono::milliseconds(20));
            co_await t.async_wait(asio::use_awaitable);
          }
          if (smtp.counters().active > 0)
            spdlog::warn("stopping with {} SMTP sessions still open",
                         smtp.counters().active.load());
          if (engine) engine->stop();
          webhook_sender->stop();
          for (auto* w : workers) w->stop();
        },
        asio::detached);
  });

  // --- The region's upkeep (app/cluster_upkeep.hpp, docs/cluster.md): singleton jobs behind
  // leases (captured-mail retention, the change-log trim, the DNS re-check round), and on
  // PostgreSQL the change feed: a login, DKIM key or domain changed on any node drops this
  // node's cached copy within a second. On SQLite the node holds every lease itself.
  ClusterUpkeep cluster_upkeep(
      *backend->cluster, clock,
      ClusterUpkeep::Options{.lease_ttl_ms = int64_t{cfg.cluster_lease_s} * 1000,
                             .follow_feed = !sqlite});
  cluster_upkeep.add_job(store::kLeaseCapturedRetention, 3'600'000, [cap = &st->captured] {
    if (auto r = cap->prune(core::SystemClock().now_ms()); !r)
      spdlog::warn("captured mail: {}", r.error().message);
  });
  cluster_upkeep.add_job(store::kLeaseChangeLogTrim, 600'000, [c = backend->cluster.get()] {
    if (auto r = c->trim_changes(core::SystemClock().now_ms() - 3'600'000); !r)
      spdlog::warn("change log trim: {}", r.error().message);
  });
  const store::LeasedJob& dns_lease = cluster_upkeep.add_lease(store::kLeaseDnsRecheck);
  cluster_upkeep.on_change([st, &dkim_keys](const store::Change& c) {
    const auto s = store::parse_subject(c.subject);
    if (s.kind == "credential") st->forget_login(s.key);  // the next AUTH asks the database
    if (s.kind == "dkim" || s.kind == "domain" || s.kind == "account") dkim_keys.clear();
  });
  cluster_upkeep.start();

  // --- Sending domains: periodic DNS re-check (SPEC §3) ---
  // Every [dns] check_interval_s, every domain's records are checked again and what changed is
  // logged ("domain example.com: tern1 missing -> ok"); a check that finds a rotation's new
  // selector ok switches signing to it. A thread of its own: look-ups block (seconds, at worst,
  // per domain) and must never hold an I/O thread or the blocking pool the SMTP path uses.
  struct Recheck {
    std::mutex mu;
    std::condition_variable cv;
    bool stop = false;
    std::thread thread;
  } recheck;
  recheck.thread = std::thread([&cfg, &recheck, &clock, st, &dns_lease] {
    domain::Domains domains(*st, {cfg.dkim_zone, cfg.spf_include, cfg.sending_ips},
                            domain::dkim_key_generator(), clock);
    // A round runs on the node holding the DNS lease only, and stops if the lease is lost.
    auto stopping = [&recheck, &dns_lease] {
      std::lock_guard lk(recheck.mu);
      return recheck.stop || !dns_lease.holding();
    };
    // The first round waits one interval too: states persist in the store, a restart needs no
    // immediate round (and `tern domain check` checks at once), and a server stopped soon
    // after start never waits on a DNS look-up in flight.
    for (;;) {
      {
        std::unique_lock lk(recheck.mu);
        if (recheck.cv.wait_for(lk, std::chrono::seconds(cfg.dns_check_interval_s),
                                [&recheck] { return recheck.stop; }))
          return;
      }
      if (!dns_lease.holding()) continue;  // another node re-checks this interval
      // A fresh resolver per round: nothing cached across rounds outlives a record's change.
      auto resolver = dns::make_unbound_resolver(cfg.dns_resolver);
      domains.check_all(*resolver, stopping,
                        [](const std::string& name, const core::Result<domain::Report>& r) {
                          if (!r) {
                            spdlog::warn("domain {}: check failed: {}", name, r.error().message);
                            return;
                          }
                          for (const auto& c : r->changes)
                            spdlog::info("domain {}: {} {} -> {}", name, c.what, c.from, c.to);
                          if (r->dns_error)
                            for (const auto& rec : r->records)
                              if (rec.status == store::RecordStatus::error)
                                spdlog::warn("domain {}: {}: {}", name, rec.id, rec.found);
                        });
    }
  });
  struct StopRecheck {
    Recheck& r;
    ~StopRecheck() {
      {
        std::lock_guard lk(r.mu);
        r.stop = true;
      }
      r.cv.notify_all();
      if (r.thread.joinable()) r.thread.join();
    }
  } stop_recheck{recheck};

  // --- Upkeep: suspensions changed by the CLI reach the SMTP path within 5 s; the node's
  // heartbeat into the registry every [cluster] heartbeat_s. (Captured sandbox mail older than
  // [sandbox] max_age_s goes hourly: a leased job of cluster_upkeep above.)
  struct Upkeep {
    std::mutex mu;
    std::condition_variable cv;
    bool stop = false;
    std::thread thread;
  } upkeep;
  // The node registry (`tern node list`): a heartbeat at start and every [cluster] heartbeat_s.
  store::Cluster* const cluster = backend->cluster.get();
  if (auto r = cluster->heartbeat(core::SystemClock().now_ms()); !r)
    spdlog::warn("node registry: {}", r.error().message);
  upkeep.thread =
      std::thread([&upkeep, &load_suspended, cluster, beat_s = cfg.cluster_heartbeat_s] {
        using Clock = std::chrono::steady_clock;
        const auto start = Clock::now();
        auto next_beat = start + std::chrono::seconds(beat_s);
        auto next_work = start + std::chrono::seconds(5);
        for (;;) {
          {
            std::unique_lock lk(upkeep.mu);
            if (upkeep.cv.wait_until(lk, std::min(next_beat, next_work),
                                     [&upkeep] { return upkeep.stop; }))
              return;
          }
          const auto now = Clock::now();
          if (now >= next_beat) {
            next_beat = now + std::chrono::seconds(beat_s);
            if (auto r = cluster->heartbeat(core::SystemClock().now_ms()); !r)
              spdlog::warn("node registry: {}", r.error().message);
          }
          if (now < next_work) continue;
          next_work = now + std::chrono::seconds(5);
          load_suspended();
        }
      });
  struct StopUpkeep {
    Upkeep& u;
    ~StopUpkeep() {
      {
        std::lock_guard lk(u.mu);
        u.stop = true;
      }
      u.cv.notify_all();
      if (u.thread.joinable()) u.thread.join();
    }
  } stop_upkeep{upkeep};
  if (cfg.effective_public_url().starts_with("http://") &&
      !cfg.effective_public_url().starts_with("http://127.") &&
      !cfg.effective_public_url().starts_with("http://localhost") &&
      !cfg.effective_public_url().starts_with("http://[::1]"))
    spdlog::warn(
        "[http] public_url {} is plain http on a non-loopback address: browsers keep the "
        "console's Secure session cookie only over https (put a TLS proxy in front and set "
        "public_url to its https address)",
        cfg.effective_public_url());

  spdlog::info("tern ready: hostname {}, data {}, {} I/O threads", cfg.hostname, cfg.data_dir,
               n_threads);
  std::vector<std::thread> threads;
  for (unsigned i = 1; i < n_threads; ++i)
    threads.emplace_back([w = workers[i]] {
      auto guard = asio::make_work_guard(*w);
      w->run();
    });
  {
    auto guard = asio::make_work_guard(*workers.front());
    workers.front()->run();
  }
  for (auto* w : workers) w->stop();
  for (auto& t : threads) t.join();
  blocking.join();
  submission_pool.join();
  spdlog::info("stopped");
  return 0;
}

}  // namespace tern::app
