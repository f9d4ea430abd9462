// DNS look-ups behind an interface (SPEC §3–4): the real resolver (libunbound) in production,
// a resolver built from zone text in unit tests. Calls block; callers run them off the I/O
// threads. Answers say whether a failure is temporary (SERVFAIL, timeout: try later) or a
// definite absence (NXDOMAIN or no records of that type).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tern::dns {

enum class RType : uint16_t { A = 1, CNAME = 5, MX = 15, TXT = 16, AAAA = 28 };

struct Mx {
  uint16_t preference = 0;
  std::string host;  // without trailing dot, lower case
};

struct Answer {
  enum class Status { ok, nxdomain, nodata, temp_error } status = Status::temp_error;
  std::string error;                // for temp_error
  std::string canonical_name;       // the name after following CNAMEs (no trailing dot)
  std::vector<std::string> cnames;  // CNAME chain followed, in order (targets)
  std::vector<std::string> txt;     // TXT: each record's strings concatenated
  std::vector<Mx> mx;               // MX, sorted by preference then host
  std::vector<std::string> addrs;   // A / AAAA as text
  bool found() const { return status == Status::ok; }
};

class Resolver {
 public:
  virtual ~Resolver() = default;
  // name without trailing dot; CNAMEs are followed (for every type but CNAME itself).
  // A CNAME query answers the one target in `cnames` and `canonical_name`.
  // Names in answers are lower case without trailing dot; odd label bytes are \DDD-escaped.
  virtual Answer query(const std::string& name, RType type) = 0;
};

// libunbound. server: "" = the system's resolvers (/etc/resolv.conf), or "IP" / "IP:PORT" to
// forward every query to one recursive resolver (tests point it at a local unbound).
// "[IPv6]:PORT" works too. Throws std::runtime_error (start-up) on a malformed server or when
// libunbound rejects its configuration. One resolver may be used by many threads at once
// (libunbound's blocking mode shares the cache). A resolver that does not answer makes a query
// block for libunbound's own retry schedule (~15 s or more) before temp_error.
std::unique_ptr<Resolver> make_unbound_resolver(const std::string& server);

// Fake for unit tests: zone text in a small BIND-like format, one record per line:
//   name TYPE data        e.g.  "example.com MX 10 mx1.example.com"
//                               "sel._domainkey.example.com TXT \"v=DKIM1; k=rsa; \" \"p=...\""
//                               "x.example.com CNAME y.example.net"
//                               "bad.example.com SERVFAIL"
// Names are absolute without trailing dot; TXT data is one or more quoted strings.
// Also A / AAAA lines; '#' or ';' starts a comment line. Bad text throws std::invalid_argument.
// See fake_resolver.cpp for the statuses it gives (empty non-terminals are nodata).
std::unique_ptr<Resolver> make_fake_resolver(const std::string& zone_text);

}  // namespace tern::dns
