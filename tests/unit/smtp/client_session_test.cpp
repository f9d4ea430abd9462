// ClientSession transcripts. A script is what the server sends ("S: line", "R: raw bytes" with
// \r \n \\ escapes) and what must come out ("C: client line", "A: action"); "E: timeout" and
// "E: closed" are driver events. A fake driver hands in the case's messages on NeedMessage,
// feeds content on NeedContent and answers StartTls with the case's handshake result. Every
// transcript is replayed with each server write whole, split at every byte position, and byte
// by byte (content then fed 1 and 7 bytes at a time); all runs must log the same.
#include "smtp/client_session.hpp"

#include <gtest/gtest.h>

#include <functional>

#include "core/base64.hpp"
#include "smtp/reply.hpp"

using namespace tern::smtp;
using namespace tern::smtp::client;

namespace {

struct Msg {
  OutgoingMessage m;
  std::string content;
};

struct Step {
  std::string server;  // bytes, or "<timeout>" / "<closed>"
  std::vector<std::string> expect;
};

std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    char n = s[++i];
    out += n == 'r' ? '\r' : n == 'n' ? '\n' : n;
  }
  return out;
}

std::vector<Step> parse_script(const std::string& script) {
  std::vector<Step> steps;
  bool in_server = false;
  size_t pos = 0;
  while (pos < script.size()) {
    size_t nl = script.find('\n', pos);
    if (nl == std::string::npos) nl = script.size();
    std::string line = script.substr(pos, nl - pos);
    pos = nl + 1;
    size_t b = line.find_first_not_of(' ');
    if (b == std::string::npos) continue;
    line = line.substr(b);
    std::string tag = line.substr(0, 2), text = line.size() > 3 ? line.substr(3) : "";
    if (tag == "S:" || tag == "R:") {
      if (!in_server) steps.push_back({});
      in_server = true;
      steps.back().server += tag == "S:" ? text + "\r\n" : unescape(text);
    } else if (tag == "E:") {
      steps.push_back({"<" + text + ">", {}});
      in_server = false;
    } else {
      if (steps.empty()) steps.push_back({});
      in_server = false;
      steps.back().expect.push_back(tag + " " + text);
    }
  }
  return steps;
}

const char* sev(tern::core::Severity s) {
  return s == tern::core::Severity::ok          ? "ok"
         : s == tern::core::Severity::temporary ? "temp"
                                                : "perm";
}

std::string brief(const Outcome& o) {
  return std::to_string(o.code) + "/" + o.enhanced + "/" + phase_name(o.phase) + "/" +
         sev(o.severity) + (o.tls ? "/tls" : "");
}

struct Replay {
  std::vector<std::string> pre;                // after on_connected
  std::vector<std::vector<std::string>> logs;  // per step
  std::string wire;                            // every byte sent
  std::vector<std::vector<Outcome>> results;
  std::vector<ConnectionFailed> failures;
};

struct Driver {
  ClientSession& s;
  std::vector<Msg> msgs;
  size_t content_chunk;  // 0 = whole
  bool tls_ok = true;
  Replay run{};
  size_t next_msg = 0, content_pos = 0;
  std::string line_buf{};
  bool pending_tls = false, closed = false;
  std::vector<std::string>* log = nullptr;

  void handle(std::vector<Action> acts) {
    for (auto& a : acts) {
      EXPECT_FALSE(closed) << "action after Close";
      if (auto* snd = std::get_if<Send>(&a)) {
        run.wire += snd->bytes;
        line_buf += snd->bytes;
        size_t p;
        while ((p = line_buf.find("\r\n")) != std::string::npos) {
          log->push_back("C: " + line_buf.substr(0, p));
          line_buf.erase(0, p + 2);
        }
      } else if (std::get_if<StartTls>(&a)) {
        log->push_back("A: StartTls");
        pending_tls = true;
      } else if (std::get_if<NeedMessage>(&a)) {
        if (next_msg < msgs.size()) {
          log->push_back("A: Message " + std::to_string(next_msg + 1));
          content_pos = 0;
          handle(s.on_message(msgs[next_msg++].m));
        } else {
          log->push_back("A: NoMore");
          handle(s.on_no_more_messages());
        }
      } else if (std::get_if<NeedContent>(&a)) {
        const std::string& c = msgs[next_msg - 1].content;
        size_t n = content_chunk == 0 ? c.size() : std::min(content_chunk, c.size() - content_pos);
        std::string piece = c.substr(content_pos, n);
        content_pos += n;
        handle(s.on_content(piece, content_pos == c.size()));
      } else if (auto* mr = std::get_if<MessageResult>(&a)) {
        std::string l = "A: Result";
        for (auto& o : mr->recipients) l += " " + brief(o);
        log->push_back(l);
        run.results.push_back(mr->recipients);
      } else if (auto* cf = std::get_if<ConnectionFailed>(&a)) {
        log->push_back("A: Failed " + brief(cf->outcome) + (cf->try_next_mx ? " next-mx" : "") +
                       (cf->retry_plain ? " retry-plain" : ""));
        run.failures.push_back(*cf);
      } else if (std::get_if<Close>(&a)) {
        log->push_back("A: Close");
        closed = true;
      }
    }
  }
};

using Splitter = std::function<std::vector<std::string>(const std::string&)>;

Replay replay(const std::vector<Step>& steps, const Config& cfg, const std::vector<Msg>& msgs,
              bool tls_ok, size_t content_chunk, const Splitter& split) {
  ClientSession s(cfg);
  Driver d{s, msgs, content_chunk, tls_ok};
  d.log = &d.run.pre;
  d.handle(s.on_connected());
  d.run.logs.resize(steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    d.log = &d.run.logs[i];
    if (steps[i].server == "<timeout>") {
      d.handle(s.on_timeout());
      continue;
    }
    if (steps[i].server == "<closed>") {
      d.handle(s.on_closed());
      continue;
    }
    for (const auto& chunk : split(steps[i].server)) d.handle(s.feed(chunk));
    if (d.pending_tls) {
      d.pending_tls = false;
      d.handle(s.on_tls(tls_ok));
    }
  }
  EXPECT_EQ(d.line_buf, "") << "unterminated client line";
  return d.run;
}

struct Case {
  std::string name;
  std::string script;
  Config cfg;
  std::vector<Msg> msgs;
  bool tls_ok = true;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

Config cfg_none() {
  Config c;
  c.helo_name = "out.tern.test";
  c.tls = TlsPolicy::none;
  return c;
}
Config cfg_with(TlsPolicy p, std::string user = "", std::string pass = "") {
  Config c = cfg_none();
  c.tls = p;
  c.username = std::move(user);
  c.password = std::move(pass);
  return c;
}

Msg msg(std::vector<std::string> rcpts, std::string content = "Subject: t\r\n\r\nhi\r\n",
        uint64_t size = 0) {
  Msg m;
  m.m.sender = "a@example.com";
  m.m.recipients = std::move(rcpts);
  m.m.size = size;
  m.content = std::move(content);
  return m;
}

const std::string kEhloPipe =
    "S: 220 mx.test ESMTP\nC: EHLO out.tern.test\n"
    "S: 250-mx.test\nS: 250-PIPELINING\nS: 250-SIZE 1000\nS: 250-8BITMIME\nS: 250 "
    "ENHANCEDSTATUSCODES\n";
const std::string kEhloPlain =
    "S: 220 mx.test ESMTP\nC: EHLO out.tern.test\nS: 250-mx.test\nS: 250 8BITMIME\n";
const std::string kBody = "C: Subject: t\nC: \nC: hi\nC: .\n";
const std::string kQuit = "A: NoMore\nC: QUIT\nS: 221 2.0.0 bye\nA: Close\n";

std::vector<Case> cases() {
  std::vector<Case> v;
  std::string auth_plain =
      "C: AUTH PLAIN " + tern::core::base64_encode(std::string("\0u\0p", 4)) + "\n";

  v.push_back(
      {"pipelining_mixed_rcpt_results",
       kEhloPipe +
           "A: Message 1\nC: MAIL FROM:<a@example.com> SIZE=20\nC: RCPT TO:<b@x.org>\n"
           "C: RCPT TO:<c@x.org>\nC: RCPT TO:<d@x.org>\nC: DATA\n"
           "S: 250 2.1.0 ok\nS: 550 5.1.1 no such user\nS: 250 2.1.5 ok\nS: 451 4.3.0 try later\n"
           "S: 354 go\n" +
           kBody +
           "S: 250 2.0.0 queued\n"
           "A: Result 550/5.1.1/rcpt/perm 250/2.0.0/dot/ok 451/4.3.0/rcpt/temp\n" +
           kQuit,
       cfg_none(),
       {msg({"b@x.org", "c@x.org", "d@x.org"}, "Subject: t\r\n\r\nhi\r\n", 20)}});

  v.push_back({"no_pipelining_one_command_at_a_time",
               kEhloPlain +
                   "A: Message 1\nC: MAIL FROM:<a@example.com>\nS: 250 ok\nC: RCPT TO:<b@x.org>\n"
                   "S: 550 no\nC: RCPT TO:<c@x.org>\nS: 250 ok\nC: DATA\nS: 354 go\n" +
                   kBody + "S: 250 ok\nA: Result 550//rcpt/perm 250//dot/ok\n" + kQuit,
               cfg_none(),
               {msg({"b@x.org", "c@x.org"})}});

  v.push_back(
      {"no_pipelining_all_rcpts_rejected_then_rset_before_next",
       kEhloPlain +
           "A: Message 1\nC: MAIL FROM:<a@example.com>\nS: 250 ok\nC: RCPT TO:<b@x.org>\n"
           "S: 550 5.1.1 no\nA: Result 550/5.1.1/rcpt/perm\nA: Message 2\nC: RSET\nS: 250 ok\n"
           "C: MAIL FROM:<a@example.com>\nS: 250 ok\nC: RCPT TO:<c@x.org>\nS: 250 ok\nC: DATA\n"
           "S: 354 go\n" +
           kBody + "S: 250 ok\nA: Result 250//dot/ok\n" + kQuit,
       cfg_none(),
       {msg({"b@x.org"}), msg({"c@x.org"})}});

  v.push_back({"two_messages_one_connection_rset_after_pipelined_failure",
               kEhloPipe +
                   "A: Message 1\nC: MAIL FROM:<a@example.com>\nC: RCPT TO:<b@x.org>\nC: DATA\n"
                   "S: 250 ok\nS: 550 5.1.1 no\nS: 554 5.5.1 no valid recipients\n"
                   "A: Result 550/5.1.1/rcpt/perm\nA: Message 2\nC: RSET\nS: 250 2.0.0 ok\n"
                   "C: MAIL FROM:<a@example.com>\nC: RCPT TO:<c@x.org>\nC: DATA\n"
                   "S: 250 ok\nS: 250 ok\nS: 354 go\n" +
                   kBody +
                   "S: 250 2.0.0 ok\nA: Result 250/2.0.0/dot/ok\n"
                   "A: Message 3\nC: MAIL FROM:<a@example.com>\nC: RCPT TO:<d@x.org>\nC: DATA\n"
                   "S: 250 ok\nS: 250 ok\nS: 354 go\n" +
                   kBody + "S: 250 2.0.0 ok\nA: Result 250/2.0.0/dot/ok\n" + kQuit,
               cfg_none(),
               {msg({"b@x.org"}), msg({"c@x.org"}), msg({"d@x.org"})}});

  v.push_back(
      {"pipelined_mail_rejected_all_get_mail_reply",
       kEhloPipe +
           "A: Message 1\nC: MAIL FROM:<a@example.com>\nC: RCPT TO:<b@x.org>\nC: RCPT "
           "TO:<c@x.org>\n"
           "C: DATA\nS: 553 5.1.8 bad sender\nS: 503 5.5.1 need MAIL\nS: 503 5.5.1 need MAIL\n"
           "S: 503 5.5.1 need MAIL\nA: Result 553/5.1.8/mail/perm 553/5.1.8/mail/perm\n" +
           kQuit,
       cfg_none(),
       {msg({"b@x.org", "c@x.org"})}});

  v.push_back(
      {"ehlo_rejected_helo_fallback_no_extensions",
       "S: 220 old.test\nC: EHLO out.tern.test\nS: 502 5.5.2 command not recognized\n"
       "C: HELO out.tern.test\nS: 250 old.test\nA: Message 1\nC: MAIL FROM:<a@example.com>\n"
       "S: 250 ok\nC: RCPT TO:<b@x.org>\nS: 250 ok\nC: DATA\nS: 354 go\n" +
           kBody + "S: 250 ok\nA: Result 250//dot/ok\n" + kQuit,
       cfg_none(),
       {msg({"b@x.org"}, "Subject: t\r\n\r\nhi\r\n", 20)}});

  // RFC 6152 §3: an 8-bit message is never sent to a server without 8BITMIME (not after HELO,
  // not when EHLO does not offer it): 554 5.6.3 for its recipients, no transaction; a 7-bit
  // message on the same connection still goes.
  v.push_back({"eightbit_to_a_server_without_8bitmime_is_554_5_6_3",
               "S: 220 old.test\nC: EHLO out.tern.test\nS: 250-old.test\nS: 250 PIPELINING\n"
               "A: Message 1\nA: Result 554/5.6.3/mail/perm 554/5.6.3/mail/perm\nA: Message 2\n"
               "C: MAIL FROM:<a@example.com>\nC: RCPT TO:<d@x.org>\nC: DATA\nS: 250 ok\nS: 250 ok\n"
               "S: 354 go\n" +
                   kBody + "S: 250 ok\nA: Result 250//dot/ok\n" + kQuit,
               cfg_none(),
               {[] {
                  Msg m = msg({"b@x.org", "c@x.org"}, "Subject: t\r\n\r\nhi\r\n", 20);
                  m.m.eightbit = true;
                  return m;
                }(),
                msg({"d@x.org"})}});
  v.push_back({"eightbit_after_helo_fallback_is_554_5_6_3",
               "S: 220 old.test\nC: EHLO out.tern.test\nS: 502 5.5.2 command not recognized\n"
               "C: HELO out.tern.test\nS: 250 old.test\nA: Message 1\n"
               "A: Result 554/5.6.3/mail/perm\n" +
                   kQuit,
               cfg_none(),
               {[] {
                 Msg m = msg({"b@x.org"}, "Subject: t\r\n\r\nhi\r\n", 20);
                 m.m.eightbit = true;
                 return m;
               }()}});

  v.push_back({"ehlo_500_falls_back_ehlo_550_does_not",
               "S: 220 x\nC: EHLO out.tern.test\nS: 550 5.7.1 go away\n"
               "A: Failed 550/5.7.1/ehlo/perm next-mx\nC: QUIT\nA: Close\n",
               cfg_none(),
               {}});

  v.push_back({"greeting_421_no_quit_try_next_mx",
               "S: 421 4.3.2 busy\nA: Failed 421/4.3.2/greeting/temp next-mx\nA: Close\n",
               cfg_none(),
               {msg({"b@x.org"})}});

  v.push_back({"greeting_554_quit_try_next_mx",
               "S: 554-5.7.1 no\nS: 554 5.7.1 really no\nA: Failed 554/5.7.1/greeting/perm "
               "next-mx\nC: QUIT\n"
               "A: Close\n",
               cfg_none(),
               {msg({"b@x.org"})}});

  v.push_back({"multiline_greeting_and_replies",
               "S: 220-mx.test first\nS: 220-second\nS: 220 third\nC: EHLO out.tern.test\n"
               "S: 250-mx.test\nS: 250-PIPELINING\nS: 250 SMTPUTF8\nA: Message 1\n"
               "C: MAIL FROM:<a@example.com> SMTPUTF8\nC: RCPT TO:<b@x.org>\nC: DATA\n"
               "S: 250-2.1.0 a\nS: 250 2.1.0 b\nS: 250 ok\nS: 354 go\n" +
                   kBody + "S: 250-2.0.0 queued\nS: 250 2.0.0 as X\nA: Result 250/2.0.0/dot/ok\n" +
                   kQuit,
               cfg_none(),
               {[] {
                 Msg m = msg({"b@x.org"});
                 m.m.smtputf8 = true;
                 return m;
               }()}});

  v.push_back(
      {"smtputf8_needed_not_offered_is_permanent_5_6_7_and_nothing_sent",
       kEhloPipe +
           "A: Message 1\nA: Result 550/5.6.7/mail/perm 550/5.6.7/mail/perm\nA: Message 2\n"
           "C: MAIL FROM:<a@example.com>\nC: RCPT TO:<c@x.org>\nC: DATA\nS: 250 ok\nS: 250 ok\n"
           "S: 354 go\n" +
           kBody + "S: 250 ok\nA: Result 250//dot/ok\n" + kQuit,
       cfg_none(),
       {[] {
          Msg m = msg({"b@x.org", "ü@x.org"});
          m.m.smtputf8 = true;
          return m;
        }(),
        msg({"c@x.org"})}});

  v.push_back(
      {"size_over_server_limit_local_552_8bitmime_param",
       kEhloPipe +
           "A: Message 1\nA: Result 552/5.3.4/mail/perm\nA: Message 2\n"
           "C: MAIL FROM:<a@example.com> SIZE=1000 BODY=8BITMIME\nC: RCPT TO:<c@x.org>\nC: DATA\n"
           "S: 250 ok\nS: 250 ok\nS: 354 go\n" +
           kBody + "S: 250 ok\nA: Result 250//dot/ok\n" + kQuit,
       cfg_none(),
       {msg({"b@x.org"}, "x\r\n", 1001), [] {
          Msg m = msg({"c@x.org"}, "Subject: t\r\n\r\nhi\r\n", 1000);
          m.m.eightbit = true;
          return m;
        }()}});

  v.push_back({"injection_addresses_never_reach_the_wire",
               kEhloPipe +
                   "A: Message 1\nA: Result 553/5.1.7/mail/perm 553/5.1.7/mail/perm\nA: Message 2\n"
                   "C: MAIL FROM:<a@example.com>\nC: RCPT TO:<ok@x.org>\nC: DATA\n"
                   "S: 250 ok\nS: 250 ok\nS: 354 go\n" +
                   kBody +
                   "S: 250 ok\nA: Result 553/5.1.3/rcpt/perm 250//dot/ok 553/5.1.3/rcpt/perm\n" +
                   kQuit,
               cfg_none(),
               {[] {
                  Msg m = msg({"b@x.org", "c@x.org"});
                  m.m.sender = "a@example.com>\r\nRCPT TO:<evil@x.org";
                  return m;
                }(),
                msg({"x@y.org> NOTIFY=NEVER", "ok@x.org", "a\nb@x.org"})}});

  v.push_back(
      {"552_at_end_of_data_is_permanent_for_accepted_no_rset_after",
       kEhloPipe +
           "A: Message 1\nC: MAIL FROM:<a@example.com>\nC: RCPT TO:<b@x.org>\nC: RCPT "
           "TO:<c@x.org>\n"
           "C: DATA\nS: 250 ok\nS: 250 ok\nS: 550 5.1.1 unknown\nS: 354 go\n" +
           kBody +
           "S: 552 5.3.4 message too big\nA: Result 552/5.3.4/dot/perm 550/5.1.1/rcpt/perm\n"
           "A: Message 2\nC: MAIL FROM:<a@example.com>\nC: RCPT TO:<d@x.org>\nC: DATA\n"
           "S: 250 ok\nS: 250 ok\nS: 451 4.3.0 data later\nA: Result 451/4.3.0/data/temp\n"
           "A: NoMore\nC: QUIT\nS: 221 bye\nA: Close\n",
       cfg_none(),
       {msg({"b@x.org", "c@x.org"}), msg({"d@x.org"})}});

  v.push_back({"starttls_required_not_offered",
               kEhloPipe + "A: Failed 451/4.7.4/starttls/temp next-mx\nC: QUIT\nA: Close\n",
               cfg_with(TlsPolicy::required),
               {msg({"b@x.org"})}});

  v.push_back({"starttls_required_refused",
               "S: 220 x\nC: EHLO out.tern.test\nS: 250-x\nS: 250 STARTTLS\nC: STARTTLS\nS: 454 "
               "4.7.0 no TLS now\n"
               "A: Failed 451/4.7.4/starttls/temp next-mx\nC: QUIT\nA: Close\n",
               cfg_with(TlsPolicy::required),
               {msg({"b@x.org"})}});

  v.push_back(
      {"starttls_opportunistic_refused_continues_plain",
       "S: 220 x\nC: EHLO out.tern.test\nS: 250-x\nS: 250 STARTTLS\nC: STARTTLS\nS: 454 4.7.0 no "
       "TLS now\n"
       "A: Message 1\nC: MAIL FROM:<a@example.com>\nS: 250 ok\nC: RCPT TO:<b@x.org>\nS: 250 ok\n"
       "C: DATA\nS: 354 go\n" +
           kBody + "S: 250 ok\nA: Result 250//dot/ok\n" + kQuit,
       cfg_with(TlsPolicy::opportunistic),
       {msg({"b@x.org"})}});

  v.push_back(
      {"starttls_opportunistic_handshake_failure_says_retry_plain",
       "S: 220 x\nC: EHLO out.tern.test\nS: 250-x\nS: 250 STARTTLS\nC: STARTTLS\nS: 220 go ahead\n"
       "A: StartTls\nA: Failed 451/4.7.5/starttls/temp next-mx retry-plain\nA: Close\n",
       cfg_with(TlsPolicy::opportunistic),
       {msg({"b@x.org"})},
       false});

  v.push_back(
      {"starttls_then_ehlo_again_injected_bytes_dropped_auth_after_tls",
       "S: 220 x\nC: EHLO out.tern.test\nS: 250-x\nS: 250-AUTH PLAIN LOGIN\nS: 250 STARTTLS\n"
       "C: STARTTLS\nS: 220 go ahead\nS: 250-injected\nS: 250 AUTH PLAIN\nA: StartTls\n"
       "C: EHLO out.tern.test\nS: 250-x\nS: 250-PIPELINING\nS: 250 AUTH=LOGIN PLAIN\n" +
           auth_plain +
           "S: 235 2.7.0 ok\nA: Message 1\nC: MAIL FROM:<a@example.com>\nC: RCPT TO:<b@x.org>\n"
           "C: DATA\nS: 250 ok\nS: 250 ok\nS: 354 go\n" +
           kBody + "S: 250 2.0.0 ok\nA: Result 250/2.0.0/dot/ok/tls\n" + kQuit,
       cfg_with(TlsPolicy::required, "u", "p"),
       {msg({"b@x.org"})}});

  v.push_back({"auth_never_before_tls_opportunistic_without_starttls",
               "S: 220 x\nC: EHLO out.tern.test\nS: 250-x\nS: 250 AUTH PLAIN LOGIN\n"
               "A: Failed 451/4.7.0/auth/temp\nC: QUIT\nA: Close\n",
               cfg_with(TlsPolicy::opportunistic, "u", "p"),
               {msg({"b@x.org"})}});

  v.push_back({"auth_never_before_tls_opportunistic_starttls_refused",
               "S: 220 x\nC: EHLO out.tern.test\nS: 250-x\nS: 250-STARTTLS\nS: 250 AUTH PLAIN\nC: "
               "STARTTLS\n"
               "S: 454 4.7.0 no\nA: Failed 451/4.7.0/auth/temp\nC: QUIT\nA: Close\n",
               cfg_with(TlsPolicy::opportunistic, "u", "p"),
               {msg({"b@x.org"})}});

  v.push_back({"auth_plain_in_plaintext_when_security_none",
               "S: 220 x\nC: EHLO out.tern.test\nS: 250-x\nS: 250-STARTTLS\nS: 250 AUTH PLAIN\n" +
                   auth_plain +
                   "S: 235 ok\nA: Message 1\nC: MAIL FROM:<a@example.com>\nS: 250 ok\nC: RCPT "
                   "TO:<b@x.org>\n"
                   "S: 250 ok\nC: DATA\nS: 354 go\n" +
                   kBody + "S: 250 ok\nA: Result 250//dot/ok\n" + kQuit,
               cfg_with(TlsPolicy::none, "u", "p"),
               {msg({"b@x.org"})}});

  v.push_back({"auth_login_implicit_tls",
               "S: 220 x\nC: EHLO out.tern.test\nS: 250-x\nS: 250 AUTH LOGIN\nC: AUTH LOGIN\n"
               "S: 334 VXNlcm5hbWU6\nC: " +
                   tern::core::base64_encode("u") +
                   "\nS: 334 UGFzc3dvcmQ6\nC: " + tern::core::base64_encode("p") +
                   "\nS: 235 ok\nA: NoMore\nC: QUIT\nS: 221 bye\nA: Close\n",
               [] {
                 Config c = cfg_with(TlsPolicy::required, "u", "p");
                 c.implicit_tls = true;
                 return c;
               }(),
               {}});

  v.push_back(
      {"auth_535_is_temporary_by_default",
       "S: 220 x\nC: EHLO out.tern.test\nS: 250-x\nS: 250 AUTH PLAIN\n" + auth_plain +
           "S: 535 5.7.8 bad credentials\nA: Failed 535/5.7.8/auth/temp\nC: QUIT\nA: Close\n",
       cfg_with(TlsPolicy::none, "u", "p"),
       {msg({"b@x.org"})}});

  v.push_back(
      {"auth_535_permanent_when_configured",
       "S: 220 x\nC: EHLO out.tern.test\nS: 250-x\nS: 250 AUTH PLAIN\n" + auth_plain +
           "S: 535 5.7.8 bad credentials\nA: Failed 535/5.7.8/auth/perm\nC: QUIT\nA: Close\n",
       [] {
         Config c = cfg_with(TlsPolicy::none, "u", "p");
         c.auth_failure_temporary = false;
         return c;
       }(),
       {msg({"b@x.org"})}});

  v.push_back({"auth_plain_answered_with_334_is_temporary_protocol_failure",
               "S: 220 x\nC: EHLO out.tern.test\nS: 250-x\nS: 250 AUTH PLAIN\n" + auth_plain +
                   "S: 334 \nA: Failed 451/4.5.0/auth/temp\nC: QUIT\nA: Close\n",
               cfg_with(TlsPolicy::none, "u", "p"),
               {msg({"b@x.org"})}});

  v.push_back({"auth_mechanism_not_offered",
               "S: 220 x\nC: EHLO out.tern.test\nS: 250-x\nS: 250 AUTH CRAM-MD5\n"
               "A: Failed 451/4.7.0/auth/temp\nC: QUIT\nA: Close\n",
               cfg_with(TlsPolicy::none, "u", "p"),
               {msg({"b@x.org"})}});

  v.push_back({"421_mid_pipeline_ends_connection_for_all_unfinished",
               kEhloPipe + "A: Message 1\nC: MAIL FROM:<a@example.com>\nC: RCPT TO:<b@x.org>\nC: "
                           "RCPT TO:<c@x.org>\n"
                           "C: DATA\nS: 250 ok\nS: 550 5.1.1 no\nS: 421 4.4.2 shutting down\n"
                           "A: Result 550/5.1.1/rcpt/perm 421/4.4.2/rcpt/temp\nA: Failed "
                           "421/4.4.2/rcpt/temp\nA: Close\n",
               cfg_none(),
               {msg({"b@x.org", "c@x.org"})}});

  v.push_back({"timeout_waiting_for_greeting",
               "E: timeout\nA: Failed 451/4.4.2/greeting/temp next-mx\nA: Close\n",
               cfg_none(),
               {}});

  v.push_back(
      {"timeout_after_final_dot",
       kEhloPipe +
           "A: Message 1\nC: MAIL FROM:<a@example.com>\nC: RCPT TO:<b@x.org>\nC: RCPT "
           "TO:<c@x.org>\n"
           "C: DATA\nS: 250 ok\nS: 250 ok\nS: 550 no\nS: 354 go\n" +
           kBody +
           "E: timeout\nA: Result 451/4.4.2/dot/temp 550//rcpt/perm\nA: Failed 451/4.4.2/dot/temp\n"
           "A: Close\n",
       cfg_none(),
       {msg({"b@x.org", "c@x.org"})}});

  v.push_back({"server_closes_mid_transaction",
               kEhloPlain +
                   "A: Message 1\nC: MAIL FROM:<a@example.com>\nS: 250 ok\nC: RCPT "
                   "TO:<b@x.org>\nE: closed\n"
                   "A: Result 451/4.4.2/rcpt/temp\nA: Failed 451/4.4.2/rcpt/temp\nA: Close\n",
               cfg_none(),
               {msg({"b@x.org"})}});

  v.push_back({"closed_after_quit_is_normal",
               kEhloPlain + "A: NoMore\nC: QUIT\nE: closed\nA: Close\n",
               cfg_none(),
               {}});

  v.push_back({"garbage_reply_is_protocol_error",
               "S: 220 x\nC: EHLO out.tern.test\nS: hello there\nA: Failed 451/4.5.0/ehlo/temp "
               "next-mx\nA: Close\n",
               cfg_none(),
               {}});

  v.push_back({"code_with_bad_separator_is_protocol_error",
               "S: 220x\nA: Failed 451/4.5.0/greeting/temp next-mx\nA: Close\n",
               cfg_none(),
               {}});

  v.push_back({"code_changes_inside_multiline_reply",
               "S: 220-x\nS: 250 y\nA: Failed 451/4.5.0/greeting/temp next-mx\nA: Close\n",
               cfg_none(),
               {}});

  v.push_back(
      {"data_354_without_accepted_recipients_ends_with_dot",
       kEhloPipe +
           "A: Message 1\nC: MAIL FROM:<a@example.com>\nC: RCPT TO:<b@x.org>\nC: DATA\n"
           "S: 250 ok\nS: 550 no\nS: 354 go\nC: .\nS: 250 empty\nA: Result 550//rcpt/perm\n" +
           kQuit,
       cfg_none(),
       {msg({"b@x.org"})}});
  return v;
}

std::vector<std::string> whole(const std::string& b) { return {b}; }

class ClientTranscript : public ::testing::TestWithParam<Case> {};

TEST_P(ClientTranscript, ReplaysSplitAtEveryByte) {
  const Case& c = GetParam();
  auto steps = parse_script(c.script);
  Replay ref = replay(steps, c.cfg, c.msgs, c.tls_ok, 0, whole);
  EXPECT_TRUE(ref.pre.empty());
  for (size_t i = 0; i < steps.size(); ++i)
    EXPECT_EQ(ref.logs[i], steps[i].expect) << "step " << i << " server: " << steps[i].server;

  for (size_t i = 0; i < steps.size(); ++i) {
    for (size_t k = 1; k < steps[i].server.size(); ++k) {
      size_t step = i;
      Replay r = replay(steps, c.cfg, c.msgs, c.tls_ok, 7, [&, step, k](const std::string& b) {
        if (&b != &steps[step].server) return whole(b);
        return std::vector<std::string>{b.substr(0, k), b.substr(k)};
      });
      ASSERT_EQ(r.logs, ref.logs) << "step " << i << " split at " << k;
      ASSERT_EQ(r.wire, ref.wire);
    }
  }
  Replay bytes = replay(steps, c.cfg, c.msgs, c.tls_ok, 1, [](const std::string& b) {
    std::vector<std::string> v;
    for (char ch : b) v.emplace_back(1, ch);
    return v;
  });
  EXPECT_EQ(bytes.logs, ref.logs);
  EXPECT_EQ(bytes.wire, ref.wire);
}

INSTANTIATE_TEST_SUITE_P(Client, ClientTranscript, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

// --- Specific checks beyond the transcript form ----------------------------------------------

TEST(ClientSession, AuthIsNeverOnTheWireBeforeTls) {
  for (auto pol : {TlsPolicy::opportunistic, TlsPolicy::required}) {
    for (bool offer_tls : {false, true}) {
      ClientSession s(cfg_with(pol, "u", "p"));
      std::string wire;
      auto collect = [&](std::vector<Action> acts) {
        for (auto& a : acts)
          if (auto* snd = std::get_if<Send>(&a)) wire += snd->bytes;
      };
      collect(s.on_connected());
      collect(s.feed("220 x\r\n"));
      collect(s.feed(offer_tls ? "250-x\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n"
                               : "250-x\r\n250 AUTH PLAIN LOGIN\r\n"));
      if (offer_tls) collect(s.feed("454 4.7.0 not now\r\n"));
      EXPECT_EQ(wire.find("AUTH"), std::string::npos) << wire;
      EXPECT_TRUE(s.closed());
      EXPECT_FALSE(s.tls_active());
    }
  }
}

TEST(ClientSession, OutcomeTextIsTheFullRemoteReply) {
  auto steps = parse_script(
      kEhloPipe +
      "A: Message 1\nC: MAIL FROM:<a@example.com>\nC: RCPT TO:<b@x.org>\nC: DATA\n"
      "S: 250 ok\nS: 550-5.1.1 first line\nS: 550 5.1.1 second\x1b[31m line\nS: 554 no\n");
  Replay r = replay(steps, cfg_none(), {msg({"b@x.org"})}, true, 0, whole);
  ASSERT_EQ(r.results.size(), 1u);
  const Outcome& o = r.results[0][0];
  EXPECT_EQ(o.text, "550-5.1.1 first line\n550 5.1.1 second?[31m line");
  EXPECT_TRUE(o.remote);
  EXPECT_EQ(o.enhanced, "5.1.1");
}

TEST(ClientSession, TimeoutTextNamesThePhase) {
  ClientSession s(cfg_none());
  (void)s.on_connected();
  (void)s.feed("220 x\r\n");
  auto acts = s.on_timeout();
  ASSERT_FALSE(acts.empty());
  auto* cf = std::get_if<ConnectionFailed>(&acts[0]);
  ASSERT_NE(cf, nullptr);
  EXPECT_EQ(cf->outcome.text, "timeout in phase ehlo");
  EXPECT_FALSE(cf->outcome.remote);
  EXPECT_TRUE(std::holds_alternative<Close>(acts.back()));
  EXPECT_TRUE(s.feed("250 late\r\n").empty());
}

TEST(ClientSession, ConnectFailedTriesNextMx) {
  ClientSession s(cfg_none());
  auto acts = s.on_connect_failed("connection refused");
  ASSERT_EQ(acts.size(), 2u);
  auto& cf = std::get<ConnectionFailed>(acts[0]);
  EXPECT_EQ(cf.outcome.phase, Phase::connect);
  EXPECT_TRUE(cf.try_next_mx);
  EXPECT_EQ(cf.outcome.text, "connection failed: connection refused");
}

TEST(ClientSession, CapabilitiesParsed) {
  auto c = parse_capabilities({"pipelining", "SIZE 35882577", "8BITMIME", "SmtpUtf8", "STARTTLS",
                               "AUTH=LOGIN", "AUTH CRAM-MD5 PLAIN", "ENHANCEDSTATUSCODES", "SIZE"});
  EXPECT_TRUE(c.pipelining && c.eightbitmime && c.smtputf8 && c.starttls && c.enhanced_status);
  EXPECT_TRUE(c.auth_plain && c.auth_login);
  EXPECT_TRUE(c.size_advertised);
  EXPECT_EQ(c.size, 0u);  // the last SIZE (no value) wins: no limit known
  auto d = parse_capabilities({"SIZE 1000", "AUTH GSSAPI", "SIZE99"});
  EXPECT_EQ(d.size, 1000u);
  EXPECT_FALSE(d.auth_plain || d.auth_login || d.pipelining);
  EXPECT_FALSE(parse_capabilities({"SIZE 99999999999999999999999"}).size);
}

// --- Reply bounds -----------------------------------------------------------------------------

std::vector<Action> greeted_then(ClientSession& s, const std::string& bytes) {
  (void)s.on_connected();
  return s.feed(bytes);
}

TEST(ClientSession, OverlongReplyLineIsProtocolError) {
  Config c = cfg_none();
  {
    ClientSession s(c);
    auto acts = greeted_then(s, "220 " + std::string(4092, 'x') + "\r\n");  // 4096 octets: fine
    EXPECT_FALSE(s.closed());
  }
  {
    ClientSession s(c);
    auto acts = greeted_then(s, "220 " + std::string(4093, 'x'));  // 4097 octets: maybe a CR next
    EXPECT_FALSE(s.closed());
    acts = s.feed("x");  // 4098 octets without a line end
    EXPECT_TRUE(s.closed());
    auto& cf = std::get<ConnectionFailed>(acts[0]);
    EXPECT_EQ(cf.outcome.enhanced, "4.5.0");
    EXPECT_NE(cf.outcome.text.find("longer than 4096"), std::string::npos) << cf.outcome.text;
  }
}

TEST(ClientSession, OverlongCompleteReplyLineIsProtocolError) {
  ClientSession s(cfg_none());
  auto acts = greeted_then(s, "220 " + std::string(4093, 'x') + "\r\n");
  EXPECT_TRUE(s.closed());
  ASSERT_FALSE(acts.empty());
  EXPECT_TRUE(std::holds_alternative<ConnectionFailed>(acts[0]));
}

TEST(ClientSession, RepliesWhileIdleWaitForTheDriver) {
  ClientSession s(cfg_none());
  auto acts = greeted_then(s, "220 x\r\n");
  acts = s.feed("250-x\r\n250 PIPELINING\r\n421 4.4.2 idle timeout\r\n");
  ASSERT_EQ(acts.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<NeedMessage>(acts[0]));
  EXPECT_TRUE(s.feed("").empty());
  acts = s.on_message(msg({"b@x.org"}).m);  // the 421 answers the MAIL
  ASSERT_EQ(acts.size(), 4u);
  EXPECT_TRUE(std::holds_alternative<Send>(acts[0]));
  auto& mr = std::get<MessageResult>(acts[1]);
  ASSERT_EQ(mr.recipients.size(), 1u);
  EXPECT_EQ(mr.recipients[0].code, 421);
  EXPECT_EQ(mr.recipients[0].phase, Phase::mail);
  EXPECT_EQ(std::get<ConnectionFailed>(acts[2]).outcome.code, 421);
  EXPECT_TRUE(std::holds_alternative<Close>(acts[3]));
}

TEST(ClientSession, FloodWhileIdleIsProtocolError) {
  ClientSession s(cfg_none());
  greeted_then(s, "220 x\r\n");
  (void)s.feed("250 x\r\n");
  std::vector<Action> acts;
  for (int i = 0; i < 1000 && !s.closed(); ++i) acts = s.feed("250 junk\r\n");
  EXPECT_TRUE(s.closed());
  EXPECT_EQ(std::get<ConnectionFailed>(acts[0]).outcome.enhanced, "4.5.0");
  // A message the driver hands in now is settled at once with the failure.
  acts = s.on_message(msg({"b@x.org", "c@x.org"}).m);
  ASSERT_EQ(acts.size(), 1u);
  auto& mr = std::get<MessageResult>(acts[0]);
  ASSERT_EQ(mr.recipients.size(), 2u);
  EXPECT_EQ(mr.recipients[1].enhanced, "4.5.0");
  EXPECT_EQ(mr.recipients[1].severity, tern::core::Severity::temporary);
}

TEST(ClientSession, NeedMessageThenFailureInOneBatchStillSettlesTheMessage) {
  Config c = cfg_none();
  c.max_reply_line = 64;
  ClientSession s(c);
  greeted_then(s, "220 x\r\n");
  auto acts = s.feed("250 x\r\n" + std::string(100, 'z'));
  ASSERT_EQ(acts.size(), 3u);
  EXPECT_TRUE(std::holds_alternative<NeedMessage>(acts[0]));
  EXPECT_TRUE(std::holds_alternative<ConnectionFailed>(acts[1]));
  acts = s.on_message(msg({"b@x.org"}).m);
  ASSERT_EQ(acts.size(), 1u);
  EXPECT_EQ(std::get<MessageResult>(acts[0]).recipients.at(0).enhanced, "4.5.0");
}

TEST(ClientSession, ErrorReplyDuringContentIsTemporary) {
  for (const std::string& extra :
       {std::string("554 5.0.0 go away\r\n"), std::string("250 what\r\n")}) {
    ClientSession s(cfg_none());
    greeted_then(s, "220 x\r\n");
    (void)s.feed("250 x\r\n");
    (void)s.on_message(msg({"b@x.org"}).m);
    (void)s.feed("250 ok\r\n");
    (void)s.feed("250 ok\r\n");
    auto acts = s.feed("354 go\r\n");
    ASSERT_TRUE(std::holds_alternative<NeedContent>(acts.back()));
    acts = s.feed(extra);
    ASSERT_EQ(acts.size(), 3u) << extra;
    auto& o = std::get<MessageResult>(acts[0]).recipients.at(0);
    EXPECT_EQ(o.severity, tern::core::Severity::temporary) << extra;
    EXPECT_EQ(o.phase, Phase::data);
    EXPECT_EQ(o.remote, extra[0] == '5');
    EXPECT_TRUE(std::holds_alternative<Close>(acts[2]));
    EXPECT_TRUE(s.on_content("more", true).empty());
  }
}

TEST(ClientSession, TooManyReplyLinesIsProtocolError) {
  std::string ok, bad;
  for (int i = 0; i < 99; ++i) ok += "220-line\r\n";
  ok += "220 last\r\n";
  bad = "220-line\r\n" + ok;
  {
    ClientSession s(cfg_none());
    greeted_then(s, ok);
    EXPECT_FALSE(s.closed());
    EXPECT_EQ(s.phase(), Phase::ehlo);
  }
  {
    ClientSession s(cfg_none());
    auto acts = greeted_then(s, bad);
    EXPECT_TRUE(s.closed());
    EXPECT_NE(std::get<ConnectionFailed>(acts[0]).outcome.text.find("100 lines"),
              std::string::npos);
  }
}

// --- Wire form of content ---------------------------------------------------------------------

std::string encode_split(const std::string& in, size_t k) {
  ContentEncoder e;
  std::string out;
  e.encode(in.substr(0, k), out);
  e.encode(in.substr(k), out);
  e.finish(out);
  return out;
}

void expect_wire(const std::string& in, const std::string& want) {
  for (size_t k = 0; k <= in.size(); ++k) EXPECT_EQ(encode_split(in, k), want) << "split at " << k;
  ContentEncoder e;
  std::string out;
  for (char c : in) e.encode(std::string_view(&c, 1), out);
  e.finish(out);
  EXPECT_EQ(out, want);
}

bool only_crlf(const std::string& w) {
  for (size_t i = 0; i < w.size(); ++i) {
    if (w[i] == '\n' && (i == 0 || w[i - 1] != '\r')) return false;
    if (w[i] == '\r' && (i + 1 >= w.size() || w[i + 1] != '\n')) return false;
  }
  return true;
}

TEST(ContentEncoder, DotStuffing) {
  expect_wire(".\r\n", "..\r\n.\r\n");
  expect_wire("a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n");
  expect_wire("..x\r\n.y\r\nz.\r\n", "...x\r\n..y\r\nz.\r\n.\r\n");
  expect_wire(".", "..\r\n.\r\n");
}

TEST(ContentEncoder, FinalCrlfAddedOnlyWhenMissing) {
  expect_wire("", ".\r\n");
  expect_wire("abc", "abc\r\n.\r\n");
  expect_wire("abc\r\n", "abc\r\n.\r\n");
  expect_wire("abc\r\n\r\n", "abc\r\n\r\n.\r\n");
}

TEST(ContentEncoder, BareLfAndCrAreNormalizedToCrlf) {
  expect_wire("a\nb\rc\r\n", "a\r\nb\r\nc\r\n.\r\n");
  expect_wire("a\n.b\r.c\r", "a\r\n..b\r\n..c\r\n.\r\n");
  expect_wire("\r\r\n\n", "\r\n\r\n\r\n.\r\n");
  for (const char* in : {"\n", "\r", "x\r", "\r\n\r", ".\n.\r.", "a\r\r\r\nb"})
    EXPECT_TRUE(only_crlf(encode_split(in, 1))) << in;
}

TEST(ClientSession, ContentStreamedInPiecesWithDotStuffing) {
  const std::string content = "Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\nlast line without crlf";
  const std::string want =
      "Subject: dots\r\n\r\n..\r\n...\r\n..leading\r\nlast line without crlf\r\n.\r\n";
  auto steps =
      parse_script(kEhloPipe +
                   "A: Message 1\nC: MAIL FROM:<a@example.com>\nC: RCPT TO:<b@x.org>\nC: DATA\n"
                   "S: 250 ok\nS: 250 ok\nS: 354 go\n");
  for (size_t chunk : {0, 1, 2, 3, 5, 16}) {
    Replay r = replay(steps, cfg_none(), {msg({"b@x.org"}, content)}, true, chunk, whole);
    size_t p = r.wire.find("DATA\r\n");
    ASSERT_NE(p, std::string::npos);
    EXPECT_EQ(r.wire.substr(p + 6), want) << "chunk " << chunk;
    EXPECT_TRUE(only_crlf(r.wire));
  }
}

// --- ReplyParser ------------------------------------------------------------------------------

TEST(ReplyParser, ParsesMultilineEnhancedBareCodeAndLf) {
  ReplyParser p;
  p.feed("250-2.1.5 first\r\n250 second\r\n354\r\n550 5.1.1\n220 4.1.1 class mismatch\r\n");
  auto a = std::get<Reply>(p.next());
  EXPECT_EQ(a.code, 250);
  EXPECT_EQ(a.enhanced, "2.1.5");
  EXPECT_EQ(a.lines, (std::vector<std::string>{"2.1.5 first", "second"}));
  EXPECT_EQ(a.full(), "250-2.1.5 first\n250 second");
  auto b = std::get<Reply>(p.next());
  EXPECT_EQ(b.code, 354);
  EXPECT_EQ(b.full(), "354");
  auto c = std::get<Reply>(p.next());
  EXPECT_EQ(c.enhanced, "5.1.1");
  auto d = std::get<Reply>(p.next());
  EXPECT_EQ(d.enhanced, "");
  EXPECT_TRUE(std::holds_alternative<std::monostate>(p.next()));
}

TEST(ReplyParser, RejectsGarbageAndStaysFailed) {
  for (const char* bad : {"abc\r\n", "25\r\n", "150 x\r\n", "650 x\r\n", "2x0 x\r\n", "250x\r\n",
                          "\r\n", "250-a\r\n251 b\r\n"}) {
    ReplyParser p;
    p.feed(bad);
    auto r = p.next();
    ASSERT_TRUE(std::holds_alternative<ReplyError>(r)) << bad;
    p.feed("250 ok\r\n");
    EXPECT_TRUE(std::holds_alternative<ReplyError>(p.next())) << bad;
  }
}

TEST(ReplyParser, EnhancedCodeShapes) {
  auto enh = [](const std::string& line) {
    ReplyParser p;
    p.feed(line + "\r\n");
    return std::get<Reply>(p.next()).enhanced;
  };
  EXPECT_EQ(enh("550 5.7.1 x"), "5.7.1");
  EXPECT_EQ(enh("550 5.123.456"), "5.123.456");
  EXPECT_EQ(enh("550 5.1234.1 x"), "");
  EXPECT_EQ(enh("550 5.1.1x"), "");
  EXPECT_EQ(enh("550 5..1 x"), "");
  EXPECT_EQ(enh("451 5.1.1 x"), "");
}

}  // namespace

// Issue 10 item 5: a relay that greets (or answers EHLO) with Tern's own name is Tern itself:
// permanent failure before any transaction, QUIT sent.
TEST(ClientSession, GreetingWithOwnNameLoopsBack) {
  for (const char* greeting : {"220 MX.Tern.Test ESMTP Tern\r\n", "220 mx.tern.test.\r\n"}) {
    Config c = cfg_none();
    c.loop_names = {"mx.tern.test"};
    ClientSession s(c);
    (void)s.on_connected();
    auto acts = s.feed(greeting);
    ASSERT_FALSE(acts.empty()) << greeting;
    const ConnectionFailed* cf = nullptr;
    bool quit = false;
    for (const auto& a : acts) {
      if (auto* f = std::get_if<ConnectionFailed>(&a)) cf = f;
      if (auto* snd = std::get_if<Send>(&a)) quit |= snd->bytes == "QUIT\r\n";
    }
    ASSERT_NE(cf, nullptr) << greeting;
    EXPECT_EQ(cf->outcome.code, 554);
    EXPECT_EQ(cf->outcome.enhanced, "5.4.6");
    EXPECT_EQ(cf->outcome.severity, tern::core::Severity::permanent);
    EXPECT_NE(cf->outcome.text.find("loops back to myself"), std::string::npos);
    EXPECT_TRUE(quit);
  }
  // The EHLO reply's name counts too; another name is fine.
  Config c = cfg_none();
  c.loop_names = {"mx.tern.test"};
  ClientSession s(c);
  (void)s.on_connected();
  auto acts = s.feed("220 relay.example.net ESMTP\r\n");
  for (const auto& a : acts) EXPECT_FALSE(std::holds_alternative<ConnectionFailed>(a));
  acts = s.feed("250-mx.tern.test hello\r\n250 8BITMIME\r\n");
  bool failed = false;
  for (const auto& a : acts)
    if (auto* f = std::get_if<ConnectionFailed>(&a)) failed = f->outcome.enhanced == "5.4.6";
  EXPECT_TRUE(failed);
}
