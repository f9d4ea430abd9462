#include "app/serve.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "api/api.hpp"
#include "api/slow_calls.hpp"
#include "app/capture_sink.hpp"
#include "app/cluster_upkeep.hpp"
#include "app/control.hpp"
#include "app/fd_budget.hpp"
#include "app/metrics.hpp"
#include "app/node_id.hpp"
#include "app/node_presence.hpp"
#include "app/platform_names.hpp"
#include "app/queue_router.hpp"
#include "app/region_secrets.hpp"
#include "app/runtime.hpp"
#include "app/secret_files.hpp"
#include "app/shared_auth_counts.hpp"
#include "app/test_email.hpp"
#include "core/clock.hpp"
#include "dns/resolver.hpp"
#include "domain/service.hpp"
#include "net/delivery_engine.hpp"
#include "net/http_server.hpp"
#include "net/report_pipeline.hpp"
#include "net/smtp_server.hpp"
#include "net/tls.hpp"
#include "net/webhook_sender.hpp"
#include "pipeline/key_cache.hpp"
#include "pipeline/submission.hpp"
#include "policy/auth_limiter.hpp"
#include "policy/suspended_accounts.hpp"
#include "queue/spool.hpp"
#include "store/backend.hpp"
#include "store/captured.hpp"
#include "store/db_guard.hpp"
#include "store/message_log.hpp"
#include "store/outbox.hpp"
#include "store/pg_listener.hpp"
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

// Runs what was queued on `io` before now (a stop the service asked for) by posting a marker
// behind it and waiting for it, at most 5 s (a thread that hangs must not hang the shutdown).
void run_queued(asio::io_context& io, const char* what) {
  auto done = std::make_shared<std::promise<void>>();
  auto fut = done->get_future();
  asio::post(io, [done] { done->set_value(); });
  if (fut.wait_for(std::chrono::seconds(5)) != std::future_status::ready)
    spdlog::warn("{}: its thread did not finish its stop within 5 s", what);
}

// --- Sending domains: periodic DNS re-check (SPEC §3), the body of a service thread.
// Every domain claim is checked again every [dns] check_interval_s and what changed is logged
// ("domain example.com: tern1 missing -> ok"); a check that finds a rotation's new selector ok
// switches signing to it. The re-checks are a queue every node of a region works
// (store/domain_checks.hpp): each poll claims one due claim at a time, checks it and sets its
// next due time (the moment it was claimed + the interval), until none is due; then it waits
// min(interval, 5 s). A new claim is first re-checked one interval after a node first sees it
// (`tern domain check` and the API check at once); due times persist, so a restart neither
// skips nor repeats a re-check. A thread of its own: look-ups block (seconds, at worst, per
// domain) and must never hold an I/O thread or the blocking pool the SMTP path uses.
void recheck_domains(const Config& cfg, const core::Clock& clock, store::Store& st,
                     store::DomainChecks& queue, const StopSignal& stop) {
  domain::Domains domains(st, {cfg.dkim_zone, cfg.spf_include, cfg.sending_ips},
                          domain::dkim_key_generator(), clock);
  const int64_t interval_ms = int64_t{cfg.dns_check_interval_s} * 1000;
  const auto poll = std::chrono::seconds(std::clamp(cfg.dns_check_interval_s, 1, 5));
  while (!stop.wait_for(poll)) {
    // A fresh resolver per poll with work: nothing cached outlives a record's change for long.
    std::unique_ptr<dns::Resolver> resolver;
    while (!stop.stopping()) {
      const int64_t now = clock.now_ms();
      auto due = queue.claim(now, interval_ms, store::kDomainCheckLeaseMs, 1);
      if (!due) {
        spdlog::warn("domain re-checks: {}", due.error().message);
        break;
      }
      if (due->empty()) break;
      if (!resolver) resolver = dns::make_unbound_resolver(cfg.dns_resolver);
      const store::DomainCheckClaim& c = due->front();
      auto r = domains.check(c.domain, *resolver, c.account_id);
      if (!r && r.error().code != core::ErrorCode::not_found) {  // not_found: removed meanwhile
        spdlog::warn("domain {}: check failed: {}", c.domain, r.error().message);
      } else if (r) {
        spdlog::info("domain {}: re-checked (account {})", c.domain, c.account_id);
        for (const auto& ch : r->changes)
          spdlog::info("domain {}: {} {} -> {}", c.domain, ch.what, ch.from, ch.to);
        if (r->dns_error)
          for (const auto& rec : r->records)
            if (rec.status == store::RecordStatus::error)
              spdlog::warn("domain {}: {}: {}", c.domain, rec.id, rec.found);
      }
      if (auto d = queue.done(c, now + interval_ms); !d)
        spdlog::warn("domain {}: next re-check not scheduled: {}", c.domain, d.error().message);
      else if (!*d)
        spdlog::info("domain {}: claimed again by another node meanwhile (its lease ran out)",
                     c.domain);
    }
  }
}

// --- Upkeep, the body of a service thread: suspensions changed by the CLI (or, in a region, on
// another node: the suspensions table has no change-feed trigger) reach the SMTP path within
// suspend_s (5 s alone, 1 s in a region, within the 2 s every node must see a change in); the
// node's check-in into the registry every [cluster] heartbeat_s: when another data dir has
// taken this node id meanwhile, the body throws and the node stops (app/node_presence.hpp).
// (Captured sandbox mail older than [sandbox] max_age_s goes hourly: a leased job of the
// cluster upkeep.)
void upkeep(const StopSignal& stop, const std::function<void()>& load_suspended,
            NodePresence& presence, int beat_s, int suspend_s) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto next_beat = start + std::chrono::seconds(beat_s);
  auto next_work = start + std::chrono::seconds(suspend_s);
  while (!stop.wait_until(std::min(next_beat, next_work))) {
    const auto now = Clock::now();
    if (now >= next_beat) {
      next_beat = now + std::chrono::seconds(beat_s);
      if (auto r = presence.check_in(core::SystemClock().now_ms()); !r) {
        if (r.error().code == core::ErrorCode::conflict)
          throw std::runtime_error(r.error().message +
                                   " (this node stops now: it takes no new "
                                   "work; its spool stays in its data dir)");
        spdlog::warn("{}", r.error().message);  // the database is away: the next beat retries
      }
    }
    if (now < next_work) continue;
    next_work = now + std::chrono::seconds(suspend_s);
    load_suspended();
  }
}

// Wakes the webhook sender after reports were enqueued: its wiring sets the function
// (set(...)); until then, and after the sender stopped, nothing is woken (the sender finds the
// items on its own timer; the outbox is durable).
class Poke {
 public:
  void set(std::function<void()> g) {
    std::lock_guard lk(mu_);
    f_ = std::move(g);
  }
  void operator()() {
    std::lock_guard lk(mu_);
    if (f_) f_();
  }

 private:
  std::mutex mu_;
  std::function<void()> f_;
};

// The SQLite clean-stop marker (store/db_guard.hpp): removed only after every connection
// closed, so it is declared before the store.
struct RunMarker {
  std::string path;
  bool armed = false;
  ~RunMarker() {
    if (!armed) return;
    if (auto r = store::db_guard::mark_clean(path); !r) spdlog::error("{}", r.error().message);
  }
};

// Every part of the running server. The constructor builds them all and starts nothing (no
// thread of the server runs, no port is bound); add_services() hands their lifecycles to the
// runtime. Members are declared in the order they are built and are destroyed in reverse,
// after the runtime stopped every thread: the store (after the clean-stop marker) is declared
// first and closes last.
class Server {
 public:
  explicit Server(const Config& given);
  void add_services(Runtime& rt);
  asio::io_context& first_worker() { return *workers_.front(); }
  unsigned io_threads() const { return static_cast<unsigned>(workers_.size()); }
  const Config& config() const { return cfg_; }
  // After the runtime stopped: frees the node id in the registry (a clean stop).
  void check_out() { presence_->check_out(core::SystemClock().now_ms()); }

 private:
  void open_store();
  void build_io();
  void build_reports();
  void build_delivery();
  void build_webhooks();
  void build_cluster_upkeep();
  void build_smtp();
  void build_http();

  Config cfg_;
  FdBudget budget_;
  RunMarker run_marker_;
  std::optional<NodeId> node_;
  store::Backend backend_;
  std::unique_ptr<NodePresence> presence_;  // this node in backend_.nodes
  store::Store* st_ = nullptr;
  bool sqlite_ = true;           // one node on SQLite, else a region on PostgreSQL
  store::Sealer region_sealer_;  // the master key: the region's shared secrets are sealed
  std::unique_ptr<queue::Spool> spool_;
  std::shared_ptr<asio::ssl::context> tls_;
  core::SystemClock clock_;
  // AUTH failure counts: this process's (SQLite), or the region's table with a mirror here.
  std::shared_ptr<SharedAuthCounts> smtp_counts_, login_counts_;
  std::unique_ptr<policy::AuthLimiter> limiter_;
  // --- I/O: one io_context per I/O thread; AUTH and store look-ups on `blocking_`.
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::io_context*> workers_;
  asio::thread_pool blocking_{2};
  std::vector<std::thread> io_threads_;
  // --- What every submission path shares: DKIM keys, suspended accounts, the reports.
  std::unique_ptr<pipeline::KeyCache> dkim_keys_;
  std::unique_ptr<StoreCaptureSink> capture_sink_;
  policy::SuspendedAccounts suspended_;
  std::function<void()> load_suspended_;
  // An account's settings changed (its API call here, or the change feed from another node):
  // the report thread and the delivery engine drop their copies.
  std::function<void(int64_t)> settings_changed_;
  Poke poke_webhooks_;
  std::unique_ptr<net::ReportPipeline> reports_;
  // --- The region's upkeep: leased singleton jobs and the change feed (app/cluster_upkeep).
  std::unique_ptr<ClusterUpkeep> cluster_upkeep_;
  std::unique_ptr<store::pg::Listener> change_listener_;  // PostgreSQL: NOTIFY wakes the feed
  // --- Delivery. The pool is declared before the io_context: the engine's state (which holds
  // a strand on the pool) can be owned by a handler still queued on the io_context at shutdown,
  // and is destroyed with it; the pool's services must still exist then (UBSan found the
  // opposite order).
  asio::thread_pool delivery_blocking_{4};
  asio::io_context delivery_io_{1};
  std::thread delivery_thread_;
  std::unique_ptr<dns::Resolver> mx_resolver_;
  std::unique_ptr<net::DeliveryEngine> delivery_;  // null: [delivery] enabled = false
  // A region: queue actions go to the node that holds the message (null on SQLite).
  std::unique_ptr<QueueRouter> queue_router_;
  // --- Webhooks.
  asio::io_context webhook_io_{1};
  std::thread webhook_thread_;
  asio::thread_pool webhook_blocking_{2};
  std::unique_ptr<dns::Resolver> webhook_resolver_;
  net::WebhookConfig wcfg_;
  std::unique_ptr<net::WebhookSender> webhook_sender_;
  // --- Operator and tenant commands that reach the engine.
  std::unique_ptr<TestEmails> test_emails_;
  std::unique_ptr<ControlServer> control_;  // bound by the "control socket" service
  // --- SMTP.
  std::string tracking_secret_;
  std::unique_ptr<pipeline::Submission> submission_;
  asio::thread_pool submission_pool_{2};  // tracked SMTP mail, apart from AUTH's pool
  std::unique_ptr<net::SmtpServer> smtp_;
  // --- HTTP.
  api::ApiServices api_svc_;
  api::SlowGate webhook_test_gate_{1};
  std::unique_ptr<policy::AuthLimiter> login_limiter_;
  asio::thread_pool http_pool_{4};
  asio::thread_pool http_slow_pool_{8};
  api::SlowGate slow_gate_{2};
  std::unique_ptr<net::HttpServer> http_;
};

policy::AuthLimiter::Limits auth_limits(const Config& cfg) {
  return {static_cast<int>(cfg.auth_max_failures_per_ip),
          static_cast<int>(cfg.auth_max_failures_per_user),
          static_cast<int64_t>(cfg.auth_window_s) * 1000,
          static_cast<int64_t>(cfg.auth_window_s) * 1000};
}

Server::Server(const Config& given) : cfg_(given) {
  namespace fs = std::filesystem;
  // Every platform name from the one place the CLI uses too (idempotent after main's load).
  for (const auto& w : resolve_platform_names(cfg_).warnings) spdlog::warn("{}", w);
  fs::create_directories(cfg_.data_dir);
  const uint64_t fd_limit = raise_fd_limit();
  auto budget = plan_fd_budget(fd_limit, cfg_.smtp.max_connections, cfg_.http_max_connections,
                               cfg_.delivery.limits.max_connections + 16 /* webhooks, tests */);
  if (!budget) throw std::runtime_error(budget.error().message);
  if (!budget->warning.empty()) spdlog::warn("{}", budget->warning);
  budget_ = std::move(budget.value());
  open_store();
  build_io();
  build_reports();
  build_delivery();
  build_webhooks();
  build_cluster_upkeep();
  // Test email (seed 000): the API, the console and the control socket (app/test_email.hpp).
  test_emails_ = std::make_unique<TestEmails>(cfg_, *st_, delivery_.get(), clock_);
  build_smtp();
  build_http();
  const std::string url = cfg_.effective_public_url();
  if (url.starts_with("http://") && !url.starts_with("http://127.") &&
      !url.starts_with("http://localhost") && !url.starts_with("http://[::1]"))
    spdlog::warn(
        "[http] public_url {} is plain http on a non-loopback address: browsers keep the "
        "console's Secure session cookie only over https (put a TLS proxy in front and set "
        "public_url to its https address)",
        url);
}

// The store: sqlite:<data>/tern.db by default, or a PostgreSQL shared by a region; everything
// persistent in one bundle (store/backend.hpp). Then the spool (recovered), TLS and the AUTH
// limiter.
void Server::open_store() {
  const std::string store_url = cfg_.effective_store_url();
  const bool sqlite = cfg_.store_is_sqlite();
  // The db_guard marker is about a SQLite file's WAL; PostgreSQL keeps its own journal.
  const std::string db_path = sqlite ? store_url.substr(std::string_view("sqlite:").size()) : "";
  if (sqlite) {
    if (auto lost = store::db_guard::check(db_path); !lost && cfg_.force_db)
      spdlog::warn("{} (--force: going on with the database as it is)", lost.error().message);
  }
  run_marker_.path = db_path;
  // This node's id ([cluster] node_id or <data>/node.id): one live process per data dir.
  auto node = NodeId::claim(cfg_.data_dir, cfg_.node_id);
  if (!node) throw std::runtime_error(node.error().message);
  node_.emplace(std::move(node.value()));
  spdlog::info("node {} on a {} store", node_->id(), sqlite ? "SQLite" : "PostgreSQL");
  store::BackendOptions backend_opt;
  backend_opt.node_id = node_->id();
  backend_opt.force = cfg_.force_db;
  backend_opt.master_key = read_master_key(cfg_);  // secrets sealed at rest
  // A region: a dead node's claimed webhook items go out again after [cluster] lease_s (longer
  // than a POST may take). One node on SQLite keeps the outbox's own lease.
  if (!sqlite)
    backend_opt.outbox_lease_ms =
        int64_t{std::max(cfg_.cluster_lease_s, 3 * cfg_.webhook_timeout_s)} * 1000;
  sqlite_ = sqlite;
  region_sealer_.set_key(backend_opt.master_key);
  auto backend = store::open_backend(store_url, backend_opt);
  if (!backend) throw std::runtime_error(backend.error().message);
  backend_ = std::move(backend.value());
  // Nodes that start together each apply some migrations (one transaction each, behind an
  // advisory lock): every version shows up in exactly one node's log.
  for (const int64_t v : backend_.migrated) spdlog::info("store: applied schema migration {}", v);
  // One running process per node id (app/node_presence.hpp, `tern node list`): checked here,
  // before the spool is recovered or anything listens; then at every heartbeat (upkeep).
  if (!node_->note().empty()) spdlog::info("{}", node_->note());
  std::string version;
#ifdef TERN_VERSION
  version = TERN_VERSION;
#endif
  presence_ = std::make_unique<NodePresence>(*backend_.nodes,
                                             store::NodeRecord{.node_id = node_->id(),
                                                               .instance = node_->instance(),
                                                               .run = node_->run(),
                                                               .hostname = host_name(),
                                                               .address = cfg_.listen_http,
                                                               .version = version},
                                             int64_t{cfg_.cluster_lease_s} * 1000);
  // A row of this instance under another run, fresh: looked at again after two heartbeats
  // (a copy running elsewhere beats meanwhile; this data dir's own last run, killed, does not).
  const int64_t probe_ms = int64_t{2} * cfg_.cluster_heartbeat_s * 1000;
  if (auto r = presence_->start(
          [] { return core::SystemClock().now_ms(); },
          [](int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }, probe_ms);
      !r) {
    if (r.error().code == core::ErrorCode::conflict) throw std::runtime_error(r.error().message);
    spdlog::warn("{}", r.error().message);
  }
  if (sqlite) {
    if (auto r = store::db_guard::mark_running(db_path); !r)
      throw std::runtime_error(r.error().message);
    run_marker_.armed = true;
  }
  st_ = backend_.store.get();
  queue::SpoolOptions spool_opt;
  spool_opt.reserve_bytes = cfg_.spool_reserve_mb << 20;
  spool_opt.checkpoint = true;
  spool_opt.group_commit_wait_us =
      static_cast<uint32_t>(cfg_.spool_group_commit_wait_us);  // a restart reads the index
                                                               // checkpoint and the log after it
  auto spool = queue::Spool::open(cfg_.data_dir, spool_opt);
  if (!spool) throw std::runtime_error("spool: " + spool.error().message);
  spool_ = std::move(spool.value());
  // (a count: list() would decode every envelope, a million of them after a backlog)
  spdlog::info("spool: {} queued messages recovered", spool_->stats().live);

  net::TlsFiles files{cfg_.tls_cert, cfg_.tls_key};
  if (files.cert.empty() || files.key.empty())
    files = net::ensure_self_signed(cfg_.data_dir + "/tls", cfg_.hostname);
  tls_ = net::make_server_context(files);
  // A region counts AUTH failures in the database every node shares (app/shared_auth_counts):
  // failures spread over the nodes add up, and a block holds on every node. Console logins
  // (build_http) likewise, under their own prefix.
  const auto limits = auth_limits(cfg_);
  if (backend_.auth_counts) {
    const int64_t keep = std::max(limits.window_ms, limits.block_ms);
    smtp_counts_ = std::make_shared<SharedAuthCounts>(
        *backend_.auth_counts, SharedAuthCounts::Options{.prefix = "smtp:", .keep_ms = keep});
    login_counts_ = std::make_shared<SharedAuthCounts>(
        *backend_.auth_counts, SharedAuthCounts::Options{.prefix = "login:", .keep_ms = keep});
    limiter_ = std::make_unique<policy::AuthLimiter>(clock_, limits, smtp_counts_);
  } else {
    limiter_ = std::make_unique<policy::AuthLimiter>(clock_, limits);
  }
}

void Server::build_io() {
  const unsigned n = cfg_.threads > 0 ? static_cast<unsigned>(cfg_.threads)
                                      : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i) {
    contexts_.push_back(std::make_unique<asio::io_context>(1));
    workers_.push_back(contexts_.back().get());
  }
}

// DKIM keys, sandbox capture, suspended accounts and the report pipeline (issue 5: message log
// rows for accepted mail, report items into the webhook outbox for the engine's events).
void Server::build_reports() {
  store::Store* st = st_;
  // DKIM: keys per (account, From domain), parsed once, refreshed every 30 s so a selector that
  // just checked ok (or a rotation) takes effect without a restart.
  dkim_keys_ = std::make_unique<pipeline::KeyCache>(
      [st](int64_t account,
           const std::string& domain) -> core::Result<std::vector<pipeline::KeySpec>> {
        auto keys = st->domains.signing_keys(account, domain);
        if (!keys) return keys.error();
        std::vector<pipeline::KeySpec> out;
        for (auto& k : keys.value())
          out.push_back({k.domain, k.selector, k.algorithm, std::move(k.private_pem), k.version});
        return out;
      });
  // The console's stores (issue 13) are services of the Store: sessions, suspensions,
  // statistics, captured sandbox mail (bounded by [sandbox]), suppression search.
  st_->captured.set_retention({cfg_.sandbox_max_messages, cfg_.sandbox_max_age_s * 1000});
  capture_sink_ = std::make_unique<StoreCaptureSink>(st_->captured);
  // Suspended accounts for the SMTP path, in memory: loaded now, refreshed by the upkeep
  // service (CLI changes), updated at once by the API.
  load_suspended_ = [sus = &suspended_, repo = &st_->suspensions] {
    auto all = repo->all();
    if (!all) return spdlog::warn("suspensions: {}", all.error().message);
    std::map<int64_t, std::string> m;
    for (const auto& x : *all) m[x.account_id] = x.reason;
    sus->replace(std::move(m));
  };
  load_suspended_();
  reports_ = std::make_unique<net::ReportPipeline>(net::ReportPipelineServices{
      st_, backend_.messages.get(), backend_.outbox.get(), [poke = &poke_webhooks_] { (*poke)(); },
      100, report::Price{cfg_.report_price_per_message, cfg_.report_currency}, 5000, node_->id(),
      // The node-local journal (issue 12, docs/cluster.md): the pipeline's writes, and the
      // engine's delivery events and suppressions, are durable here before they are applied.
      cfg_.data_dir + "/journal", true});
}

// Delivery (SPEC §4): one engine thread; DNS and store work on a pool of its own, so a slow
// resolver never holds the SMTP path's pool.
void Server::build_delivery() {
  if (!cfg_.delivery.enabled) return;
  mx_resolver_ = dns::make_unbound_resolver(cfg_.dns_resolver);
  net::DeliveryServices dsvc;
  dsvc.spool = spool_.get();
  dsvc.store = st_;
  dsvc.resolver = mx_resolver_.get();
  dsvc.blocking = &delivery_blocking_;
  dsvc.hostname = cfg_.hostname;
  for (const auto* l :
       {&cfg_.listen_smtp, &cfg_.listen_submission, &cfg_.listen_submissions, &cfg_.listen_http})
    if (!l->empty()) dsvc.own_listeners.push_back(net::split_host_port(*l));
  net::ReportPipeline* reports = reports_.get();
  dsvc.on_events = [reports](const auto& batch) { reports->events(batch); };
  dsvc.reports_record_events = true;
  dsvc.on_suppression = [reports](const store::Suppression& x) { reports->suppressed(x); };
  // A pool thread, possibly for a million messages at start: every 1,000 the reports are
  // let catch up, so their queue never holds the whole spool.
  dsvc.recovered_known = [log = backend_.messages.get()](const std::string& id) {
    auto r = log->for_queue(id);
    return !r || !r->empty();  // on a read error, assume known: never log twice
  };
  dsvc.on_recovered =
      [reports, n = std::make_shared<std::atomic<uint64_t>>(0)](const queue::QueuedMessage& m) {
        reports->recovered(m);
        // Bounded: while the database is away the writes wait in the journal, and a pool
        // thread must not wait for them (the pool and the shutdown would stall).
        if (n->fetch_add(1) % 1000 == 999) reports->flush_for(std::chrono::seconds(2));
      };
  dsvc.capture = capture_sink_.get();
  delivery_ = std::make_unique<net::DeliveryEngine>(delivery_io_, cfg_.delivery, std::move(dsvc));
}

// Webhooks (SPEC §5): the sender POSTs what the outbox holds (reports, tracking events) from a
// thread of its own; look-ups of receivers' names on a small pool of its own. The outbox is
// durable: what was pending before a restart goes out after it.
void Server::build_webhooks() {
  webhook_resolver_ = dns::make_unbound_resolver(cfg_.dns_resolver);
  wcfg_.timeout_s = cfg_.webhook_timeout_s;
  wcfg_.max_age_ms = static_cast<int64_t>(cfg_.webhook_max_age_s) * 1000;
  wcfg_.batch = static_cast<size_t>(cfg_.webhook_batch);
  wcfg_.secret_grace_ms = static_cast<int64_t>(cfg_.webhook_secret_grace_s) * 1000;
  wcfg_.ca_file = cfg_.delivery.ca_file;
  // A region: reports other nodes enqueued, and a dead node's once its lease ran out, wake no
  // one here; look at the shared outbox every second (one indexed query when idle).
  wcfg_.idle_poll_ms = sqlite_ ? 0 : 1000;
  if (auto p = net::webhook_policy(cfg_.webhook_allow_loopback, cfg_.webhook_allow))
    wcfg_.policy = std::move(p.value());
  else
    throw std::runtime_error(p.error().message);
  webhook_sender_ = std::make_unique<net::WebhookSender>(
      webhook_io_, wcfg_,
      net::WebhookServices{backend_.outbox.get(), st_, webhook_resolver_.get(), &webhook_blocking_,
                           nullptr,
                           // Attempt events through the journal (issue 12), like every
                           // background write.
                           [reports = reports_.get()](std::vector<store::DeliveryEvent> evs) {
                             reports->rows(std::move(evs), {});
                           }});
  poke_webhooks_.set([ws = webhook_sender_.get()] { ws->poke(); });
}

// The region's upkeep (app/cluster_upkeep.hpp, docs/cluster.md): singleton jobs behind leases
// (captured-mail retention, the change-log trim), and on PostgreSQL the
// change feed: a login, DKIM key or domain changed on any node drops this node's cached copy
// within a second. On SQLite the node holds every lease itself.
void Server::build_cluster_upkeep() {
  settings_changed_ = [reports = reports_.get(), engine = delivery_.get()](int64_t id) {
    reports->settings_changed(id);
    if (engine) engine->settings_changed(id);
  };
  cluster_upkeep_ = std::make_unique<ClusterUpkeep>(
      *backend_.cluster, clock_,
      ClusterUpkeep::Options{.lease_ttl_ms = int64_t{cfg_.cluster_lease_s} * 1000,
                             .follow_feed = !sqlite_});
  // The change_log triggers NOTIFY tern_change: this node reads the feed at once (a wake-up;
  // the poll every second stays, store/pg_listener.hpp).
  if (!sqlite_)
    change_listener_ =
        std::make_unique<store::pg::Listener>(cfg_.effective_store_url(), "tern_change",
                                              [upkeep = cluster_upkeep_.get()] { upkeep->wake(); });
  cluster_upkeep_->add_job(store::kLeaseCapturedRetention, 3'600'000, [cap = &st_->captured] {
    if (auto r = cap->prune(core::SystemClock().now_ms()); !r)
      spdlog::warn("captured mail: {}", r.error().message);
  });
  const int64_t auth_keep_ms = std::max(auth_limits(cfg_).window_ms, auth_limits(cfg_).block_ms);
  cluster_upkeep_->add_job(store::kLeaseChangeLogTrim, 600'000,
                           [c = backend_.cluster.get(), cmds = backend_.node_commands.get(),
                            counts = backend_.auth_counts.get(), auth_keep_ms] {
                             const int64_t now = core::SystemClock().now_ms();
                             if (auto r = c->trim_changes(now - 3'600'000); !r)
                               spdlog::warn("change log trim: {}", r.error().message);
                             // Finished queue commands are kept an hour (what a caller may still
                             // look at).
                             if (cmds)
                               if (auto r = cmds->trim(now - 3'600'000); !r)
                                 spdlog::warn("queue commands trim: {}", r.error().message);
                             if (counts)
                               if (auto r = counts->trim(now, now - auth_keep_ms); !r)
                                 spdlog::warn("auth failure counts trim: {}", r.error().message);
                           });
  // A region: queue actions for messages other nodes hold go to them as node_commands rows;
  // this node runs its own every second (app/queue_router.hpp).
  if (backend_.node_commands && delivery_) {
    const int64_t alive_ms = int64_t{cfg_.cluster_lease_s} * 1000;
    queue_router_ = std::make_unique<QueueRouter>(
        *delivery_, *backend_.messages, *backend_.node_commands, clock_,
        QueueRouter::Options{.node_id = node_->id()},
        QueueRouter::Seams{.live_nodes =
                               [r = backend_.nodes.get(), alive_ms] {
                                 std::vector<std::string> ids;
                                 auto n = r->list();
                                 if (!n) {
                                   spdlog::warn("node registry: {}", n.error().message);
                                   return ids;
                                 }
                                 const int64_t now = core::SystemClock().now_ms();
                                 for (const auto& i : *n)
                                   if (i.alive(now, alive_ms)) ids.push_back(i.node_id);
                                 return ids;
                               },
                           .sleep = nullptr,  // this thread sleeps
                           .ready = [e = delivery_.get()] { return e->queue_loaded(); }});
    cluster_upkeep_->on_tick([r = queue_router_.get()] { r->run_pending(); });
  }
  // The mirror of the region's AUTH failure counts (blocks reached on other nodes).
  for (auto* counts : {smtp_counts_.get(), login_counts_.get()})
    if (counts)
      cluster_upkeep_->on_tick([counts] {
        if (auto r = counts->refresh(core::SystemClock().now_ms()); !r)
          spdlog::warn("auth failure counts: {}", r.error().message);
      });
  cluster_upkeep_->on_change(
      [st = st_, keys = dkim_keys_.get(), settings = settings_changed_](const store::Change& c) {
        const auto s = store::parse_subject(c.subject);
        if (s.kind == "credential") st->forget_login(s.key);  // the next AUTH asks the database
        if (s.kind == "dkim" || s.kind == "domain" || s.kind == "account") keys->clear();
        if (s.kind == "settings" || s.kind == "account") {
          int64_t id = 0;
          const auto [end, ec] = std::from_chars(s.key.data(), s.key.data() + s.key.size(), id);
          if (ec == std::errc() && end == s.key.data() + s.key.size() && id > 0) settings(id);
        }
      });
}

void Server::build_smtp() {
  net::SmtpServerConfig scfg = cfg_.smtp;
  scfg.session.hostname = cfg_.hostname;
  scfg.max_connections = budget_.smtp_max_connections;
  scfg.session.suspended = &suspended_;
  net::SmtpServices svc{spool_.get(),     st_,     limiter_.get(), tls_, &blocking_,
                        dkim_keys_.get(), nullptr, nullptr,        {}};
  // The message log first: its rows must exist before the engine reports the first outcome.
  svc.on_accepted = [engine = delivery_.get(),
                     reports = reports_.get()](const queue::QueuedMessage& m) {
    reports->accepted(m);
    if (engine) engine->submitted(m);
  };
  // Whole messages (HTTP send, Tern's own mail, SMTP mail with tracking) take the same path
  // into the spool and on to the engine and the message log. The tracking key lives in a file
  // made on first start (0600), so links in mail already sent stay valid across restarts.
  // In a region the key is the region's (app/region_secrets.hpp): a link signed by one node
  // verifies on every node; this node's file is rewritten to match.
  const std::string tracking_file = cfg_.effective_tracking_secret_file();
  tracking_secret_ = load_or_create_secret(tracking_file, new_tracking_secret, false);
  if (!sqlite_) {
    bool replaced = false;
    tracking_secret_ = adopt_region_secret(*backend_.cluster, region_sealer_, kSecretTrackingKey,
                                           tracking_file, tracking_secret_, false, &replaced);
    if (replaced) spdlog::info("tracking key: the region's, written to {}", tracking_file);
  }
  pipeline::SubmissionServices sub_svc;
  sub_svc.spool = spool_.get();
  sub_svc.dkim_keys = dkim_keys_.get();
  sub_svc.hostname = cfg_.hostname;
  sub_svc.tracking_secret = tracking_secret_;
  sub_svc.public_url = cfg_.effective_public_url();
  sub_svc.on_accepted = svc.on_accepted;
  submission_ = std::make_unique<pipeline::Submission>(std::move(sub_svc));
  svc.submission = submission_.get();
  svc.submission_pool = &submission_pool_;
  smtp_ = std::make_unique<net::SmtpServer>(workers_, scfg, svc);
}

// HTTP: /healthz, /metrics, and the API surface (api::handle: /api/v1, /t/, /v/).
void Server::build_http() {
  // The operator token lives in a file made on first start (0600).
  bool token_created = false;
  const std::string admin_token_file = cfg_.effective_admin_token_file();
  std::string admin_token =
      load_or_create_secret(admin_token_file, new_admin_token, true, &token_created);
  if (!sqlite_) {  // the region's token, on every node (app/region_secrets.hpp)
    bool replaced = false;
    admin_token = adopt_region_secret(*backend_.cluster, region_sealer_, kSecretOperatorToken,
                                      admin_token_file, admin_token, true, &replaced);
    if (replaced) spdlog::info("operator token: the region's, written to {}", admin_token_file);
  }
  if (admin_token.size() < 16)
    throw std::runtime_error(admin_token_file + ": the operator token must be 16+ characters");
  spdlog::info("api: {}/api/v1, operator token {} {}", cfg_.effective_public_url(),
               token_created ? "created in" : "in", admin_token_file);
  net::DeliveryEngine* const engine = delivery_.get();
  api::ApiServices& a = api_svc_;
  a.store = st_;
  a.messages = backend_.messages.get();
  a.outbox = backend_.outbox.get();
  a.submission = submission_.get();
  a.clock = &clock_;
  a.admin_token = admin_token;
  a.public_url = cfg_.effective_public_url();
  a.hostname = cfg_.hostname;
  a.tracking_secret = tracking_secret_;
  a.dns_resolver = cfg_.dns_resolver;
  a.dkim_zone = cfg_.dkim_zone;
  a.spf_include = cfg_.spf_include;
  a.sending_ips = cfg_.sending_ips;
  a.platform_domains = cfg_.smtp.platform_domains;
  a.webhook_policy = wcfg_.policy;
  a.relay_policy = cfg_.delivery.relay_policy;
  a.max_unverified_domains = cfg_.max_unverified_domains;
  a.test_email_async = [t = test_emails_.get()](int64_t account_id, const std::string& from,
                                                const std::string& to,
                                                std::function<void(api::TestEmailResult)> done) {
    t->send_api(account_id, from, to, std::move(done));
  };
  a.webhook_test_gate = &webhook_test_gate_;
  a.webhook_test = [ws = webhook_sender_.get()](int64_t account_id, const std::string& kind,
                                                std::function<void(api::WebhookTestResult)> done) {
    ws->test_post(account_id, kind, [done](net::WebhookTest t) {
      done(api::WebhookTestResult{t.ok, t.status, t.error, t.url, t.configured});
    });
  };
  a.sessions = &st_->sessions;
  a.suspensions = &st_->suspensions;
  a.stats = &st_->stats;
  a.captured = &st_->captured;
  a.suppression_list = &st_->suppressions;
  a.queue = queue_router_ ? static_cast<delivery::QueueControl*>(queue_router_.get())
                          : static_cast<delivery::QueueControl*>(engine);
  // Console logins are limited per client address like SMTP AUTH ([auth] limits), in a table
  // of their own.
  login_limiter_ = login_counts_ ? std::make_unique<policy::AuthLimiter>(clock_, auth_limits(cfg_),
                                                                         login_counts_)
                                 : std::make_unique<policy::AuthLimiter>(clock_, auth_limits(cfg_));
  a.login_limiter = login_limiter_.get();
  a.suspension_changed = [sus = &suspended_](int64_t id, const std::optional<std::string>& why) {
    if (why)
      sus->set(id, *why);
    else
      sus->clear(id);
  };
  a.settings_changed = settings_changed_;
  a.platform = platform_info(cfg_);
  a.webhooks_enqueued = [poke = &poke_webhooks_] { (*poke)(); };
  // Opened/clicked events and their tracking items go through the journal (issue 12): a
  // database outage loses neither; the pipeline pokes the sender.
  a.journal_rows = [reports = reports_.get()](std::vector<store::DeliveryEvent> evs,
                                              std::vector<store::OutboxItem> items) {
    reports->rows(std::move(evs), std::move(items));
  };
  // Handlers block (SQLite, a spool fsync): they run on a pool of their own, never on an I/O
  // thread. Calls that wait on the outside world or burn CPU (a test email to the account's
  // relay, DNS checks, DKIM key generation: api::is_slow) run on a second pool, at most two per
  // account at once (api::SlowGate), so they can never hold up the rest of the API.
  // Bodies up to 32 MiB reach the router, which answers 413 above its per-route limits.
  a.slow_gate = &slow_gate_;
  net::HttpServerOptions http_opts;
  http_opts.pool = &http_pool_;
  http_opts.slow_pool = &http_slow_pool_;
  http_opts.is_slow = [](const net::HttpRequest& r) { return api::is_slow(r); };
  http_opts.max_body = 32u << 20;
  http_opts.max_connections = budget_.http_max_connections;
  http_opts.max_connections_per_ip = cfg_.http_max_connections_per_ip;
  http_ = std::make_unique<net::HttpServer>(
      *workers_.front(),
      [this, engine](const net::HttpRequest& r) -> net::HttpResponse {
        if (r.target == "/healthz") return {200, "text/plain; charset=utf-8", "ok\n"};
        if (r.target == "/metrics")
          return {200, "text/plain; version=0.0.4",
                  metrics_text(*smtp_, *submission_, *spool_, engine, webhook_sender_.get(),
                               http_.get(), &slow_gate_, reports_.get())};
        return api::handle(api_svc_, r);
      },
      std::move(http_opts));
}

// The runtime (app/runtime.hpp): the services start in the order they are added here and stop
// (then join) in exactly the reverse order. That order is the shutdown invariant:
//  1. HTTP closes its listener and every connection;
//  2. SMTP closes its listeners; every session between commands answers 421 4.3.2, one in DATA
//     finishes its message first (up to 10 s);
//  3. the I/O threads end, then the pools their work ran on (AUTH and store look-ups, tracked
//     submissions, API handlers): nothing hands the engine or the pipeline anything more;
//  4. the periodic jobs end (upkeep: suspensions, heartbeat; the domain re-check, which may be
//     waiting on a DNS look-up: after the listeners, never before; then the cluster upkeep:
//     the leased jobs (sandbox pruning, change-log trim) and the change feed; its leases are
//     given up, the DNS round's with them);
//  5. the control socket closes (queue commands and test emails reach the engine through it);
//  6. the webhook sender stops taking items (what is pending stays in the durable outbox) and
//     stores the marks and attempt events of the POSTs that ended (at most 5 s);
//  7. the delivery engine stops and hands its last event batch on to the report pipeline;
//  8. the report pipeline writes everything it was handed, then ends.
// The Server's members are destroyed after that, when no thread runs any more: the spool, then
// the store, which closes last (and the clean-stop marker goes after its last connection).
void Server::add_services(Runtime& rt) {
  net::DeliveryEngine* const engine = delivery_.get();
  rt.add(std::make_unique<FnService>("report pipeline", nullptr, [this] {
    reports_->stop();  // writes everything queued, then joins its thread
  }));
  rt.add(std::make_unique<FnService>(
      "delivery engine",
      [this, engine] {
        if (engine) engine->start();
        delivery_thread_ = std::thread([io = &delivery_io_] {
          auto guard = asio::make_work_guard(*io);
          io->run();
        });
      },
      [this, engine] {
        // The engine's stop flushes its last events: let its thread run that before it ends.
        if (engine) engine->stop();
        run_queued(delivery_io_, "delivery engine");
      },
      [this] {
        delivery_io_.stop();
        if (delivery_thread_.joinable()) delivery_thread_.join();
        delivery_blocking_.join();  // the last event batch reaches the report pipeline
      }));
  rt.add(std::make_unique<FnService>(
      "webhook sender",
      [this] {
        webhook_sender_->start();
        webhook_thread_ = std::thread([io = &webhook_io_] {
          auto guard = asio::make_work_guard(*io);
          io->run();
        });
      },
      [this] {
        poke_webhooks_.set(nullptr);  // the report pipeline may still enqueue on the way down
        webhook_sender_->stop();      // no new POSTs; those in flight end with the io_context
        // The marks and attempt events of the POSTs that ended are stored (bounded).
        webhook_sender_->drain(std::chrono::seconds(5));
      },
      [this] {
        webhook_io_.stop();
        if (webhook_thread_.joinable()) webhook_thread_.join();
        webhook_blocking_.join();
      }));
  rt.add(std::make_unique<FnService>(
      "control socket",
      [this, engine] {
        control_ = std::make_unique<ControlServer>(
            cfg_.data_dir + "/control.sock",
            [engine, router = queue_router_.get()](const std::string& cmd, const std::string& id) {
              if (!engine) return net::ControlReply{false, 0, "delivery is disabled", ""};
              auto local = [&] {
                if (cmd == "retry") return engine->retry(id);
                if (cmd == "hold") return engine->hold(id);
                if (cmd == "release") return engine->release(id);
                return engine->remove(id);
              };
              // A region: a message another node holds is that node's to change.
              return router ? router->control(cmd, id, local) : local();
            },
            [t = test_emails_.get()](const std::string& account, const std::string& from,
                                     const std::string& to,
                                     std::function<void(net::TestSendResult)> done) {
              t->send_control(account, from, to, std::move(done));
            });
      },
      [this] { control_.reset(); }));
  rt.add(std::make_unique<FnService>(
      "cluster upkeep",
      [this] {
        cluster_upkeep_->start();
        if (change_listener_) change_listener_->start();
      },
      [this] {
        if (change_listener_) change_listener_->stop();
        cluster_upkeep_->stop();  // ends its thread and gives its leases up
      }));
  rt.add(std::make_unique<ThreadService>(
      "domain re-check",
      [this](const StopSignal& stop) {
        recheck_domains(cfg_, clock_, *st_, *backend_.domain_checks, stop);
      },
      rt.on_failure()));
  rt.add(std::make_unique<ThreadService>(
      "upkeep",
      [this](const StopSignal& stop) {
        upkeep(stop, load_suspended_, *presence_, cfg_.cluster_heartbeat_s, sqlite_ ? 5 : 1);
      },
      rt.on_failure()));
  rt.add(std::make_unique<FnService>(
      "I/O threads",
      [this] {
        for (auto* w : workers_)
          io_threads_.emplace_back([w] {
            auto guard = asio::make_work_guard(*w);
            w->run();
          });
      },
      [this] {
        for (auto* w : workers_) w->stop();
      },
      [this] {
        for (auto& t : io_threads_) t.join();
        blocking_.join();
        submission_pool_.join();
        // Queued API requests are dropped (their connections are closed), running ones end.
        http_pool_.stop();
        http_slow_pool_.stop();
        http_pool_.join();
        http_slow_pool_.join();
      }));
  rt.add(std::make_unique<FnService>(
      "smtp listeners",
      [this] {
        if (!cfg_.listen_smtp.empty()) smtp_->listen("smtp", cfg_.listen_smtp, false);
        if (!cfg_.listen_submission.empty())
          smtp_->listen("submission", cfg_.listen_submission, false);
        if (!cfg_.listen_submissions.empty())
          smtp_->listen("submissions", cfg_.listen_submissions, true);
      },
      [this] { smtp_->stop(); },
      [this] {
        // Sessions in DATA finish their message (up to 10 s), the others already said 421.
        const auto& c = smtp_->counters();
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (c.active > 0 && std::chrono::steady_clock::now() < until)
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (c.active > 0)
          spdlog::warn("stopping with {} SMTP sessions still open", c.active.load());
      }));
  rt.add(std::make_unique<FnService>(
      "http listener",
      [this] {
        if (!cfg_.listen_http.empty()) http_->listen(cfg_.listen_http);
      },
      [this] { http_->stop(); }));
}

}  // namespace

int serve(const Config& given) {
  Server server(given);  // builds every part, starts nothing
  Runtime runtime;
  server.add_services(runtime);
  // SIGTERM/SIGINT: the runtime stops (listeners first; a message in DATA finishes).
  asio::signal_set signals(server.first_worker(), SIGINT, SIGTERM);
  signals.async_wait([&runtime](const boost::system::error_code& ec, int sig) {
    if (!ec) runtime.request_stop(fmt::format("signal {}", sig));
  });
  runtime.start();
  const Config& cfg = server.config();
  spdlog::info("tern ready: hostname {}, data {}, {} I/O threads", cfg.hostname, cfg.data_dir,
               server.io_threads());
  runtime.wait();
  spdlog::info("{}: stopping", runtime.stop_reason());
  runtime.shutdown();
  server.check_out();
  spdlog::info("stopped");
  return runtime.failed() ? 1 : 0;
}

}  // namespace tern::app
