#include "policy/sender.hpp"

#include "core/address.hpp"

namespace tern::policy {

namespace {
core::Status denied(std::string_view address) {
  return {550, "5.7.1", "Sender not authorized: <" + std::string(address) + ">"};
}
bool has_domain(const std::vector<std::string>& list, std::string_view domain) {
  for (const auto& d : list)
    if (core::iequals(d, domain)) return true;
  return false;
}
}  // namespace

core::Status authorize_sender(const AccountContext& ctx, std::string_view address) {
  auto mb = core::parse_mailbox(address);
  if (!mb) return denied(address);
  if (has_domain(ctx.domains, mb->domain) || has_domain(ctx.platform_domains, mb->domain))
    return {250, "2.1.0", "Sender address accepted"};
  for (const auto& s : ctx.senders) {
    auto reg = core::parse_mailbox(s);
    if (reg && reg->local == mb->local && reg->domain == mb->domain)
      return {250, "2.1.0", "Sender address accepted"};
  }
  return denied(address);
}

}  // namespace tern::policy
