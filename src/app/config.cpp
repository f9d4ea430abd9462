#include "app/config.hpp"

#include <sys/stat.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <stdexcept>

#include "core/address.hpp"
#include "dns/ip.hpp"

namespace tern::app {

namespace {

[[noreturn]] void bad(const std::string& key, const std::string& why) {
  throw std::runtime_error("config: " + key + ": " + why);
}

template <class T>
void get(const toml::table& t, const char* section, const char* key, T& out) {
  const toml::node* n = t.get(key);
  if (!n) return;
  const std::string full = std::string(section) + (section[0] ? "." : "") + key;
  if constexpr (std::is_same_v<T, std::string>) {
    auto v = n->value<std::string>();
    if (!v) bad(full, "expected a string");
    out = *v;
  } else if constexpr (std::is_same_v<T, bool>) {
    auto v = n->value<bool>();
    if (!v) bad(full, "expected true or false");
    out = *v;
  } else if constexpr (std::is_same_v<T, double>) {
    auto v = n->value<double>();  // integers are accepted as numbers too
    if (!v) bad(full, "expected a number");
    if (*v < 0) bad(full, "must not be negative");
    out = *v;
  } else {
    auto v = n->value<int64_t>();
    if (!v) bad(full, "expected an integer");
    if (*v < 0) bad(full, "must not be negative");
    out = static_cast<T>(*v);
  }
}

std::vector<std::string> get_list(const toml::table& t, const char* section, const char* key) {
  std::vector<std::string> out;
  const toml::node* n = t.get(key);
  if (!n) return out;
  const auto* arr = n->as_array();
  if (!arr) bad(std::string(section) + "." + key, "expected an array of strings");
  for (const auto& e : *arr) {
    auto v = e.value<std::string>();
    if (!v) bad(std::string(section) + "." + key, "expected an array of strings");
    out.push_back(*v);
  }
  return out;
}

void check_keys(const toml::table& t, const std::string& section, std::set<std::string> known) {
  for (const auto& [k, v] : t) {
    if (!known.count(std::string(k.str())))
      bad(section.empty() ? std::string(k.str()) : section + "." + std::string(k.str()),
          "unknown setting");
  }
}

const toml::table* section(const toml::table& root, const char* name) {
  const toml::node* n = root.get(name);
  if (!n) return nullptr;
  if (!n->is_table()) bad(name, "expected a table");
  return n->as_table();
}

}  // namespace

Config load_config(const std::string& path) {
  Config c;
  if (path.empty()) return c;
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw std::runtime_error("config: " + path + ": " + std::string(e.description()) + " at line " +
                             std::to_string(e.source().begin.line));
  }
  check_keys(root, "",
             {"hostname", "data_dir", "threads", "listen", "tls", "smtp", "auth", "platform", "dns",
              "delivery", "http", "webhooks", "tracking", "limits", "spool", "master_key_file",
              "sandbox", "store", "cluster"});
  get(root, "", "master_key_file", c.master_key_file);
  get(root, "", "hostname", c.hostname);
  get(root, "", "data_dir", c.data_dir);
  get(root, "", "threads", c.threads);
  if (auto* l = section(root, "listen")) {
    check_keys(*l, "listen", {"smtp", "submission", "submissions", "http"});
    get(*l, "listen", "smtp", c.listen_smtp);
    get(*l, "listen", "submission", c.listen_submission);
    get(*l, "listen", "submissions", c.listen_submissions);
    get(*l, "listen", "http", c.listen_http);
  }
  if (auto* t = section(root, "spool")) {
    check_keys(*t, "spool", {"reserve_mb", "group_commit_wait_us"});
    get(*t, "spool", "reserve_mb", c.spool_reserve_mb);
    get(*t, "spool", "group_commit_wait_us", c.spool_group_commit_wait_us);
    if (c.spool_group_commit_wait_us > 100'000)
      bad("spool.group_commit_wait_us", "must be at most 100000 (0.1 s)");
  }
  if (auto* t = section(root, "store")) {
    check_keys(*t, "store", {"url"});
    get(*t, "store", "url", c.store_url);
    if (!c.store_url.empty() && !c.store_url.starts_with("sqlite:") &&
        !c.store_url.starts_with("postgres://") && !c.store_url.starts_with("postgresql://"))
      bad("store.url", "expected sqlite:PATH or postgres://user@host:port/db");
    if (c.store_url == "sqlite:") bad("store.url", "sqlite: needs a path");
  }
  if (auto* t = section(root, "cluster")) {
    check_keys(*t, "cluster", {"node_id", "lease_s", "heartbeat_s"});
    get(*t, "cluster", "node_id", c.node_id);
    get(*t, "cluster", "lease_s", c.cluster_lease_s);
    get(*t, "cluster", "heartbeat_s", c.cluster_heartbeat_s);
    if (c.cluster_lease_s < 2) bad("cluster.lease_s", "must be at least 2");
    if (c.cluster_heartbeat_s < 1 || c.cluster_heartbeat_s * 2 > c.cluster_lease_s)
      bad("cluster.heartbeat_s", "must be at least 1 and at most half of lease_s");
  }
  if (auto* t = section(root, "tls")) {
    check_keys(*t, "tls", {"cert", "key"});
    get(*t, "tls", "cert", c.tls_cert);
    get(*t, "tls", "key", c.tls_key);
  }
  auto& s = c.smtp;
  if (auto* t = section(root, "smtp")) {
    check_keys(
        *t, "smtp",
        {"max_message_size", "max_recipients", "max_line_length", "command_timeout_s",
         "min_data_rate", "data_grace_s", "greet_pause_ms", "allow_plaintext_auth",
         "max_connections", "max_connections_per_ip", "require_header_rcpts", "trusted_networks",
         "trusted_account", "max_auth_failures", "tls_handshake_timeout_s", "max_header_bytes",
         "max_header_count", "max_session_s", "stress_command_timeout_s"});
    get(*t, "smtp", "max_message_size", s.session.max_message_size);
    get(*t, "smtp", "max_recipients", s.session.max_recipients);
    get(*t, "smtp", "max_line_length", s.session.max_text_line);
    get(*t, "smtp", "max_header_bytes", s.session.max_header_bytes);
    get(*t, "smtp", "max_header_count", s.session.max_header_count);
    get(*t, "smtp", "max_auth_failures", s.session.max_auth_failures);
    get(*t, "smtp", "allow_plaintext_auth", s.session.allow_plaintext_auth);
    get(*t, "smtp", "require_header_rcpts", s.session.require_header_rcpts);
    get(*t, "smtp", "command_timeout_s", s.command_timeout_s);
    get(*t, "smtp", "max_session_s", s.max_session_s);
    get(*t, "smtp", "stress_command_timeout_s", s.stress_command_timeout_s);
    get(*t, "smtp", "min_data_rate", s.min_data_rate);
    get(*t, "smtp", "data_grace_s", s.data_grace_s);
    get(*t, "smtp", "tls_handshake_timeout_s", s.tls_handshake_timeout_s);
    get(*t, "smtp", "greet_pause_ms", s.greet_pause_ms);
    get(*t, "smtp", "max_connections", s.max_connections);
    get(*t, "smtp", "max_connections_per_ip", s.max_connections_per_ip);
    get(*t, "smtp", "trusted_account", s.trusted_account);
    for (const auto& n : get_list(*t, "smtp", "trusted_networks")) {
      auto cidr = net::Cidr::parse(n);
      if (!cidr) bad("smtp.trusted_networks", "not a network: " + n);
      s.trusted_networks.push_back(*cidr);
    }
    if (s.command_timeout_s <= 0) bad("smtp.command_timeout_s", "must be positive");
    if (s.max_session_s <= 0) bad("smtp.max_session_s", "must be positive");
    if (s.stress_command_timeout_s <= 0) bad("smtp.stress_command_timeout_s", "must be positive");
    if (s.max_connections == 0 || s.max_connections_per_ip == 0)
      bad("smtp.max_connections", "must be positive");
  }
  if (auto* t = section(root, "auth")) {
    check_keys(*t, "auth", {"max_failures_per_ip", "max_failures_per_user", "window_s"});
    get(*t, "auth", "max_failures_per_ip", c.auth_max_failures_per_ip);
    get(*t, "auth", "max_failures_per_user", c.auth_max_failures_per_user);
    get(*t, "auth", "window_s", c.auth_window_s);
  }
  if (auto* t = section(root, "platform")) {
    check_keys(*t, "platform", {"domains", "dkim_zone", "spf_include", "sending_ips"});
    s.platform_domains = get_list(*t, "platform", "domains");
    get(*t, "platform", "dkim_zone", c.dkim_zone);
    get(*t, "platform", "spf_include", c.spf_include);
    c.sending_ips = get_list(*t, "platform", "sending_ips");
    for (auto* name : {&c.dkim_zone, &c.spf_include}) {
      while (!name->empty() && name->back() == '.') name->pop_back();
      for (auto& ch : *name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    if (!c.dkim_zone.empty() && !core::valid_domain(c.dkim_zone))
      bad("platform.dkim_zone", "not a domain name: " + c.dkim_zone);
    if (!c.spf_include.empty() && !core::valid_domain(c.spf_include))
      bad("platform.spf_include", "not a domain name: " + c.spf_include);
    for (auto& ip : c.sending_ips) {
      auto a = dns::IpAddr::parse(ip);
      if (!a) bad("platform.sending_ips", "not an IP address: " + ip);
      ip = a->to_string();
    }
  }
  if (auto* t = section(root, "dns")) {
    check_keys(*t, "dns", {"resolver", "check_interval_s"});
    get(*t, "dns", "resolver", c.dns_resolver);
    get(*t, "dns", "check_interval_s", c.dns_check_interval_s);
    if (c.dns_check_interval_s == 0) bad("dns.check_interval_s", "must be positive");
  }
  if (auto* t = section(root, "delivery")) {
    auto& d = c.delivery;
    check_keys(*t, "delivery",
               {"enabled", "helo_name", "mx_port", "smarthost", "smarthost_security",
                "smarthost_username", "smarthost_password", "ca_file", "max_connections",
                "max_connections_per_destination", "max_messages_per_connection",
                "max_active_messages", "retry_schedule", "max_age", "connect_timeout_s",
                "command_timeout_s", "data_timeout_s", "reject_loopback_mx", "relay_allow"});
    get(*t, "delivery", "enabled", d.enabled);
    get(*t, "delivery", "helo_name", d.helo_name);
    int64_t mx_port = d.mx_port;
    get(*t, "delivery", "mx_port", mx_port);
    if (mx_port < 1 || mx_port > 65535) bad("delivery.mx_port", "must be 1..65535");
    d.mx_port = static_cast<uint16_t>(mx_port);
    std::string smarthost;
    get(*t, "delivery", "smarthost", smarthost);
    std::string security(store::to_string(d.smarthost.security));
    get(*t, "delivery", "smarthost_security", security);
    if (auto sec = store::parse_relay_security(security))
      d.smarthost.security = *sec;
    else
      bad("delivery.smarthost_security", "must be none, starttls or tls");
    if (!smarthost.empty()) {
      try {
        auto [h, p] = net::split_host_port(smarthost);
        // (split_host_port reads ":25" as a listener's "any address": not a host to send to.)
        if (smarthost.front() == ':' || p == 0 ||
            (!dns::IpAddr::parse(h) && !core::valid_domain(h)))
          throw std::invalid_argument("no host");
        d.smarthost.host = h;
        d.smarthost.port = p;
      } catch (const std::exception&) {
        bad("delivery.smarthost", "expected host:port, got " + smarthost);
      }
    }
    get(*t, "delivery", "smarthost_username", d.smarthost.username);
    get(*t, "delivery", "smarthost_password", d.smarthost.password);
    get(*t, "delivery", "ca_file", d.ca_file);
    get(*t, "delivery", "max_connections", d.limits.max_connections);
    get(*t, "delivery", "max_connections_per_destination", d.limits.max_connections_per_dest);
    get(*t, "delivery", "max_messages_per_connection", d.max_messages_per_connection);
    get(*t, "delivery", "max_active_messages", d.max_active_messages);
    if (d.limits.max_connections == 0 || d.limits.max_connections_per_dest == 0 ||
        d.max_messages_per_connection == 0 || d.max_active_messages == 0)
      bad("delivery", "connection and message limits must be positive");
    std::string text;
    get(*t, "delivery", "retry_schedule", text);
    if (!text.empty()) {
      auto r = queue::parse_retry_schedule(text);
      if (!r) bad("delivery.retry_schedule", r.error().message);
      d.retry.delays_ms = r.value();
    }
    text.clear();
    get(*t, "delivery", "max_age", text);
    if (!text.empty()) {
      auto r = queue::parse_duration_ms(text);
      if (!r) bad("delivery.max_age", r.error().message);
      d.retry.max_age_ms = r.value();
    }
    get(*t, "delivery", "connect_timeout_s", d.connect_timeout_s);
    get(*t, "delivery", "command_timeout_s", d.command_timeout_s);
    get(*t, "delivery", "data_timeout_s", d.data_timeout_s);
    if (d.connect_timeout_s <= 0 || d.command_timeout_s <= 0 || d.data_timeout_s <= 0)
      bad("delivery", "timeouts must be positive");
    get(*t, "delivery", "reject_loopback_mx", d.reject_loopback_mx);
    auto relay =
        report::make_policy(false, get_list(*t, "delivery", "relay_allow"), "delivery.relay_allow");
    if (!relay) throw std::runtime_error("config: " + relay.error().message);
    d.relay_policy = std::move(relay).value();
  }
  if (auto* t = section(root, "http")) {
    check_keys(*t, "http",
               {"public_url", "admin_token_file", "max_connections", "max_connections_per_ip"});
    get(*t, "http", "public_url", c.public_url);
    get(*t, "http", "max_connections", c.http_max_connections);
    get(*t, "http", "max_connections_per_ip", c.http_max_connections_per_ip);
    if (c.http_max_connections == 0 || c.http_max_connections_per_ip == 0)
      bad("http.max_connections", "must be positive");
    get(*t, "http", "admin_token_file", c.admin_token_file);
    while (!c.public_url.empty() && c.public_url.back() == '/') c.public_url.pop_back();
    if (!c.public_url.empty() && c.public_url.rfind("http://", 0) != 0 &&
        c.public_url.rfind("https://", 0) != 0)
      bad("http", "public_url must start with http:// or https://");
  }
  if (auto* t = section(root, "webhooks")) {
    check_keys(*t, "webhooks",
               {"allow_loopback", "allow", "timeout_s", "max_age_s", "batch", "secret_grace_s",
                "price_per_message", "currency"});
    get(*t, "webhooks", "allow_loopback", c.webhook_allow_loopback);
    c.webhook_allow = get_list(*t, "webhooks", "allow");
    get(*t, "webhooks", "timeout_s", c.webhook_timeout_s);
    get(*t, "webhooks", "max_age_s", c.webhook_max_age_s);
    get(*t, "webhooks", "batch", c.webhook_batch);
    get(*t, "webhooks", "secret_grace_s", c.webhook_secret_grace_s);
    get(*t, "webhooks", "price_per_message", c.report_price_per_message);
    get(*t, "webhooks", "currency", c.report_currency);
    if (!std::isfinite(c.report_price_per_message) || c.report_price_per_message > 1e9)
      bad("webhooks.price_per_message", "must be a number from 0 to 1e9");
    if (c.report_currency.size() != 3 ||
        !std::all_of(c.report_currency.begin(), c.report_currency.end(),
                     [](char ch) { return ch >= 'A' && ch <= 'Z'; }))
      bad("webhooks.currency", "must be an ISO 4217 code: three capital letters, e.g. EUR");
    if (c.webhook_timeout_s <= 0) bad("webhooks", "timeout_s must be positive");
    if (c.webhook_max_age_s < 86400) bad("webhooks", "max_age_s must be at least 86400 (24 h)");
    if (c.webhook_batch < 1 || c.webhook_batch > 1000) bad("webhooks", "batch must be 1..1000");
  }
  if (auto* t = section(root, "tracking")) {
    check_keys(*t, "tracking", {"secret_file"});
    get(*t, "tracking", "secret_file", c.tracking_secret_file);
  }
  if (auto* t = section(root, "limits")) {
    check_keys(*t, "limits", {"test_emails_per_minute", "max_unverified_domains"});
    get(*t, "limits", "test_emails_per_minute", c.test_emails_per_minute);
    get(*t, "limits", "max_unverified_domains", c.max_unverified_domains);
  }
  if (auto* t = section(root, "sandbox")) {
    check_keys(*t, "sandbox", {"max_messages", "max_age_s"});
    int64_t max_messages = static_cast<int64_t>(c.sandbox_max_messages);
    get(*t, "sandbox", "max_messages", max_messages);
    get(*t, "sandbox", "max_age_s", c.sandbox_max_age_s);
    if (max_messages < 1 || max_messages > 1'000'000)
      bad("sandbox", "max_messages must be 1..1000000");
    if (c.sandbox_max_age_s < 60) bad("sandbox", "max_age_s must be at least 60");
    c.sandbox_max_messages = static_cast<size_t>(max_messages);
  }
  return c;
}

std::string read_master_key(const Config& c) {
  if (c.master_key_file.empty()) return {};
  const std::string& path = c.master_key_file;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw std::runtime_error("master_key_file " + path + ": " + std::strerror(errno));
  // The key protects every DKIM private key: a copy readable by others protects nothing.
  if ((st.st_mode & 077) != 0)
    throw std::runtime_error("master_key_file " + path +
                             ": readable by group or others (chmod 600 it)");
  std::ifstream in(path, std::ios::binary);
  std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) throw std::runtime_error("master_key_file " + path + ": read error");
  if (key.size() != 32)
    throw std::runtime_error("master_key_file " + path + ": must hold exactly 32 bytes (has " +
                             std::to_string(key.size()) +
                             "); create one with `tern master-key "
                             "create FILE`");
  return key;
}

}  // namespace tern::app
