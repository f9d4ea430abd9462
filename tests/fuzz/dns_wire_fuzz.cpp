// Fuzzes the DNS response parser (dns::parse_response, src/dns/wire.cpp), which reads the
// bytes libunbound hands back for every MX, A/AAAA, TXT (SPF, DKIM, DMARC) and CNAME look-up.
// Input: [type selector][qname selector][DNS message]. The names are the ones the seed corpus
// (tests/fuzz/corpus/dns_wire/) asks for, so mutated seeds keep reaching the answer section.
// Invariants:
//  - never a crash, an endless loop or UB (ASan/UBSan, libFuzzer's timeout);
//  - ok means data of the asked type (A/AAAA: addresses, MX: hosts, TXT: strings, CNAME: the
//    one target); temp_error carries a reason; other statuses carry no data;
//  - at most 16 CNAME links are followed; a CNAME question yields at most one;
//  - MX hosts come sorted by preference then host; every A is 4 dotted numbers;
//  - names in the answer are lower case, without a trailing dot, at most 4 * 255 characters
//    (255 wire octets, each at worst written as a \DDD escape).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "dns/resolver.hpp"
#include "dns/wire.hpp"

namespace {

using tern::dns::Answer;
using tern::dns::RType;

const RType kTypes[] = {RType::A, RType::AAAA, RType::MX, RType::TXT, RType::CNAME};
const char* const kNames[] = {"example.com",        "www.example.com",
                              "_spf.example.com",   "sel._domainkey.example.com",
                              "_dmarc.example.com", "Example.COM."};

void check_name(const std::string& n) {
  if (n.size() > 4 * 255) std::abort();
  if (!n.empty() && n.back() == '.' && (n.size() < 2 || n[n.size() - 2] != '\\')) std::abort();
  for (char c : n)
    if (c >= 'A' && c <= 'Z') std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const RType type = kTypes[data[0] % std::size(kTypes)];
  const std::string qname = kNames[data[1] % std::size(kNames)];
  const Answer a = tern::dns::parse_response(data + 2, size - 2, qname, type);

  const bool has_data = !a.txt.empty() || !a.mx.empty() || !a.addrs.empty();
  switch (a.status) {
    case Answer::Status::ok:
      if (type == RType::CNAME ? a.cnames.size() != 1 : !has_data) std::abort();
      break;
    case Answer::Status::temp_error:
      if (a.error.empty()) std::abort();
      break;
    case Answer::Status::nxdomain:
    case Answer::Status::nodata:
      if (has_data) std::abort();
      break;
  }
  if (a.cnames.size() > 16) std::abort();
  if (type == RType::CNAME && a.cnames.size() > 1) std::abort();
  if (type != RType::MX && !a.mx.empty()) std::abort();
  if (type != RType::TXT && !a.txt.empty()) std::abort();
  if (type != RType::A && type != RType::AAAA && !a.addrs.empty()) std::abort();
  for (size_t i = 1; i < a.mx.size(); ++i) {
    const auto& x = a.mx[i - 1];
    const auto& y = a.mx[i];
    if (x.preference > y.preference || (x.preference == y.preference && x.host > y.host))
      std::abort();
  }
  for (const auto& m : a.mx) check_name(m.host);
  for (const auto& c : a.cnames) check_name(c);
  check_name(a.canonical_name);
  if (type == RType::A)
    for (const auto& ip : a.addrs)
      if (std::count(ip.begin(), ip.end(), '.') != 3 || ip.size() > 15) std::abort();
  return 0;
}
