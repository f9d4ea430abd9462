// Platform names (issue 14): one derivation for the server and the CLI. The host name comes from
// the flag or config, else the machine's FQDN, never silently "localhost"; the DKIM zone and the
// rest follow from it; names that end in localhost (or are not fully qualified) are warned about.
#include "app/platform_names.hpp"

#include <gtest/gtest.h>

#include "core/address.hpp"

using tern::app::Config;
using tern::app::derive_platform_names;

namespace {
bool warns_about(const tern::app::PlatformNames& n, const std::string& what) {
  for (const auto& w : n.warnings)
    if (w.find(what) != std::string::npos) return true;
  return false;
}
}  // namespace

TEST(PlatformNames, MachineFqdnIsTheDefaultHostname) {
  Config c;  // no hostname configured
  auto n = derive_platform_names(c, "Mail.Example.NET.");
  EXPECT_EQ(n.hostname, "mail.example.net");
  EXPECT_EQ(n.dkim_zone, "dkim.mail.example.net");
  EXPECT_TRUE(n.warnings.empty());
}

TEST(PlatformNames, ConfiguredNamesWin) {
  Config c;
  c.hostname = "mx.example.com";
  c.dkim_zone = "keys.example.com";
  c.spf_include = "_spf.example.com";
  auto n = derive_platform_names(c, "machine.example.org");
  EXPECT_EQ(n.hostname, "mx.example.com");
  EXPECT_EQ(n.dkim_zone, "keys.example.com");
  EXPECT_EQ(n.spf_include, "_spf.example.com");
  EXPECT_TRUE(n.warnings.empty());
}

TEST(PlatformNames, LocalhostIsWarnedAbout) {
  Config c;
  auto none = derive_platform_names(c, "");  // no usable machine name at all
  EXPECT_EQ(none.hostname, "localhost");
  EXPECT_EQ(none.dkim_zone, "dkim.localhost");
  EXPECT_TRUE(warns_about(none, "localhost"));
  c.hostname = "box.localdomain";
  EXPECT_TRUE(warns_about(derive_platform_names(c, ""), "localdomain"));
  c.hostname = "mx.example.com";
  c.dkim_zone = "dkim.localhost";
  EXPECT_TRUE(warns_about(derive_platform_names(c, ""), "dkim_zone"));
  c.dkim_zone = "";
  c.spf_include = "spf.LOCALHOST.";
  EXPECT_TRUE(warns_about(derive_platform_names(c, ""), "spf_include"));
  c.spf_include = "notlocalhost.example";  // ends in "localhost.example", not in localhost
  EXPECT_TRUE(derive_platform_names(c, "").warnings.empty());
}

TEST(PlatformNames, UnqualifiedNameIsWarnedAbout) {
  Config c;
  auto n = derive_platform_names(c, "vm");
  EXPECT_EQ(n.hostname, "vm");
  EXPECT_TRUE(warns_about(n, "not fully qualified"));
}

TEST(PlatformNames, ResolveWritesBackAndIsIdempotent) {
  Config c;
  c.hostname = "mx.example.com";
  auto first = tern::app::resolve_platform_names(c);
  EXPECT_EQ(c.hostname, "mx.example.com");
  EXPECT_EQ(c.dkim_zone, "dkim.mx.example.com");
  auto again = tern::app::resolve_platform_names(c);
  EXPECT_EQ(again.hostname, first.hostname);
  EXPECT_EQ(again.dkim_zone, first.dkim_zone);
}

TEST(PlatformNames, MachineFqdnIsAValidNameOrEmpty) {
  const std::string fqdn = tern::app::machine_fqdn();
  if (!fqdn.empty()) {
    EXPECT_TRUE(tern::core::valid_domain(fqdn)) << fqdn;
  }
  for (char ch : fqdn) EXPECT_FALSE(ch >= 'A' && ch <= 'Z') << fqdn;
}
