// Header-level submission policy, checked when the header section of a message is complete
// (SPEC §1, seed 001, issue 10 items 5 and 12). Pure functions of the parsed header and the
// session's envelope. apply_header_rules() is the one entry point both submission paths use
// (smtp::ServerSession and pipeline::Submission for HTTP send), so they keep and refuse the
// same fields.
//
//  - Hop count: 50 or more Received fields (Postfix hopcount_limit = 50) is a loop:
//    554 5.4.6 Too many hops. Checked first, before any other rule.
//  - Exactly one From field, holding at least one valid mailbox; every mailbox in it must pass
//    authorize_sender (550 5.7.1 naming the address). Zero or several From fields, or an
//    unparsable one: 550 5.6.0 (RFC 5322 §3.6 requires exactly one).
//  - Sender, Resent-From and Resent-Sender (identities a reader or a filter may show instead
//    of From) get the same rule: every mailbox must pass authorize_sender (550 5.7.1), an
//    unparsable one is 550 5.6.0.
//  - Every address in To and Cc must be among the RCPT TO recipients unless the rule is off
//    (550 5.7.1 naming the address). The comparison ignores case in both parts: the rule
//    exists to stop a header naming someone the message is not sent to, and case variants of
//    one mailbox are the same person in practice. An unparsable To/Cc field: 550 5.6.0.
//  - Removed (never reach the recipients): X-IB-* (instructions to us, applied as options);
//    Return-Path (RFC 5321 §4.4: only the final delivery adds it); Authentication-Results
//    whose authserv-id is Tern's own (RFC 8601 §5: a forged verdict in our name);
//    DKIM-Signature whose d= is not one of the account's verified domains or a platform
//    domain (a signature "by" another tenant's domain must not ride along in Tern's mail;
//    Tern adds its own signature for the From domain anyway). Tern's own mail (no account)
//    keeps its DKIM-Signature fields.
#pragma once
#include <string>
#include <vector>

#include "core/status.hpp"
#include "message/header.hpp"
#include "policy/account_context.hpp"

namespace tern::policy {

constexpr size_t kMaxHops = 50;

// On success returns 250 and sets header_from to the first From address.
core::Status check_from(const AccountContext& ctx, const std::vector<message::HeaderField>& fields,
                        std::string& header_from);

core::Status check_header_recipients(const std::vector<message::HeaderField>& fields,
                                     const std::vector<std::string>& rcpts);

struct HeaderRules {
  std::string authserv_id;           // Tern's hostname
  bool require_header_rcpts = true;  // operator switch (the account's flag is ANDed)
  size_t max_hops = kMaxHops;
};

struct HeaderVerdict {
  core::Status status{250, "2.0.0", "Ok"};        // the first refusal, else 250
  std::vector<const message::HeaderField*> kept;  // fields that stay, in order
  MessageOptions options;                         // X-IB-* merged over the defaults given
  std::string header_from;
  std::string message_id;  // the first Message-ID field's value, "" when none
  bool has_date = false;
  // The refusal in status is the sender policy's (authorize_sender on From, Sender,
  // Resent-From or Resent-Sender), not a malformed field.
  bool sender_refused = false;
};

// `account` null = Tern's own mail: no sender or recipient checks, DKIM-Signature kept.
// `fields` must outlive the verdict (kept points into it).
HeaderVerdict apply_header_rules(const AccountContext* account,
                                 const std::vector<message::HeaderField>& fields,
                                 const std::vector<std::string>& rcpts, const HeaderRules& rules,
                                 MessageOptions defaults);

// The authserv-id of an Authentication-Results value (RFC 8601 §2.2: the first token, before
// an optional version and ';'), lower case; "" when there is none.
std::string authserv_id(std::string_view value);
// The d= tag of a DKIM-Signature value (RFC 6376 §3.5), lower case, trailing dot dropped.
std::string dkim_domain(std::string_view value);

}  // namespace tern::policy
