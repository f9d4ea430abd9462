#include "policy/account_apply.hpp"

#include <algorithm>

#include "core/address.hpp"
#include "policy/sender.hpp"

namespace tern::policy {

std::string merge_account_cc(const std::vector<const message::HeaderField*>& fields,
                             const std::vector<std::string>& cc) {
  std::string out;
  bool added = cc.empty();
  for (const auto* f : fields) {
    if (!added && core::iequals(f->name, "Cc")) {
      const bool crlf = f->raw.size() >= 2 && f->raw.compare(f->raw.size() - 2, 2, "\r\n") == 0;
      out.append(f->raw, 0, f->raw.size() - (crlf ? 2 : 0));
      for (const auto& a : cc) out += ",\r\n " + a;
      out += "\r\n";
      added = true;
      continue;
    }
    out += f->raw;
  }
  if (!added) {
    out += "Cc: ";
    for (size_t i = 0; i < cc.size(); ++i) out += (i ? ",\r\n " : "") + cc[i];
    out += "\r\n";
  }
  return out;
}

void apply_account_envelope(const AccountContext& a, std::string& sender,
                            std::vector<std::string>& recipients) {
  // A stored Mail-From the account may not (or no longer) use is ignored: the settings guard
  // refuses such values, and one stored before it (or whose domain was lost since) must not
  // route bounces to someone else's address.
  if (!a.mail_from.empty() && authorize_sender(a, a.mail_from).ok()) sender = a.mail_from;
  for (const auto* list : {&a.cc, &a.bcc})
    for (const auto& r : *list)
      if (std::find(recipients.begin(), recipients.end(), r) == recipients.end())
        recipients.push_back(r);
}

}  // namespace tern::policy
