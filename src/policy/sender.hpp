// Who may use an address as sender (envelope MAIL FROM and header From): pure verdict from the
// account snapshot taken at AUTH. SPEC §1 "Acceptance and policy", seed 001.
//
// An address is authorized when its domain is one of the account's verified sending domains
// or a platform domain, or when the whole address is one of its registered senders. Domains
// compare case-insensitively; local parts compare exactly (RFC 5321 §2.4: the local part is
// case-sensitive, and a looser match would let "Ceo@" pass for a registered "ceo@").
// Subdomains of a verified domain are NOT authorized: each needs its own verification.
// The null reverse-path is never authorized for submission: a client submitting new mail has
// no reason to send a bounce, and accepting <> would let it dodge the From check.
#pragma once
#include <string_view>

#include "core/status.hpp"
#include "policy/account_context.hpp"

namespace tern::policy {

// 250 when allowed, else "550 5.7.1 Sender not authorized: <address>".
core::Status authorize_sender(const AccountContext& ctx, std::string_view address);

}  // namespace tern::policy
