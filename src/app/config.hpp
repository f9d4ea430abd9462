// Tern's configuration: TOML file, then command-line flags over it. Every setting has a
// default that works on a laptop (SPEC §7); unknown keys are an error so typos don't pass.
#pragma once
#include <string>
#include <vector>

#include "net/delivery_engine.hpp"
#include "net/smtp_server.hpp"

namespace tern::app {

struct Config {
  // "" = the machine's fully qualified name; resolve_platform_names (app/platform_names.hpp)
  // fills it, and dkim_zone, before anything uses them.
  std::string hostname;
  std::string data_dir = "./tern-data";
  std::string listen_smtp = "127.0.0.1:2525";
  std::string listen_submission = "127.0.0.1:2587";
  std::string listen_submissions = "127.0.0.1:2465";
  std::string listen_http = "127.0.0.1:8025";
  std::string tls_cert, tls_key;  // empty: self-signed under <data>/tls
  int threads = 0;                // I/O threads; 0 = one per core
  // [spool] reserve_mb: free space kept for the state records of queued mail; new mail gets
  // 452 4.3.1 while the spool's filesystem has less free.
  uint64_t spool_reserve_mb = 16;
  // [spool] group_commit_wait_us: a sync waits up to this long for messages already in DATA,
  // so concurrent submissions share one fdatasync (0 = sync at once; never waits when alone).
  uint64_t spool_group_commit_wait_us = 300;
  bool force_db = false;  // `serve --force`: open tern.db although it looks truncated
  // [store] url: "sqlite:PATH" (default "sqlite:<data>/tern.db") or a libpq URI
  // "postgres://user@host:port/db?..." shared by the nodes of a region (docs/cluster.md).
  std::string store_url;
  // [cluster]: node_id "" = the id in <data>/node.id (a random one made on first start);
  // lease_s: how long a node's leases (webhook items, singleton jobs) outlive its last renewal;
  // heartbeat_s: how often a node renews them and reports itself alive.
  std::string node_id;
  int cluster_lease_s = 30;
  int cluster_heartbeat_s = 5;
  net::SmtpServerConfig smtp;  // [smtp] and [platform]
  int auth_max_failures_per_ip = 10;
  int auth_max_failures_per_user = 5;
  int auth_window_s = 300;
  // Sending domains (SPEC §3).
  std::string master_key_file;           // 32 raw bytes: DKIM private keys sealed at rest
  std::string dkim_zone;                 // [platform]; "" = "dkim." + hostname (resolved)
  std::string spf_include;               // [platform] host customers include in their SPF
  std::vector<std::string> sending_ips;  // [platform] outbound addresses (SPF evaluation)
  std::string dns_resolver;              // [dns] resolver: "" = system, "IP" or "IP:PORT"
  int dns_check_interval_s = 3600;       // [dns] server re-checks every domain this often
  net::DeliveryConfig delivery;          // [delivery]
  // [http]: the REST API and the public links Tern puts in mail.
  std::string public_url;        // base of /t/ and /v/ links; "" = "http://" + listen_http
  std::string admin_token_file;  // operator token; "" = <data>/admin.token (made on first start)
  size_t http_max_connections = 2000;        // [http] open connections in total
  size_t http_max_connections_per_ip = 100;  // [http] per client (IPv4 address, IPv6 /64)
  // [webhooks]: delivery reports and tracking events (SPEC §5).
  bool webhook_allow_loopback = false;     // tests only: let webhooks reach 127/8 and ::1
  std::vector<std::string> webhook_allow;  // CIDRs webhooks may reach despite the SSRF rules
  int webhook_timeout_s = 10;              // one POST, connect to last byte
  int webhook_max_age_s = 172800;          // retry this long (at least 86400), then give up
  int webhook_batch = 50;                  // results per POST at most
  // After a webhook_secret change, reports carry a v1 signature with the old secret too, this
  // long (issue 14; Stripe's rotation window).
  int webhook_secret_grace_s = 86400;
  // The reports' price object: what the operator charges per message (0 = nothing) and in
  // which ISO 4217 currency.
  double report_price_per_message = 0;
  std::string report_currency = "EUR";
  // [tracking]
  std::string tracking_secret_file;  // "" = <data>/tracking.key (made on first start)
  // [limits]: per-account quotas (issue 10).
  int test_emails_per_minute = 5;   // POST /settings/test-email, tern account test-email; 0 = off
  int max_unverified_domains = 10;  // domains an account may hold unverified at once
  // [sandbox]: mail of accounts on route=sandbox is kept, not sent (SPEC §9); per account at
  // most max_messages (the oldest go first), none older than max_age_s.
  size_t sandbox_max_messages = 1000;
  int64_t sandbox_max_age_s = 7 * 86400;

  std::string effective_store_url() const {
    return store_url.empty() ? "sqlite:" + data_dir + "/tern.db" : store_url;
  }
  bool store_is_sqlite() const { return effective_store_url().starts_with("sqlite:"); }
  std::string effective_public_url() const {
    if (!public_url.empty()) return public_url;
    return "http://" + listen_http;
  }
  std::string effective_admin_token_file() const {
    return admin_token_file.empty() ? data_dir + "/admin.token" : admin_token_file;
  }
  std::string effective_tracking_secret_file() const {
    return tracking_secret_file.empty() ? data_dir + "/tracking.key" : tracking_secret_file;
  }
};

// The 32-byte master key from master_key_file ("" when none is configured). Throws
// std::runtime_error when the file is unreadable, not exactly 32 bytes, or readable by others.
std::string read_master_key(const Config& c);

// Reads path (if not empty) over the defaults. Throws std::runtime_error with a one-line
// message naming the file, key and problem.
Config load_config(const std::string& path);

}  // namespace tern::app
