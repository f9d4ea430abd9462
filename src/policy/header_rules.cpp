#include "policy/header_rules.hpp"

#include "core/address.hpp"
#include "message/address_list.hpp"
#include "policy/sender.hpp"

namespace tern::policy {

namespace {
const core::Status kOk{250, "2.0.0", "Ok"};
}

core::Status check_from(const AccountContext& ctx, const std::vector<message::HeaderField>& fields,
                        std::string& header_from) {
  const message::HeaderField* from = nullptr;
  for (const auto& f : fields) {
    if (!core::iequals(f.name, "From")) continue;
    if (from) return {550, "5.6.0", "Message must have exactly one From header"};
    from = &f;
  }
  if (!from) return {550, "5.6.0", "Message must have exactly one From header"};
  auto list = message::parse_address_list(from->value());
  if (!list || list->empty()) return {550, "5.6.0", "Invalid address in From header"};
  for (const auto& nm : *list) {
    auto s = authorize_sender(ctx, nm.mailbox.str());
    if (!s.ok()) return s;
  }
  header_from = list->front().mailbox.str();
  return kOk;
}

core::Status check_header_recipients(const std::vector<message::HeaderField>& fields,
                                     const std::vector<std::string>& rcpts) {
  for (const auto& f : fields) {
    bool to = core::iequals(f.name, "To");
    if (!to && !core::iequals(f.name, "Cc")) continue;
    auto list = message::parse_address_list(f.value());
    if (!list)
      return {550, "5.6.0", std::string("Invalid address in ") + (to ? "To" : "Cc") + " header"};
    for (const auto& nm : *list) {
      std::string a = nm.mailbox.str();
      bool found = false;
      for (const auto& r : rcpts)
        if (core::iequals(r, a)) { found = true; break; }
      if (!found)
        return {550, "5.7.1", "Recipient <" + a + "> in To/Cc header is not among RCPT TO recipients"};
    }
  }
  return kOk;
}

}  // namespace tern::policy
