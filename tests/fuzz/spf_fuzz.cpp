// Fuzzes SPF evaluation (dns::check_host, src/dns/spf.cpp): the record parser, macro
// expansion and the evaluator, over a fake DNS built from the input. The records come from
// customer domains, so every byte of them is hostile.
// Input, one item per line:
//   line 1: the client IP (IPv4 or IPv6 text); line 2: the MAIL FROM domain;
//   then "<name> <TYPE> <data>" with TYPE one of TXT (data: one whole record), A, AAAA,
//   MX ("<pref> <host>"), NX (name does not exist), SERVFAIL.
// Invariants:
//  - never a crash, an endless loop or UB (ASan/UBSan, libFuzzer's timeout);
//  - an explanation always; counted DNS terms stop at the limit (10, plus the one that broke
//    it), void look-ups at 2 plus one; the total number of queries one check makes is bounded
//    (RFC 7208 §4.6.4: a record cannot make us a DNS amplifier);
//  - the same question gets the same answer twice (no hidden state).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "dns/names.hpp"
#include "dns/resolver.hpp"
#include "dns/spf.hpp"

namespace {

using tern::dns::Answer;
using tern::dns::RType;

struct Node {
  bool nx = false;
  bool servfail = false;
  std::vector<std::string> txt, a, aaaa;
  std::vector<tern::dns::Mx> mx;
};

class ZoneResolver : public tern::dns::Resolver {
 public:
  std::map<std::string, Node> zone;
  int queries = 0;

  Answer query(const std::string& name, RType type) override {
    ++queries;
    Answer a;
    a.canonical_name = tern::dns::normalize_name(name);
    auto it = zone.find(a.canonical_name);
    if (it == zone.end() || it->second.nx) {
      a.status = Answer::Status::nxdomain;
      return a;
    }
    const Node& n = it->second;
    if (n.servfail) {
      a.status = Answer::Status::temp_error;
      a.error = "SERVFAIL";
      return a;
    }
    switch (type) {
      case RType::TXT:
        a.txt = n.txt;
        break;
      case RType::A:
        a.addrs = n.a;
        break;
      case RType::AAAA:
        a.addrs = n.aaaa;
        break;
      case RType::MX:
        a.mx = n.mx;
        break;
      case RType::CNAME:
        break;
    }
    a.status = a.txt.empty() && a.addrs.empty() && a.mx.empty() ? Answer::Status::nodata
                                                                : Answer::Status::ok;
    return a;
  }
};

std::string_view next_line(std::string_view& in) {
  size_t nl = in.find('\n');
  std::string_view line = in.substr(0, nl);
  in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
  return line;
}

std::string_view next_word(std::string_view& in) {
  size_t sp = in.find(' ');
  std::string_view w = in.substr(0, sp);
  in.remove_prefix(sp == std::string_view::npos ? in.size() : sp + 1);
  return w;
}

void check(const tern::dns::SpfResult& r, const ZoneResolver& z) {
  if (r.explanation.empty()) std::abort();
  if (r.dns_lookups > 11 || r.void_lookups > 3) std::abort();
  // 1 TXT at the top, then at most 10 counted terms that query (the 11th fails before its
  // query), each at most an include's TXT or an mx's MX plus 10 host look-ups.
  if (z.queries > 1 + 10 * 11) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string ip(next_line(in));
  const std::string domain(next_line(in));
  ZoneResolver z;
  while (!in.empty()) {
    std::string_view line = next_line(in);
    const std::string name = tern::dns::normalize_name(next_word(line));
    const std::string_view type = next_word(line);
    Node& n = z.zone[name];
    if (type == "TXT") {
      n.txt.emplace_back(line);
    } else if (type == "A") {
      n.a.emplace_back(line);
    } else if (type == "AAAA") {
      n.aaaa.emplace_back(line);
    } else if (type == "MX") {
      const std::string_view pref = next_word(line);
      uint16_t p = 0;
      for (char c : pref)
        if (c >= '0' && c <= '9') p = static_cast<uint16_t>(p * 10 + (c - '0'));
      n.mx.push_back({p, tern::dns::normalize_name(line)});
    } else if (type == "NX") {
      n.nx = true;
    } else if (type == "SERVFAIL") {
      n.servfail = true;
    }
  }
  const auto first = tern::dns::check_host(z, ip, domain);
  check(first, z);
  z.queries = 0;
  const auto again = tern::dns::check_host(z, ip, domain);
  check(again, z);
  if (again.outcome != first.outcome || again.explanation != first.explanation ||
      again.dns_lookups != first.dns_lookups || again.void_lookups != first.void_lookups)
    std::abort();
  return 0;
}
