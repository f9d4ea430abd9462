// The account's delivery settings applied to a message at acceptance (SPEC §4): Mail-From
// replaces the envelope sender; CC joins the Cc header field and the envelope; BCC joins the
// envelope only. Shared by the SMTP session and pipeline::Submission so both paths apply them
// identically. Pure. A Mail-From the account may not use (policy::authorize_sender) is ignored.
//
// Invariants: an address already among the recipients is not added twice; the header keeps one
// Cc field (RFC 5322 §3.6 allows one), the account's addresses each on a folded line of their
// own so no line grows past the limits.
#pragma once
#include <string>
#include <vector>

#include "message/header.hpp"
#include "policy/account_context.hpp"

namespace tern::policy {

// The raw fields in order, with the account's CC joined to the first Cc field (or added as a
// new Cc field at the end when there is none). `fields` are the ones that stay in the message.
std::string merge_account_cc(const std::vector<const message::HeaderField*>& fields,
                             const std::vector<std::string>& cc);

void apply_account_envelope(const AccountContext& a, std::string& sender,
                            std::vector<std::string>& recipients);

}  // namespace tern::policy
