// JSON views of store rows and domain reports as the API shows them (camelCase keys, ISO-8601
// UTC times, null for "none"), shared by the resource files and the CLI's --json output, so an
// account, a sender, a domain or a delivery event looks the same everywhere (issue 14.7).
#pragma once
#include <nlohmann/json.hpp>

#include "domain/service.hpp"
#include "store/settings.hpp"
#include "store/store.hpp"
#include "store/suspensions.hpp"

namespace tern::api {

// suspended / suspendedReason / suspendedAt come from s (null: not suspended).
nlohmann::json account_json(const store::Account& a, const store::Suspension* s = nullptr);
// {"account": account_json, "username", "password"}: the password is shown once.
nlohmann::json created_account_json(const store::CreatedAccount& c);
nlohmann::json sender_json(const store::Sender& s);
// A domain with its records: domain, account, verified, dkim, ed25519, activeSelector,
// rotationSelector (null: none), checkedAt (null: never), records [{id, type, name, value,
// purpose, status, found?}]; with_changes (a check): also changes [{what, from, to}], dnsError.
nlohmann::json domain_report_json(const domain::Report& rep, bool with_changes);
// A domain in a list: domain, verified, dkim, ed25519, recordsOk, states {id: status},
// checkedAt; detail null: only domain and verified.
nlohmann::json domain_summary_json(const store::Domain& d, const store::DomainDetail* detail);
// An account's settings in setting_keys() order; secrets only as "set" / "not set".
nlohmann::json settings_json(const store::AccountSettings& s);
// One delivery event: time, recipient, event, attempt, code, enhanced, reply, mxHost, tls.
nlohmann::json delivery_event_json(const store::DeliveryEvent& e);

}  // namespace tern::api
