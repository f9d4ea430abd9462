#include "policy/header_rules.hpp"

#include <set>

#include "core/address.hpp"
#include "message/address_list.hpp"
#include "policy/options.hpp"
#include "policy/sender.hpp"

namespace tern::policy {

namespace {
const core::Status kOk{250, "2.0.0", "Ok"};

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// RFC 5322 comments "( ... )" (nested, with quoted-pairs) become a space.
std::string strip_comments(std::string_view v) {
  std::string out;
  int depth = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (depth > 0) {
      if (c == '\\')
        ++i;
      else if (c == '(')
        ++depth;
      else if (c == ')' && --depth == 0)
        out += ' ';
      continue;
    }
    if (c == '(') {
      ++depth;
      continue;
    }
    out += c;
  }
  return out;
}

bool listed(const std::vector<std::string>& list, std::string_view d) {
  for (const auto& x : list)
    if (core::iequals(x, d)) return true;
  return false;
}

// Every mailbox of an identity field must be the account's to use. *policy is set when the
// refusal is the sender policy's.
core::Status check_identity(const AccountContext& ctx, const message::HeaderField& f,
                            bool* policy) {
  auto list = message::parse_address_list(f.value());
  if (!list || list->empty()) return {550, "5.6.0", "Invalid address in " + f.name + " header"};
  for (const auto& nm : *list) {
    auto s = authorize_sender(ctx, nm.mailbox.str());
    if (!s.ok()) {
      *policy = true;
      return s;
    }
  }
  return kOk;
}

core::Status check_from(const AccountContext& ctx, const std::vector<message::HeaderField>& fields,
                        std::string& header_from, bool* policy) {
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
    if (!s.ok()) {
      *policy = true;
      return s;
    }
  }
  header_from = list->front().mailbox.str();
  return kOk;
}
}  // namespace

core::Status check_from(const AccountContext& ctx, const std::vector<message::HeaderField>& fields,
                        std::string& header_from) {
  bool policy = false;
  return check_from(ctx, fields, header_from, &policy);
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
        if (core::iequals(r, a)) {
          found = true;
          break;
        }
      if (!found)
        return {550, "5.7.1",
                "Recipient <" + a + "> in To/Cc header is not among RCPT TO recipients"};
    }
  }
  return kOk;
}

std::string authserv_id(std::string_view value) {
  std::string v = strip_comments(value);
  size_t i = 0;
  while (i < v.size() && is_ws(v[i])) ++i;
  size_t start = i;
  while (i < v.size() && !is_ws(v[i]) && v[i] != ';') ++i;
  std::string id = core::to_lower(std::string_view(v).substr(start, i - start));
  if (id.size() >= 2 && id.front() == '"' && id.back() == '"') id = id.substr(1, id.size() - 2);
  while (!id.empty() && id.back() == '.') id.pop_back();
  return id;
}

std::string dkim_domain(std::string_view value) {
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t semi = value.find(';', pos);
    std::string_view tag = value.substr(pos, semi == std::string_view::npos ? semi : semi - pos);
    pos = semi == std::string_view::npos ? value.size() + 1 : semi + 1;
    size_t eq = tag.find('=');
    if (eq == std::string_view::npos) continue;
    std::string name;
    for (char c : tag.substr(0, eq))
      if (!is_ws(c)) name += c;
    if (name != "d") continue;
    std::string d;
    for (char c : tag.substr(eq + 1))
      if (!is_ws(c)) d += c;
    d = core::to_lower(d);
    while (!d.empty() && d.back() == '.') d.pop_back();
    return d;
  }
  return {};
}

HeaderVerdict apply_header_rules(const AccountContext* account,
                                 const std::vector<message::HeaderField>& fields,
                                 const std::vector<std::string>& rcpts, const HeaderRules& rules,
                                 MessageOptions defaults) {
  HeaderVerdict v;
  v.options = std::move(defaults);
  auto fail = [&v](core::Status s) {
    if (v.status.ok()) v.status = std::move(s);
  };
  size_t hops = 0;
  for (const auto& f : fields)
    if (core::iequals(f.name, "Received")) ++hops;
  if (hops >= rules.max_hops) fail({554, "5.4.6", "Too many hops"});

  if (account) {
    // Only the first refusal counts: whether it was the sender policy's goes with it.
    auto fail_identity = [&](core::Status s, bool policy) {
      if (v.status.ok() && !s.ok()) v.sender_refused = policy;
      fail(std::move(s));
    };
    bool policy = false;
    core::Status from = check_from(*account, fields, v.header_from, &policy);
    fail_identity(std::move(from), policy);
    for (const auto& f : fields)
      if (core::iequals(f.name, "Sender") || core::iequals(f.name, "Resent-From") ||
          core::iequals(f.name, "Resent-Sender")) {
        policy = false;
        core::Status s = check_identity(*account, f, &policy);
        fail_identity(std::move(s), policy);
      }
    if (rules.require_header_rcpts && account->require_header_rcpts)
      fail(check_header_recipients(fields, rcpts));
  } else {
    for (const auto& f : fields) {
      if (!core::iequals(f.name, "From")) continue;
      auto list = message::parse_address_list(f.value());
      if (list && !list->empty()) v.header_from = list->front().mailbox.str();
      break;
    }
  }

  std::set<std::string> seen;
  const std::string own = core::to_lower(rules.authserv_id);
  for (const auto& f : fields) {
    if (is_option_header(f.name)) {
      if (v.status.ok()) fail(apply_option(v.options, seen, f.name, f.value()));
      continue;
    }
    if (core::iequals(f.name, "Return-Path")) continue;
    if (core::iequals(f.name, "Authentication-Results") && !own.empty() &&
        authserv_id(f.value()) == own)
      continue;
    if (account && core::iequals(f.name, "DKIM-Signature")) {
      const std::string d = dkim_domain(f.value());
      if (!listed(account->domains, d) && !listed(account->platform_domains, d)) continue;
    }
    if (core::iequals(f.name, "Date")) v.has_date = true;
    if (core::iequals(f.name, "Message-ID") && v.message_id.empty()) v.message_id = f.value();
    v.kept.push_back(&f);
  }
  return v;
}

}  // namespace tern::policy
