#include "smtp/command.hpp"

#include "core/address.hpp"

namespace tern::smtp {

namespace {

core::Status err(int code, const char* enh, std::string text) {
  return {code, enh, std::move(text)};
}
core::Status syntax(std::string text) { return err(501, "5.5.4", std::move(text)); }

bool istarts(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && core::iequals(s.substr(0, prefix.size()), prefix);
}

bool no_args(std::string_view rest) {
  return rest.find_first_not_of(' ') == std::string_view::npos;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// Reads "<path>" at the start of s. Returns the mailbox text (route removed) and sets `rest`
// to what follows '>'. Quoted local parts may contain '>' and escaped characters.
std::optional<std::string> read_path(std::string_view s, std::string_view& rest) {
  if (s.empty() || s.front() != '<') return std::nullopt;
  size_t i = 1;
  if (i < s.size() && s[i] == '@') {  // source route: drop up to ':'
    size_t colon = s.find(':', i);
    if (colon == std::string_view::npos) return std::nullopt;
    i = colon + 1;
  }
  size_t start = i;
  bool quoted = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (quoted && c == '\\') {
      ++i;
      continue;
    }
    if (c == '"')
      quoted = !quoted;
    else if (!quoted && c == '>')
      break;
  }
  if (i >= s.size()) return std::nullopt;
  rest = s.substr(i + 1);
  return std::string(s.substr(start, i - start));
}

bool xtext(std::string_view v) {
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if (u < 33 || u > 126 || c == '=') return false;
  }
  return true;
}

ParsedCommand parse_path_command(Verb verb, std::string_view rest) {
  const bool mail = verb == Verb::mail;
  const char* keyword = mail ? "FROM:" : "TO:";
  std::string usage = mail ? "Syntax: MAIL FROM:<address>" : "Syntax: RCPT TO:<address>";
  rest = rest.substr(rest.find_first_not_of(' ') == std::string_view::npos
                         ? rest.size()
                         : rest.find_first_not_of(' '));
  if (!istarts(rest, keyword)) return syntax(usage);
  rest.remove_prefix(std::string_view(keyword).size());
  if (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  std::string_view after;
  auto path = read_path(rest, after);
  if (!path) return syntax(usage);
  Command c;
  c.verb = verb;
  if (path->empty()) {
    if (!mail) return syntax("Bad recipient address syntax");
  } else {
    auto mb = core::parse_mailbox(*path);
    if (!mb) return syntax(mail ? "Bad sender address syntax" : "Bad recipient address syntax");
    c.address = mb->str();
  }
  if (!after.empty() && after.front() != ' ') return syntax(usage);
  std::string_view params = trim(after);
  if (!params.empty() && !mail) return err(555, "5.5.4", "Unsupported parameter");
  bool seen_size = false, seen_body = false, seen_auth = false;
  while (!params.empty()) {
    size_t sp = params.find(' ');
    std::string_view p = params.substr(0, sp);
    params = sp == std::string_view::npos ? std::string_view() : trim(params.substr(sp));
    size_t eq = p.find('=');
    std::string_view key = p.substr(0, eq);
    std::string_view val = eq == std::string_view::npos ? std::string_view() : p.substr(eq + 1);
    bool has_val = eq != std::string_view::npos;
    c.has_params = true;
    if (core::iequals(key, "SIZE")) {
      if (seen_size || !has_val || val.empty() || val.size() > 19)
        return syntax("Bad SIZE parameter");
      uint64_t n = 0;
      for (char d : val) {
        if (d < '0' || d > '9') return syntax("Bad SIZE parameter");
        n = n * 10 + static_cast<uint64_t>(d - '0');
      }
      seen_size = true;
      c.size = n;
    } else if (core::iequals(key, "BODY")) {
      if (seen_body || !has_val) return syntax("Bad BODY parameter");
      if (core::iequals(val, "7BIT"))
        c.body = Body::seven_bit;
      else if (core::iequals(val, "8BITMIME"))
        c.body = Body::eight_bit_mime;
      else
        return syntax("Bad BODY parameter");
      seen_body = true;
    } else if (core::iequals(key, "SMTPUTF8")) {
      if (has_val || c.smtputf8) return syntax("Bad SMTPUTF8 parameter");
      c.smtputf8 = true;
    } else if (core::iequals(key, "AUTH")) {
      if (seen_auth || !has_val || val.empty() || (val != "<>" && !xtext(val)))
        return syntax("Bad AUTH parameter");
      seen_auth = true;
    } else {
      return err(555, "5.5.4", "Unsupported parameter");
    }
  }
  return c;
}

bool printable_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 33 || u > 126) return false;
  }
  return true;
}

}  // namespace

ParsedCommand parse_command(std::string_view line) {
  for (char ch : line) {
    auto u = static_cast<unsigned char>(ch);
    if ((u < 32 && ch != '\t') || u == 127)
      return err(500, "5.5.2", "Error: bad character in command");
  }
  size_t sp = line.find(' ');
  std::string_view verb = line.substr(0, sp);
  std::string_view rest = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
  static const struct {
    const char* name;
    Verb verb;
  } kVerbs[] = {{"HELO", Verb::helo}, {"EHLO", Verb::ehlo},         {"MAIL", Verb::mail},
                {"RCPT", Verb::rcpt}, {"DATA", Verb::data},         {"RSET", Verb::rset},
                {"NOOP", Verb::noop}, {"QUIT", Verb::quit},         {"VRFY", Verb::vrfy},
                {"HELP", Verb::help}, {"STARTTLS", Verb::starttls}, {"AUTH", Verb::auth}};
  const Verb* v = nullptr;
  for (const auto& k : kVerbs)
    if (core::iequals(verb, k.name)) v = &k.verb;
  if (!v) return err(500, "5.5.2", "Error: command not recognized");
  Command c;
  c.verb = *v;
  switch (*v) {
    case Verb::helo:
    case Verb::ehlo: {
      std::string_view name = trim(rest);
      if (!printable_token(name))
        return syntax(*v == Verb::ehlo ? "Syntax: EHLO hostname" : "Syntax: HELO hostname");
      c.arg = std::string(name);
      return c;
    }
    case Verb::mail:
    case Verb::rcpt:
      return parse_path_command(*v, rest);
    case Verb::data:
    case Verb::rset:
    case Verb::quit:
    case Verb::starttls:
      if (!no_args(rest)) return syntax("Syntax: " + std::string(verb) + " takes no arguments");
      return c;
    case Verb::auth: {
      std::string_view a = trim(rest);
      if (a.empty()) return syntax("Syntax: AUTH mechanism [initial-response]");
      c.arg = std::string(a);
      return c;
    }
    case Verb::vrfy:
      if (trim(rest).empty()) return syntax("Syntax: VRFY address");
      c.arg = std::string(trim(rest));
      return c;
    case Verb::noop:
    case Verb::help:
      c.arg = std::string(trim(rest));
      return c;
  }
  return c;
}

}  // namespace tern::smtp
