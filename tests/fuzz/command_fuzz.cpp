// Fuzzes the SMTP command parser and the RFC 5322 address-list parser: no crash, no UB, and
// any accepted MAIL/RCPT address must be a valid mailbox.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/address.hpp"
#include "message/address_list.hpp"
#include "smtp/command.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto p = tern::smtp::parse_command(in);
  if (auto* c = std::get_if<tern::smtp::Command>(&p)) {
    if (!c->address.empty() && !tern::core::parse_mailbox(c->address)) __builtin_trap();
  }
  (void)tern::message::parse_address_list(in);
  return 0;
}
