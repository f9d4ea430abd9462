// RFC 7208 check_host(); see spf.hpp for what is covered. The record is parsed completely
// (Record) before evaluation so that a syntax error anywhere gives permerror (§4.6), then the
// directives are evaluated left to right with shared lookup counters across include/redirect.
#include "dns/spf.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <optional>
#include <string_view>
#include <variant>

#include "dns/ip.hpp"
#include "dns/names.hpp"

namespace tern::dns {

const char* to_string(SpfOutcome o) {
  switch (o) {
    case SpfOutcome::none:
      return "none";
    case SpfOutcome::neutral:
      return "neutral";
    case SpfOutcome::pass:
      return "pass";
    case SpfOutcome::fail:
      return "fail";
    case SpfOutcome::softfail:
      return "softfail";
    case SpfOutcome::temperror:
      return "temperror";
    case SpfOutcome::permerror:
      return "permerror";
  }
  return "?";
}

namespace {

constexpr int kMaxLookups = 10;  // §4.6.4
constexpr int kMaxVoid = 2;      // §4.6.4
constexpr size_t kMaxMxHosts = 10;

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

// ---- macro strings (§7) ----------------------------------------------------------------------

struct MacroContext {
  std::string sender_local;   // l
  std::string sender_domain;  // o
  std::string domain;         // d
  IpAddr ip;
};

std::string ip_macro(const IpAddr& ip) {
  if (!ip.v6) return ip.to_string();
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : ip.bytes) {
    if (!out.empty()) out += '.';
    out += hex[b >> 4];
    out += '.';
    out += hex[b & 15];
  }
  return out;
}

std::string url_escape(const std::string& s) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (is_alnum(char(c)) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += char(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// Walks a macro-string. With ctx == nullptr it only checks syntax; otherwise it also expands
// into *out. Returns an error text, empty on success. `exp_letters` allows c, r, t (exp= and
// unknown modifiers only). *ends_with_macro tells whether the last token was a macro-expand.
std::string walk_macro(std::string_view s, const MacroContext* ctx, bool exp_letters,
                       std::string* out, bool* ends_with_macro, size_t* tail_start) {
  size_t i = 0;
  bool last_macro = false;
  size_t tail = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c != '%') {
      if (c < 0x21 || c > 0x7e) return "invalid character in macro-string";
      if (out) *out += c;
      ++i;
      last_macro = false;
      continue;
    }
    if (i + 1 >= s.size()) return "lone '%' at the end";
    char nx = s[i + 1];
    if (nx == '%' || nx == '_' || nx == '-') {
      if (out) *out += nx == '%' ? "%" : nx == '_' ? " " : "%20";
      i += 2;
      last_macro = true;
      tail = i;
      continue;
    }
    if (nx != '{') return "'%' not followed by {, %, _ or -";
    size_t close = s.find('}', i + 2);
    if (close == std::string_view::npos) return "unterminated %{";
    std::string_view body = s.substr(i + 2, close - i - 2);
    if (body.empty()) return "empty %{}";
    char letter = body[0];
    char ll = lower(letter);
    if (std::string_view("slodiphcrtv").find(ll) == std::string_view::npos)
      return std::string("unknown macro letter '") + letter + "'";
    if (!exp_letters && (ll == 'c' || ll == 'r' || ll == 't'))
      return std::string("macro letter '") + letter + "' is only allowed in exp=";
    size_t j = 1;
    size_t keep = 0;  // 0 = all parts
    bool any_digit = false;
    while (j < body.size() && is_digit(body[j])) {
      any_digit = true;
      keep = std::min<size_t>(keep * 10 + size_t(body[j] - '0'), 1000);
      ++j;
    }
    if (any_digit && keep == 0) return "macro transformer of 0 parts";
    bool reverse = false;
    if (j < body.size() && lower(body[j]) == 'r') {
      reverse = true;
      ++j;
    }
    std::string delims;
    for (; j < body.size(); ++j) {
      if (std::string_view(".-+,/_=").find(body[j]) == std::string_view::npos)
        return "invalid macro delimiter";
      delims += body[j];
    }
    if (delims.empty()) delims = ".";
    i = close + 1;
    last_macro = true;
    tail = i;
    if (!ctx) continue;

    std::string value;
    switch (ll) {
      case 's':
        value = ctx->sender_local + "@" + ctx->sender_domain;
        break;
      case 'l':
        value = ctx->sender_local;
        break;
      case 'o':
        value = ctx->sender_domain;
        break;
      case 'd':
        value = ctx->domain;
        break;
      case 'i':
        value = ip_macro(ctx->ip);
        break;
      case 'v':
        value = ctx->ip.v6 ? "ip6" : "in-addr";
        break;
      case 'p':
        value = "unknown";
        break;
      case 'h':
        return "macro %{h} needs the HELO name, which is not known here";
      default:
        return std::string("macro letter '") + letter + "' cannot be expanded here";
    }
    std::vector<std::string> parts;
    size_t start = 0;
    for (size_t k = 0; k <= value.size(); ++k) {
      if (k == value.size() || delims.find(value[k]) != std::string::npos) {
        parts.push_back(value.substr(start, k - start));
        start = k + 1;
      }
    }
    if (reverse) std::reverse(parts.begin(), parts.end());
    if (keep && keep < parts.size()) parts.erase(parts.begin(), parts.end() - long(keep));
    std::string joined;
    for (size_t k = 0; k < parts.size(); ++k) joined += (k ? "." : "") + parts[k];
    *out += is_alpha(letter) && letter != ll ? url_escape(joined) : joined;
  }
  if (ends_with_macro) *ends_with_macro = last_macro;
  if (tail_start) *tail_start = tail;
  return {};
}

bool valid_toplabel(std::string_view t) {
  if (t.empty() || t.size() > 63 || t.front() == '-' || t.back() == '-') return false;
  bool alpha = false, hyphen = false;
  for (char c : t) {
    if (c == '-')
      hyphen = true;
    else if (is_alpha(c))
      alpha = true;
    else if (!is_digit(c))
      return false;
  }
  return alpha || hyphen;
}

// domain-spec = macro-string domain-end; domain-end = ( "." toplabel [ "." ] ) / macro-expand
std::string check_domain_spec(std::string_view spec) {
  if (spec.empty()) return "empty domain-spec";
  bool ends_macro = false;
  size_t tail = 0;
  std::string err = walk_macro(spec, nullptr, false, nullptr, &ends_macro, &tail);
  if (!err.empty()) return err;
  if (ends_macro) return {};
  std::string_view lit = spec.substr(tail);
  if (!lit.empty() && lit.back() == '.') lit.remove_suffix(1);
  size_t dot = lit.rfind('.');
  if (dot == std::string_view::npos || !valid_toplabel(lit.substr(dot + 1)))
    return "domain-spec \"" + std::string(spec) + "\" does not end in a valid top label";
  return {};
}

// ---- record syntax (§4.6.1, §5, §6) ----------------------------------------------------------

enum class Mech { all, include, a, mx, ptr, ip4, ip6, exists };

struct Directive {
  SpfOutcome qualifier = SpfOutcome::pass;
  Mech mech = Mech::all;
  std::string spec;  // domain-spec, empty = the current domain
  IpAddr net;
  unsigned cidr4 = 32, cidr6 = 128;
  std::string text;  // the term as written, for explanations
};

struct Record {
  std::vector<Directive> directives;
  std::optional<std::string> redirect;
};

// Takes a trailing "/N" (ip4, !six) or "//N" (ip6, six) off `s`; error text on a bad length.
std::string take_cidr(std::string_view& s, bool six, unsigned& value) {
  size_t end = s.size(), k = end;
  while (k > 0 && is_digit(s[k - 1])) --k;
  if (k == end || k == 0 || s[k - 1] != '/') return {};  // no cidr here
  bool dbl = k >= 2 && s[k - 2] == '/';
  if (dbl != six) return {};
  std::string_view digits = s.substr(k);
  if (digits.size() > 3 || (digits.size() > 1 && digits[0] == '0'))
    return "bad CIDR length /" + std::string(digits);
  unsigned v = 0;
  for (char c : digits) v = v * 10 + unsigned(c - '0');
  if (v > (six ? 128u : 32u)) return "CIDR length /" + std::string(digits) + " too large";
  value = v;
  s = s.substr(0, k - (six ? 2 : 1));
  return {};
}

std::string parse_ip_net(std::string_view arg, bool six, Directive& d) {
  size_t slash = arg.find('/');
  std::string addr(arg.substr(0, slash));
  uint8_t buf[16];
  if (six) {
    if (inet_pton(AF_INET6, addr.c_str(), buf) != 1) return "bad IPv6 network \"" + addr + "\"";
    d.net = IpAddr::from_v6(buf);
  } else {
    if (inet_pton(AF_INET, addr.c_str(), buf) != 1) return "bad IPv4 network \"" + addr + "\"";
    d.net = IpAddr::from_v4(buf);
  }
  if (slash == std::string_view::npos) return {};
  // ip4-cidr-length = "/" ("0" / %x31-39 0*1DIGIT); ip6 likewise with up to 3 digits.
  std::string_view digits = arg.substr(slash + 1);
  unsigned max = six ? 128u : 32u, v = 0;
  if (digits.empty() || digits.size() > 3 || (digits.size() > 1 && digits[0] == '0') ||
      !std::all_of(digits.begin(), digits.end(), is_digit))
    return "bad CIDR \"/" + std::string(digits) + "\"";
  for (char c : digits) v = v * 10 + unsigned(c - '0');
  if (v > max) return "CIDR length /" + std::string(digits) + " too large";
  (six ? d.cidr6 : d.cidr4) = v;
  return {};
}

std::variant<Record, std::string> parse_record(std::string_view rec) {
  Record r;
  bool seen_exp = false;
  // Terms are printable ASCII separated by SP (§4.6.1, §12): a NUL, TAB, control or non-ASCII
  // byte anywhere is a syntax error. Checked once here so no later step (inet_pton wants C
  // strings) can be fooled by an embedded NUL.
  for (char c : rec)
    if (c != ' ' && (c < 0x21 || c > 0x7e))
      return "invalid byte 0x" + std::string(1, "0123456789abcdef"[(unsigned char)c >> 4]) +
             std::string(1, "0123456789abcdef"[c & 15]) + " in the record";
  size_t i = 6;  // after "v=spf1"
  while (i < rec.size()) {
    if (rec[i] == ' ') {
      ++i;
      continue;
    }
    size_t end = rec.find(' ', i);
    if (end == std::string_view::npos) end = rec.size();
    std::string_view term = rec.substr(i, end - i);
    i = end;
    std::string t(term);

    // modifier = name "=" macro-string; name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
    size_t n = 0;
    while (n < term.size() &&
           (is_alnum(term[n]) || term[n] == '-' || term[n] == '_' || term[n] == '.'))
      ++n;
    if (n > 0 && n < term.size() && term[n] == '=' && is_alpha(term[0])) {
      std::string_view name = term.substr(0, n), value = term.substr(n + 1);
      if (iequals(name, "redirect")) {
        if (r.redirect) return "more than one redirect= modifier";
        if (auto e = check_domain_spec(value); !e.empty()) return t + ": " + e;
        r.redirect = std::string(value);
      } else if (iequals(name, "exp")) {
        if (seen_exp) return "more than one exp= modifier";
        seen_exp = true;
        if (auto e = check_domain_spec(value); !e.empty()) return t + ": " + e;
      } else {
        std::string e = walk_macro(value, nullptr, true, nullptr, nullptr, nullptr);
        if (!e.empty()) return t + ": " + e;
      }
      continue;
    }

    Directive d;
    d.text = t;
    std::string_view rest = term;
    switch (rest.empty() ? 0 : rest[0]) {
      case '+':
        d.qualifier = SpfOutcome::pass;
        rest.remove_prefix(1);
        break;
      case '-':
        d.qualifier = SpfOutcome::fail;
        rest.remove_prefix(1);
        break;
      case '~':
        d.qualifier = SpfOutcome::softfail;
        rest.remove_prefix(1);
        break;
      case '?':
        d.qualifier = SpfOutcome::neutral;
        rest.remove_prefix(1);
        break;
      default:
        break;
    }
    size_t name_end = rest.find_first_of(":/");
    std::string_view mname = rest.substr(0, name_end);
    std::string_view arg = name_end == std::string_view::npos ? "" : rest.substr(name_end);
    // arg is "" or starts with ':' or '/'.
    auto domain_arg = [&](bool required) -> std::string {
      if (arg.empty()) return required ? "missing domain" : "";
      if (arg[0] != ':') return "unexpected \"" + std::string(arg) + "\"";
      std::string_view spec = arg.substr(1);
      if (auto e = check_domain_spec(spec); !e.empty()) return e;
      d.spec = std::string(spec);
      return {};
    };
    std::string err;
    if (iequals(mname, "all")) {
      d.mech = Mech::all;
      if (!arg.empty()) err = "all takes no argument";
    } else if (iequals(mname, "include") || iequals(mname, "exists")) {
      d.mech = iequals(mname, "include") ? Mech::include : Mech::exists;
      err = domain_arg(true);
    } else if (iequals(mname, "ptr")) {
      d.mech = Mech::ptr;
      err = domain_arg(false);
    } else if (iequals(mname, "a") || iequals(mname, "mx")) {
      d.mech = iequals(mname, "a") ? Mech::a : Mech::mx;
      err = take_cidr(arg, true, d.cidr6);
      if (err.empty()) err = take_cidr(arg, false, d.cidr4);
      if (err.empty()) err = domain_arg(false);
    } else if (iequals(mname, "ip4") || iequals(mname, "ip6")) {
      d.mech = iequals(mname, "ip4") ? Mech::ip4 : Mech::ip6;
      if (arg.size() < 2 || arg[0] != ':')
        err = "missing network";
      else
        err = parse_ip_net(arg.substr(1), d.mech == Mech::ip6, d);
    } else {
      err = "unknown mechanism";
    }
    if (!err.empty()) return "\"" + t + "\": " + err;
    r.directives.push_back(std::move(d));
  }
  return r;
}

bool is_spf_record(std::string_view txt) {
  return txt.size() >= 6 && iequals(txt.substr(0, 6), "v=spf1") &&
         (txt.size() == 6 || txt[6] == ' ');
}

// ---- evaluation (§4, §5) --------------------------------------------------------------------

SpfResult make(SpfOutcome o, std::string why) {
  SpfResult r;
  r.outcome = o;
  r.explanation = std::move(why);
  return r;
}

class Evaluator {
 public:
  Evaluator(Resolver& r, IpAddr ip, std::string domain)
      : r_(r), ip_(ip), sender_domain_(std::move(domain)) {}

  SpfResult check(const std::string& raw_domain) {
    std::string domain = normalize_name(raw_domain);
    if (!valid_name(domain) || domain.find('.') == std::string::npos)
      return make(SpfOutcome::none, "\"" + domain + "\" is not a valid multi-label domain");
    if (std::find(stack_.begin(), stack_.end(), domain) != stack_.end())
      return make(SpfOutcome::permerror, "loop: " + domain + " includes or redirects to itself");
    stack_.push_back(domain);
    SpfResult res = check_record(domain);
    stack_.pop_back();
    return res;
  }

  int lookups() const { return lookups_; }
  int voids() const { return voids_; }

 private:
  enum class Match { no, yes, error };

  SpfResult check_record(const std::string& domain) {
    Answer txt = r_.query(domain, RType::TXT);
    if (txt.status == Answer::Status::temp_error)
      return make(SpfOutcome::temperror, domain + ": TXT lookup failed: " + txt.error);
    std::vector<const std::string*> spf;
    for (const auto& t : txt.txt)
      if (is_spf_record(t)) spf.push_back(&t);
    if (spf.empty()) return make(SpfOutcome::none, domain + ": no SPF record");
    if (spf.size() > 1)
      return make(SpfOutcome::permerror,
                  domain + ": " + std::to_string(spf.size()) + " SPF records");
    auto parsed = parse_record(*spf[0]);
    if (auto* e = std::get_if<std::string>(&parsed))
      return make(SpfOutcome::permerror, domain + ": syntax: " + *e);
    const Record& rec = std::get<Record>(parsed);

    for (const Directive& d : rec.directives) {
      SpfResult err;
      Match m = evaluate(domain, d, err);
      if (m == Match::error) return err;
      if (m == Match::yes) {
        SpfResult res = make(d.qualifier, domain + ": " + d.text);
        if (!err.explanation.empty()) res.explanation += " -> " + err.explanation;
        return res;
      }
    }
    if (rec.redirect) {
      SpfResult err;
      if (!count_lookup(domain, err)) return err;
      std::string target;
      if (!expand(*rec.redirect, domain, target, err)) return err;
      SpfResult sub = check(target);
      if (sub.outcome == SpfOutcome::none)
        return make(SpfOutcome::permerror, domain + ": redirect=" + target +
                                               " has no SPF record (" + sub.explanation + ")");
      sub.explanation = domain + ": redirect=" + target + " -> " + sub.explanation;
      return sub;
    }
    return make(SpfOutcome::neutral, domain + ": no mechanism matched (default neutral)");
  }

  bool count_lookup(const std::string& domain, SpfResult& err) {
    if (++lookups_ > kMaxLookups) {
      err = make(SpfOutcome::permerror,
                 domain + ": more than " + std::to_string(kMaxLookups) + " DNS-querying terms");
      return false;
    }
    return true;
  }

  // Counts a void answer; false (with err set) once the limit is passed.
  bool count_void(const Answer& a, const std::string& domain, SpfResult& err) {
    if (a.status != Answer::Status::nxdomain && a.status != Answer::Status::nodata) return true;
    if (++voids_ > kMaxVoid) {
      err = make(SpfOutcome::permerror,
                 domain + ": more than " + std::to_string(kMaxVoid) + " void DNS lookups");
      return false;
    }
    return true;
  }

  bool expand(const std::string& spec, const std::string& domain, std::string& out,
              SpfResult& err) {
    MacroContext ctx{"postmaster", sender_domain_, domain, ip_};
    std::string raw;
    std::string e = walk_macro(spec, &ctx, false, &raw, nullptr, nullptr);
    if (!e.empty()) {
      err = make(SpfOutcome::permerror, domain + ": " + e);
      return false;
    }
    if (!raw.empty() && raw.back() == '.') raw.pop_back();
    while (raw.size() > 253) {  // §4.8: drop labels from the left
      size_t dot = raw.find('.');
      raw = dot == std::string::npos ? std::string() : raw.substr(dot + 1);
    }
    if (!valid_name(raw)) {
      err = make(SpfOutcome::permerror, domain + ": \"" + spec + "\" expands to an invalid name");
      return false;
    }
    out = normalize_name(raw);
    return true;
  }

  // temp_error → temperror; otherwise true.
  bool dns_ok(const Answer& a, const std::string& domain, const std::string& name, SpfResult& err) {
    if (a.status != Answer::Status::temp_error) return true;
    err = make(SpfOutcome::temperror, domain + ": lookup of " + name + " failed: " + a.error);
    return false;
  }

  bool addr_matches(const Answer& a, unsigned cidr4, unsigned cidr6) const {
    for (const auto& text : a.addrs) {
      auto addr = IpAddr::parse(text);
      if (addr && in_prefix(ip_, *addr, ip_.v6 ? cidr6 : cidr4)) return true;
    }
    return false;
  }

  Match evaluate(const std::string& domain, const Directive& d, SpfResult& err) {
    RType addr_type = ip_.v6 ? RType::AAAA : RType::A;
    std::string target = domain;
    switch (d.mech) {
      case Mech::all:
        return Match::yes;
      case Mech::ip4:
      case Mech::ip6:
        return in_prefix(ip_, d.net, d.mech == Mech::ip6 ? d.cidr6 : d.cidr4) ? Match::yes
                                                                              : Match::no;
      case Mech::ptr:
        if (!count_lookup(domain, err)) return Match::error;
        return Match::no;  // §5.5: deprecated; never matches here
      default:
        break;
    }
    if (!count_lookup(domain, err)) return Match::error;
    if (!d.spec.empty() && !expand(d.spec, domain, target, err)) return Match::error;

    switch (d.mech) {
      case Mech::include: {
        SpfResult sub = check(target);
        switch (sub.outcome) {
          case SpfOutcome::pass:
            err.explanation = sub.explanation;  // carried into the match explanation
            return Match::yes;
          case SpfOutcome::fail:
          case SpfOutcome::softfail:
          case SpfOutcome::neutral:
            return Match::no;
          case SpfOutcome::temperror:
            err = sub;
            err.explanation = domain + ": include:" + target + " -> " + sub.explanation;
            return Match::error;
          case SpfOutcome::none:
          case SpfOutcome::permerror:
            err = make(SpfOutcome::permerror,
                       domain + ": include:" + target + " -> " + sub.explanation);
            return Match::error;
        }
        return Match::error;
      }
      case Mech::a: {
        Answer a = r_.query(target, addr_type);
        if (!dns_ok(a, domain, target, err) || !count_void(a, domain, err)) return Match::error;
        return addr_matches(a, d.cidr4, d.cidr6) ? Match::yes : Match::no;
      }
      case Mech::mx: {
        Answer mx = r_.query(target, RType::MX);
        if (!dns_ok(mx, domain, target, err) || !count_void(mx, domain, err)) return Match::error;
        if (mx.mx.size() > kMaxMxHosts) {
          err = make(SpfOutcome::permerror, domain + ": " + target + " has more than " +
                                                std::to_string(kMaxMxHosts) + " MX records");
          return Match::error;
        }
        for (const Mx& host : mx.mx) {
          if (host.host.empty()) continue;  // null MX (RFC 7505)
          Answer a = r_.query(host.host, addr_type);
          if (!dns_ok(a, domain, host.host, err)) return Match::error;
          if (addr_matches(a, d.cidr4, d.cidr6)) return Match::yes;
        }
        return Match::no;
      }
      case Mech::exists: {
        Answer a = r_.query(target, RType::A);  // §5.7: always A, whatever the client's family
        if (!dns_ok(a, domain, target, err) || !count_void(a, domain, err)) return Match::error;
        return a.addrs.empty() ? Match::no : Match::yes;
      }
      default:
        return Match::no;
    }
  }

  Resolver& r_;
  IpAddr ip_;
  std::string sender_domain_;
  std::vector<std::string> stack_;
  int lookups_ = 0;
  int voids_ = 0;
};

}  // namespace

SpfResult check_host(Resolver& resolver, const std::string& ip, const std::string& domain) {
  auto addr = IpAddr::parse(ip);
  if (!addr) return make(SpfOutcome::permerror, "\"" + ip + "\" is not an IP address");
  Evaluator e(resolver, *addr, normalize_name(domain));
  SpfResult r = e.check(domain);
  r.dns_lookups = e.lookups();
  r.void_lookups = e.voids();
  return r;
}

SpfVerdict evaluate_platform(Resolver& resolver, const std::string& domain,
                             const std::vector<std::string>& platform_ips) {
  SpfVerdict v;
  v.all_pass = !platform_ips.empty();
  for (const auto& ip : platform_ips) {
    SpfResult r = check_host(resolver, ip, domain);
    v.all_pass = v.all_pass && r.outcome == SpfOutcome::pass;
    v.results.push_back({ip, std::move(r)});
  }
  return v;
}

}  // namespace tern::dns
