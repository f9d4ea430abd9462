// SMTP command-line parser (RFC 5321 §4.1; RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8,
// RFC 4954 AUTH= parameter). Pure: one line in (without its CRLF), a Command or the exact
// error reply out.
//
// Invariants:
//  - Verbs are case-insensitive; unknown verbs → 500 5.5.2.
//  - NUL or another control character (except HT) anywhere → 500 5.5.2.
//  - MAIL FROM / RCPT TO require angle brackets; one optional space after the colon is
//    tolerated (common client bug). "<>" is the null reverse-path (MAIL only). A source route
//    "<@a,@b:user@d>" is accepted and the route dropped (RFC 5321 §4.1.1.3, Appendix C).
//  - MAIL parameters: SIZE=<digits>, BODY=7BIT|8BITMIME, SMTPUTF8, AUTH=<xtext>; others →
//    555 5.5.4; malformed values → 501 5.5.4. RCPT takes no parameters → 555 5.5.4.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "core/status.hpp"

namespace tern::smtp {

enum class Verb { helo, ehlo, mail, rcpt, data, rset, noop, quit, vrfy, help, starttls, auth };

enum class Body { none, seven_bit, eight_bit_mime };

struct Command {
  Verb verb = Verb::noop;
  std::string arg;      // HELO/EHLO name; AUTH "MECH [initial-response]"; VRFY/HELP/NOOP text
  std::string address;  // MAIL/RCPT: the mailbox, "" for MAIL FROM:<>
  std::optional<uint64_t> size;
  Body body = Body::none;
  bool smtputf8 = false;
  bool has_params = false;  // MAIL used any ESMTP parameter (needs EHLO)
};

using ParsedCommand = std::variant<Command, core::Status>;

ParsedCommand parse_command(std::string_view line);

}  // namespace tern::smtp
