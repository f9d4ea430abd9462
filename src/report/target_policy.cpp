#include "report/target_policy.hpp"

#include <charconv>
#include <cstring>

namespace tern::report {

namespace {

using dns::IpAddr;

core::Error bad(std::string why) { return core::Error::perm("refused URL: " + std::move(why)); }

IpAddr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  const uint8_t x[4] = {a, b, c, d};
  return IpAddr::from_v4(x);
}

IpAddr v6(std::initializer_list<uint8_t> prefix) {
  uint8_t x[16] = {};
  size_t i = 0;
  for (uint8_t b : prefix) x[i++] = b;
  return IpAddr::from_v6(x);
}

struct Range {
  IpAddr net;
  unsigned prefix;
  const char* reason;
  bool loopback = false;
};

const std::vector<Range>& v4_ranges() {
  static const std::vector<Range> r = {
      {v4(0, 0, 0, 0), 8, "unspecified"},
      {v4(10, 0, 0, 0), 8, "private"},
      {v4(100, 64, 0, 0), 10, "shared address space (CGNAT)"},
      {v4(127, 0, 0, 0), 8, "loopback", true},
      {v4(169, 254, 0, 0), 16, "link-local"},
      {v4(172, 16, 0, 0), 12, "private"},
      {v4(192, 0, 0, 0), 24, "IETF protocol assignment"},
      {v4(192, 0, 2, 0), 24, "documentation"},
      {v4(192, 168, 0, 0), 16, "private"},
      {v4(198, 18, 0, 0), 15, "benchmarking"},
      {v4(198, 51, 100, 0), 24, "documentation"},
      {v4(203, 0, 113, 0), 24, "documentation"},
      {v4(224, 0, 0, 0), 4, "multicast"},
      {v4(255, 255, 255, 255), 32, "broadcast"},
      {v4(240, 0, 0, 0), 4, "reserved"},
  };
  return r;
}

const std::vector<Range>& v6_ranges() {
  static const std::vector<Range> r = {
      {v6({}), 128, "unspecified"},
      {v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}), 128, "loopback", true},
      {v6({0xfc}), 7, "unique-local"},
      {v6({0xfe, 0x80}), 10, "link-local"},
      {v6({0xfe, 0xc0}), 10, "site-local"},
      {v6({0xff}), 8, "multicast"},
      {v6({0x20, 0x01, 0x0d, 0xb8}), 32, "documentation"},
      {v6({0x01, 0x00}), 64, "discard"},
      {v6({0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}), 48, "local NAT64"},
  };
  return r;
}

// The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4), with its form.
std::optional<std::pair<IpAddr, const char*>> embedded_v4(const IpAddr& a) {
  if (!a.v6) return std::nullopt;
  const uint8_t* b = a.bytes.data();
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static const uint8_t compat[12] = {};
  static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::memcmp(b, mapped, 12) == 0) return std::pair{IpAddr::from_v4(b + 12), "IPv4-mapped"};
  if (std::memcmp(b, compat, 12) == 0) return std::pair{IpAddr::from_v4(b + 12), "IPv4-compatible"};
  if (std::memcmp(b, nat64, 12) == 0) return std::pair{IpAddr::from_v4(b + 12), "NAT64"};
  if (b[0] == 0x20 && b[1] == 0x02) return std::pair{IpAddr::from_v4(b + 2), "6to4"};
  return std::nullopt;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_digit(c)) return false;
  return true;
}

// Lower-cases host in place; nullptr when it is an acceptable DNS name, else why not.
const char* hostname_problem(std::string& host) {
  for (char& c : host) {
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '-' || c == '.'))
      return "host has a character not allowed in a DNS name";
  }
  if (host.size() > 253) return "host name longer than 253 characters";
  size_t start = 0;
  std::string_view last;
  while (true) {
    size_t dot = host.find('.', start);
    std::string_view label = std::string_view(host).substr(
        start, dot == std::string::npos ? std::string::npos : dot - start);
    if (label.empty()) return "host has an empty label";
    if (label.size() > 63) return "host label longer than 63 characters";
    if (label.front() == '-' || label.back() == '-') return "host label starts or ends with '-'";
    last = label;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (all_digits(last) || last.substr(0, 2) == "0x")
    return "numeric host that is not a dotted-quad IPv4 address";
  return nullptr;
}

// Why an address is refused, and whether that is because it is a loopback address (which
// allow_loopback lets through).
struct Refusal {
  std::string reason;
  bool loopback = false;
};

std::optional<Refusal> classify(const IpAddr& a) {
  const auto& ranges = a.v6 ? v6_ranges() : v4_ranges();
  for (const Range& r : ranges)
    if (dns::in_prefix(a, r.net, r.prefix)) return Refusal{r.reason, r.loopback};
  if (auto e = embedded_v4(a)) {
    if (auto inner = classify(e->first))
      return Refusal{inner->reason + " (" + e->second + ")", inner->loopback};
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> refusal(const IpAddr& a) {
  auto r = classify(a);
  if (!r) return std::nullopt;
  return std::move(r->reason);
}

core::Result<void> check_address(const IpAddr& a, const TargetPolicy& policy) {
  auto why = classify(a);
  if (!why) return core::ok();
  auto e = embedded_v4(a);
  for (const auto& [net, prefix] : policy.allow) {
    if (dns::in_prefix(a, net, prefix)) return core::ok();
    if (e && dns::in_prefix(e->first, net, prefix)) return core::ok();
  }
  if (policy.allow_loopback && why->loopback) return core::ok();
  return core::Error::invalid("refused target address " + a.to_string() + ": " + why->reason);
}

core::Result<TargetUrl> parse_url(std::string_view url) {
  if (url.size() > 2048) return bad("longer than 2048 characters");
  for (char c : url) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u >= 0x7f) return bad("control character, space or non-ASCII byte");
    if (c == '\\') return bad("backslash");
  }
  TargetUrl t;
  size_t colon = url.find("://");
  if (colon == std::string_view::npos) return bad("no scheme");
  for (char c : url.substr(0, colon)) t.scheme += (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
  if (t.scheme != "http" && t.scheme != "https") return bad("scheme is not http or https");
  std::string_view rest = url.substr(colon + 3);
  size_t end = rest.find_first_of("/?#");
  std::string_view auth = rest.substr(0, end);
  std::string_view tail = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  if (auth.find('@') != std::string_view::npos) return bad("userinfo in the URL");
  if (auth.empty()) return bad("no host");

  std::string_view host, port;
  bool bracketed = false;
  if (auth.front() == '[') {
    size_t close = auth.find(']');
    if (close == std::string_view::npos) return bad("unterminated IPv6 literal");
    host = auth.substr(1, close - 1);
    std::string_view after = auth.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("garbage after IPv6 literal");
      port = after.substr(1);
      if (port.empty()) return bad("empty port");
    }
    bracketed = true;
  } else {
    size_t c = auth.find(':');
    host = auth.substr(0, c);
    if (c != std::string_view::npos) {
      port = auth.substr(c + 1);
      if (port.empty()) return bad("empty port");
    }
  }
  if (host.empty()) return bad("no host");
  if (!port.empty()) {
    if (!all_digits(port) || port.size() > 5) return bad("port is not a number");
    int p = std::stoi(std::string(port));
    if (p < 1 || p > 65535) return bad("port out of range");
    t.port = static_cast<uint16_t>(p);
  } else {
    t.port = t.scheme == "https" ? 443 : 80;
  }

  if (bracketed) {
    if (host.find('%') != std::string_view::npos) return bad("IPv6 zone id");
    if (host.find(':') == std::string_view::npos) return bad("bracketed host is not IPv6");
    auto ip = IpAddr::parse(host);
    if (!ip) return bad("invalid IPv6 literal");
    t.ip = *ip;
    t.host = ip->to_string();
  } else {
    std::string h(host);
    if (!h.empty() && h.back() == '.') h.pop_back();  // "example.com." is example.com
    if (h.empty()) return bad("no host");
    if (auto ip = IpAddr::parse(h); ip && !ip->v6) {
      t.ip = *ip;
      t.host = ip->to_string();
    } else {
      if (const char* why = hostname_problem(h)) return bad(why);
      t.host = std::move(h);
    }
  }

  size_t hash = tail.find('#');
  if (hash != std::string_view::npos) tail = tail.substr(0, hash);
  t.path = std::string(tail);
  if (t.path.empty() || t.path.front() == '?') t.path.insert(0, "/");
  return t;
}

core::Result<TargetUrl> check_url(std::string_view url, const TargetPolicy& policy) {
  auto t = parse_url(url);
  if (!t) return t.error();
  if (t->ip) {
    auto ok = check_address(*t->ip, policy);
    if (!ok) return ok.error();
  }
  return t;
}

core::Result<std::optional<IpAddr>> check_host(std::string_view host, const TargetPolicy& policy) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (auto ip = IpAddr::parse(host)) {
    if (auto ok = check_address(*ip, policy); !ok) return ok.error();
    return std::optional<IpAddr>(*ip);
  }
  std::string h(host);
  if (!h.empty() && h.back() == '.') h.pop_back();
  if (h.empty()) return core::Error::perm("refused host: empty");
  if (const char* why = hostname_problem(h))
    return core::Error::invalid(std::string("refused host: ") + why);
  const std::string& n = h;
  const std::string_view suffix = ".localhost";
  if (n == "localhost" || (n.size() > suffix.size() &&
                           n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)) {
    if (auto ok = check_address(v4(127, 0, 0, 1), policy); !ok)
      return core::Error::perm("refused host " + n + ": loopback (RFC 6761 localhost)");
  }
  return std::optional<IpAddr>();
}

core::Result<TargetPolicy> make_policy(bool allow_loopback, const std::vector<std::string>& allow,
                                       std::string_view what) {
  TargetPolicy p;
  p.allow_loopback = allow_loopback;
  for (const auto& entry : allow) {
    const auto slash = entry.find('/');
    auto ip = IpAddr::parse(std::string_view(entry).substr(0, slash));
    unsigned prefix = 0;
    bool good = ip.has_value();
    if (good && slash == std::string::npos) {
      prefix = static_cast<unsigned>(ip->width());
    } else if (good) {
      const std::string_view digits = std::string_view(entry).substr(slash + 1);
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
      good = ec == std::errc() && end == digits.data() + digits.size() && !digits.empty() &&
             prefix <= ip->width();
    }
    if (!good)
      return core::Error::perm(std::string(what) + ": not an address or prefix: '" + entry + "'");
    p.allow.emplace_back(*ip, prefix);
  }
  return p;
}

}  // namespace tern::report
