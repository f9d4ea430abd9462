// Account name syntax: [a-z0-9][a-z0-9._-]{0,63}. Names are SMTP usernames and appear in CLI
// output, URLs and logs, so the alphabet is kept small: no case folding questions, no quoting,
// no control characters. Shared by the store, the CLI and the HTTP API.
#pragma once
#include <string_view>

namespace tern::store {

constexpr bool valid_account_name(std::string_view n) {
  if (n.empty() || n.size() > 64) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(n[0])) return false;
  for (char c : n.substr(1))
    if (!alnum(c) && c != '.' && c != '_' && c != '-') return false;
  return true;
}

}  // namespace tern::store
