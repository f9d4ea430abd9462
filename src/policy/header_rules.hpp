// Header-level submission policy, checked when the header section of a message is complete
// (SPEC §1, seed 001). Pure functions of the parsed header and the session's envelope.
//
//  - Exactly one From field, holding at least one valid mailbox; every mailbox in it must pass
//    authorize_sender (550 5.7.1 naming the address). Zero or several From fields, or an
//    unparsable one: 550 5.6.0 (RFC 5322 §3.6 requires exactly one).
//  - Every address in To and Cc must be among the RCPT TO recipients unless the rule is off
//    (550 5.7.1 naming the address). The comparison ignores case in both parts: the rule
//    exists to stop a header naming someone the message is not sent to, and case variants of
//    one mailbox are the same person in practice. An unparsable To/Cc field: 550 5.6.0.
#pragma once
#include <string>
#include <vector>

#include "core/status.hpp"
#include "message/header.hpp"
#include "policy/account_context.hpp"

namespace tern::policy {

// On success returns 250 and sets header_from to the first From address.
core::Status check_from(const AccountContext& ctx, const std::vector<message::HeaderField>& fields,
                        std::string& header_from);

core::Status check_header_recipients(const std::vector<message::HeaderField>& fields,
                                     const std::vector<std::string>& rcpts);

}  // namespace tern::policy
