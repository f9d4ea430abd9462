// The SMTP connection driver on 127.0.0.1 with a real spool and store: an exception escaping a
// session (here from the on_accepted hook) still gives the client a reply and the log a line.
#include "net/smtp_server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "core/clock.hpp"
#include "dkim/signer.hpp"
#include "pipeline/key_cache.hpp"
#include "policy/auth_limiter.hpp"
#include "queue/envelope.hpp"
#include "queue/spool.hpp"
#include "store/backend.hpp"
#include "store/store.hpp"
#include "unit/store/test_dir.hpp"

namespace tern::net {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct Server {
  test::TempDir dir;
  store::Backend backend;
  store::Store* store = nullptr;
  std::unique_ptr<queue::Spool> spool;
  core::SystemClock clock;
  policy::AuthLimiter limiter{clock};
  asio::io_context io;
  asio::thread_pool blocking{1};
  std::unique_ptr<SmtpServer> smtp;
  std::thread thread;
  uint16_t port = 0;

  std::unique_ptr<pipeline::KeyCache> keys;

  explicit Server(std::function<void(const queue::QueuedMessage&)> on_accepted,
                  pipeline::KeyCache::Loader key_loader = {},
                  std::function<void(SmtpServerConfig&)> tweak = {}) {
    backend = std::move(store::open_backend("sqlite:" + dir.file("tern.db"))).value();
    store = backend.store.get();
    auto acc = store->accounts.create("acme");
    EXPECT_TRUE(acc.ok());
    EXPECT_TRUE(store->domains.add(acc.value().account.id, "acme.test", true).ok());
    spool = std::move(queue::Spool::open(dir.file("q"), {.sync = false})).value();
    SmtpServerConfig cfg;
    cfg.session.hostname = "mx.test";
    cfg.trusted_networks = {*Cidr::parse("127.0.0.1/32")};
    cfg.trusted_account = "acme";
    if (tweak) tweak(cfg);
    SmtpServices svc;
    svc.spool = spool.get();
    svc.store = store;
    svc.limiter = &limiter;
    svc.blocking = &blocking;
    svc.on_accepted = std::move(on_accepted);
    if (key_loader) {
      keys = std::make_unique<pipeline::KeyCache>(std::move(key_loader));
      svc.dkim_keys = keys.get();
    }
    // Pick a free port, then listen on it (the kernel's choice; small race accepted).
    {
      tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
      port = probe.local_endpoint().port();
    }
    smtp = std::make_unique<SmtpServer>(std::vector<asio::io_context*>{&io}, cfg, std::move(svc));
    smtp->listen("smtp", "127.0.0.1:" + std::to_string(port), false);
    thread = std::thread([this] { io.run(); });
  }
  ~Server() {
    if (smtp) smtp->stop();
    io.stop();
    thread.join();
    blocking.join();
  }
};

// Reads one whole reply (up to the line whose 4th octet is a space); "" when the server closed.
std::string reply(tcp::socket& s, asio::streambuf& buf) {
  std::string all;
  for (;;) {
    boost::system::error_code ec;
    asio::read_until(s, buf, "\r\n", ec);
    if (ec) return all;
    std::istream in(&buf);
    std::string line;
    std::getline(in, line);
    all += line + "\n";
    if (line.size() < 4 || line[3] == ' ') return all;
  }
}

// One message on a fresh connection; returns the reply to the final dot.
std::string send_one(uint16_t port) {
  asio::io_context cio;
  tcp::socket s(cio);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  asio::streambuf buf;
  if (reply(s, buf).substr(0, 3) != "220") return "no greeting";
  auto say = [&](const std::string& line) {
    asio::write(s, asio::buffer(line + "\r\n"));
    return reply(s, buf);
  };
  if (say("EHLO c.test").substr(0, 3) != "250") return "EHLO refused";
  if (say("MAIL FROM:<a@acme.test>").substr(0, 3) != "250") return "MAIL refused";
  if (say("RCPT TO:<b@example.org>").substr(0, 3) != "250") return "RCPT refused";
  if (say("DATA").substr(0, 3) != "354") return "DATA refused";
  return say("From: a@acme.test\r\nTo: b@example.org\r\nSubject: x\r\n\r\nhello\r\n.");
}

// A DKIM key that cannot be loaded (database away) defers the message (451 4.3.0): it is never
// accepted unsigned, and the failure is not cached: the next message asks again and is signed.
TEST(SmtpServer, SigningKeysUnavailableDefersNeverUnsigned) {
  std::atomic<int> loads{0};
  std::atomic<bool> fail{true};
  std::mutex mu;
  std::vector<queue::QueuedMessage> accepted;
  const std::string pem = dkim::PrivateKey::generate(dkim::Algorithm::ed25519_sha256)->to_pem();
  Server srv(
      [&](const queue::QueuedMessage& m) {
        std::lock_guard lk(mu);
        accepted.push_back(m);
      },
      [&](int64_t, const std::string& domain) -> core::Result<std::vector<pipeline::KeySpec>> {
        ++loads;
        if (fail) return core::Error::temp("database is locked");
        return std::vector<pipeline::KeySpec>{
            {domain, "tern1", dkim::Algorithm::ed25519_sha256, pem, 1}};
      });
  const std::string first = send_one(srv.port);
  EXPECT_EQ(first.substr(0, 9), "451 4.3.0") << first;
  EXPECT_NE(first.find("DKIM"), std::string::npos) << first;
  fail = false;
  const std::string second = send_one(srv.port);
  EXPECT_EQ(second.substr(0, 3), "250") << second;
  EXPECT_EQ(loads.load(), 2);
  std::lock_guard lk(mu);
  ASSERT_EQ(accepted.size(), 1u);  // only the second, and it is signed
  EXPECT_NE(accepted[0].prepend.find("DKIM-Signature:"), std::string::npos);
}

TEST(SmtpServer, ExceptionInSessionEndsWithReplyNotSilence) {
  Server srv([](const queue::QueuedMessage&) { throw std::runtime_error("boom in hook"); });
  asio::io_context cio;
  tcp::socket s(cio);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), srv.port));
  s.set_option(asio::socket_base::receive_buffer_size(65536));
  asio::streambuf buf;
  ASSERT_EQ(reply(s, buf).substr(0, 3), "220");
  auto say = [&](const std::string& line) {
    asio::write(s, asio::buffer(line + "\r\n"));
    return reply(s, buf);
  };
  ASSERT_EQ(say("EHLO c.test").substr(0, 3), "250");
  ASSERT_EQ(say("MAIL FROM:<a@acme.test>").substr(0, 3), "250");
  ASSERT_EQ(say("RCPT TO:<b@example.org>").substr(0, 3), "250");
  ASSERT_EQ(say("DATA").substr(0, 3), "354");
  const std::string r =
      say("From: a@acme.test\r\nTo: b@example.org\r\nSubject: x\r\n\r\nhello\r\n.");
  EXPECT_EQ(r.substr(0, 9), "421 4.3.0") << "reply was: '" << r << "'";
}

// The sweeper and the sessions hold their owner (issue 11): the SmtpServer object is destroyed
// while a session is in DATA and the I/O thread runs on. The session still gets its deadline
// from a sweeper (421 4.4.2: a positive marker that a sweeper ran after the server object was
// gone), and after the last session ended the sweepers keep ticking without touching freed
// memory (the ASan build, scripts/sanitize-build.sh, reports a use-after-free otherwise: the
// sweepers were owned by the server and their coroutine held nothing).
TEST(SmtpServer, SweeperAndSessionOutliveTheServerObject) {
  Server srv([](const queue::QueuedMessage&) {}, {},
             [](SmtpServerConfig& c) { c.command_timeout_s = 1; });
  asio::io_context cio;
  tcp::socket s(cio);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), srv.port));
  asio::streambuf buf;
  ASSERT_EQ(reply(s, buf).substr(0, 3), "220");
  auto say = [&](const std::string& line) {
    asio::write(s, asio::buffer(line + "\r\n"));
    return reply(s, buf);
  };
  ASSERT_EQ(say("EHLO c.test").substr(0, 3), "250");
  ASSERT_EQ(say("MAIL FROM:<a@acme.test>").substr(0, 3), "250");
  ASSERT_EQ(say("RCPT TO:<b@example.org>").substr(0, 3), "250");
  ASSERT_EQ(say("DATA").substr(0, 3), "354");
  srv.smtp.reset();  // stop() and destruction; the session in DATA goes on (graceful stop)
  // Nothing more is sent: the read deadline (1 s) passes and a sweeper cuts the read.
  const std::string r = reply(s, buf);
  EXPECT_EQ(r.substr(0, 9), "421 4.4.2") << "reply was: '" << r << "'";
  EXPECT_EQ(reply(s, buf), "");  // the session closed the connection
  // Three more sweeps on the I/O thread (its timers fire in order: this one after them).
  std::promise<void> swept;
  asio::steady_timer t(srv.io, std::chrono::milliseconds(800));
  t.async_wait([&](boost::system::error_code) { swept.set_value(); });
  EXPECT_EQ(swept.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
}

}  // namespace
}  // namespace tern::net
