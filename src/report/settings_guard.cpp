#include "report/settings_guard.hpp"

#include "core/address.hpp"
#include "policy/sender.hpp"

namespace tern::report {

namespace {

core::Error bad(const std::string& key, const std::string& why) {
  return core::Error::perm(key + ": " + why);
}

std::string bare_host(std::string h) {
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  while (!h.empty() && h.back() == '.') h.pop_back();
  return core::to_lower(h);
}

}  // namespace

core::Result<void> check_settings(const std::vector<std::pair<std::string, std::string>>& kv,
                                  const SettingsContext& ctx) {
  for (const auto& [key, value] : kv) {
    if (value.empty()) continue;
    if (key == "mail_from") {
      auto mb = core::parse_mailbox(value);
      if (!mb) continue;  // apply_setting names the syntax error
      if (!policy::authorize_sender(ctx.identity, mb->str()).ok())
        return bad(key, "<" + mb->str() +
                            "> is not on a verified domain or a verified registered sender of "
                            "this account");
    } else if (key == "relay.host") {
      const std::string h = bare_host(value);
      for (const auto& own : ctx.own_names)
        if (!own.empty() && h == bare_host(own))
          return bad(key, "refused host " + h + ": it is Tern itself (mail would loop)");
      auto r = check_host(value, ctx.relays);
      if (!r) return bad(key, r.error().message);
    } else if (key == "notify_url" || key == "tracking_url") {
      auto t = check_url(value, ctx.webhooks);
      if (!t) return bad(key, t.error().message);
      if (!t->ip) {
        auto r = check_host(t->host, ctx.webhooks);
        if (!r) return bad(key, r.error().message);
      }
    }
  }
  return core::ok();
}

}  // namespace tern::report
