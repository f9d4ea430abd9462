// What the submission service knows about an authenticated account: a read-only snapshot
// taken at AUTH time, so every later check on the connection is a pure function of it.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tern::policy {

// Per-message options (seed 001 X-IB-* headers); account settings give the defaults.
struct MessageOptions {
  std::string bulk_id;
  std::string tracking_url;
  std::string notify_url;
  std::string notify_content_type;  // "application/json" (default) or "application/xml"
  std::string callback_data;
  bool intermediate_report = false;
};

struct AccountContext {
  int64_t id = 0;
  std::string name;
  std::vector<std::string> domains;           // verified sending domains, lower case
  std::vector<std::string> senders;           // verified registered senders, lower-case domain
  std::vector<std::string> platform_domains;  // operator's domains any account may use
  MessageOptions defaults;
  bool require_header_rcpts = true;  // To/Cc addresses must be among RCPT TO (seed 001)
  // Account delivery settings applied at acceptance, before signing (SPEC §4):
  std::string mail_from;         // replaces the envelope sender when set
  std::vector<std::string> cc;   // added to the Cc header and the envelope
  std::vector<std::string> bcc;  // added to the envelope only
};

}  // namespace tern::policy
