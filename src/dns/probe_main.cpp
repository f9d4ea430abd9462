// tern-dns-probe: a tiny tool for the integration tests (tests/integration/test_dns.py), so the
// real libunbound resolver and the SPF evaluator can be checked against a real DNS server
// without going through the main CLI.
//   tern-dns-probe SERVER NAME TYPE          one query; prints the Answer as JSON
//   tern-dns-probe --spf SERVER IP DOMAIN    check_host(); prints {"result","explanation",...}
// SERVER is "IP[:PORT]" or "" for the system's resolvers. Exit 0 when a JSON answer was printed
// (whatever the DNS said), 2 on bad usage.
#include <cstdio>
#include <exception>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "dns/resolver.hpp"
#include "dns/spf.hpp"

namespace {

using tern::dns::Answer;
using tern::dns::RType;

const char* status_name(Answer::Status s) {
  switch (s) {
    case Answer::Status::ok:
      return "ok";
    case Answer::Status::nxdomain:
      return "nxdomain";
    case Answer::Status::nodata:
      return "nodata";
    case Answer::Status::temp_error:
      return "temp_error";
  }
  return "?";
}

bool parse_type(const std::string& t, RType& out) {
  if (t == "A")
    out = RType::A;
  else if (t == "AAAA")
    out = RType::AAAA;
  else if (t == "MX")
    out = RType::MX;
  else if (t == "TXT")
    out = RType::TXT;
  else if (t == "CNAME")
    out = RType::CNAME;
  else
    return false;
  return true;
}

void print(const nlohmann::json& j) {
  // TXT data may hold any bytes: replace invalid UTF-8 rather than throw.
  std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

int usage() {
  std::cerr << "usage: tern-dns-probe SERVER NAME A|AAAA|MX|TXT|CNAME\n"
               "       tern-dns-probe --spf SERVER IP DOMAIN\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc == 5 && std::string(argv[1]) == "--spf") {
      auto resolver = tern::dns::make_unbound_resolver(argv[2]);
      auto r = tern::dns::check_host(*resolver, argv[3], argv[4]);
      print({{"result", tern::dns::to_string(r.outcome)},
             {"explanation", r.explanation},
             {"dns_lookups", r.dns_lookups},
             {"void_lookups", r.void_lookups}});
      return 0;
    }
    RType type;
    if (argc != 4 || !parse_type(argv[3], type)) return usage();
    auto resolver = tern::dns::make_unbound_resolver(argv[1]);
    Answer a = resolver->query(argv[2], type);
    nlohmann::json mx = nlohmann::json::array();
    for (const auto& m : a.mx) mx.push_back({{"preference", m.preference}, {"host", m.host}});
    print({{"status", status_name(a.status)},
           {"error", a.error},
           {"canonical_name", a.canonical_name},
           {"cnames", a.cnames},
           {"txt", a.txt},
           {"mx", mx},
           {"addrs", a.addrs}});
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "tern-dns-probe: " << e.what() << "\n";
    return 2;
  }
}
