// `tern`: one binary. `serve` runs the server; the other commands administer the same data
// directory offline (they work while a server runs on it: SQLite in WAL mode, spool read-only).
// Every command takes --data and --config and exits non-zero with a one-line error.
#include <fcntl.h>
#include <sodium.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/api.hpp"
#include "api/json_views.hpp"
#include "app/config.hpp"
#include "app/control.hpp"
#include "app/platform_names.hpp"
#include "app/serve.hpp"
#include "core/address.hpp"
#include "core/clock.hpp"
#include "dns/resolver.hpp"
#include "domain/service.hpp"
#include "domain/zone.hpp"
#include "net/webhook_sender.hpp"
#include "queue/spool.hpp"
#include "report/settings_guard.hpp"
#include "store/backend.hpp"
#include "store/sessions.hpp"
#include "store/store.hpp"
#include "store/store_copy.hpp"
#include "store/suspensions.hpp"

namespace {

using tern::app::Config;
using json = nlohmann::json;

struct Globals {
  std::string config_path;
  std::string data_dir;
  std::string hostname;
  bool json = false;
};

class Failure : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The configuration with the flags over it and every platform name derived (one place for the
// server and the CLI: app/platform_names.hpp).
Config load(const Globals& g, tern::app::PlatformNames* names = nullptr) {
  Config c = tern::app::load_config(g.config_path);
  if (!g.data_dir.empty()) c.data_dir = g.data_dir;
  if (!g.hostname.empty()) c.hostname = g.hostname;
  auto n = tern::app::resolve_platform_names(c);
  if (names) *names = std::move(n);
  return c;
}

// Commands that print platform names (domain records, the DKIM zone) say what is wrong with them.
void warn_platform_names(const tern::app::PlatformNames& n) {
  for (const auto& w : n.warnings) std::fprintf(stderr, "tern: warning: %s\n", w.c_str());
}

// The store for one command ([store] url, default the data directory's tern.db; store/backend.hpp:
// the same bundle `serve` opens), so every command works against SQLite and PostgreSQL alike.
struct OpenStore {
  tern::store::Backend b;
  tern::store::Store* operator->() const { return b.store.get(); }
  tern::store::Store& operator*() const { return *b.store; }
};

OpenStore open_store(const Config& c) {
  std::filesystem::create_directories(c.data_dir);
  tern::store::BackendOptions o;
  o.master_key = tern::app::read_master_key(c);
  auto b = tern::store::open_backend(c.effective_store_url(), o);
  if (!b) throw Failure(b.error().message);
  return OpenStore{std::move(b).value()};
}

tern::domain::Platform platform_of(const Config& c) {
  return {c.dkim_zone, c.spf_include, c.sending_ips};
}

// Exit status of `domain check` when some look-up failed temporarily (sysexits EX_TEMPFAIL):
// the report is printed, the states of those records are kept, and a script can retry.
constexpr int kExitDnsTempFail = 75;

// JSON that never throws on bytes that are not UTF-8 (they become U+FFFD).
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void print_report(const tern::domain::Report& rep, bool as_json, bool with_changes) {
  if (as_json) {  // the API's view of the same report
    std::cout << dump(tern::api::domain_report_json(rep, with_changes)) << "\n";
    return;
  }
  const auto& d = rep.detail;
  std::cout << "domain " << d.domain << " (account " << rep.account.name << ", "
            << (d.verified ? "verified" : "not verified") << ", DKIM " << d.dkim_mode
            << ", signing selector "
            << tern::domain::selector_name(d.active_slot, tern::dkim::Algorithm::rsa_sha256)
            << (d.next_slot ? ", rotating to " + tern::domain::selector_name(
                                                     d.next_slot, tern::dkim::Algorithm::rsa_sha256)
                            : std::string())
            << ")\n\nPublish these DNS records:\n";
  for (const auto& r : rep.records) {
    std::cout << "\n  [" << to_string(r.status) << "] " << r.purpose << "\n  " << r.name << ". IN "
              << r.type << " ";
    if (r.type == "TXT" && r.value.size() > 255) {
      for (const auto& piece : tern::domain::split_txt(r.value))
        std::cout << "\"" << piece << "\" ";
      std::cout << "\n";
    } else if (r.type == "TXT") {
      std::cout << "\"" << r.value << "\"\n";
    } else {
      std::cout << r.value << ".\n";
    }
    if (!r.found.empty()) std::cout << "    found: " << r.found << "\n";
  }
  for (const auto& c : rep.changes)
    std::cout << "\nchanged: " << c.what << " " << c.from << " -> " << c.to;
  if (!rep.changes.empty()) std::cout << "\n";
}

tern::store::Account need_account(tern::store::Store& s, const std::string& name) {
  auto a = s.accounts.find(name);
  if (!a) throw Failure(a.error().message);
  if (!a.value()) throw Failure("no such account: " + name);
  return *a.value();
}

template <class T>
T check(tern::core::Result<T> r) {
  if (!r) throw Failure(r.error().message);
  return std::move(r.value());
}
void check(tern::core::Result<void> r) {
  if (!r) throw Failure(r.error().message);
}

std::unique_ptr<tern::queue::Spool> open_spool_ro(const Config& c) {
  tern::queue::SpoolOptions o;
  o.read_only = true;
  o.checkpoint = true;  // read, never written, here: the server's checkpoint and the log after it
  auto s = tern::queue::Spool::open(c.data_dir, o);
  if (!s) throw Failure("spool: " + s.error().message);
  return std::move(s.value());
}

// Messages recovery moved aside as damaged (<data>/quarantine/<id>.json), so an operator
// running `tern queue list` sees them instead of finding them gone.
void print_quarantine(const std::string& data_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<std::pair<std::string, std::string>> found;
  for (const auto& de : fs::directory_iterator(fs::path(data_dir) / "quarantine", ec)) {
    if (de.path().extension() != ".json") continue;
    std::ifstream in(de.path());
    auto j = json::parse(in, nullptr, false);
    std::string reason = j.is_object() ? j.value("reason", std::string()) : std::string();
    found.emplace_back(de.path().stem().string(), reason);
  }
  if (found.empty()) return;
  std::sort(found.begin(), found.end());
  std::cout << found.size() << " quarantined (damaged in the spool; content and envelope in "
            << data_dir << "/quarantine/):\n";
  for (const auto& [id, why] : found) std::cout << "  " << id << "  " << why << "\n";
}

std::string fmt_time(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

// For one-line output: control characters (a remote reply may hold tabs or escapes) become '?'.
std::string one_line(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return out;
}

// `account show` / `account set` output: key=value lines in setting_keys() order; the relay
// password only as "(set)" / "(not set)". --json: the API's view ("set" / "not set").
void print_settings(const tern::store::AccountSettings& s, bool as_json) {
  const auto lines = tern::store::display_settings(s);
  if (as_json) {
    std::cout << dump(tern::api::settings_json(s)) << "\n";
    return;
  }
  for (const auto& [k, v] : lines) std::cout << k << "=" << one_line(v) << "\n";
}

// "KEY=VALUE" arguments of `account set`, split at the first '='. nullopt names the bad one.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_pairs(
    const std::vector<std::string>& args, std::string& bad) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& a : args) {
    const auto eq = a.find('=');
    if (eq == std::string::npos || eq == 0) {
      bad = a;
      return std::nullopt;
    }
    out.emplace_back(a.substr(0, eq), a.substr(eq + 1));
  }
  return out;
}

void add_common(CLI::App* cmd, Globals& g, bool with_json = true) {
  cmd->add_option("--config", g.config_path, "TOML configuration file");
  cmd->add_option("--data", g.data_dir, "data directory (default ./tern-data)");
  cmd->add_option("--hostname", g.hostname,
                  "the platform's host name: greetings, Received, the DKIM zone dkim.<hostname> "
                  "(default: hostname in the config, else the machine's FQDN)");
  if (with_json) cmd->add_flag("--json", g.json, "print JSON");
}

}  // namespace

int main(int argc, char** argv) {
  if (sodium_init() < 0) {
    std::fprintf(stderr, "tern: libsodium failed to initialise\n");
    return 1;
  }
  auto logger = spdlog::stderr_color_mt("tern");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  CLI::App app{"Tern: self-hosted email delivery"};
  app.require_subcommand(1);
  Globals g;

  // serve
  auto* serve = app.add_subcommand("serve", "run the server");
  add_common(serve, g, false);
  std::string o_smtp, o_sub, o_subs, o_http;
  serve->add_option("--smtp", o_smtp, "smtp listener address (127.0.0.1:2525)");
  serve->add_option("--submission", o_sub, "submission listener (127.0.0.1:2587)");
  serve->add_option("--submissions", o_subs, "implicit-TLS submission listener (127.0.0.1:2465)");
  serve->add_option("--http", o_http, "HTTP listener (127.0.0.1:8025)");
  std::string log_level = "info";
  serve->add_option("--log-level", log_level, "trace, debug, info, warn, error");
  bool o_force = false;
  serve->add_flag("--force", o_force,
                  "start although tern.db looks truncated (its WAL missing after an unclean "
                  "stop): accept the loss (README: Durability)");

  // account
  auto* account = app.add_subcommand("account", "manage accounts");
  account->require_subcommand(1);
  auto* account_create =
      account->add_subcommand("create", "create an account and its SMTP credential");
  std::string a_name;
  account_create->add_option("NAME", a_name)->required();
  add_common(account_create, g);
  auto* account_list = account->add_subcommand("list", "list accounts");
  add_common(account_list, g);
  auto* account_set = account->add_subcommand(
      "set", "change delivery settings, all or nothing (KEY= resets a key to its default)");
  std::string as_account;
  std::vector<std::string> as_pairs;
  bool as_password_stdin = false;
  account_set->add_option("ACCOUNT", as_account)->required();
  account_set->add_option("SETTINGS", as_pairs,
                          "KEY=VALUE: route, relay.host, relay.port, relay.security, "
                          "relay.username, relay.password, mail_from, cc, bcc, bounce_notices");
  account_set->add_flag("--password-stdin", as_password_stdin,
                        "read relay.password from the first line of stdin (keeps it out of ps "
                        "and shell history)");
  add_common(account_set, g);
  auto* account_show = account->add_subcommand("show", "print an account's delivery settings");
  account_show->add_option("ACCOUNT", as_account)->required();
  add_common(account_show, g);
  auto* account_test = account->add_subcommand(
      "test-email", "send a test email now through the account's route (the running server)");
  std::string at_to, at_from;
  account_test->add_option("ACCOUNT", as_account)->required();
  account_test->add_option("TO", at_to, "recipient address")->required();
  account_test->add_option("--from", at_from,
                           "sender address (default: the account's mail_from, else "
                           "postmaster@<hostname>)");
  add_common(account_test, g);

  auto* account_suspend = account->add_subcommand(
      "suspend", "stop an account from sending and from using its API keys, with a reason");
  std::string su_reason;
  account_suspend->add_option("ACCOUNT", as_account)->required();
  account_suspend->add_option("--reason", su_reason, "shown to the account (SMTP 550, HTTP 403)")
      ->required();
  add_common(account_suspend, g);
  auto* account_unsuspend = account->add_subcommand("unsuspend", "lift an account's suspension");
  account_unsuspend->add_option("ACCOUNT", as_account)->required();
  add_common(account_unsuspend, g);

  // console
  auto* console_cmd = app.add_subcommand("console", "the web console");
  console_cmd->require_subcommand(1);
  auto* console_link = console_cmd->add_subcommand(
      "link", "print a one-time operator login link (valid 10 minutes, works once)");
  add_common(console_link, g, false);

  // apikey
  auto* apikey = app.add_subcommand("apikey", "manage API keys");
  apikey->require_subcommand(1);
  auto* apikey_create = apikey->add_subcommand("create", "create an API key (shown once)");
  std::string k_account;
  apikey_create->add_option("ACCOUNT", k_account)->required();
  add_common(apikey_create, g);
  auto* apikey_revoke = apikey->add_subcommand("revoke", "revoke an API key by its prefix");
  std::string k_prefix;
  apikey_revoke->add_option("ACCOUNT", k_account)->required();
  apikey_revoke->add_option("PREFIX", k_prefix)->required();
  add_common(apikey_revoke, g);

  // domain
  auto* domain = app.add_subcommand("domain", "manage sending domains");
  domain->require_subcommand(1);
  auto* domain_add = domain->add_subcommand("add", "add a sending domain to an account");
  std::string d_account, d_domain;
  bool d_verified = false;
  domain_add->add_option("ACCOUNT", d_account)->required();
  domain_add->add_option("DOMAIN", d_domain)->required();
  domain_add->add_flag("--verified", d_verified, "operator override: mark verified now");
  std::string d_dkim;
  bool d_ed25519 = false;
  domain_add
      ->add_option("--dkim", d_dkim,
                   "DKIM form: direct (TXT with the key, default) or "
                   "delegated (CNAME to the platform's zone)")
      ->check(CLI::IsMember({"direct", "delegated"}));
  domain_add->add_flag("--ed25519", d_ed25519, "also sign with Ed25519 (second signature)");
  add_common(domain_add, g);
  auto* domain_list = domain->add_subcommand("list", "list an account's domains");
  domain_list->add_option("ACCOUNT", d_account)->required();
  add_common(domain_list, g);
  auto* domain_records = domain->add_subcommand("records", "print the DNS records to publish");
  domain_records->add_option("DOMAIN", d_domain)->required();
  add_common(domain_records, g);
  auto* domain_check = domain->add_subcommand(
      "check", "check the records through DNS and save their states (exit 75: DNS failed)");
  domain_check->add_option("DOMAIN", d_domain)->required();
  add_common(domain_check, g);

  // dns
  auto* dns_cmd = app.add_subcommand("dns", "platform DNS");
  dns_cmd->require_subcommand(1);
  auto* dns_zone = dns_cmd->add_subcommand("zone", "print the platform DKIM zone (BIND format)");
  add_common(dns_zone, g);

  // openapi
  auto* openapi_cmd = app.add_subcommand(
      "openapi", "print the REST API's OpenAPI document (as GET /api/v1/openapi.json answers it)");
  add_common(openapi_cmd, g, false);

  // node (docs/cluster.md)
  auto* node_cmd = app.add_subcommand("node", "the nodes of a region");
  node_cmd->require_subcommand(1);
  auto* node_list = node_cmd->add_subcommand(
      "list",
      "list the nodes that ever checked into the store: when each was last seen, its state, "
      "instance (data dir) and host");
  add_common(node_list, g);

  // store (docs/cluster.md, "Moving a single node into a region")
  auto* store_cmd = app.add_subcommand("store", "the store as a whole");
  store_cmd->require_subcommand(1);
  auto* store_copy = store_cmd->add_subcommand(
      "copy",
      "copy every row of a node's SQLite store into an empty PostgreSQL database (ids kept)");
  std::string sc_from, sc_to;
  store_copy
      ->add_option("--from", sc_from, "the source: sqlite:PATH (e.g. sqlite:tern-data/tern.db)")
      ->required();
  store_copy->add_option("--to", sc_to, "the target: postgres://user@host:port/db?...")->required();
  store_copy->add_flag("--json", g.json, "print JSON");

  // dkim
  auto* dkim_cmd = app.add_subcommand("dkim", "DKIM keys");
  dkim_cmd->require_subcommand(1);
  auto* dkim_rotate = dkim_cmd->add_subcommand(
      "rotate", "new key on the idle selector; signing switches once its record checks ok");
  dkim_rotate->add_option("DOMAIN", d_domain)->required();
  add_common(dkim_rotate, g);
  auto* dkim_export =
      dkim_cmd->add_subcommand("export-key", "print a selector's private key (PEM)");
  std::string k_selector;
  dkim_export->add_option("DOMAIN", d_domain)->required();
  dkim_export->add_option("SELECTOR", k_selector)->required();
  add_common(dkim_export, g, false);

  // master-key
  auto* master = app.add_subcommand("master-key", "master key for DKIM private keys at rest");
  master->require_subcommand(1);
  auto* master_create = master->add_subcommand("create", "write 32 random bytes to FILE (0600)");
  std::string m_file;
  master_create->add_option("FILE", m_file)->required();
  add_common(master_create, g);

  // sender
  auto* sender = app.add_subcommand("sender", "manage registered senders");
  sender->require_subcommand(1);
  auto* sender_add = sender->add_subcommand("add", "register a sender address");
  std::string s_account, s_address;
  bool s_verified = false;
  sender_add->add_option("ACCOUNT", s_account)->required();
  sender_add->add_option("ADDRESS", s_address)->required();
  sender_add->add_flag("--verified", s_verified, "operator override: mark verified now");
  add_common(sender_add, g);

  // suppression
  auto* suppression = app.add_subcommand("suppression", "an account's suppression list");
  suppression->require_subcommand(1);
  auto* suppression_list = suppression->add_subcommand("list", "list suppressed addresses");
  std::string sp_account, sp_address;
  suppression_list->add_option("ACCOUNT", sp_account)->required();
  add_common(suppression_list, g);
  auto* suppression_remove =
      suppression->add_subcommand("remove", "deliver to an address again (error if not listed)");
  suppression_remove->add_option("ACCOUNT", sp_account)->required();
  suppression_remove->add_option("ADDRESS", sp_address)->required();
  add_common(suppression_remove, g);

  // queue
  auto* queue = app.add_subcommand("queue", "inspect the message queue");
  queue->require_subcommand(1);
  auto* queue_list = queue->add_subcommand("list", "list queued messages (oldest first)");
  size_t ql_limit = 0;
  std::string ql_after;
  queue_list->add_option("--limit", ql_limit, "at most this many messages (0 = all)");
  queue_list->add_option("--after", ql_after,
                         "start after this queue id (the previous page's last)");
  add_common(queue_list, g);
  auto* queue_show = queue->add_subcommand("show", "show one message");
  std::string q_id;
  bool q_raw = false;
  queue_show->add_option("ID", q_id)->required();
  queue_show->add_flag("--raw", q_raw, "print the stored message bytes exactly");
  add_common(queue_show, g);
  auto* queue_events = queue->add_subcommand("events", "delivery events of one message");
  queue_events->add_option("ID", q_id)->required();
  add_common(queue_events, g);
  // Commands on the running server's queue (through <data>/control.sock).
  bool q_all = false;
  std::map<CLI::App*, std::string> queue_ops;
  for (auto [name, what] : {std::pair{"retry", "try deferred mail now"},
                            std::pair{"hold", "keep messages from delivery"},
                            std::pair{"release", "let held messages go"},
                            std::pair{"delete", "remove messages without delivering them"}}) {
    auto* op = queue->add_subcommand(name, what);
    op->add_option("ID", q_id, "queue id");
    op->add_flag("--all", q_all, "every message in the queue");
    add_common(op, g);
    queue_ops[op] = name;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Usage errors are one line too (scripts read the last line of stderr).
    std::fprintf(stderr, "tern: %s (see tern --help)\n", e.what());
    return 2;
  }
  std::vector<std::pair<std::string, std::string>> as_kv;
  if (*account_set) {
    std::string bad;
    auto kv = parse_pairs(as_pairs, bad);
    if (!kv) {
      std::fprintf(stderr, "tern: expected KEY=VALUE, got \"%s\" (see tern --help)\n",
                   one_line(bad).c_str());
      return 2;
    }
    if (kv->empty() && !as_password_stdin) {
      std::fprintf(stderr, "tern: account set needs at least one KEY=VALUE (see tern --help)\n");
      return 2;
    }
    as_kv = std::move(*kv);
  }

  try {
    if (*serve) {
      spdlog::set_level(spdlog::level::from_str(log_level));
      Config c = load(g);
      if (!o_smtp.empty()) c.listen_smtp = o_smtp;
      if (!o_sub.empty()) c.listen_submission = o_sub;
      if (!o_subs.empty()) c.listen_submissions = o_subs;
      if (!o_http.empty()) c.listen_http = o_http;
      c.force_db = o_force;
      return tern::app::serve(c);
    }
    spdlog::set_level(spdlog::level::warn);
    if (*store_copy) {  // needs no configuration: both ends are named
      auto rep = check(tern::store::copy_store(sc_from, sc_to));
      int64_t total = 0;
      json tables = json::object();
      for (const auto& t : rep.tables) {
        total += t.rows;
        tables[t.table] = t.rows;
      }
      if (g.json) {
        std::cout << dump({{"from", sc_from},
                           {"to", tern::store::redact_store_url(sc_to)},
                           {"schemaVersion", rep.schema_version},
                           {"tables", tables},
                           {"rows", total}})
                  << "\n";
      } else {
        for (const auto& t : rep.tables) std::cout << t.table << "\t" << t.rows << "\n";
        std::cout << "copied " << total << " rows in " << rep.tables.size() << " tables (schema "
                  << rep.schema_version << ") to " << tern::store::redact_store_url(sc_to) << "\n";
      }
      return 0;
    }
    tern::app::PlatformNames names;
    Config c = load(g, &names);
    if (*openapi_cmd) {
      std::cout << dump(tern::api::openapi_document(c.effective_public_url())) << "\n";
    } else if (*account_create) {
      auto store = open_store(c);
      auto created = check(store->accounts.create(a_name));
      if (g.json) {
        std::cout << dump(tern::api::created_account_json(created)) << "\n";
      } else {
        std::cout << "account  " << created.account.name << "\nusername " << created.username
                  << "\npassword " << created.password << "   (shown once)\n";
      }
    } else if (*node_list) {
      auto store = open_store(c);
      const int64_t now = tern::core::SystemClock().now_ms();
      // Every node ever registered; alive = seen within [cluster] lease_s and not stopped; ahead
      // = seen more than lease_s in the future (a clock that jumped; not alive).
      // The instance names the node's data dir (docs/cluster.md, "One node per id").
      auto nodes = check(store.b.nodes->list());
      json arr = json::array();
      for (const auto& n : nodes) {
        const auto st = tern::store::node_state(n, now, int64_t{c.cluster_lease_s} * 1000);
        const bool alive = st == tern::store::NodeState::alive;
        const char* state = tern::store::to_string(st);
        if (g.json)
          arr.push_back({{"id", n.node_id},
                         {"lastSeen", fmt_time(n.seen_ms)},
                         {"alive", alive},
                         {"state", state},
                         {"instance", n.instance},
                         {"hostname", n.hostname},
                         {"address", n.address}});
        else
          std::cout << n.node_id << "\t" << fmt_time(n.seen_ms) << "\t" << state << "\t"
                    << n.instance.substr(0, 10) << "\t" << n.hostname << "\n";
      }
      if (g.json) std::cout << arr.dump() << "\n";
    } else if (*account_list) {
      auto store = open_store(c);
      auto list = check(store->accounts.list());
      auto* sus = &store->suspensions;
      std::map<int64_t, tern::store::Suspension> suspended;
      for (auto& x : check(sus->all())) suspended[x.account_id] = x;
      json arr = json::array();
      for (const auto& a : list) {
        auto it = suspended.find(a.id);
        const tern::store::Suspension* s = it == suspended.end() ? nullptr : &it->second;
        if (g.json)
          arr.push_back(tern::api::account_json(a, s));
        else
          std::cout << a.id << "\t" << a.name << "\t" << fmt_time(a.created_ms)
                    << (s ? "\tsuspended: " + one_line(s->reason) : std::string()) << "\n";
      }
      if (g.json) std::cout << arr.dump() << "\n";
    } else if (*account_suspend || *account_unsuspend) {
      auto store = open_store(c);
      auto acc = need_account(*store, as_account);
      auto* sus = &store->suspensions;
      std::optional<tern::store::Suspension> now;
      if (*account_suspend)
        now = check(sus->suspend(acc.id, su_reason, tern::core::SystemClock().now_ms()));
      else
        check(sus->unsuspend(acc.id));
      if (g.json)
        std::cout << dump(tern::api::account_json(acc, now ? &*now : nullptr)) << "\n";
      else
        std::cout << "account " << acc.name
                  << (now ? " suspended: " + one_line(now->reason) : std::string(" not suspended"))
                  << " (a running server applies it within 5 s)\n";
    } else if (*console_link) {
      // The code goes into the database the running server reads (WAL: shared), so the link
      // works on it; only the code's SHA-256 is stored.
      auto store = open_store(c);
      auto code = check(
          store->sessions.create_login_code(tern::core::SystemClock().now_ms(), 10 * 60 * 1000));
      std::string base = c.effective_public_url();
      while (!base.empty() && base.back() == '/') base.pop_back();
      std::cout << base << "/console/#login=" << code << "\n";
    } else if (*account_set) {
      auto store = open_store(c);
      auto acc = need_account(*store, as_account);
      if (as_password_stdin) {
        std::string pw;
        if (!std::getline(std::cin, pw)) throw Failure("relay.password: nothing on stdin");
        if (!pw.empty() && pw.back() == '\r') pw.pop_back();
        as_kv.emplace_back("relay.password", std::move(pw));
      }
      // The same identity and target rules as PATCH /settings (report/settings_guard.hpp).
      tern::report::SettingsContext guard;
      guard.identity = check(store->account_context(acc.id));
      for (const auto& d : c.smtp.platform_domains) guard.identity.platform_domains.push_back(d);
      guard.webhooks = check(tern::net::webhook_policy(c.webhook_allow_loopback, c.webhook_allow));
      guard.relays = c.delivery.relay_policy;
      guard.own_names = {c.hostname};
      check(tern::report::check_settings(as_kv, guard));
      check(store->settings.set(acc.id, as_kv));
      for (auto& [k, v] : as_kv) sodium_memzero(v.data(), v.size());
      print_settings(check(store->settings.get(acc.id, false)), g.json);
    } else if (*account_test) {
      auto t = check(
          tern::app::control_test_email(c.data_dir + "/control.sock", as_account, at_from, at_to));
      if (g.json) {
        std::cout << dump(json{{"outcome", t.outcome},
                               {"code", t.code},
                               {"enhanced", t.enhanced},
                               {"reply", t.reply},
                               {"host", t.host},
                               {"tls", t.tls},
                               {"route", t.route}})
                  << "\n";
      } else {
        std::cout << "outcome: " << t.outcome << "\n"
                  << "reply: " << (t.code ? std::to_string(t.code) + " " : "")
                  << one_line(t.enhanced) << (t.enhanced.empty() ? "" : " ") << one_line(t.reply)
                  << "\n"
                  << "host: " << one_line(t.host) << "\n"
                  << "tls: " << (t.tls ? "yes" : "no") << "\n"
                  << "route: " << t.route << "\n";
      }
      if (t.outcome != "delivered") return 1;
    } else if (*account_show) {
      auto store = open_store(c);
      auto acc = need_account(*store, as_account);
      print_settings(check(store->settings.get(acc.id, false)), g.json);
    } else if (*suppression_list) {
      auto store = open_store(c);
      auto acc = need_account(*store, sp_account);
      auto list = check(store->suppressions.list(acc.id));
      if (g.json) {
        json arr = json::array();
        for (const auto& e : list)
          arr.push_back({{"address", e.address},
                         {"reason", e.reason},
                         {"queue_id", e.queue_id},
                         {"created_ms", e.created_ms}});
        std::cout << dump(arr) << "\n";
      } else {
        std::cout << "address\treason\tqueue id\ttime (UTC)\n";
        for (const auto& e : list)
          std::cout << one_line(e.address) << "\t" << one_line(e.reason) << "\t"
                    << one_line(e.queue_id) << "\t" << fmt_time(e.created_ms) << "\n";
      }
    } else if (*suppression_remove) {
      auto store = open_store(c);
      auto acc = need_account(*store, sp_account);
      check(store->suppressions.remove(acc.id, sp_address));
      if (g.json)
        std::cout << dump(json{{"removed", sp_address}, {"account", acc.name}}) << "\n";
      else
        std::cout << "removed " << one_line(sp_address) << " from the suppression list of "
                  << acc.name << "\n";
    } else if (*apikey_create) {
      auto store = open_store(c);
      auto acc = need_account(*store, k_account);
      auto key = check(store->api_keys.create(acc.id));
      if (g.json)
        std::cout << json{{"key", key}}.dump() << "\n";
      else
        std::cout << key << "   (shown once; SMTP username 'App', this key as password)\n";
    } else if (*apikey_revoke) {
      auto store = open_store(c);
      auto acc = need_account(*store, k_account);
      check(store->api_keys.revoke(acc.id, k_prefix));
      if (g.json) std::cout << json{{"revoked", k_prefix}}.dump() << "\n";
    } else if (*domain_add || *domain_records || *domain_check || *domain_list || *dns_zone ||
               *dkim_rotate || *dkim_export) {
      warn_platform_names(names);
      auto store = open_store(c);
      tern::core::SystemClock clock;
      tern::domain::Domains domains(*store, platform_of(c), tern::domain::dkim_key_generator(),
                                    clock);
      if (*domain_add) {
        tern::domain::AddOptions o;
        if (!d_dkim.empty()) o.dkim_mode = d_dkim;
        if (d_ed25519) o.ed25519 = true;
        o.verified = d_verified;
        print_report(check(domains.add(d_account, d_domain, o)), g.json, false);
      } else if (*domain_records) {
        print_report(check(domains.records(d_domain)), g.json, false);
      } else if (*domain_check) {
        auto resolver = tern::dns::make_unbound_resolver(c.dns_resolver);
        auto rep = check(domains.check(d_domain, *resolver));
        print_report(rep, g.json, true);
        if (rep.dns_error) return kExitDnsTempFail;
      } else if (*domain_list) {
        auto acc = need_account(*store, d_account);
        auto list = check(store->domains.list(acc.id));
        json arr = json::array();
        for (const auto& d : list) {
          auto rep = check(domains.records(d.domain, acc.id));
          if (g.json) {
            arr.push_back(tern::api::domain_summary_json(d, &rep.detail));
          } else {
            size_t ok = 0;
            for (const auto& r : rep.records) ok += r.status == tern::store::RecordStatus::ok;
            std::cout << d.domain << "\t" << (d.verified ? "verified" : "unverified") << "\t"
                      << rep.detail.dkim_mode << "\t" << ok << "/" << rep.records.size()
                      << " records ok\n";
          }
        }
        if (g.json) std::cout << arr.dump() << "\n";
      } else if (*dns_zone) {
        auto entries = check(domains.zone_entries());
        if (g.json) {
          json arr = json::array();
          for (const auto& e : entries)
            arr.push_back({{"name", e.name},
                           {"type", "TXT"},
                           {"value", e.value},
                           {"strings", tern::domain::split_txt(e.value)}});
          std::cout << json{{"zone", c.dkim_zone}, {"records", arr}}.dump() << "\n";
        } else {
          std::cout << tern::domain::render_zone(c.dkim_zone, entries);
        }
      } else if (*dkim_rotate) {
        print_report(check(domains.rotate(d_domain)), g.json, false);
      } else if (*dkim_export) {
        std::cout << check(domains.export_key(d_domain, k_selector));
      }
    } else if (*master_create) {
      unsigned char key[32];
      randombytes_buf(key, sizeof key);
      // O_EXCL: never overwrite a key that may already seal stored private keys.
      int fd = ::open(m_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd < 0) throw Failure(m_file + ": " + std::strerror(errno));
      const bool ok =
          ::write(fd, key, sizeof key) == static_cast<ssize_t>(sizeof key) && ::fsync(fd) == 0;
      sodium_memzero(key, sizeof key);
      ::close(fd);
      if (!ok) throw Failure(m_file + ": write failed");
      if (g.json)
        std::cout << json{{"master_key_file", m_file}}.dump() << "\n";
      else
        std::cout << "master key written to " << m_file << "; set master_key_file = \"" << m_file
                  << "\" in the config\n";
    } else if (*sender_add) {
      auto store = open_store(c);
      auto acc = need_account(*store, s_account);
      if (!s_verified)
        throw Failure(
            "verification emails are not available yet: add --verified (operator override)");
      check(store->senders.add(acc.id, s_address, s_verified));
      if (g.json)
        std::cout << dump(tern::api::sender_json({acc.id, s_address, s_verified})) << "\n";
      else
        std::cout << "sender " << s_address << " registered for " << acc.name << "\n";
    } else if (*queue_list) {
      auto spool = open_spool_ro(c);
      // A page of the compact index; only the page's envelopes are read.
      const auto index = spool->index();
      size_t begin = 0;
      if (!ql_after.empty()) {
        auto it = std::find_if(index.begin(), index.end(),
                               [&](const tern::queue::QueueEntry& e) { return e.id == ql_after; });
        if (it == index.end()) throw Failure("no such message in the queue: " + ql_after);
        begin = static_cast<size_t>(it - index.begin()) + 1;
      }
      const size_t end = ql_limit == 0 ? index.size() : std::min(index.size(), begin + ql_limit);
      std::vector<tern::queue::QueuedMessage> list;
      list.reserve(end - begin);
      for (size_t i = begin; i < end; ++i)
        if (auto m = spool->get(index[i].id)) list.push_back(std::move(*m));
      if (g.json) {
        json arr = json::array();
        for (const auto& m : list) arr.push_back(m);
        std::cout << arr.dump() << "\n";
      } else {
        for (const auto& m : list) {
          std::cout << m.id << "  " << fmt_time(m.received_ms) << "  " << m.content_size << "  <"
                    << m.sender << ">  " << m.account_name << (m.held ? "  HELD" : "") << "\n";
          for (const auto& r : m.recipients)
            std::cout << "    " << r.address << "  " << tern::queue::to_string(r.state)
                      << (r.last_reply.empty() ? "" : "  " + r.last_reply) << "\n";
        }
        if (begin == 0 && end == index.size())
          std::cout << list.size() << " message(s)\n";
        else
          std::cout << list.size() << " of " << index.size() << " message(s)"
                    << (end < index.size() && !list.empty()
                            ? "; next page: --after " + list.back().id
                            : std::string())
                    << "\n";
        print_quarantine(c.data_dir);
      }
    } else if (*queue_events) {
      auto store = open_store(c);
      auto list = check(store->events.for_queue(q_id));
      if (g.json) {
        json arr = json::array();
        for (const auto& e : list) arr.push_back(tern::api::delivery_event_json(e));
        std::cout << dump(arr) << "\n";
      } else {
        for (const auto& e : list)
          std::cout << fmt_time(e.time_ms) << "  " << one_line(e.recipient) << "  "
                    << tern::core::to_string(e.event) << "  attempt " << e.attempt << "  "
                    << (e.code ? std::to_string(e.code) + " " : "") << one_line(e.enhanced) << " "
                    << one_line(e.reply)
                    << (e.mx_host.empty() ? "" : "  (" + one_line(e.mx_host) + ")")
                    << (e.tls ? "  TLS" : "") << "\n";
      }
    } else if (auto op = std::find_if(queue_ops.begin(), queue_ops.end(),
                                      [](const auto& kv) { return kv.first->parsed(); });
               op != queue_ops.end()) {
      if (q_all == !q_id.empty()) {
        std::fprintf(stderr, "tern: queue %s: give a queue id or --all\n", op->second.c_str());
        return 2;
      }
      auto rep = tern::app::control_request(c.data_dir + "/control.sock", op->second, q_id);
      if (!rep.ok) throw Failure(rep.message);
      if (g.json) {
        json out{{"command", op->second}, {"count", rep.count}};
        if (!rep.note.empty()) out["note"] = rep.note;
        std::cout << dump(out) << "\n";
      } else {
        std::cout << op->second << ": " << rep.count << " message(s)\n";
        // A region: the node holding the message has not answered yet (it runs it later).
        if (!rep.note.empty()) std::cerr << "tern: " << rep.note << "\n";
      }
    } else if (*queue_show) {
      auto spool = open_spool_ro(c);
      auto m = spool->get(q_id);
      if (!m) throw Failure("no such message: " + q_id);
      if (q_raw) {
        std::ios::sync_with_stdio(false);
        check(spool->read_content(q_id, [](std::string_view piece) {
          std::cout.write(piece.data(), static_cast<std::streamsize>(piece.size()));
        }));
        std::cout.flush();
      } else if (g.json) {
        std::cout << json(*m).dump() << "\n";
      } else {
        std::cout << json(*m).dump(2) << "\n";
      }
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tern: %s\n", e.what());
    return 1;
  }
}
