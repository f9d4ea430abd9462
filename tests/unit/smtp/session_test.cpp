// Table-driven transcripts for ServerSession. Every transcript is replayed whole, with each
// client write split at every byte position, and byte by byte; all replays must produce the
// same replies, actions and committed content as the expected transcript.
#include <gtest/gtest.h>

#include <set>

#include "core/base64.hpp"
#include "transcript.hpp"

using namespace tern::smtp;
using namespace tern::smtp::testing;

namespace {

SessionConfig base_cfg() {
  SessionConfig c;
  c.hostname = "mail.test";
  c.allow_plaintext_auth = true;
  return c;
}

struct Case {
  std::string name;
  std::string script;
  SessionConfig cfg = base_cfg();
  std::vector<std::string> committed = {};  // expected content (QID substituted), if given
  CommitMode commit = CommitMode::ok;
  bool trusted = false;
};

const std::string kGreet = "S: 220 mail.test ESMTP Tern\n";
const std::string kEhloReply =
    "S: 250-mail.test\nS: 250-PIPELINING\nS: 250-SIZE 20971520\nS: 250-8BITMIME\n"
    "S: 250-ENHANCEDSTATUSCODES\nS: 250-SMTPUTF8\nS: 250-STARTTLS\nS: 250 AUTH PLAIN LOGIN\n";
const std::string kLogin = kGreet + "C: EHLO client\n" + kEhloReply +
                           "C: AUTH PLAIN AHVzZXIAcGFzcw==\nA: Auth PLAIN /user/pass\n"
                           "S: 235 2.7.0 Authentication successful\n";
const std::string kEnvelope =
    "C: MAIL FROM:<a@example.com>\nS: 250 2.1.0 Sender address accepted\n"
    "C: RCPT TO:<b@x.org>\nS: 250 2.1.5 Recipient address accepted\n";
const std::string kDataStart = "C: DATA\nS: 354 Continue\nA: Begin\n";
const std::string kDate = "Tue, 14 Nov 2023 22:13:20 +0000";
const std::string kReceived =
    "Received: from client ([192.0.2.1]) by mail.test (Tern) with ESMTPA id QID; " + kDate + "\r\n";
const std::string kQueued = "A: Commit <a@example.com> b@x.org\nS: 250 2.0.0 Ok: queued as QID\n";

// A message with the given raw DATA bytes (R: escapes) rejected with `reply`.
Case rejected(std::string name, std::string raw, std::string reply,
              SessionConfig cfg = base_cfg()) {
  return {std::move(name),
          kLogin + kEnvelope + kDataStart + "R: " + raw + "\nA: Abort\nS: " + reply +
              "\nC: QUIT\nS: 221 2.0.0 Bye\nA: Close\n",
          cfg};
}

std::vector<Case> cases() {
  std::vector<Case> v;
  SessionConfig c;

  v.push_back({"basic_message",
               kLogin + kEnvelope + kDataStart +
                   "C: From: <a@example.com>\nC: To: b@x.org\nC: Subject: hi\nC: \nC: body\nC: "
                   "..dot\nC: .\n" +
                   kQueued + "C: QUIT\nS: 221 2.0.0 Bye\nA: Close\n",
               base_cfg(),
               {kReceived + "From: <a@example.com>\r\nTo: b@x.org\r\nSubject: hi\r\nDate: " +
                kDate + "\r\nMessage-ID: <QID@mail.test>\r\n\r\nbody\r\n.dot\r\n"}});

  v.push_back(
      {"keeps_date_and_message_id_removes_xib",
       kLogin + kEnvelope + kDataStart +
           "C: Date: Mon, 1 Jan 2024 00:00:00 +0000\nC: Message-ID: <m1@example.com>\n"
           "C: X-IB-bulk-id: bulk-1\nC: X-IB-notify-url: https://n.example.com/cb\n"
           "C: x-ib-intermediate-report: TRUE\nC: X-IB-notify-content-type: application/xml\n"
           "C: X-IB-callback-data: {\"k\":1}\nC: X-IB-tracking-url: http://t.example.com/\n"
           "C: X-IB-unknown: x\nC: From: A <a@example.com>\nC: \nC: b\nC: .\n" +
           kQueued,
       base_cfg(),
       {kReceived + "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <m1@example.com>\r\n"
                    "From: A <a@example.com>\r\n\r\nb\r\n"}});

  v.push_back(
      {"helo_and_commands",
       kGreet +
           "C: HELO client\nS: 250 mail.test\nC: NOOP\nS: 250 2.0.0 Ok\nC: RSET\nS: 250 2.0.0 Ok\n"
           "C: VRFY bob\nS: 252 2.5.0 Cannot VRFY user, but will accept message and attempt "
           "delivery\n"
           "C: HELP\nS: 214-2.0.0 Commands: HELO EHLO STARTTLS AUTH MAIL RCPT DATA\n"
           "S: 214-2.0.0 RSET NOOP QUIT HELP VRFY\nS: 214 2.0.0 End of HELP info\n"
           "C: MAIL FROM:<a@example.com>\nS: 530 5.7.0 Authentication required\n"
           "C: AUTH PLAIN AHVzZXIAcGFzcw==\nS: 503 5.5.1 Error: send EHLO first\n"
           "C: qUiT\nS: 221 2.0.0 Bye\nA: Close\n"});

  v.push_back({"bad_sequence_and_syntax",
               kGreet +
                   "C: MAIL FROM:<a@example.com>\nS: 503 5.5.1 Error: send HELO/EHLO first\n"
                   "C: EHLO\nS: 501 5.5.4 Syntax: EHLO hostname\n"
                   "C: EHLO client\n" +
                   kEhloReply +
                   "C: RCPT TO:<b@x.org>\nS: 503 5.5.1 Error: need MAIL command\n"
                   "C: DATA\nS: 503 5.5.1 Error: need MAIL command\n"
                   "C: FOO\nS: 500 5.5.2 Error: command not recognized\n"
                   "C: AUTH PLAIN AHVzZXIAcGFzcw==\nA: Auth PLAIN /user/pass\nS: 235 2.7.0 "
                   "Authentication successful\n"
                   "C: MAIL FROM:a@example.com\nS: 501 5.5.4 Syntax: MAIL FROM:<address>\n"
                   "C: MAIL FROM:<a@@example.com>\nS: 501 5.5.4 Bad sender address syntax\n"
                   "C: MAIL FROM:<a@example.com> FOO=1\nS: 555 5.5.4 Unsupported parameter\n"
                   "C: MAIL FROM: <a@example.com> SIZE=100 BODY=8BITMIME\nS: 250 2.1.0 Sender "
                   "address accepted\n"
                   "C: MAIL FROM:<a@example.com>\nS: 503 5.5.1 Error: nested MAIL command\n"
                   "C: DATA\nS: 503 5.5.1 Error: need RCPT command\n"
                   "C: RCPT TO:<b@x.org> NOTIFY=NEVER\nS: 555 5.5.4 Unsupported parameter\n"
                   "C: RCPT TO:<>\nS: 501 5.5.4 Bad recipient address syntax\n"
                   "C: AUTH LOGIN\nS: 503 5.5.1 Already authenticated\n"
                   "C: DATA extra\nS: 501 5.5.4 Syntax: DATA takes no arguments\n"
                   "R: NOOP\\0x\\r\\n\nS: 500 5.5.2 Error: bad character in command\n"
                   "C: QUIT\nS: 221 2.0.0 Bye\nA: Close\n"});

  v.push_back(
      {"null_sender_and_unauthorized",
       kLogin +
           "C: MAIL FROM:<>\nS: 550 5.7.1 Sender not authorized: <>\n"
           "C: MAIL FROM:<x@evil.com>\nS: 550 5.7.1 Sender not authorized: <x@evil.com>\n"
           "C: MAIL FROM:<alice@OTHER.org>\nS: 250 2.1.0 Sender address accepted\nC: RSET\nS: 250 "
           "2.0.0 Ok\n"
           "C: MAIL FROM:<bob@other.org>\nS: 550 5.7.1 Sender not authorized: <bob@other.org>\n"
           "C: MAIL FROM:<x@Platform.NET>\nS: 250 2.1.0 Sender address accepted\nC: RSET\nS: 250 "
           "2.0.0 Ok\n"
           "C: MAIL FROM:<x@sub.example.com>\nS: 550 5.7.1 Sender not authorized: "
           "<x@sub.example.com>\n"
           "C: MAIL FROM:<p\xc3\xa9@example.com>\nS: 553 5.6.7 Non-ASCII address requires "
           "SMTPUTF8\n"
           "C: MAIL FROM:<p\xc3\xa9@example.com> SMTPUTF8\nS: 250 2.1.0 Sender address "
           "accepted\n"});

  c = base_cfg();
  c.max_message_size = 100;
  std::string small_login = kLogin;
  small_login.replace(small_login.find("SIZE 20971520"), 13, "SIZE 100");
  v.push_back(
      {"size_param_and_oversize_data",
       small_login +
           "C: MAIL FROM:<a@example.com> SIZE=101\nS: 552 5.3.4 Message size exceeds fixed "
           "limit of 100 octets (about 73 octets of attachments once base64-encoded)\n" +
           kEnvelope + kDataStart + "C: From: a@example.com\nC: \nC: " + std::string(200, 'x') +
           "\nC: .\nA: Abort\n"
           "S: 552 5.3.4 Message size exceeds fixed limit of 100 octets (about 73 octets of "
           "attachments once base64-encoded)\nC: NOOP\nS: 250 2.0.0 Ok\n",
       c});

  c = base_cfg();
  c.max_recipients = 2;
  v.push_back(
      {"recipient_flood_and_dedup",
       kLogin +
           "C: MAIL FROM:<a@example.com>\nS: 250 2.1.0 Sender address accepted\n"
           "C: RCPT TO:<b@x.org>\nC: RCPT TO:<b@X.ORG>\nC: RCPT TO:<c@x.org>\nC: RCPT "
           "TO:<d@x.org>\n"
           "S: 250 2.1.5 Recipient address accepted\nS: 250 2.1.5 Recipient address accepted\n"
           "S: 250 2.1.5 Recipient address accepted\nS: 452 4.5.3 Too many recipients\n" +
           kDataStart +
           "C: From: a@example.com\nC: To: b@x.org, C <c@x.org>\nC: \nC: .\n"
           "A: Commit <a@example.com> b@x.org,c@x.org\nS: 250 2.0.0 Ok: queued as QID\n",
       c});

  v.push_back(
      {"pipelined_everything",
       kGreet +
           "C: EHLO client\nC: AUTH PLAIN AHVzZXIAcGFzcw==\nC: MAIL FROM:<a@example.com>\n"
           "C: RCPT TO:<b@x.org>\nC: DATA\n" +
           kEhloReply +
           "A: Auth PLAIN /user/pass\nS: 235 2.7.0 Authentication successful\n"
           "S: 250 2.1.0 Sender address accepted\nS: 250 2.1.5 Recipient address accepted\n"
           "S: 354 Continue\nA: Begin\n"
           "C: From: a@example.com\nC: \nC: hi\nC: .\nC: MAIL FROM:<a@example.com>\nC: RCPT "
           "TO:<b@x.org>\nC: DATA\n" +
           kQueued +
           "S: 250 2.1.0 Sender address accepted\nS: 250 2.1.5 Recipient address accepted\n"
           "S: 354 Continue\nA: Begin\nC: From: a@example.com\nC: \nC: two\nC: .\nC: QUIT\n" +
           kQueued + "S: 221 2.0.0 Bye\nA: Close\n"});

  c = base_cfg();
  c.allow_plaintext_auth = false;
  v.push_back(
      {"starttls_injection",
       kGreet +
           "C: EHLO client\n"
           "S: 250-mail.test\nS: 250-PIPELINING\nS: 250-SIZE 20971520\nS: 250-8BITMIME\n"
           "S: 250-ENHANCEDSTATUSCODES\nS: 250-SMTPUTF8\nS: 250 STARTTLS\n"
           "C: AUTH PLAIN AHVzZXIAcGFzcw==\nS: 538 5.7.11 Encryption required for requested "
           "authentication mechanism\n"
           "C: STARTTLS\nC: MAIL FROM:<a@example.com>\nS: 220 2.0.0 Ready to start TLS\nA: "
           "StartTls\n"
           "C: MAIL FROM:<a@example.com>\nS: 503 5.5.1 Error: send HELO/EHLO first\n"
           "C: EHLO client\n"
           "S: 250-mail.test\nS: 250-PIPELINING\nS: 250-SIZE 20971520\nS: 250-8BITMIME\n"
           "S: 250-ENHANCEDSTATUSCODES\nS: 250-SMTPUTF8\nS: 250 AUTH PLAIN LOGIN\n"
           "C: STARTTLS\nS: 503 5.5.1 Error: TLS already active\n"
           "C: AUTH LOGIN dXNlcg==\nS: 334 UGFzc3dvcmQ6\nC: cGFzcw==\nA: Auth LOGIN /user/pass\n"
           "S: 235 2.7.0 Authentication successful\n" +
           kEnvelope + kDataStart +
           "C: From: a@example.com\nC: .\n"
           "A: Commit <a@example.com> b@x.org\nS: 250 2.0.0 Ok: queued as QID\n",
       c,
       {"Received: from client ([192.0.2.1]) by mail.test (Tern) with ESMTPSA id QID; " + kDate +
        "\r\nFrom: a@example.com\r\nDate: " + kDate + "\r\nMessage-ID: <QID@mail.test>\r\n"}});

  v.push_back(
      {"auth_variants",
       kGreet + "C: EHLO client\n" + kEhloReply +
           "C: AUTH PLAIN\nS: 334 \nC: *\nS: 501 5.7.0 Authentication cancelled\n"
           "C: AUTH LOGIN\nS: 334 VXNlcm5hbWU6\nC: dXNlcg==\nS: 334 UGFzc3dvcmQ6\nC: *\nS: 501 "
           "5.7.0 Authentication cancelled\n"
           "C: AUTH PLAIN not*base64\nS: 501 5.5.4 Invalid base64 data\n"
           "C: AUTH PLAIN\nS: 334 \nC: AHVzZXI\nS: 501 5.5.4 Invalid base64 data\n"
           "C: AUTH PLAIN dXNlcg==\nS: 501 5.5.4 Invalid authentication data\n"
           "C: AUTH CRAM-MD5\nS: 504 5.5.4 Unrecognized authentication type\n"
           "C: AUTH PLAIN AHJhdGVsaW1pdGVkAHg=\nA: Auth PLAIN /ratelimited/x\n"
           "S: 454 4.7.0 Too many failed authentication attempts, try again later\n"
           "C: AUTH PLAIN AHRlbXAAeA==\nA: Auth PLAIN /temp/x\nS: 454 4.7.0 Temporary "
           "authentication failure\n"
           // RFC 4616: an authzid other than the login cannot be honoured: 535, no check made.
           "C: AUTH PLAIN\nS: 334 \nC: YWRtaW4AdXNlcgBwYXNz\n"
           "S: 535 5.7.8 Authorization identity differs from the authentication identity; "
           "acting as another user is not supported\n"
           // The login itself as authzid is the same as none.
           "C: AUTH PLAIN\nS: 334 \nC: dXNlcgB1c2VyAHBhc3M=\nA: Auth PLAIN user/user/pass\n"
           "S: 235 2.7.0 Authentication successful\n"
           "C: AUTH PLAIN AHVzZXIAcGFzcw==\nS: 503 5.5.1 Already authenticated\n"});

  v.push_back(
      {"three_auth_failures", kGreet + "C: EHLO client\n" + kEhloReply +
                                  "C: AUTH PLAIN AHVzZXIAYmFk\nA: Auth PLAIN /user/bad\nS: 535 "
                                  "5.7.8 Authentication credentials invalid\n"
                                  "C: AUTH LOGIN\nS: 334 VXNlcm5hbWU6\nC: dXNlcg==\nS: 334 "
                                  "UGFzc3dvcmQ6\nC: YmFk\nA: Auth LOGIN /user/bad\n"
                                  "S: 535 5.7.8 Authentication credentials invalid\n"
                                  "C: AUTH PLAIN AHVzZXIAYmFk\nC: NOOP\nA: Auth PLAIN "
                                  "/user/bad\nS: 535 5.7.8 Authentication credentials invalid\n"
                                  "S: 421 4.7.0 Too many authentication failures\nA: Close\n"});

  c = base_cfg();
  c.max_command_line = 64;
  v.push_back({"line_too_long",
               kGreet + "C: EHLO " + std::string(100, 'a') +
                   "\nS: 500 5.5.2 Line too long\n"
                   "C: NOOP " +
                   std::string(57, 'b') +
                   "\nS: 250 2.0.0 Ok\n"
                   "C: NOOP " +
                   std::string(58, 'b') +
                   "\nS: 500 5.5.2 Line too long\n"
                   "C: NOOP " +
                   std::string(500, 'c') +
                   "\nC: NOOP\nS: 500 5.5.2 Line too long\nS: 250 2.0.0 Ok\n",
               c});

  // RFC 4954 §4: AUTH lines and responses may be up to 12288 octets, whatever the command limit.
  c = base_cfg();
  c.max_command_line = 64;
  {
    const std::string pw(300, 'p');
    const std::string b64 = tern::core::base64_encode(std::string("\0user\0", 6) + pw);
    v.push_back({"long_auth_line_allowed",
                 kGreet + "C: EHLO client\n" + kEhloReply + "C: AUTH PLAIN " + b64 +
                     "\nA: Auth PLAIN /user/" + pw +
                     "\nS: 535 5.7.8 Authentication credentials invalid\n"
                     "C: AUTH LOGIN\nS: 334 VXNlcm5hbWU6\nC: dXNlcg==\nS: 334 UGFzc3dvcmQ6\nC: " +
                     tern::core::base64_encode(pw) + "\nA: Auth LOGIN /user/" + pw +
                     "\nS: 535 5.7.8 Authentication credentials invalid\n"
                     "C: AUTH PLAIN " +
                     std::string(12300, 'A') + "\nS: 500 5.5.2 Line too long\n",
                 c});
  }

  c = base_cfg();
  c.max_bad_commands = 3;
  v.push_back({"too_many_bad_commands",
               kGreet + "C: X1\nC: X2\nC: X3\nC: NOOP\nS: 500 5.5.2 Error: command not recognized\n"
                        "S: 500 5.5.2 Error: command not recognized\nS: 500 5.5.2 Error: command "
                        "not recognized\n"
                        "S: 421 4.7.0 mail.test Error: too many errors\nA: Close\n",
               c});

  v.push_back({"http_on_smtp_port",
               kGreet + "C: GET / HTTP/1.1\nC: Host: x\nS: 554 5.5.1 Protocol error\nA: Close\n"});
  v.push_back(
      {"http_only_first", kGreet + "C: EHLO c\n" + kEhloReply +
                              "C: GET / HTTP/1.1\nS: 500 5.5.2 Error: command not recognized\n"});
  v.push_back(
      {"early_talker",
       "C: <early>\nS: 554 5.5.0 Error: SMTP protocol synchronization\nA: Close\nC: EHLO x\n"});
  v.push_back(
      {"timeout_in_data",
       kLogin + kEnvelope + kDataStart +
           "C: From: a@example.com\n--\n"
           "C: <timeout>\nA: Abort\nS: 421 4.4.2 mail.test Error: timeout exceeded\nA: Close\n"});

  // SMTP smuggling: none of these ends the data; the message is refused for its bare CR/LF.
  for (const char* p : {"\\n.\\n", "\\n.\\r\\n", "\\r.\\r\\n", "\\r\\n.\\rX", "\\r\\n\\0.\\r\\n"}) {
    std::string raw =
        std::string("From: a@example.com\\r\\n\\r\\nx") + p +
        "MAIL FROM:<a@example.com>\\r\\nRCPT TO:<b@x.org>\\r\\nDATA\\r\\n\\r\\n.\\r\\n";
    std::string reply = std::string(p).find("\\0") != std::string::npos
                            ? "550 5.6.0 Message contains NUL characters"
                            : "550 5.6.0 Message contains bare CR or LF line endings";
    v.push_back(rejected(std::string("smuggling_") + std::to_string(v.size()), raw, reply));
  }
  v.push_back(rejected("nul", "From: a@example.com\\r\\n\\r\\na\\0b\\r\\n.\\r\\n",
                       "550 5.6.0 Message contains NUL characters"));
  c = base_cfg();
  c.max_text_line = 20;
  v.push_back(rejected("long_line",
                       "From: a@example.com\\r\\n\\r\\n" + std::string(21, 'y') + "\\r\\n.\\r\\n",
                       "550 5.6.0 Message contains a line longer than 20 octets", c));
  c = base_cfg();
  c.max_header_bytes = 64;
  v.push_back(rejected(
      "header_bytes",
      "From: a@example.com\\r\\nX-A: " + std::string(80, 'h') + "\\r\\n\\r\\nbody\\r\\n.\\r\\n",
      "552 5.3.4 Message header size exceeds limit", c));
  v.push_back(rejected("header_bytes_no_blank_line",
                       "From: a@example.com\\r\\nX-A: " + std::string(80, 'h') + "\\r\\n.\\r\\n",
                       "552 5.3.4 Message header size exceeds limit", c));
  c = base_cfg();
  c.max_header_count = 3;
  v.push_back(rejected("header_count",
                       "From: a@example.com\\r\\nA: 1\\r\\nB: 2\\r\\nC: 3\\r\\n\\r\\n.\\r\\n",
                       "552 5.3.4 Message has too many header fields", c));
  v.push_back(rejected("from_unauthorized", "From: Eve <eve@evil.com>\\r\\n\\r\\nx\\r\\n.\\r\\n",
                       "550 5.7.1 Sender not authorized: <eve@evil.com>"));
  v.push_back(rejected("no_from", "Subject: x\\r\\n\\r\\nx\\r\\n.\\r\\n",
                       "550 5.6.0 Message must have exactly one From header"));
  v.push_back(rejected("two_from",
                       "From: a@example.com\\r\\nFrom: a@example.com\\r\\n\\r\\n.\\r\\n",
                       "550 5.6.0 Message must have exactly one From header"));
  v.push_back(
      rejected("to_not_in_rcpt",
               "From: a@example.com\\r\\nTo: b@x.org,\\r\\n \"Z\" <z@x.org>\\r\\n\\r\\n.\\r\\n",
               "550 5.7.1 Recipient <z@x.org> in To/Cc header is not among RCPT TO recipients"));
  v.push_back(
      rejected("cc_not_in_rcpt", "From: a@example.com\\r\\nCc: team: z@y.org;\\r\\n\\r\\n.\\r\\n",
               "550 5.7.1 Recipient <z@y.org> in To/Cc header is not among RCPT TO recipients"));
  v.push_back(rejected("bad_notify_url",
                       "From: a@example.com\\r\\nX-IB-notify-url: ftp://x\\r\\n\\r\\n.\\r\\n",
                       "550 5.6.0 Invalid X-IB-notify-url header: must be an http(s) URL"));
  v.push_back(
      rejected("bad_content_type",
               "From: a@example.com\\r\\nX-IB-notify-content-type: text/html\\r\\n\\r\\n.\\r\\n",
               "550 5.6.0 Invalid X-IB-notify-content-type header: must be application/json or "
               "application/xml"));
  v.push_back(rejected("bad_intermediate",
                       "From: a@example.com\\r\\nX-IB-intermediate-report: yes\\r\\n\\r\\n.\\r\\n",
                       "550 5.6.0 Invalid X-IB-intermediate-report header: must be true or false"));
  c = base_cfg();
  c.require_header_rcpts = false;
  v.push_back({"header_rcpt_rule_off",
               kLogin + kEnvelope + kDataStart +
                   "C: From: a@example.com\nC: To: z@x.org\nC: \nC: .\n" + kQueued,
               c});

  v.push_back({"commit_disk_full",
               kLogin + kEnvelope + kDataStart +
                   "C: From: a@example.com\nC: .\nC: NOOP\n"
                   "A: Commit <a@example.com> b@x.org\nS: 452 4.3.1 Insufficient system "
                   "storage\nS: 250 2.0.0 Ok\n"
                   "C: RCPT TO:<b@x.org>\nS: 503 5.5.1 Error: need MAIL command\n",
               base_cfg(),
               {},
               CommitMode::disk_full});
  v.push_back(
      {"commit_error",
       kLogin + kEnvelope + kDataStart +
           "C: From: a@example.com\nC: .\n"
           "A: Commit <a@example.com> b@x.org\nS: 451 4.3.0 Error: queue file write error\n",
       base_cfg(),
       {},
       CommitMode::error});
  v.push_back({"empty_data_and_headerless",
               kLogin + kEnvelope + kDataStart +
                   "C: .\nA: Abort\nS: 550 5.6.0 Message must have exactly one From header\n"});

  c = base_cfg();
  c.implicit_tls = true;
  v.push_back({"trusted_network_and_helo",
               kGreet + "C: HELO relay\nS: 250 mail.test\n" + kEnvelope + kDataStart +
                   "C: From: a@example.com\nC: \nC: x\nC: .\n" + kQueued,
               c,
               {"Received: from relay ([192.0.2.1]) by mail.test (Tern) with SMTP id QID; " +
                kDate + "\r\nFrom: a@example.com\r\nDate: " + kDate +
                "\r\nMessage-ID: <QID@mail.test>\r\n\r\nx\r\n"},
               CommitMode::ok,
               true});

  // A suspended account (issue 13): AUTH is answered 550 5.7.1 with the reason (the session
  // stays unauthenticated); from a trusted network MAIL is refused the same way. Non-ASCII in
  // the reason never reaches the wire.
  static tern::policy::SuspendedAccounts suspended;
  suspended.set(7, "unpaid invoice \xc3\xa9");
  c = base_cfg();
  c.suspended = &suspended;
  v.push_back({"suspended_account_auth",
               kGreet + "C: EHLO client\n" + kEhloReply +
                   "C: AUTH PLAIN AHVzZXIAcGFzcw==\nA: Auth PLAIN /user/pass\n"
                   "S: 550 5.7.1 Account suspended: unpaid invoice ??\n"
                   "C: MAIL FROM:<a@example.com>\nS: 530 5.7.0 Authentication required\n",
               c});
  v.push_back({"suspended_account_trusted_mail",
               kGreet + "C: HELO relay\nS: 250 mail.test\n" +
                   "C: MAIL FROM:<a@example.com>\n"
                   "S: 550 5.7.1 Account suspended: unpaid invoice ??\n",
               c,
               {},
               CommitMode::ok,
               true});
  // RFC 6531 §3.3: under SMTPUTF8 an address must be UTF-8; other octets are no address.
  v.push_back(
      {"smtputf8_invalid_utf8_address",
       kLogin +
           "C: MAIL FROM:<p\xe9@example.com> SMTPUTF8\nS: 553 5.1.7 Sender address is not valid "
           "UTF-8\n"
           "C: MAIL FROM:<a@example.com> SMTPUTF8\nS: 250 2.1.0 Sender address accepted\n"
           "C: RCPT TO:<m\xfcller@x.org>\nS: 553 5.1.3 Recipient address is not valid UTF-8\n"
           "C: RCPT TO:<m\xc3\xbcller@x.org>\nS: 250 2.1.5 Recipient address accepted\n"
           "C: RCPT TO:<\xc0\xafx@x.org>\nS: 553 5.1.3 Recipient address is not valid UTF-8\n"});

  // RFC 5321 §4.4 address literal in TCP-info; RFC 6531 §4.3 UTF8SMTPSA with-type.
  c = base_cfg();
  c.implicit_tls = true;
  std::string tls_login = kLogin;
  tls_login.erase(tls_login.find("S: 250-STARTTLS\n"), 16);
  v.push_back(
      {"received_utf8smtpsa",
       tls_login +
           "C: MAIL FROM:<a@example.com> SMTPUTF8\nS: 250 2.1.0 Sender address accepted\n"
           "C: RCPT TO:<b@x.org>\nS: 250 2.1.5 Recipient address accepted\n" +
           kDataStart + "C: From: a@example.com\nC: .\n" + kQueued,
       c,
       {"Received: from client ([192.0.2.1]) by mail.test (Tern) with UTF8SMTPSA id QID; " + kDate +
        "\r\nFrom: a@example.com\r\nDate: " + kDate + "\r\nMessage-ID: <QID@mail.test>\r\n"}});
  return v;
}

class Transcript : public ::testing::TestWithParam<Case> {};

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (auto& l : v) s += l + "\n";
  return s;
}

TEST_P(Transcript, SameOutputForEverySplit) {
  const Case& tc = GetParam();
  auto steps = parse_script(tc.script);
  ConnectionInfo conn;
  conn.remote_ip = "192.0.2.1";
  if (tc.trusted) conn.trusted_account = test_account();
  auto whole = [](size_t, const std::string& s) { return std::vector<std::string>{s}; };
  Replay ref = replay(steps, tc.cfg, conn, tc.commit, whole);
  for (size_t i = 0; i < steps.size(); ++i) {
    EXPECT_EQ(join(ref.logs[i]), join(steps[i].expect))
        << "step " << i << " client: " << steps[i].client;
  }
  if (!tc.committed.empty()) {
    EXPECT_EQ(ref.committed, tc.committed);
  }

  auto bytewise = [](size_t, const std::string& s) {
    std::vector<std::string> v;
    for (char c : s) v.emplace_back(1, c);
    return v;
  };
  Replay b = replay(steps, tc.cfg, conn, tc.commit, bytewise);
  EXPECT_EQ(b.logs, ref.logs) << "byte by byte";
  EXPECT_EQ(b.committed, ref.committed);
  for (size_t step = 0; step < steps.size(); ++step) {
    for (size_t pos = 1; pos < steps[step].client.size(); ++pos) {
      auto split = [&](size_t i, const std::string& s) {
        if (i != step) return std::vector<std::string>{s};
        return std::vector<std::string>{s.substr(0, pos), s.substr(pos)};
      };
      Replay r = replay(steps, tc.cfg, conn, tc.commit, split);
      ASSERT_EQ(r.logs, ref.logs) << "split step " << step << " at " << pos;
      ASSERT_EQ(r.committed, ref.committed) << "split step " << step << " at " << pos;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, Transcript, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

TEST(Session, EnvelopeCarriesOptionsAndHeaderFacts) {
  auto tc = cases()[1];
  auto steps = parse_script(tc.script);
  ConnectionInfo conn;
  conn.remote_ip = "192.0.2.1";
  Replay r = replay(steps, tc.cfg, conn, CommitMode::ok,
                    [](size_t, const std::string& s) { return std::vector<std::string>{s}; });
  ASSERT_EQ(r.envelopes.size(), 1u);
  const Envelope& e = r.envelopes[0];
  EXPECT_EQ(e.options.bulk_id, "bulk-1");
  EXPECT_EQ(e.options.notify_url, "https://n.example.com/cb");
  EXPECT_EQ(e.options.tracking_url, "http://t.example.com/");
  EXPECT_EQ(e.options.notify_content_type, "application/xml");
  EXPECT_EQ(e.options.callback_data, "{\"k\":1}");
  EXPECT_TRUE(e.options.intermediate_report);
  EXPECT_EQ(e.message_id, "<m1@example.com>");
  EXPECT_EQ(e.header_from, "a@example.com");
  EXPECT_EQ(e.helo, "client");
  EXPECT_EQ(e.sender, "a@example.com");
}

// Account settings (SPEC §4): Mail-From replaces the envelope sender, CC joins the Cc header
// (added, or appended to the one there is) and the envelope, BCC joins the envelope only.
TEST(Session, AccountMailFromCcBcc) {
  auto acc = std::make_shared<tern::policy::AccountContext>(*test_account());
  acc->mail_from = "bounces@example.com";
  acc->cc = {"audit@example.com", "b@x.org"};
  acc->bcc = {"archive@example.com"};
  auto one = [](size_t, const std::string& s) { return std::vector<std::string>{s}; };
  ConnectionInfo conn;
  {
    auto tc = cases()[0];  // To: b@x.org, no Cc field
    Replay r = replay(parse_script(tc.script), tc.cfg, conn, CommitMode::ok, one, acc);
    ASSERT_EQ(r.envelopes.size(), 1u);
    EXPECT_EQ(r.envelopes[0].sender, "bounces@example.com");
    EXPECT_EQ(r.envelopes[0].recipients,
              (std::vector<std::string>{"b@x.org", "audit@example.com", "archive@example.com"}));
    ASSERT_EQ(r.committed.size(), 1u);
    EXPECT_NE(r.committed[0].find("Subject: hi\r\nCc: audit@example.com,\r\n b@x.org\r\nDate: "),
              std::string::npos)
        << r.committed[0];
    EXPECT_EQ(r.committed[0].find("archive@"), std::string::npos);  // BCC never in the header
  }
  {
    const std::string script =
        kLogin + kEnvelope + kDataStart +
        "C: From: <a@example.com>\nC: To: b@x.org\nC: cc: b@x.org\nC: \nC: x\nC: .\n" + kQueued;
    Replay r = replay(parse_script(script), base_cfg(), conn, CommitMode::ok, one, acc);
    ASSERT_EQ(r.committed.size(), 1u);
    EXPECT_NE(r.committed[0].find("cc: b@x.org,\r\n audit@example.com,\r\n b@x.org\r\nDate: "),
              std::string::npos)
        << r.committed[0];
    EXPECT_EQ(r.committed[0].find("Cc: "), std::string::npos);  // one Cc field, not two
  }
}

TEST(Session, DefaultsFromAccountWhenNoHeaders) {
  auto tc = cases()[0];
  ConnectionInfo conn;
  Replay r = replay(parse_script(tc.script), tc.cfg, conn, CommitMode::ok,
                    [](size_t, const std::string& s) { return std::vector<std::string>{s}; });
  ASSERT_EQ(r.envelopes.size(), 1u);
  EXPECT_EQ(r.envelopes[0].options.notify_url, "https://hooks.example.com/default");
  EXPECT_FALSE(r.envelopes[0].options.intermediate_report);
}

// Header-level rejections hand out nothing: the spool never sees a refused message's bytes.
TEST(Session, HeaderRejectionsHandOutNothing) {
  for (const auto& tc : cases()) {
    static const std::set<std::string> kNames{"header_bytes",    "header_bytes_no_blank_line",
                                              "header_count",    "from_unauthorized",
                                              "no_from",         "two_from",
                                              "to_not_in_rcpt",  "cc_not_in_rcpt",
                                              "bad_notify_url",  "bad_content_type",
                                              "bad_intermediate"};
    if (!kNames.count(tc.name)) continue;
    SCOPED_TRACE(tc.name);
    ConnectionInfo conn;
    Replay r = replay(parse_script(tc.script), tc.cfg, conn, CommitMode::ok,
                      [](size_t, const std::string& s) { return std::vector<std::string>{s}; });
    ASSERT_EQ(r.aborted.size(), 1u) << tc.name;
    EXPECT_EQ(r.aborted[0], "") << tc.name;
    EXPECT_TRUE(r.committed.empty()) << tc.name;
  }
}

TEST(Session, StateQueries) {
  SessionConfig cfg = base_cfg();
  ConnectionInfo conn;
  conn.trusted_account = test_account();
  ServerSession s(cfg, conn, 0);
  s.start();
  EXPECT_FALSE(s.in_data());
  s.feed("EHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@c.org>\r\nDATA\r\n");
  EXPECT_TRUE(s.in_data());
  EXPECT_FALSE(s.tls_active());
  auto acts = s.feed("From: a@example.com\r\n.\r\nQUIT\r\n");
  EXPECT_FALSE(s.in_data());
  ASSERT_TRUE(std::holds_alternative<CommitMessage>(acts.back()));
  EXPECT_FALSE(s.closed());  // QUIT waits for the commit result
  s.on_commit({true, "Q1", tern::core::ErrorCode::unavailable, ""});
  s.feed("QUIT\r\n");
  EXPECT_TRUE(s.closed());
  EXPECT_TRUE(s.feed("NOOP\r\n").empty());
}

// Discarding an overlong line must not buffer it: feed a huge line in pieces and check the
// session keeps working (memory is not observable here, but the reply order is).
TEST(Session, HugeLineIsDiscardedWithoutBuffering) {
  SessionConfig cfg = base_cfg();
  ConnectionInfo conn;
  ServerSession s(cfg, conn, 0);
  s.start();
  std::string chunk(65536, 'A');
  for (int i = 0; i < 64; ++i) EXPECT_TRUE(s.feed(chunk).empty());
  auto acts = s.feed("\r\nNOOP\r\n");
  ASSERT_EQ(acts.size(), 1u);
  EXPECT_EQ(std::get<SendReply>(acts[0]).bytes, "500 5.5.2 Line too long\r\n250 2.0.0 Ok\r\n");
}

}  // namespace

// A reply and whether the actions end with Close.
static std::pair<std::string, bool> reply_and_close(const std::vector<Action>& acts) {
  std::string text;
  bool close = false;
  for (const auto& a : acts) {
    if (auto* r = std::get_if<SendReply>(&a)) text += r->bytes;
    close = std::holds_alternative<Close>(a);
  }
  return {text, close};
}

TEST(Session, ShutdownBetweenCommandsIs421_432AndClose) {
  SessionConfig cfg = base_cfg();
  ConnectionInfo conn;
  conn.trusted_account = test_account();
  ServerSession s(cfg, conn, 0);
  s.start();
  s.feed("EHLO x\r\nMAIL FROM:<a@example.com>\r\n");
  auto [text, close] = reply_and_close(s.on_shutdown());
  EXPECT_EQ(text, "421 4.3.2 mail.test Service shutting down, try again later\r\n");
  EXPECT_TRUE(close);
  EXPECT_TRUE(s.closed());
  EXPECT_TRUE(s.on_shutdown().empty());  // once
}

TEST(Session, SessionLimitAbortsAMessageInDataAndCloses) {
  SessionConfig cfg = base_cfg();
  ConnectionInfo conn;
  conn.trusted_account = test_account();
  ServerSession s(cfg, conn, 0);
  s.start();
  s.feed(
      "EHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@c.org>\r\nDATA\r\nFrom: "
      "a@example.com\r\n");
  ASSERT_TRUE(s.in_data());
  auto acts = s.on_session_limit();
  ASSERT_FALSE(acts.empty());
  EXPECT_TRUE(std::holds_alternative<AbortMessage>(acts.front()));
  auto [text, close] = reply_and_close(acts);
  EXPECT_EQ(text, "421 4.4.2 mail.test Error: session time limit exceeded\r\n");
  EXPECT_TRUE(close);
}

// RFC 6152: 8-bit octets make the message 8BITMIME even when MAIL said nothing (or 7BIT), so it
// is declared onward; a 7-bit message stays 7-bit.
TEST(Session, EightBitContentMarksTheMessage8BitMime) {
  auto one = [](size_t, const std::string& s) { return std::vector<std::string>{s}; };
  ConnectionInfo conn;
  auto run = [&](const std::string& mail, const std::string& body) {
    const std::string script = kLogin + "C: " + mail +
                               "\nS: 250 2.1.0 Sender address accepted\n"
                               "C: RCPT TO:<b@x.org>\nS: 250 2.1.5 Recipient address accepted\n" +
                               kDataStart + "C: From: a@example.com\nC: \nC: " + body + "\nC: .\n" +
                               kQueued;
    Replay r = replay(parse_script(script), base_cfg(), conn, CommitMode::ok, one);
    EXPECT_EQ(r.envelopes.size(), 1u) << mail << " / " << body;
    return r.envelopes.empty() ? false : r.envelopes[0].eightbit;
  };
  EXPECT_TRUE(run("MAIL FROM:<a@example.com>",
                  "Gr\xc3\xbc\xc3\x9f"
                  "e"));
  EXPECT_TRUE(run("MAIL FROM:<a@example.com> BODY=7BIT", "M\xfcller"));
  EXPECT_TRUE(run("MAIL FROM:<a@example.com> BODY=8BITMIME", "plain"));  // as declared
  EXPECT_FALSE(run("MAIL FROM:<a@example.com>", "plain ascii"));
}

TEST(Session, SizeLimitTextSaysWhatFitsAfterBase64) {
  EXPECT_EQ(size_limit_text(20971520),
            "Message size exceeds fixed limit of 20.0 MiB (about 14.6 MiB of attachments once "
            "base64-encoded)");
}
