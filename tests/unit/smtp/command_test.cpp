#include "smtp/command.hpp"

#include <gtest/gtest.h>

using namespace tern::smtp;

namespace {
Command ok(std::string_view line) {
  auto p = parse_command(line);
  EXPECT_TRUE(std::holds_alternative<Command>(p))
      << line << " -> "
      << (std::holds_alternative<tern::core::Status>(p) ? std::get<tern::core::Status>(p).line()
                                                        : "");
  return std::holds_alternative<Command>(p) ? std::get<Command>(p) : Command{};
}
std::string err(std::string_view line) {
  auto p = parse_command(line);
  EXPECT_TRUE(std::holds_alternative<tern::core::Status>(p)) << line;
  return std::holds_alternative<tern::core::Status>(p) ? std::get<tern::core::Status>(p).line()
                                                       : "";
}
}  // namespace

TEST(Command, VerbsCaseInsensitive) {
  EXPECT_EQ(ok("ehlo Client.Example").verb, Verb::ehlo);
  EXPECT_EQ(ok("ehlo Client.Example").arg, "Client.Example");
  EXPECT_EQ(ok("StartTLS").verb, Verb::starttls);
  EXPECT_EQ(ok("Quit").verb, Verb::quit);
  EXPECT_EQ(ok("AUTH PLAIN AAAA").arg, "PLAIN AAAA");
  EXPECT_EQ(err("MAILX FROM:<a@b.c>"), "500 5.5.2 Error: command not recognized");
  EXPECT_EQ(err(""), "500 5.5.2 Error: command not recognized");
}

TEST(Command, MailPathsAndParams) {
  auto c = ok("MAIL FROM:<A@Example.COM> SIZE=1000 BODY=8bitmime SMTPUTF8 AUTH=<>");
  EXPECT_EQ(c.address, "A@example.com");
  EXPECT_EQ(c.size, 1000u);
  EXPECT_EQ(c.body, Body::eight_bit_mime);
  EXPECT_TRUE(c.smtputf8);
  EXPECT_EQ(ok("MAIL FROM: <a@b.c>").address, "a@b.c");
  EXPECT_EQ(ok("mail from:<>").address, "");
  EXPECT_EQ(ok("MAIL FROM:<@relay.x,@r2.y:a@b.c>").address, "a@b.c");
  EXPECT_EQ(ok("MAIL FROM:<\"a>b\"@b.c>").address, "\"a>b\"@b.c");
  EXPECT_EQ(ok("RCPT TO:<x@y.z>").address, "x@y.z");
  EXPECT_EQ(err("MAIL FROM:<a@b.c> FOO=bar"), "555 5.5.4 Unsupported parameter");
  EXPECT_EQ(err("RCPT TO:<a@b.c> NOTIFY=NEVER"), "555 5.5.4 Unsupported parameter");
  EXPECT_EQ(err("MAIL FROM:<a@b.c> SIZE=abc"), "501 5.5.4 Bad SIZE parameter");
  EXPECT_EQ(err("MAIL FROM:<a@b.c> SIZE=99999999999999999999"), "501 5.5.4 Bad SIZE parameter");
  EXPECT_EQ(err("MAIL FROM:<a@b.c> BODY=BINARYMIME"), "501 5.5.4 Bad BODY parameter");
  EXPECT_EQ(err("MAIL FROM:<a@b.c> SMTPUTF8=yes"), "501 5.5.4 Bad SMTPUTF8 parameter");
  for (const char* bad :
       {"MAIL FROM:a@b.c", "MAIL FROM:<a@b.c", "MAIL TO:<a@b.c>", "MAIL FROM:  <a@b.c>",
        "MAIL FROM:<a@b.c>SIZE=1", "MAIL", "RCPT TO:", "RCPT FROM:<a@b.c>"})
    EXPECT_EQ(err(bad).substr(0, 9), "501 5.5.4") << bad;
  EXPECT_EQ(err("MAIL FROM:<a b@c.d>"), "501 5.5.4 Bad sender address syntax");
  EXPECT_EQ(err("RCPT TO:<>"), "501 5.5.4 Bad recipient address syntax");
}

TEST(Command, HostileBytes) {
  EXPECT_EQ(err(std::string("NOOP a\0b", 8)), "500 5.5.2 Error: bad character in command");
  EXPECT_EQ(err("MAIL FROM:<a@b.c>\rRCPT TO:<x@y.z>"), "500 5.5.2 Error: bad character in command");
  EXPECT_EQ(err("EHLO a b"), "501 5.5.4 Syntax: EHLO hostname");
  EXPECT_EQ(err("EHLO caf\xc3\xa9"), "501 5.5.4 Syntax: EHLO hostname");
  EXPECT_EQ(err("DATA x"), "501 5.5.4 Syntax: DATA takes no arguments");
  EXPECT_EQ(err("VRFY"), "501 5.5.4 Syntax: VRFY address");
}
