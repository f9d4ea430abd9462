// Platform names (issue 14): every name Tern derives from its host name, made in this one place
// for `tern serve` and for every CLI command, so the server and `tern domain add` always agree
// (the zone delegated DKIM CNAMEs point into, the name in greetings and Received headers,
// postmaster@, the self-signed certificate's name).
//  - hostname: `--hostname`, else `hostname` in the config, else the machine's fully qualified
//    name (gethostname and its canonical name, as `hostname -f` prints), else "localhost".
//  - dkim_zone: [platform] dkim_zone, else "dkim." + hostname.
//  - spf_include: [platform] spf_include as configured. No default: without one the SPF record
//    lists [platform] sending_ips, and without those the records carry no SPF suggestion.
// Warnings (the server logs them at start; the CLI prints them on stderr where it prints
// platform names): a name that is or ends in "localhost" or "localdomain" (nobody else can
// resolve it: records pointing there do not work) and a host name without a dot.
#pragma once
#include <string>
#include <vector>

#include "app/config.hpp"

namespace tern::app {

struct PlatformNames {
  std::string hostname;
  std::string dkim_zone;
  std::string spf_include;
  std::vector<std::string> warnings;  // one line each, naming the setting to change
};

// Pure: the names for c, with `machine_fqdn` standing in for the machine's name when c
// configures no hostname. Names are lower-case, without a trailing dot.
PlatformNames derive_platform_names(const Config& c, const std::string& machine_fqdn);

// The machine's fully qualified name, lower-case; "" when it has none that is a valid domain.
std::string machine_fqdn();

// derive_platform_names with machine_fqdn() (looked up only when c has no hostname), written
// back into c.hostname and c.dkim_zone. Idempotent.
PlatformNames resolve_platform_names(Config& c);

}  // namespace tern::app
