#include "api/json_views.hpp"

#include "api/request.hpp"

namespace tern::api {

nlohmann::json account_json(const store::Account& a, const store::Suspension* s) {
  return {{"id", a.id},
          {"name", a.name},
          {"code", a.code},
          {"createdAt", iso_time(a.created_ms)},
          {"suspended", s != nullptr},
          {"suspendedReason", s ? nlohmann::json(s->reason) : nlohmann::json(nullptr)},
          {"suspendedAt", s ? nlohmann::json(iso_time(s->since_ms)) : nlohmann::json(nullptr)}};
}

nlohmann::json created_account_json(const store::CreatedAccount& c) {
  return {{"account", account_json(c.account)}, {"username", c.username}, {"password", c.password}};
}

nlohmann::json sender_json(const store::Sender& s) {
  return {{"address", s.address}, {"verified", s.verified}};
}

nlohmann::json domain_report_json(const domain::Report& rep, bool with_changes) {
  nlohmann::json recs = nlohmann::json::array();
  for (const auto& r : rep.records) {
    nlohmann::json j{{"id", r.id},       {"type", r.type},       {"name", r.name},
                     {"value", r.value}, {"purpose", r.purpose}, {"status", to_string(r.status)}};
    if (!r.found.empty()) j["found"] = r.found;
    recs.push_back(std::move(j));
  }
  const auto& d = rep.detail;
  nlohmann::json j{
      {"domain", d.domain},
      {"account", rep.account.name},
      {"verified", d.verified},
      {"dkim", d.dkim_mode},
      {"ed25519", d.ed25519},
      {"activeSelector", domain::selector_name(d.active_slot, dkim::Algorithm::rsa_sha256)},
      {"rotationSelector",
       d.next_slot ? nlohmann::json(domain::selector_name(d.next_slot, dkim::Algorithm::rsa_sha256))
                   : nlohmann::json(nullptr)},
      {"checkedAt",
       d.checked_ms ? nlohmann::json(iso_time(d.checked_ms)) : nlohmann::json(nullptr)},
      {"records", std::move(recs)}};
  if (with_changes) {
    nlohmann::json ch = nlohmann::json::array();
    for (const auto& c : rep.changes)
      ch.push_back({{"what", c.what}, {"from", c.from}, {"to", c.to}});
    j["changes"] = std::move(ch);
    j["dnsError"] = rep.dns_error;
  }
  return j;
}

nlohmann::json domain_summary_json(const store::Domain& d, const store::DomainDetail* detail) {
  nlohmann::json j{{"domain", d.domain}, {"verified", d.verified}};
  if (!detail) return j;
  j["dkim"] = detail->dkim_mode;
  j["ed25519"] = detail->ed25519;
  size_t ok = 0;
  nlohmann::json states = nlohmann::json::object();
  for (const auto& r : detail->records) {
    ok += r.status == store::RecordStatus::ok;
    states[r.id] = to_string(r.status);
  }
  j["recordsOk"] = ok;
  j["states"] = std::move(states);
  j["checkedAt"] =
      detail->checked_ms ? nlohmann::json(iso_time(detail->checked_ms)) : nlohmann::json(nullptr);
  return j;
}

nlohmann::json settings_json(const store::AccountSettings& s) {
  nlohmann::json j = nlohmann::json::object();
  for (auto& [k, v] : store::display_settings(s)) {
    if (store::is_secret_key(k))
      j[k] = v == "(set)" ? "set" : "not set";
    else
      j[k] = v;
  }
  return j;
}

nlohmann::json delivery_event_json(const store::DeliveryEvent& e) {
  return {{"time", iso_time(e.time_ms)},
          {"recipient", e.recipient},
          {"event", core::to_string(e.event)},
          {"attempt", e.attempt},
          {"code", e.code},
          {"enhanced", e.enhanced},
          {"reply", e.reply},
          {"mxHost", e.mx_host},
          {"tls", e.tls}};
}

}  // namespace tern::api
