#include "app/platform_names.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "core/address.hpp"

namespace tern::app {

namespace {

std::string normalize(std::string name) {
  for (char& ch : name)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  while (!name.empty() && name.back() == '.') name.pop_back();
  return name;
}

bool is_or_ends_in(const std::string& name, const std::string& label) {
  return name == label || (name.size() > label.size() && name.ends_with(label) &&
                           name[name.size() - label.size() - 1] == '.');
}

void check(const std::string& what, const std::string& name, std::vector<std::string>& out) {
  for (const char* local : {"localhost", "localdomain"})
    if (is_or_ends_in(name, local)) {
      out.push_back(what + " is \"" + name + "\", which ends in " + local +
                    ": nobody else can resolve it, so DNS records and greetings naming it do "
                    "not work (set hostname in the config or pass --hostname)");
      return;
    }
}

}  // namespace

PlatformNames derive_platform_names(const Config& c, const std::string& fqdn) {
  PlatformNames n;
  n.hostname = normalize(c.hostname);
  if (n.hostname.empty()) n.hostname = normalize(fqdn);
  if (n.hostname.empty()) n.hostname = "localhost";
  n.dkim_zone = c.dkim_zone.empty() ? "dkim." + n.hostname : normalize(c.dkim_zone);
  n.spf_include = normalize(c.spf_include);
  check("hostname", n.hostname, n.warnings);
  if (n.hostname.find('.') == std::string::npos && !is_or_ends_in(n.hostname, "localhost"))
    n.warnings.push_back("hostname \"" + n.hostname +
                         "\" is not fully qualified (no dot): set hostname in the config or "
                         "pass --hostname");
  if (!c.dkim_zone.empty()) check("[platform] dkim_zone", n.dkim_zone, n.warnings);
  if (!n.spf_include.empty()) check("[platform] spf_include", n.spf_include, n.warnings);
  return n;
}

std::string machine_fqdn() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return {};
  std::string name = host;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_CANONNAME;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host, nullptr, &hints, &res) == 0 && res) {
    if (res->ai_canonname && std::strchr(res->ai_canonname, '.')) name = res->ai_canonname;
    ::freeaddrinfo(res);
  }
  name = normalize(name);
  return core::valid_domain(name) ? name : std::string();
}

PlatformNames resolve_platform_names(Config& c) {
  PlatformNames n = derive_platform_names(c, c.hostname.empty() ? machine_fqdn() : std::string());
  c.hostname = n.hostname;
  c.dkim_zone = n.dkim_zone;
  c.spf_include = n.spf_include;
  return n;
}

}  // namespace tern::app
