// Bounce notices: the output is parsed here (header section, multipart/report boundary, the
// three parts, RFC 3464 §2.2/§2.3 fields) and checked for CRLF-only 7-bit lines of at most 998
// octets; hostile remote text (CR/LF/NUL, a fake boundary, 5000 characters) cannot change that
// structure; expired wording; no Diagnostic-Code without a reply; header_section_of limits;
// is_hard_bounce verdicts. When /usr/bin/python3 exists, Python's email parser reads it too.
#include "delivery/bounce.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>

using namespace tern::delivery;

namespace {

constexpr int64_t kNow = 1700000000000;  // Tue, 14 Nov 2023 22:13:20 +0000

// Header fields of a section: unfolded, names lower-cased; repeated names keep every value.
using Fields = std::multimap<std::string, std::string>;

struct Part {
  Fields headers;
  std::string body;
};

struct Parsed {
  Fields headers;
  std::string boundary;
  std::string preamble;
  std::vector<Part> parts;
  bool closed = false;  // the close delimiter was seen
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t e = s.find("\r\n", pos);
    if (e == std::string::npos) {
      out.push_back(s.substr(pos));
      break;
    }
    out.push_back(s.substr(pos, e - pos));
    pos = e + 2;
  }
  return out;
}

// Parses "Name: value" lines with folding; returns the index after the empty line.
size_t parse_fields(const std::vector<std::string>& lines, size_t i, Fields& out) {
  std::string name, value;
  auto flush = [&] {
    if (!name.empty()) out.emplace(lower(name), trim(value));
    name.clear();
    value.clear();
  };
  for (; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (l.empty()) {
      flush();
      return i + 1;
    }
    if (l[0] == ' ' || l[0] == '\t') {
      EXPECT_FALSE(name.empty()) << "continuation without a field: " << l;
      value += l;
      continue;
    }
    flush();
    size_t colon = l.find(':');
    EXPECT_NE(colon, std::string::npos) << "not a field: " << l;
    if (colon == std::string::npos) continue;
    name = l.substr(0, colon);
    value = l.substr(colon + 1);
  }
  flush();
  return i;
}

std::string one(const Fields& f, const std::string& name) {
  EXPECT_EQ(f.count(name), 1u) << name;
  auto it = f.find(name);
  return it == f.end() ? std::string() : it->second;
}

std::string body_of(const std::vector<std::string>& lines, size_t from, size_t to) {
  std::string b;
  for (size_t i = from; i < to; ++i) b += lines[i] + "\r\n";
  return b;
}

Parsed parse(const std::string& msg) {
  Parsed p;
  auto lines = lines_of(msg);
  size_t i = parse_fields(lines, 0, p.headers);
  std::string ct = one(p.headers, "content-type");
  size_t b = ct.find("boundary=\"");
  EXPECT_NE(b, std::string::npos) << ct;
  if (b == std::string::npos) return p;
  size_t e = ct.find('"', b + 10);
  p.boundary = ct.substr(b + 10, e - b - 10);
  const std::string delim = "--" + p.boundary, close = delim + "--";
  std::vector<size_t> starts;
  size_t close_at = lines.size();
  for (size_t k = i; k < lines.size(); ++k) {
    if (lines[k] == close) {
      close_at = k;
      p.closed = true;
      break;
    }
    if (lines[k] == delim) starts.push_back(k);
  }
  if (!starts.empty()) p.preamble = body_of(lines, i, starts[0]);
  for (size_t n = 0; n < starts.size(); ++n) {
    size_t end = n + 1 < starts.size() ? starts[n + 1] : close_at;
    Part part;
    size_t body_from = parse_fields(lines, starts[n] + 1, part.headers);
    // The CRLF before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
    std::string body = body_of(lines, body_from, end);
    if (body.size() >= 2) body.resize(body.size() - 2);
    part.body = body;
    p.parts.push_back(std::move(part));
  }
  return p;
}

// message/delivery-status content: blocks of fields separated by empty lines.
std::vector<Fields> dsn_blocks(const std::string& body) {
  std::vector<Fields> blocks;
  auto lines = lines_of(body);
  size_t i = 0;
  while (i < lines.size()) {
    if (lines[i].empty()) {
      ++i;
      continue;
    }
    Fields f;
    i = parse_fields(lines, i, f);
    blocks.push_back(std::move(f));
  }
  return blocks;
}

// Every line ends in CRLF, is 7-bit without controls (TAB allowed) and at most 998 octets.
void expect_clean_lines(const std::string& msg) {
  ASSERT_GE(msg.size(), 2u);
  EXPECT_EQ(msg.substr(msg.size() - 2), "\r\n");
  size_t line_len = 0;
  for (size_t i = 0; i < msg.size(); ++i) {
    unsigned char c = msg[i];
    if (c == '\r') {
      ASSERT_LT(i + 1, msg.size());
      ASSERT_EQ(msg[i + 1], '\n') << "bare CR at " << i;
      EXPECT_LE(line_len, 998u) << "line ending at " << i;
      line_len = 0;
      ++i;
      continue;
    }
    ASSERT_NE(c, '\n') << "bare LF at " << i;
    ASSERT_TRUE(c == '\t' || (c >= 0x20 && c < 0x7f)) << "byte " << int(c) << " at " << i;
    ++line_len;
  }
}

FailedRecipient rcpt(std::string addr, int code, std::string status, std::string text,
                     std::string mta = "mx1.example.net") {
  FailedRecipient r;
  r.address = std::move(addr);
  r.code = code;
  r.status = std::move(status);
  r.text = std::move(text);
  r.remote_mta = std::move(mta);
  r.last_attempt_ms = kNow - 1000;
  return r;
}

BounceInput input() {
  BounceInput in;
  in.reporting_mta = "mta.tern.example";
  in.to = "sender@shop.example";
  in.queue_id = "Q0123ABC";
  in.original_message_id = "<orig.1@shop.example>";
  in.arrival_ms = kNow - 3600 * 1000;
  in.now_ms = kNow;
  in.message_id = "<dsn.1@mta.tern.example>";
  in.original_headers =
      "From: Shop <sender@shop.example>\r\nTo: someone@remote.example\r\n"
      "Subject: Your order\r\nMessage-ID: <orig.1@shop.example>\r\n\r\n";
  in.recipients.push_back(
      rcpt("nouser@remote.example", 550, "5.1.1", "<nouser@remote.example>: user unknown"));
  return in;
}

// Checks the whole RFC 3464 / 6522 shape; returns the parse for further checks.
Parsed check_structure(const BounceInput& in, const std::string& msg) {
  expect_clean_lines(msg);
  Parsed p = parse(msg);
  EXPECT_EQ(one(p.headers, "from"), "Mail Delivery System <MAILER-DAEMON@mta.tern.example>");
  EXPECT_EQ(one(p.headers, "subject"), "Undelivered Mail Returned to Sender");
  EXPECT_EQ(one(p.headers, "auto-submitted"), "auto-replied");
  EXPECT_EQ(one(p.headers, "mime-version"), "1.0");
  EXPECT_EQ(one(p.headers, "date"), "Tue, 14 Nov 2023 22:13:20 +0000");
  EXPECT_EQ(one(p.headers, "message-id"), in.message_id);
  std::string ct = one(p.headers, "content-type");
  EXPECT_EQ(ct.rfind("multipart/report;", 0), 0u) << ct;
  EXPECT_NE(ct.find("report-type=delivery-status"), std::string::npos);
  EXPECT_FALSE(p.boundary.empty());
  EXPECT_LE(p.boundary.size(), 70u);  // RFC 2046 §5.1.1
  EXPECT_TRUE(p.closed);
  EXPECT_EQ(p.parts.size(), 3u);
  if (p.parts.size() != 3) return p;
  EXPECT_EQ(one(p.parts[0].headers, "content-type").rfind("text/plain", 0), 0u);
  EXPECT_EQ(one(p.parts[1].headers, "content-type"), "message/delivery-status");
  EXPECT_EQ(one(p.parts[2].headers, "content-type"), "text/rfc822-headers");
  // The boundary occurs nowhere inside a part.
  for (auto& part : p.parts) EXPECT_EQ(part.body.find(p.boundary), std::string::npos);

  auto blocks = dsn_blocks(p.parts[1].body);
  EXPECT_EQ(blocks.size(), 1 + in.recipients.size());
  if (blocks.size() != 1 + in.recipients.size()) return p;
  // §2.2: Reporting-MTA is required; ours are single.
  EXPECT_EQ(one(blocks[0], "reporting-mta"), "dns; mta.tern.example");
  EXPECT_EQ(blocks[0].count("final-recipient"), 0u);
  for (size_t k = 0; k < in.recipients.size(); ++k) {
    const Fields& f = blocks[k + 1];
    // §2.3: Final-Recipient, Action and Status are required.
    EXPECT_EQ(one(f, "final-recipient").rfind("rfc822; ", 0), 0u);
    EXPECT_EQ(one(f, "action"), "failed");
    std::string st = one(f, "status");
    EXPECT_TRUE(st.size() >= 5 && (st[0] == '4' || st[0] == '5') && st[1] == '.') << st;
    EXPECT_EQ(f.count("reporting-mta"), 0u);
  }
  return p;
}

}  // namespace

TEST(Bounce, StructureAndFields) {
  BounceInput in = input();
  in.recipients.push_back(
      rcpt("full@other.example", 552, "5.2.2", "mailbox full", "mx.other.example"));
  std::string msg = build_bounce(in);
  Parsed p = check_structure(in, msg);
  ASSERT_EQ(p.parts.size(), 3u);
  EXPECT_EQ(one(p.headers, "to"), "<sender@shop.example>");

  auto blocks = dsn_blocks(p.parts[1].body);
  ASSERT_EQ(blocks.size(), 3u);
  EXPECT_EQ(one(blocks[0], "x-tern-queue-id"), "Q0123ABC");
  EXPECT_EQ(one(blocks[0], "arrival-date"), "Tue, 14 Nov 2023 21:13:20 +0000");
  EXPECT_EQ(one(blocks[1], "final-recipient"), "rfc822; nouser@remote.example");
  EXPECT_EQ(one(blocks[1], "status"), "5.1.1");
  EXPECT_EQ(one(blocks[1], "remote-mta"), "dns; mx1.example.net");
  EXPECT_EQ(one(blocks[1], "diagnostic-code"),
            "smtp; 550 5.1.1 <nouser@remote.example>: user unknown");
  EXPECT_EQ(one(blocks[1], "last-attempt-date"), "Tue, 14 Nov 2023 22:13:19 +0000");
  EXPECT_EQ(one(blocks[2], "final-recipient"), "rfc822; full@other.example");
  EXPECT_EQ(one(blocks[2], "status"), "5.2.2");
  EXPECT_EQ(one(blocks[2], "remote-mta"), "dns; mx.other.example");
  EXPECT_EQ(one(blocks[2], "diagnostic-code"), "smtp; 552 5.2.2 mailbox full");

  // The human part names each recipient with the host and what it said.
  const std::string& human = p.parts[0].body;
  EXPECT_NE(human.find("mta.tern.example"), std::string::npos);
  EXPECT_NE(human.find("<nouser@remote.example>: host mx1.example.net said: 550 5.1.1"),
            std::string::npos)
      << human;
  EXPECT_NE(human.find("<full@other.example>: host mx.other.example said: 552 5.2.2 mailbox "
                       "full"),
            std::string::npos)
      << human;
  EXPECT_NE(human.find("Q0123ABC"), std::string::npos);
  EXPECT_NE(human.find("<orig.1@shop.example>"), std::string::npos);

  // The original header section, without its terminating empty line.
  EXPECT_EQ(p.parts[2].body,
            "From: Shop <sender@shop.example>\r\nTo: someone@remote.example\r\n"
            "Subject: Your order\r\nMessage-ID: <orig.1@shop.example>\r\n");
}

TEST(Bounce, SameInputSameNotice) { EXPECT_EQ(build_bounce(input()), build_bounce(input())); }

TEST(Bounce, NoDiagnosticCodeWithoutARemoteReply) {
  BounceInput in = input();
  in.recipients = {rcpt("x@nomx.example", 0, "5.1.10", "domain has a null MX", "")};
  std::string msg = build_bounce(in);
  Parsed p = check_structure(in, msg);
  ASSERT_EQ(p.parts.size(), 3u);
  auto blocks = dsn_blocks(p.parts[1].body);
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(blocks[1].count("diagnostic-code"), 0u);
  EXPECT_EQ(blocks[1].count("remote-mta"), 0u);
  EXPECT_EQ(one(blocks[1], "status"), "5.1.10");
  EXPECT_NE(p.parts[0].body.find("<x@nomx.example>: domain has a null MX (status 5.1.10)"),
            std::string::npos)
      << p.parts[0].body;
  EXPECT_EQ(msg.find("Diagnostic-Code"), std::string::npos);
}

TEST(Bounce, ExpiredWording) {
  BounceInput in = input();
  FailedRecipient r = rcpt("slow@greylist.example", 451, "4.7.1", "greylisted, try again");
  r.expired = true;
  FailedRecipient n = rcpt("gone@down.example", 0, "4.4.1", "connection refused", "");
  n.expired = true;
  in.recipients = {r, n};
  std::string msg = build_bounce(in);
  Parsed p = check_structure(in, msg);
  ASSERT_EQ(p.parts.size(), 3u);
  const std::string& human = p.parts[0].body;
  std::string flat;  // the human part unwrapped, to find phrases across line breaks
  for (char c : human) {
    if (c == '\n')
      flat += ' ';
    else if (c != '\r')
      flat += c;
  }
  EXPECT_NE(flat.find("<slow@greylist.example>: delivery time expired"), std::string::npos)
      << human;
  EXPECT_NE(flat.find("host mx1.example.net said: 451 greylisted, try again"), std::string::npos)
      << human;
  EXPECT_NE(flat.find("<gone@down.example>: delivery time expired"), std::string::npos);
  auto blocks = dsn_blocks(p.parts[1].body);
  ASSERT_EQ(blocks.size(), 3u);
  EXPECT_EQ(one(blocks[1], "action"), "failed");
  EXPECT_EQ(one(blocks[1], "status"), "4.7.1");  // the last error's class is kept
  EXPECT_EQ(one(blocks[1], "diagnostic-code"), "smtp; 451 greylisted, try again");
  EXPECT_EQ(blocks[2].count("diagnostic-code"), 0u);
  EXPECT_EQ(one(blocks[2], "status"), "4.4.1");
}

TEST(Bounce, InvalidStatusFallsBack) {
  BounceInput in = input();
  FailedRecipient a = rcpt("a@x.example", 550, "", "no");
  FailedRecipient b = rcpt("b@x.example", 550, "2.0.0\r\nX-Evil: 1", "no");
  FailedRecipient c = rcpt("c@x.example", 0, "banana", "gave up", "");
  c.expired = true;
  in.recipients = {a, b, c};
  std::string msg = build_bounce(in);
  Parsed p = check_structure(in, msg);
  ASSERT_EQ(p.parts.size(), 3u);
  auto blocks = dsn_blocks(p.parts[1].body);
  ASSERT_EQ(blocks.size(), 4u);
  EXPECT_EQ(one(blocks[1], "status"), "5.0.0");
  EXPECT_EQ(one(blocks[1], "diagnostic-code"), "smtp; 550 no");
  EXPECT_EQ(one(blocks[2], "status"), "5.0.0");
  EXPECT_EQ(one(blocks[3], "status"), "4.4.7");
  EXPECT_EQ(msg.find("X-Evil"), std::string::npos);
}

TEST(Bounce, HostileRemoteTextCannotBreakStructure) {
  BounceInput in = input();
  std::string evil = "user unknown\r\n\r\n--=_tern-dsn-0000000000000000--\r\nX-Injected: yes\n";
  evil += std::string("nul\0byte", 8);
  evil += "\rbare cr \x80\xff utf8 \xc3\xa9 del\x7f";
  in.recipients = {rcpt("victim@remote.example", 550, "5.1.1", evil, "mx\r\nX-Evil: 1"),
                   rcpt("long@remote.example", 550, "5.7.1", std::string(5000, 'A')),
                   rcpt("spaced@remote.example", 554, "5.7.1", [] {
                     std::string s;
                     for (int i = 0; i < 700; ++i) s += "word ";
                     return s;
                   }())};
  in.recipients[0].address = "victim@remote.example\r\nBcc: everyone@example.com";
  in.reporting_mta = "mta.tern.example";
  in.queue_id = "Q\r\nX-Queue: injected";
  in.original_message_id = "<a>\r\nX-Orig: injected";
  std::string msg = build_bounce(in);
  Parsed p = check_structure(in, msg);
  ASSERT_EQ(p.parts.size(), 3u);
  // Injected text is inert: never at the start of a line.
  for (const char* needle : {"\r\nX-Injected", "\r\nX-Evil", "\r\nBcc:", "\r\nX-Queue",
                             "\r\nX-Orig", "\r\n--=_tern-dsn-0000000000000000"})
    EXPECT_EQ(msg.find(needle), std::string::npos) << needle;
  auto blocks = dsn_blocks(p.parts[1].body);
  ASSERT_EQ(blocks.size(), 4u);
  EXPECT_EQ(blocks[1].count("x-injected"), 0u);
  EXPECT_EQ(one(blocks[1], "final-recipient"),
            "rfc822; victim@remote.example??Bcc:?everyone@example.com");
  EXPECT_EQ(one(blocks[1], "remote-mta"), "dns; mx??X-Evil:?1");
  // The 5000-character reply is bounded and reported as cut.
  std::string diag = one(blocks[2], "diagnostic-code");
  EXPECT_LT(diag.size(), 998u);
  EXPECT_EQ(diag.substr(diag.size() - 3), "...");
  // A long reply with spaces is folded into short lines.
  EXPECT_EQ(one(blocks[3], "diagnostic-code").rfind("smtp; 554 5.7.1 word word", 0), 0u);
  for (auto& line : lines_of(p.parts[1].body)) {
    if (line.find("word") != std::string::npos) {
      EXPECT_LE(line.size(), 78u) << line;
    }
  }
}

TEST(Bounce, BoundaryIsRedrawnWhenContentContainsIt) {
  BounceInput in = input();
  std::string first = parse(build_bounce(in)).boundary;
  ASSERT_FALSE(first.empty());
  // Plant the boundary the notice would use in both remote text and the original headers.
  in.recipients[0].text = "--" + first;
  in.original_headers = "Subject: --" + first + "\r\n" + "--" + first + "--\r\n\r\n";
  std::string msg = build_bounce(in);
  Parsed p = check_structure(in, msg);
  EXPECT_NE(p.boundary, first);
  ASSERT_EQ(p.parts.size(), 3u);
  EXPECT_NE(p.parts[2].body.find("--" + first + "--"), std::string::npos);
}

TEST(Bounce, OriginalHeadersAreMadeSafe) {
  BounceInput in = input();
  in.original_headers = "Subject: caf\xc3\xa9\nX-Nul: a";
  in.original_headers += std::string(1, '\0');
  in.original_headers += "b\r\nX-Long: " + std::string(3000, 'x') + "\r\n\tfolded\r\n\r\nbody!";
  std::string msg = build_bounce(in);
  Parsed p = check_structure(in, msg);
  ASSERT_EQ(p.parts.size(), 3u);
  auto lines = lines_of(p.parts[2].body);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "Subject: caf??");
  EXPECT_EQ(lines[1], "X-Nul: a?b");
  EXPECT_LE(lines[2].size(), 998u);
  EXPECT_EQ(lines[3], "\tfolded");
  EXPECT_EQ(msg.find("body!"), std::string::npos);
}

TEST(Bounce, NoNoticeForNullSenderOrNoRecipients) {
  BounceInput in = input();
  in.to = "";
  EXPECT_EQ(build_bounce(in), "");
  in.to = "<>";
  EXPECT_EQ(build_bounce(in), "");
  in = input();
  in.recipients.clear();
  EXPECT_EQ(build_bounce(in), "");
}

TEST(Bounce, MissingMessageIdAndHostGetDefaults) {
  BounceInput in = input();
  in.message_id = "not-an-id";
  in.reporting_mta = "";
  std::string msg = build_bounce(in);
  Parsed p = parse(msg);
  expect_clean_lines(msg);
  std::string id = one(p.headers, "message-id");
  EXPECT_EQ(id.front(), '<');
  EXPECT_EQ(id.back(), '>');
  EXPECT_NE(id.find("@localhost>"), std::string::npos);
  EXPECT_EQ(one(p.headers, "from"), "Mail Delivery System <MAILER-DAEMON@localhost>");
}

TEST(Bounce, PythonEmailParserAgrees) {
  if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3";
  BounceInput in = input();
  in.recipients.push_back(rcpt("b@x.example", 550, "5.7.1", "spam\r\n--fake--\r\n"));
  std::string msg = build_bounce(in);
  char path[] = "/tmp/tern-bounce-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, msg.data(), msg.size()), static_cast<ssize_t>(msg.size()));
  close(fd);
  std::string cmd =
      "/usr/bin/python3 -c '"
      "import sys, email\n"
      "from email import policy\n"
      "m = email.message_from_binary_file(open(sys.argv[1], \"rb\"), policy=policy.default)\n"
      "assert not m.defects, m.defects\n"
      "assert m.get_content_type() == \"multipart/report\"\n"
      "assert m.get_param(\"report-type\") == \"delivery-status\"\n"
      "parts = m.get_payload()\n"
      "assert [p.get_content_type() for p in parts] == [\"text/plain\", "
      "\"message/delivery-status\", \"text/rfc822-headers\"], parts\n"
      "blocks = parts[1].get_payload()\n"
      "assert len(blocks) == 3, len(blocks)\n"
      "assert blocks[0][\"Reporting-MTA\"] == \"dns; mta.tern.example\"\n"
      "assert blocks[1][\"Final-Recipient\"] == \"rfc822; nouser@remote.example\"\n"
      "assert blocks[2][\"Status\"] == \"5.7.1\"\n"
      "' ";
  cmd += path;
  int rc = std::system(cmd.c_str());
  std::remove(path);
  EXPECT_EQ(rc, 0) << msg;
}

TEST(HeaderSection, UpToAndIncludingTheEmptyLine) {
  EXPECT_EQ(header_section_of("A: 1\r\nB: 2\r\n\r\nbody\r\n"), "A: 1\r\nB: 2\r\n\r\n");
  EXPECT_EQ(header_section_of("A: 1\n\nbody"), "A: 1\n\n");
  EXPECT_EQ(header_section_of("\r\nbody"), "\r\n");
}

TEST(HeaderSection, WithoutAnEmptyLine) {
  EXPECT_EQ(header_section_of("A: 1\r\nB: 2\r\n"), "A: 1\r\nB: 2\r\n");
  // An unterminated last line is not a complete line.
  EXPECT_EQ(header_section_of("A: 1\r\nB: 2"), "A: 1\r\n");
  EXPECT_EQ(header_section_of("no line end at all"), "");
  EXPECT_EQ(header_section_of(""), "");
}

TEST(HeaderSection, OverTheLimitCutsAtALineEnd) {
  std::string s = "A: 1\r\nB: 22\r\nC: 333\r\n\r\nbody";
  EXPECT_EQ(header_section_of(s, 6), "A: 1\r\n");   // exactly one line
  EXPECT_EQ(header_section_of(s, 12), "A: 1\r\n");  // B's line ends at 13
  EXPECT_EQ(header_section_of(s, 13), "A: 1\r\nB: 22\r\n");
  EXPECT_EQ(header_section_of(s, 5), "");
  EXPECT_EQ(header_section_of(s, 0), "");
  EXPECT_EQ(header_section_of(s, 22), "A: 1\r\nB: 22\r\nC: 333\r\n");  // C's ends at 21
  EXPECT_EQ(header_section_of(s, 23), "A: 1\r\nB: 22\r\nC: 333\r\n\r\n");
  EXPECT_EQ(header_section_of(s, 1000), "A: 1\r\nB: 22\r\nC: 333\r\n\r\n");
  std::string big = "X: " + std::string(100 * 1024, 'y') + "\r\n\r\n";
  EXPECT_EQ(header_section_of(big), "");
}

TEST(HardBounce, AddressFailuresAreHard) {
  EXPECT_TRUE(is_hard_bounce(550, "5.1.1", tern::core::Phase::rcpt));
  EXPECT_TRUE(is_hard_bounce(550, "", tern::core::Phase::rcpt));
  EXPECT_TRUE(is_hard_bounce(551, "", tern::core::Phase::rcpt));
  EXPECT_TRUE(is_hard_bounce(553, "5.1.3", tern::core::Phase::rcpt));
  EXPECT_TRUE(is_hard_bounce(550, "5.0.0", tern::core::Phase::rcpt));
  EXPECT_TRUE(is_hard_bounce(550, "5.2.1", tern::core::Phase::rcpt));  // mailbox disabled
  EXPECT_TRUE(is_hard_bounce(550, "5.1.1", tern::core::Phase::data_end));
  EXPECT_TRUE(is_hard_bounce(0, "5.1.10", tern::core::Phase::dns));  // null MX
  EXPECT_TRUE(is_hard_bounce(0, "5.1.2", tern::core::Phase::dns));   // no such domain
}

TEST(HardBounce, OtherFailuresAreNot) {
  EXPECT_FALSE(is_hard_bounce(450, "4.1.1", tern::core::Phase::rcpt));      // temporary
  EXPECT_FALSE(is_hard_bounce(0, "4.4.7", tern::core::Phase::local));       // expired
  EXPECT_FALSE(is_hard_bounce(552, "5.3.4", tern::core::Phase::data_end));  // too big
  EXPECT_FALSE(is_hard_bounce(554, "5.7.1", tern::core::Phase::data_end));  // content policy
  EXPECT_FALSE(
      is_hard_bounce(550, "5.7.1", tern::core::Phase::rcpt));  // policy (our IP), not the address
  EXPECT_FALSE(is_hard_bounce(552, "5.2.2", tern::core::Phase::rcpt));  // mailbox full
  EXPECT_FALSE(is_hard_bounce(552, "", tern::core::Phase::rcpt));
  EXPECT_FALSE(is_hard_bounce(554, "", tern::core::Phase::rcpt));
  EXPECT_FALSE(is_hard_bounce(500, "5.5.2", tern::core::Phase::rcpt));  // our syntax error
  EXPECT_FALSE(is_hard_bounce(550, "5.0.0", tern::core::Phase::data_end));
  EXPECT_FALSE(is_hard_bounce(550, "5.1.8", tern::core::Phase::rcpt));  // sender's domain
  EXPECT_FALSE(is_hard_bounce(553, "5.1.7", tern::core::Phase::rcpt));  // sender's address syntax
  EXPECT_FALSE(is_hard_bounce(550, "5.1.1", tern::core::Phase::mail));  // about the sender
  EXPECT_FALSE(is_hard_bounce(554, "", tern::core::Phase::greeting));
  EXPECT_FALSE(is_hard_bounce(550, "5.1.1", tern::core::Phase::connect));
  EXPECT_FALSE(
      is_hard_bounce(550, "4.1.1", tern::core::Phase::rcpt));  // classes disagree: not sure enough
  EXPECT_FALSE(is_hard_bounce(0, "", tern::core::Phase::local));
  EXPECT_FALSE(is_hard_bounce(250, "2.1.5", tern::core::Phase::rcpt));
}

TEST(HardBounce, MalformedEnhancedCodeIsIgnored) {
  EXPECT_FALSE(is_hard_bounce(0, "5.1", tern::core::Phase::dns));
  EXPECT_FALSE(is_hard_bounce(0, "5.1.1 x", tern::core::Phase::dns));
  EXPECT_FALSE(is_hard_bounce(0, "5.1.1234", tern::core::Phase::dns));
  EXPECT_FALSE(is_hard_bounce(0, "9.1.1", tern::core::Phase::dns));
  // With a bad enhanced code, a 550 to RCPT still decides.
  EXPECT_TRUE(is_hard_bounce(550, "5.1", tern::core::Phase::rcpt));
  EXPECT_FALSE(is_hard_bounce(554, "5.1", tern::core::Phase::rcpt));
}
