// SMTP listeners and the coroutine connection driver (the only SMTP code that touches sockets).
//
// The driver turns smtp::ServerSession actions into reads, writes, TLS handshakes, spool writes
// and account look-ups; it holds no protocol logic. Every read has a deadline (command timeout,
// and during DATA a minimum average data rate); a missed deadline is reported to the session,
// which answers 421 4.4.2. Connections are capped in total and per client (IPv4 address, IPv6
// /64); stop() answers every connection between commands 421 4.3.2 and lets a message in DATA
// finish before it does the same. Sessions run as coroutines on a few io_context threads (one per
// core), never a thread per connection. Blocking work (Argon2 password checks, SQLite) runs on a
// separate small thread pool so the I/O threads never stall.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/cidr.hpp"
#include "smtp/server_session.hpp"

namespace boost::asio {
class io_context;
class thread_pool;
namespace ssl {
class context;
}
}  // namespace boost::asio

namespace tern::queue {
class Spool;
struct QueuedMessage;
}  // namespace tern::queue
namespace tern::store {
class Store;
}
namespace tern::policy {
class AuthLimiter;
}
namespace tern::pipeline {
class KeyCache;
class Submission;
}  // namespace tern::pipeline

namespace tern::net {

struct SmtpServerConfig {
  smtp::SessionConfig session;  // per-listener TLS flags are set by the server
  // A command line must arrive whole within this long after the previous reply (RFC 5321
  // §4.5.3.2 suggests 5 minutes); bytes trickling in do not extend it.
  int command_timeout_s = 300;
  int max_session_s = 3600;  // a whole connection, however busy
  // When the listeners hold more than stress_pct % of max_connections, a command must arrive
  // within this instead (Postfix's stress-dependent smtpd_timeout).
  int stress_command_timeout_s = 10;
  int stress_pct = 80;
  int64_t min_data_rate = 1024;  // bytes/s averaged over DATA, after data_grace_s
  int data_grace_s = 30;
  int tls_handshake_timeout_s = 30;
  int greet_pause_ms = 0;  // >0: clients that talk before the greeting are dropped
  size_t max_connections = 20000;
  size_t max_connections_per_ip = 200;
  std::vector<Cidr> trusted_networks;  // may submit without AUTH as trusted_account
  std::string trusted_account;
  std::vector<std::string> platform_domains;
};

struct SmtpServices {
  queue::Spool* spool = nullptr;
  store::Store* store = nullptr;
  policy::AuthLimiter* limiter = nullptr;
  std::shared_ptr<boost::asio::ssl::context> tls;
  boost::asio::thread_pool* blocking = nullptr;
  pipeline::KeyCache* dkim_keys = nullptr;  // null: no DKIM signing
  // Messages with a tracking URL (X-IB-tracking-url or the account default) are kept whole in
  // memory (bounded by the session's max_message_size) and handed to this at the end of DATA,
  // which stores one rewritten copy per recipient; null: tracked mail streams like any other.
  pipeline::Submission* submission = nullptr;
  // Where tracked submissions run (they block on rewriting, signing and fsync of every copy);
  // a pool of their own, so a burst of tracked mail never delays AUTH on `blocking`.
  // null: `blocking`.
  boost::asio::thread_pool* submission_pool = nullptr;
  // Called (from an I/O thread) with every message once it is durable: the delivery engine.
  std::function<void(const queue::QueuedMessage&)> on_accepted;
};

struct SmtpCounters {
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> active{0};
  std::atomic<uint64_t> accepted_messages{0};  // streamed only; tracked copies: Submission
  std::atomic<uint64_t> rejected_connections{0};
  std::atomic<uint64_t> auth_failures{0};
  std::atomic<uint64_t> timeouts{0};  // command, data-rate and session limits
};

class SmtpServer {
 public:
  // workers: the io_contexts sessions are spread over (round robin); acceptors run on the first.
  SmtpServer(std::vector<boost::asio::io_context*> workers, SmtpServerConfig cfg, SmtpServices svc);
  ~SmtpServer();
  // Binds now (throws std::runtime_error naming the address on failure), accepts until stop().
  void listen(const std::string& name, const std::string& address, bool implicit_tls);
  void stop();
  const SmtpCounters& counters() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// "127.0.0.1:2525", "[::1]:25", ":25" → host and port. Throws std::invalid_argument.
std::pair<std::string, uint16_t> split_host_port(const std::string& address);

}  // namespace tern::net
