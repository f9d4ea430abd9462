// Which account settings a tenant may store (issue 10 items 3, 4 and 14): the values that name
// an identity or a network target are checked against the account and the operator's target
// policies before store::SettingsService::set, by the REST API (PATCH /settings) and
// `tern account set` alike. Pure: the caller gathers the account's snapshot and the policies.
//
//  - mail_from: must pass policy::authorize_sender for the account (its verified domains, its
//    verified registered senders, platform domains). The envelope sender is where bounces go
//    and what SPF is checked for: another tenant's domain must never be claimable.
//  - relay.host: check_host under the relay policy ([delivery] relay_allow): no private,
//    loopback, link-local ... literal, no numeric IPv4 form, no localhost, and not Tern's own
//    host name (mail would loop). The engine checks the resolved addresses again at connect.
//  - notify_url, tracking_url: check_url under the webhook policy ([webhooks] allow_loopback /
//    allow) and check_host on a named host, so a URL the webhook sender would refuse later is
//    refused now with the reason.
//  - cc, bcc: NOT restricted beyond syntax. They are recipients, not identities: they never
//    become the envelope sender (bounces go to mail_from or the client's MAIL FROM), are not
//    used by SPF, DKIM or the From rules, and a tenant could send to those addresses anyway.
// Empty values (resets) always pass; a value that does not parse is left to
// store::apply_setting, which names the syntax error.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "policy/account_context.hpp"
#include "report/target_policy.hpp"

namespace tern::report {

struct SettingsContext {
  policy::AccountContext identity;     // the account's snapshot, platform domains filled in
  TargetPolicy webhooks;               // [webhooks]
  TargetPolicy relays;                 // [delivery] relay_allow
  std::vector<std::string> own_names;  // Tern's host name(s)
};

// Ok, or a permanent error "KEY: reason" for the first value the account may not store.
core::Result<void> check_settings(const std::vector<std::pair<std::string, std::string>>& kv,
                                  const SettingsContext& ctx);

}  // namespace tern::report
