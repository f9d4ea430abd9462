// The outbound SMTP driver against a scripted server on 127.0.0.1: exact wire bytes, endpoint
// walking, STARTTLS (unverified, verified, failed), AUTH after TLS, implicit TLS, deadlines,
// servers that drop, a 5 MB message, per-recipient outcomes, and content reader failures.
#include "net/smtp_client.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <deque>
#include <filesystem>

#include "net/tls.hpp"
#include "unit/net/fake_smtp_server.hpp"
#include "unit/run_dir.hpp"

namespace tern::net {
namespace {

using namespace tern::testing_net;
using smtp::client::Outcome;
using smtp::client::Phase;
using smtp::client::TlsPolicy;

// Content from memory, in pieces of at most `piece` bytes; fails at offset `fail_at`.
class MemReader : public queue::Spool::ContentReader {
 public:
  explicit MemReader(std::string data, size_t piece = SIZE_MAX, size_t fail_at = SIZE_MAX)
      : data_(std::move(data)), piece_(piece), fail_at_(fail_at) {}
  core::Result<size_t> read(char* buf, size_t n) override {
    if (pos_ >= fail_at_) return core::Error::temp("disk on fire");
    n = std::min({n, piece_, data_.size() - pos_, fail_at_ - pos_});
    std::memcpy(buf, data_.data() + pos_, n);
    pos_ += n;
    return n;
  }
  uint64_t size() const override { return data_.size(); }

 private:
  std::string data_;
  size_t piece_, fail_at_, pos_ = 0;
};

ClientMessage make_message(uint64_t tag, std::string sender, std::vector<std::string> rcpts,
                           std::string content, size_t fail_at = SIZE_MAX) {
  ClientMessage m;
  m.envelope.sender = std::move(sender);
  m.envelope.recipients = std::move(rcpts);
  m.envelope.size = content.size();
  m.content = std::make_unique<MemReader>(std::move(content), SIZE_MAX, fail_at);
  m.tag = tag;
  return m;
}

// Hands out queued messages and records every call, checking the delegate contract.
class Recorder : public ClientDelegate {
 public:
  struct Result {
    uint64_t tag;
    std::vector<Outcome> outcomes;
    ClientPeer peer;
  };
  std::deque<ClientMessage> queue;
  std::vector<uint64_t> handed;
  std::vector<Result> results;
  int done_calls = 0;
  int calls_after_done = 0;
  std::optional<Outcome> failure;
  ClientPeer done_peer;

  std::optional<ClientMessage> next_message() override {
    if (done_calls) ++calls_after_done;
    if (queue.empty()) return std::nullopt;
    ClientMessage m = std::move(queue.front());
    queue.pop_front();
    handed.push_back(m.tag);
    return m;
  }
  void message_done(uint64_t tag, std::vector<Outcome> outcomes, const ClientPeer& peer) override {
    if (done_calls) ++calls_after_done;
    results.push_back({tag, std::move(outcomes), peer});
  }
  void done(std::optional<Outcome> f, const ClientPeer& peer) override {
    ++done_calls;
    failure = std::move(f);
    done_peer = peer;
  }

  // Every handed-out message got exactly one result, done once and last.
  void check_contract() const {
    EXPECT_EQ(done_calls, 1);
    EXPECT_EQ(calls_after_done, 0);
    std::vector<uint64_t> got;
    for (const auto& r : results) got.push_back(r.tag);
    EXPECT_EQ(got, handed);
  }
};

struct Tls {
  TlsFiles files;
  std::shared_ptr<boost::asio::ssl::context> server;
};
const Tls& tls() {
  static const Tls t = [] {
    const std::string dir = (tern::test::run_dir() / "smtp_client_tls").string();
    Tls x;
    x.files = ensure_self_signed(dir, "mx.test");
    x.server = make_server_context(x.files);
    return x;
  }();
  return t;
}
SSL_CTX* server_tls() { return tls().server->native_handle(); }

ClientTarget target_for(std::vector<ClientEndpoint> eps) {
  ClientTarget t;
  t.endpoints = std::move(eps);
  t.session.helo_name = "client.test";
  t.connect_timeout_s = 5;
  t.command_timeout_s = 5;
  t.data_timeout_s = 5;
  return t;
}
ClientEndpoint ep(uint16_t port, std::string host = "mx.test") {
  return {std::move(host), "127.0.0.1", port};
}

// Runs one delivery to completion (bounded so a broken driver fails instead of hanging).
void run(ClientTarget t, std::shared_ptr<Recorder> rec,
         std::shared_ptr<boost::asio::ssl::context> ctx = nullptr) {
  if (!ctx) ctx = make_client_context("");
  boost::asio::io_context io;
  start_delivery(io, ctx, std::move(t), rec);
  io.run_for(std::chrono::seconds(20));
  ASSERT_TRUE(io.stopped()) << "delivery did not finish";
}

SmtpBehavior plain_behavior() {
  SmtpBehavior b;
  b.extensions = {"PIPELINING", "SIZE 10000000"};
  return b;
}

TEST(SmtpClient, TwoMessagesPipelinedExactBytes) {
  SmtpRecord rec;
  SmtpBehavior b = plain_behavior();
  FakeServer srv({[&](FakeConn& c) { serve_smtp(c, b, rec); }});
  auto d = std::make_shared<Recorder>();
  const std::string c1 = "Subject: one\r\n\r\n.dot line\r\nbody\r\n";
  const std::string c2 = "Subject: two\r\n\r\n..two dots\r\n.\r\nlast line";
  d->queue.push_back(make_message(1, "a@x.test", {"b@y.test"}, c1));
  d->queue.push_back(make_message(2, "", {"c@y.test", "d@y.test"}, c2));
  run(target_for({ep(srv.port())}), d);
  srv.join();

  d->check_contract();
  EXPECT_FALSE(d->failure.has_value());
  ASSERT_EQ(d->results.size(), 2u);
  EXPECT_EQ(d->results[0].outcomes.size(), 1u);
  EXPECT_EQ(d->results[1].outcomes.size(), 2u);
  for (const auto& r : d->results)
    for (const auto& o : r.outcomes) {
      EXPECT_EQ(o.severity, core::Severity::ok);
      EXPECT_EQ(o.code, 250);
      EXPECT_EQ(o.phase, Phase::dot);
      EXPECT_TRUE(o.remote);
    }
  EXPECT_EQ(d->results[0].peer.host, "mx.test");
  EXPECT_EQ(d->results[0].peer.addr, "127.0.0.1");
  EXPECT_FALSE(d->results[0].peer.tls);
  ASSERT_EQ(srv.transcripts.size(), 1u);
  EXPECT_EQ(srv.transcripts[0],
            "EHLO client.test\r\n"
            "MAIL FROM:<a@x.test> SIZE=33\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"
            "Subject: one\r\n\r\n..dot line\r\nbody\r\n.\r\n"
            "MAIL FROM:<> SIZE=40\r\nRCPT TO:<c@y.test>\r\nRCPT TO:<d@y.test>\r\nDATA\r\n"
            "Subject: two\r\n\r\n...two dots\r\n..\r\nlast line\r\n.\r\n"
            "QUIT\r\n");
  ASSERT_EQ(rec.messages.size(), 2u);
  EXPECT_EQ(rec.messages[0].content, c1);
  EXPECT_EQ(rec.messages[1].content, c2 + "\r\n");
  EXPECT_TRUE(rec.quit);
}

TEST(SmtpClient, HeloFallbackWithoutPipelining) {
  SmtpRecord rec;
  SmtpBehavior b;
  b.ehlo = false;
  FakeServer srv({[&](FakeConn& c) { serve_smtp(c, b, rec); }});
  auto d = std::make_shared<Recorder>();
  d->queue.push_back(make_message(7, "a@x.test", {"b@y.test"}, "Hi\r\n"));
  run(target_for({ep(srv.port())}), d);
  srv.join();

  d->check_contract();
  EXPECT_FALSE(d->failure.has_value());
  ASSERT_EQ(d->results.size(), 1u);
  EXPECT_EQ(d->results[0].outcomes[0].severity, core::Severity::ok);
  ASSERT_EQ(srv.transcripts.size(), 1u);
  EXPECT_EQ(srv.transcripts[0],
            "EHLO client.test\r\nHELO client.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n"
            "DATA\r\nHi\r\n.\r\nQUIT\r\n");
}

TEST(SmtpClient, RefusedEndpointThenNextDelivers) {
  ClosedPort closed;
  SmtpRecord rec;
  SmtpBehavior b;
  FakeServer srv({[&](FakeConn& c) { serve_smtp(c, b, rec); }});
  auto d = std::make_shared<Recorder>();
  d->queue.push_back(make_message(1, "a@x.test", {"b@y.test"}, "Hi\r\n"));
  run(target_for({ep(closed.port(), "mx1.test"), ep(srv.port(), "mx2.test")}), d);
  srv.join();

  d->check_contract();
  EXPECT_FALSE(d->failure.has_value());
  ASSERT_EQ(d->results.size(), 1u);
  EXPECT_EQ(d->results[0].outcomes[0].severity, core::Severity::ok);
  EXPECT_EQ(d->results[0].peer.host, "mx2.test");
  ASSERT_EQ(rec.messages.size(), 1u);
  EXPECT_TRUE(rec.messages[0].complete);
}

TEST(SmtpClient, AllEndpointsRefusedIsTemporaryConnectFailure) {
  ClosedPort p1, p2;
  auto d = std::make_shared<Recorder>();
  d->queue.push_back(make_message(1, "a@x.test", {"b@y.test"}, "Hi\r\n"));
  run(target_for({ep(p1.port(), "mx1.test"), ep(p2.port(), "mx2.test")}), d);

  d->check_contract();
  EXPECT_TRUE(d->handed.empty());  // the message stays with the delegate
  ASSERT_TRUE(d->failure.has_value());
  EXPECT_EQ(d->failure->severity, core::Severity::temporary);
  EXPECT_EQ(d->failure->phase, Phase::connect);
  EXPECT_EQ(d->failure->enhanced, "4.4.1");
  EXPECT_NE(d->failure->text.find("refused"), std::string::npos) << d->failure->text;
  EXPECT_EQ(d->done_peer.host, "mx2.test");  // the last endpoint tried
}

TEST(SmtpClient, Greeting421MovesToNextEndpoint) {
  SmtpRecord rec1, rec2;
  SmtpBehavior busy;
  busy.greeting = "421 4.3.2 too busy";
  SmtpBehavior ok;
  FakeServer srv({[&](FakeConn& c) { serve_smtp(c, busy, rec1); },
                  [&](FakeConn& c) { serve_smtp(c, ok, rec2); }});
  auto d = std::make_shared<Recorder>();
  d->queue.push_back(make_message(1, "a@x.test", {"b@y.test"}, "Hi\r\n"));
  run(target_for({ep(srv.port(), "mx1.test"), ep(srv.port(), "mx2.test")}), d);
  srv.join();

  d->check_contract();
  EXPECT_FALSE(d->failure.has_value());
  ASSERT_EQ(srv.transcripts.size(), 2u);
  EXPECT_EQ(srv.transcripts[0], "");  // nothing said to the busy server (421: no QUIT)
  ASSERT_EQ(d->results.size(), 1u);
  EXPECT_EQ(d->results[0].peer.host, "mx2.test");
  EXPECT_EQ(d->results[0].outcomes[0].severity, core::Severity::ok);
}

TEST(SmtpClient, GreetingOnOnlyEndpointFailsWithServersReply) {
  SmtpRecord rec;
  SmtpBehavior busy;
  busy.greeting = "554 5.7.1 go away";
  FakeServer srv({[&](FakeConn& c) { serve_smtp(c, busy, rec); }});
  auto d = std::make_shared<Recorder>();
  d->queue.push_back(make_message(1, "a@x.test", {"b@y.test"}, "Hi\r\n"));
  run(target_for({ep(srv.port())}), d);
  srv.join();

  d->check_contract();
  EXPECT_TRUE(d->handed.empty());
  ASSERT_TRUE(d->failure.has_value());
  EXPECT_EQ(d->failure->code, 554);
  EXPECT_EQ(d->failure->severity, core::Severity::permanent);
  EXPECT_TRUE(d->failure->remote);
}

TEST(SmtpClient, OpportunisticStartTlsSelfSignedUnverified) {
  SmtpRecord rec;
  SmtpBehavior b;
  b.extensions = {"PIPELINING", "STARTTLS"};
  FakeServer srv({[&](FakeConn& c) { serve_smtp(c, b, rec); }}, server_tls());
  auto d = std::make_shared<Recorder>();
  d->queue.push_back(make_message(1, "a@x.test", {"b@y.test"}, "Secret\r\n"));
  run(target_for({ep(srv.port())}), d);
  srv.join();

  d->check_contract();
  EXPECT_FALSE(d->failure.has_value());
  ASSERT_EQ(d->results.size(), 1u);
  EXPECT_TRUE(d->results[0].peer.tls);
  EXPECT_TRUE(d->results[0].outcomes[0].tls);
  EXPECT_EQ(d->results[0].outcomes[0].severity, core::Severity::ok);
  ASSERT_EQ(rec.messages.size(), 1u);
  EXPECT_TRUE(rec.messages[0].tls);
  EXPECT_EQ(srv.transcripts[0].substr(0, srv.plain_bytes[0]), "EHLO client.test\r\nSTARTTLS\r\n");
  EXPECT_EQ(srv.snis[0], "mx.test");  // SNI without verification when the host is a name
}

TEST(SmtpClient, NoSniForIpLiteralHost) {
  SmtpRecord rec;
  SmtpBehavior b;
  b.extensions = {"STARTTLS"};
  FakeServer srv({[&](FakeConn& c) { serve_smtp(c, b, rec); }}, server_tls());
  auto d = std::make_shared<Recorder>();
  d->queue.push_back(make_message(1, "a@x.test", {"b@y.test"}, "x\r\n"));
  run(target_for({ep(srv.port(), "127.0.0.1")}), d);
  srv.join();
  d->check_contract();
  EXPECT_FALSE(d->failure.has_value());
  ASSERT_EQ(srv.snis.size(), 1u);
  EXPECT_EQ(srv.snis[0], "");
}

TEST(SmtpClient, FailedOpportunisticHandshakeRetriesPlainOnce) {
  SmtpRecord rec;
  SmtpBehavior ok;
  ok.extensions = {"PIPELINING", "STARTTLS"};
  FakeServer srv({[&](FakeConn& c) {
                    c.reply("220 mx.test ESMTP");
                    c.line();  // EHLO
                    c.write("250-mx.test\r\n250 STARTTLS\r\n");
                    c.line();  // STARTTLS
                    c.reply("220 go ahead");
                    c.write("this is not a TLS record\r\n");
                    c.drain();
                  },
                  [&](FakeConn& c) { serve_smtp(c, ok, rec); }},
                 server_tls());
  auto d = std::make_shared<Recorder>();
  d->queue.push_back(make_message(1, "a@x.test", {"b@y.test"}, "Hi\r\n"));
  run(target_for({ep(srv.port())}), d);
  srv.join();

  d->check_contract();
  EXPECT_FALSE(d->failure.has_value());
  ASSERT_EQ(srv.transcripts.size(), 2u);
  EXPECT_EQ(srv.transcripts[1].find("STARTTLS"), std::string::npos);  // policy none the 2nd time
  ASSERT_EQ(d->results.size(), 1u);
  EXPECT_FALSE(d->results[0].peer.tls);
  EXPECT_EQ(d->results[0].outcomes[0].severity, core::Severity::ok);
}

TEST(SmtpClient, VerifyPeerRejectsSelfSignedAndSendsNothingInPlain) {
  SmtpRecord rec;
  SmtpBehavior b;
  b.extensions = {"PIPELINING", "STARTTLS"};
  // Opportunistic in the config: verify_peer must still never fall back to plaintext.
  FakeServer srv(
      {[&](FakeConn& c) { serve_smtp(c, b, rec); }, [&](FakeConn& c) { serve_smtp(c, b, rec); }},
      server_tls());
  auto d = std::make_shared<Recorder>();
  d->queue.push_back(make_message(1, "a@x.test", {"b@y.test"}, "Secret\r\n"));
  ClientTarget t = target_for({ep(srv.port())});
  t.verify_peer = true;
  t.verify_name = "mx.test";
  run(t, d);
  srv.join();

  d->check_contract();
  EXPECT_TRUE(d->handed.empty());
  ASSERT_TRUE(d->failure.has_value());
  EXPECT_EQ(d->failure->severity, core::Severity::temporary);
  EXPECT_EQ(d->failure->phase, Phase::starttls);
  ASSERT_EQ(srv.transcripts.size(), 1u);  // no plaintext retry
  EXPECT_EQ(srv.transcripts[0], "EHLO client.test\r\nSTARTTLS\r\n");
  EXPECT_TRUE(rec.messages.empty());
}

TEST(SmtpClient, VerifyPeerRequiresStartTls) {
  SmtpRecord rec;
  SmtpBehavior b;  // no STARTTLS offered
  FakeServer srv({[&](FakeConn& c) { serve_smtp(c, b, rec); }});
  auto d = std::make_shared<Recorder>();
  d->queue.push_back(make_message(1, "a@x.test", {"b@y.test"}, "Secret\r\n"));
  ClientTarget t = target_for({ep(srv.port())});
  t.verify_peer = true;
  run(t, d);
  srv.join();

  d->check_contract();
  EXPECT_TRUE(d->handed.empty());
  ASSERT_TRUE(d->failure.has_value());
  EXPECT_EQ(d->failure->enhanced, "4.7.4");
  EXPECT_TRUE(rec.messages.empty());
}

TEST(SmtpClient, VerifyPeerWithCaFileAndMatchingName) {
  SmtpRecord rec;
  SmtpBehavior b;
  b.extensions = {"PIPELINING", "STARTTLS"};
  FakeServer srv({[&](FakeConn& c) { serve_smtp(c, b, rec); }}, server_tls());
  auto d = std::make_shared<Recorder>();
  d->queue.push_back(make_message(1, "a@x.test", {"b@y.test"}, "Secret\r\n"));
  ClientTarget t = target_for({ep(srv.port(), "relay.example")});
  t.session.tls = TlsPolicy::required;
  t.verify_peer = true;
  t.verify_name = "mx.test";
  run(t, d, make_client_context(tls().files.cert));
  srv.join();

  d->check_contract();
  EXPECT_FALSE(d->failure.has_value()) << d->failure->text;
  ASSERT_EQ(d->results.size(), 1u);
  EXPECT_EQ(d->results[0].outcomes[0].severity, core::Severity::ok);
  EXPECT_TRUE(d->results[0].peer.tls);
  EXPECT_EQ(srv.snis[0], "mx.test");  // SNI is the name verified
}

TEST(SmtpClient, VerifyPeerWithCaFileButWrongName) {
  SmtpRecord rec;
  SmtpBehavior b;
  b.extensions = {"PIPELINING", "STARTTLS"};
  FakeServer srv({[&](FakeConn& c) { serve_smtp(c, b, rec); }}, server_tls());
  auto d = std::make_shared<Recorder>();
  d->queue.push_back(make_message(1, "a@x.test", {"b@y.test"}, "Secret\r\n"));
  ClientTarget t = target_for({ep(srv.port())});
  t.session.tls = TlsPolicy::required;
  t.verify_peer = true;
  t.verify_name = "other.test";
  run(t, d, make_client_context(tls().files.cert));
  srv.join();

  d->check_contract();
  ASSERT_TRUE(d->failure.has_value());
  EXPECT_EQ(d->failure->severity, core::Severity::temporary);
  EXPECT_TRUE(rec.messages.empty());
  EXPECT_EQ(srv.transcripts[0], "EHLO client.test\r\nSTARTTLS\r\n");
}

TEST(SmtpClient, AuthPlainAfterStartTls) {
  SmtpRecord rec;
  SmtpBehavior b;
  b.extensions = {"PIPELINING", "STARTTLS", "AUTH PLAIN LOGIN"};  // AUTH offered in plain too
  b.tls_extensions = {"PIPELINING", "AUTH PLAIN LOGIN"};
  FakeServer srv({[&](FakeConn& c) { serve_smtp(c, b, rec); }}, server_tls());
  auto d = std::make_shared<Recorder>();
  d->queue.push_back(make_message(1, "a@x.test", {"b@y.test"}, "Hi\r\n"));
  ClientTarget t = target_for({ep(srv.port())});
  t.session.tls = TlsPolicy::required;
  t.session.username = "user";
  t.session.password = "secret";
  run(t, d);
  srv.join();

  d->check_contract();
  EXPECT_FALSE(d->failure.has_value());
  std::vector<std::string> auth;
  for (const auto& c : rec.commands)
    if (starts_with_ci(c.line, "AUTH")) {
      auth.push_back(c.line);
      EXPECT_TRUE(c.tls);
    }
  ASSERT_EQ(auth.size(), 1u);
  EXPECT_EQ(auth[0], "AUTH PLAIN AHVzZXIAc2VjcmV0");  // base64("\0user\0secret")
  EXPECT_EQ(srv.transcripts[0].substr(0, srv.plain_bytes[0]).find("AUTH"), std::string::npos);
  ASSERT_EQ(rec.messages.size(), 1u);
}

TEST(SmtpClient, AuthRejectedIsTemporaryAndNoMailSent) {
  SmtpRecord rec;
  SmtpBehavior b;
  b.extensions = {"STARTTLS"};
  b.tls_extensions = {"AUTH PLAIN"};
  b.auth_reply = "535 5.7.8 bad credentials";
  FakeServer srv({[&](FakeConn& c) { serve_smtp(c, b, rec); }}, server_tls());
  auto d = std::make_shared<Recorder>();
  d->queue.push_back(make_message(1, "a@x.test", {"b@y.test"}, "Hi\r\n"));
  ClientTarget t = target_for({ep(srv.port())});
  t.session.username = "user";
  t.session.password = "wrong";
  run(t, d);
  srv.join();

  d->check_contract();
  EXPECT_TRUE(d->handed.empty());
  ASSERT_TRUE(d->failure.has_value());
  EXPECT_EQ(d->failure->code, 535);
  EXPECT_EQ(d->failure->severity, core::Severity::temporary);
  EXPECT_TRUE(rec.messages.empty());
}

TEST(SmtpClient, ImplicitTls) {
  SmtpRecord rec;
  SmtpBehavior b;
  b.tls_extensions = {"PIPELINING", "STARTTLS"};  // must not be used on a TLS connection
  FakeServer srv({[&](FakeConn& c) { serve_smtp(c, b, rec); }}, server_tls(),
                 /*implicit_tls=*/true);
  auto d = std::make_shared<Recorder>();
  d->queue.push_back(make_message(1, "a@x.test", {"b@y.test"}, "Hi\r\n"));
  ClientTarget t = target_for({ep(srv.port(), "smtps.test")});
  t.session.implicit_tls = true;
  t.session.tls = TlsPolicy::required;
  run(t, d);
  srv.join();

  d->check_contract();
  EXPECT_FALSE(d->failure.has_value());
  ASSERT_EQ(d->results.size(), 1u);
  EXPECT_TRUE(d->results[0].peer.tls);
  EXPECT_TRUE(d->results[0].outcomes[0].tls);
  ASSERT_EQ(rec.messages.size(), 1u);
  EXPECT_TRUE(rec.messages[0].tls);
  EXPECT_EQ(srv.plain_bytes[0], 0u);
  EXPECT_EQ(srv.snis[0], "smtps.test");
  EXPECT_EQ(srv.transcripts[0].find("STARTTLS"), std::string::npos);
}

TEST(SmtpClient, ImplicitTlsAgainstPlainServerFailsAsConnectFailure) {
  SmtpRecord rec;
  SmtpBehavior b;
  FakeServer srv({[&](FakeConn& c) { serve_smtp(c, b, rec); }});
  auto d = std::make_shared<Recorder>();
  d->queue.push_back(make_message(1, "a@x.test", {"b@y.test"}, "Hi\r\n"));
  ClientTarget t = target_for({ep(srv.port())});
  t.session.implicit_tls = true;
  run(t, d);
  srv.join();

  d->check_contract();
  EXPECT_TRUE(d->handed.empty());
  ASSERT_TRUE(d->failure.has_value());
  EXPECT_EQ(d->failure->phase, Phase::connect);
  EXPECT_NE(d->failure->text.find("TLS"), std::string::npos);
}

TEST(SmtpClient, SilentServerTimesOut) {
  FakeServer srv({[&](FakeConn& c) { c.drain(); }});
  auto d = std::make_shared<Recorder>();
  d->queue.push_back(make_message(1, "a@x.test", {"b@y.test"}, "Hi\r\n"));
  ClientTarget t = target_for({ep(srv.port())});
  t.command_timeout_s = 1;
  const auto start = std::chrono::steady_clock::now();
  run(t, d);
  srv.join();
  const auto took = std::chrono::steady_clock::now() - start;

  d->check_contract();
  ASSERT_TRUE(d->failure.has_value());
  EXPECT_EQ(d->failure->severity, core::Severity::temporary);
  EXPECT_EQ(d->failure->phase, Phase::greeting);
  EXPECT_NE(d->failure->text.find("timeout"), std::string::npos) << d->failure->text;
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_LT(took, std::chrono::seconds(4));
}

TEST(SmtpClient, ServerStallingAfterMailGivesTemporaryOutcome) {
  SmtpRecord rec;
  SmtpBehavior b;
  b.stall_on = "MAIL";
  FakeServer srv({[&](FakeConn& c) { serve_smtp(c, b, rec); }});
  auto d = std::make_shared<Recorder>();
  d->queue.push_back(make_message(1, "a@x.test", {"b@y.test", "c@y.test"}, "Hi\r\n"));
  d->queue.push_back(make_message(2, "a@x.test", {"b@y.test"}, "Hi\r\n"));
  ClientTarget t = target_for({ep(srv.port())});
  t.command_timeout_s = 1;
  run(t, d);
  srv.join();

  d->check_contract();
  ASSERT_EQ(d->results.size(), 1u);  // the second message was never handed out
  ASSERT_EQ(d->results[0].outcomes.size(), 2u);
  for (const auto& o : d->results[0].outcomes) {
    EXPECT_EQ(o.severity, core::Severity::temporary);
    EXPECT_NE(o.text.find("timeout"), std::string::npos);
  }
  EXPECT_EQ(d->queue.size(), 1u);
  ASSERT_TRUE(d->failure.has_value());
}

TEST(SmtpClient, FinalDotReplyUsesDataTimeout) {
  SmtpRecord rec;
  SmtpBehavior b;
  b.stall_on = ".";
  FakeServer srv({[&](FakeConn& c) { serve_smtp(c, b, rec); }});
  auto d = std::make_shared<Recorder>();
  d->queue.push_back(make_message(1, "a@x.test", {"b@y.test"}, "Hi\r\n"));
  ClientTarget t = target_for({ep(srv.port())});
  t.command_timeout_s = 10;
  t.data_timeout_s = 1;
  const auto start = std::chrono::steady_clock::now();
  run(t, d);
  srv.join();

  d->check_contract();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
  ASSERT_EQ(d->results.size(), 1u);
  EXPECT_EQ(d->results[0].outcomes[0].severity, core::Severity::temporary);
  EXPECT_EQ(d->results[0].outcomes[0].phase, Phase::dot);
  EXPECT_NE(d->results[0].outcomes[0].text.find("timeout"), std::string::npos);
}

std::string big_content(size_t size) {
  std::string s = "Subject: big\r\n\r\n";
  size_t i = 0;
  while (s.size() < size) {
    const std::string n = std::to_string(i++);
    if (i % 7 == 0)
      s += "." + n + " starts with a dot\r\n";
    else
      s += "line " + n + " of a large message, padded to be a bit longer than usual\r\n";
  }
  return s;
}

TEST(SmtpClient, ServerDroppingMidDataGivesTemporaryOutcome) {
  SmtpRecord rec;
  SmtpBehavior b;
  b.drop_after_content = 2000;
  FakeServer srv({[&](FakeConn& c) { serve_smtp(c, b, rec); }});
  auto d = std::make_shared<Recorder>();
  d->queue.push_back(make_message(1, "a@x.test", {"b@y.test"}, big_content(1 << 20)));
  run(target_for({ep(srv.port())}), d);
  srv.join();

  d->check_contract();
  ASSERT_EQ(d->results.size(), 1u);
  const Outcome& o = d->results[0].outcomes[0];
  EXPECT_EQ(o.severity, core::Severity::temporary);
  EXPECT_TRUE(o.phase == Phase::data || o.phase == Phase::dot) << phase_name(o.phase);
  ASSERT_TRUE(d->failure.has_value());
  ASSERT_EQ(rec.messages.size(), 1u);
  EXPECT_FALSE(rec.messages[0].complete);
}

TEST(SmtpClient, FiveMegabyteMessageStreamsExactly) {
  SmtpRecord rec;
  SmtpBehavior b;
  FakeServer srv({[&](FakeConn& c) { serve_smtp(c, b, rec); }});
  auto d = std::make_shared<Recorder>();
  const std::string content = big_content(5 << 20);
  d->queue.push_back(make_message(1, "a@x.test", {"b@y.test"}, content));
  run(target_for({ep(srv.port())}), d);
  srv.join();

  d->check_contract();
  EXPECT_FALSE(d->failure.has_value());
  ASSERT_EQ(d->results.size(), 1u);
  EXPECT_EQ(d->results[0].outcomes[0].severity, core::Severity::ok);
  ASSERT_EQ(rec.messages.size(), 1u);
  EXPECT_TRUE(rec.messages[0].complete);
  EXPECT_EQ(rec.messages[0].content.size(), content.size());
  EXPECT_TRUE(rec.messages[0].content == content);
  EXPECT_GT(rec.messages[0].wire.size(), content.size() + 3);  // stuffed dots on the wire
}

TEST(SmtpClient, PerRecipientOutcomes) {
  SmtpRecord rec;
  SmtpBehavior b;
  b.rcpt_reply = [](const std::string& line) {
    return line.find("nobody@") != std::string::npos ? "550 5.1.1 no such user" : "250 2.1.5 ok";
  };
  FakeServer srv({[&](FakeConn& c) { serve_smtp(c, b, rec); }});
  auto d = std::make_shared<Recorder>();
  d->queue.push_back(make_message(1, "a@x.test", {"nobody@y.test", "b@y.test"}, "Hi\r\n"));
  run(target_for({ep(srv.port())}), d);
  srv.join();

  d->check_contract();
  EXPECT_FALSE(d->failure.has_value());
  ASSERT_EQ(d->results.size(), 1u);
  const auto& os = d->results[0].outcomes;
  ASSERT_EQ(os.size(), 2u);
  EXPECT_EQ(os[0].code, 550);
  EXPECT_EQ(os[0].enhanced, "5.1.1");
  EXPECT_EQ(os[0].severity, core::Severity::permanent);
  EXPECT_EQ(os[0].phase, Phase::rcpt);
  EXPECT_TRUE(os[0].remote);
  EXPECT_EQ(os[1].code, 250);
  EXPECT_EQ(os[1].severity, core::Severity::ok);
  ASSERT_EQ(rec.messages.size(), 1u);
  EXPECT_EQ(rec.messages[0].rcpts, std::vector<std::string>{"RCPT TO:<b@y.test>"});
}

TEST(SmtpClient, ContentReadErrorAbortsWithoutFinalDot) {
  SmtpRecord rec;
  SmtpBehavior b;
  b.rcpt_reply = [](const std::string& line) {
    return line.find("nobody@") != std::string::npos ? "550 5.1.1 no such user" : "250 2.1.5 ok";
  };
  FakeServer srv({[&](FakeConn& c) { serve_smtp(c, b, rec); }});
  auto d = std::make_shared<Recorder>();
  d->queue.push_back(make_message(1, "a@x.test", {"nobody@y.test", "b@y.test"}, big_content(300000),
                                  /*fail_at=*/100000));
  d->queue.push_back(make_message(2, "a@x.test", {"b@y.test"}, "Hi\r\n"));
  run(target_for({ep(srv.port())}), d);
  srv.join();

  d->check_contract();
  ASSERT_EQ(d->results.size(), 1u);
  const auto& os = d->results[0].outcomes;
  ASSERT_EQ(os.size(), 2u);
  EXPECT_EQ(os[0].code, 550);  // the server's verdict is kept
  EXPECT_EQ(os[1].code, 451);
  EXPECT_EQ(os[1].enhanced, "4.3.0");
  EXPECT_FALSE(os[1].remote);
  EXPECT_EQ(os[1].severity, core::Severity::temporary);
  EXPECT_NE(os[1].text.find("disk on fire"), std::string::npos);
  ASSERT_TRUE(d->failure.has_value());
  EXPECT_EQ(d->failure->enhanced, "4.3.0");
  ASSERT_EQ(rec.messages.size(), 1u);
  EXPECT_FALSE(rec.messages[0].complete);  // never the final dot: the server drops it
  EXPECT_LE(rec.messages[0].content.size(), 100000u);
  EXPECT_EQ(d->queue.size(), 1u);  // the next message stays queued
}

TEST(SmtpClient, MessageWithoutContentReaderIsSettledLocally) {
  SmtpRecord rec;
  SmtpBehavior b;
  FakeServer srv({[&](FakeConn& c) { serve_smtp(c, b, rec); }});
  auto d = std::make_shared<Recorder>();
  ClientMessage broken = make_message(1, "a@x.test", {"b@y.test"}, "");
  broken.content.reset();
  d->queue.push_back(std::move(broken));
  d->queue.push_back(make_message(2, "a@x.test", {"b@y.test"}, "Hi\r\n"));
  run(target_for({ep(srv.port())}), d);
  srv.join();

  d->check_contract();
  EXPECT_FALSE(d->failure.has_value());
  ASSERT_EQ(d->results.size(), 2u);
  EXPECT_EQ(d->results[0].outcomes[0].code, 451);
  EXPECT_EQ(d->results[1].outcomes[0].code, 250);
  EXPECT_EQ(rec.messages.size(), 1u);
}

TEST(SmtpClient, HostileEndpointsGiveClearErrors) {
  {
    auto d = std::make_shared<Recorder>();
    d->queue.push_back(make_message(1, "a@x.test", {"b@y.test"}, "Hi\r\n"));
    run(target_for({}), d);
    d->check_contract();
    ASSERT_TRUE(d->failure.has_value());
    EXPECT_NE(d->failure->text.find("no endpoints"), std::string::npos);
  }
  {
    SmtpRecord rec;
    SmtpBehavior b;
    FakeServer srv({[&](FakeConn& c) { serve_smtp(c, b, rec); }});
    auto d = std::make_shared<Recorder>();
    d->queue.push_back(make_message(1, "a@x.test", {"b@y.test"}, "Hi\r\n"));
    run(target_for({ClientEndpoint{"bad.test", "999.1.2.3\r\nQUIT", 25}, ep(srv.port())}), d);
    srv.join();
    d->check_contract();
    EXPECT_FALSE(d->failure.has_value());
    EXPECT_EQ(srv.transcripts.size(), 1u);
    ASSERT_EQ(d->results.size(), 1u);
    EXPECT_EQ(d->results[0].outcomes[0].severity, core::Severity::ok);
  }
  {
    auto d = std::make_shared<Recorder>();
    run(target_for({ClientEndpoint{"bad.test", "not-an-ip", 25}}), d);
    d->check_contract();
    ASSERT_TRUE(d->failure.has_value());
    EXPECT_NE(d->failure->text.find("bad address"), std::string::npos) << d->failure->text;
  }
  {
    // Control bytes in a bad address never reach an outcome text (it may go into a bounce).
    auto d = std::make_shared<Recorder>();
    run(target_for({ClientEndpoint{"bad.test", "1.2.3.4\r\nQUIT", 25}}), d);
    d->check_contract();
    ASSERT_TRUE(d->failure.has_value());
    EXPECT_EQ(d->failure->text.find_first_of("\r\n"), std::string::npos) << d->failure->text;
    EXPECT_NE(d->failure->text.find("1.2.3.4??QUIT"), std::string::npos) << d->failure->text;
  }
  EXPECT_THROW(make_client_context("/nonexistent/ca.pem"), std::runtime_error);
}

}  // namespace
}  // namespace tern::net
