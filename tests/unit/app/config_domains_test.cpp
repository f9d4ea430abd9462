// Config keys for sending domains: [platform] dkim_zone / spf_include / sending_ips, [dns],
// master_key_file (and the key file's own checks).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "app/config.hpp"
#include "app/platform_names.hpp"

namespace {
std::string write_tmp(const std::string& text, mode_t mode = 0600) {
  char path[] = "/tmp/tern-config-XXXXXX";
  int fd = mkstemp(path);
  close(fd);
  std::ofstream(path, std::ios::binary) << text;
  chmod(path, mode);
  return path;
}

std::string error_of(const std::string& toml) {
  auto p = write_tmp(toml);
  std::string msg;
  try {
    tern::app::load_config(p);
  } catch (const std::runtime_error& e) {
    msg = e.what();
  }
  std::remove(p.c_str());
  return msg;
}
}  // namespace

TEST(ConfigDomains, DefaultsAndValues) {
  auto c = tern::app::load_config("");
  EXPECT_EQ(c.hostname, "");  // the machine's FQDN, filled by resolve_platform_names
  EXPECT_EQ(c.dkim_zone, "");
  EXPECT_EQ(c.dns_resolver, "");
  EXPECT_EQ(c.dns_check_interval_s, 3600);
  EXPECT_EQ(tern::app::read_master_key(c), "");
  auto p = write_tmp(R"(
hostname = "mail.example.net"
master_key_file = "/nonexistent/key"
[platform]
dkim_zone = "DKIM.Platform.Test."
spf_include = "spf.platform.test"
sending_ips = ["192.0.2.10", "2001:DB8::10"]
[dns]
resolver = "127.0.0.1:5353"
check_interval_s = 2
)");
  c = tern::app::load_config(p);
  std::remove(p.c_str());
  EXPECT_EQ(tern::app::resolve_platform_names(c).dkim_zone, "dkim.platform.test");
  EXPECT_EQ(c.spf_include, "spf.platform.test");
  EXPECT_EQ(c.sending_ips, (std::vector<std::string>{"192.0.2.10", "2001:db8::10"}));
  EXPECT_EQ(c.dns_resolver, "127.0.0.1:5353");
  EXPECT_EQ(c.dns_check_interval_s, 2);
  EXPECT_EQ(c.master_key_file, "/nonexistent/key");
  EXPECT_THROW(tern::app::read_master_key(c), std::runtime_error);
  tern::app::Config d;
  d.hostname = "mx.example.org";
  EXPECT_EQ(tern::app::resolve_platform_names(d).dkim_zone, "dkim.mx.example.org");
  EXPECT_EQ(d.dkim_zone, "dkim.mx.example.org");
}

TEST(ConfigDomains, BadValuesAreErrors) {
  EXPECT_NE(error_of("[platform]\nsending_ips = [\"mail.example.com\"]\n").find("sending_ips"),
            std::string::npos);
  EXPECT_NE(error_of("[platform]\nsending_ips = [\"192.0.2.0/24\"]\n").find("sending_ips"),
            std::string::npos);
  EXPECT_NE(error_of("[platform]\ndkim_zone = \"bad zone\"\n").find("dkim_zone"),
            std::string::npos);
  EXPECT_NE(error_of("[platform]\nspf_include = \"a..b\"\n").find("spf_include"),
            std::string::npos);
  EXPECT_NE(error_of("[dns]\ncheck_interval_s = 0\n").find("check_interval_s"), std::string::npos);
  EXPECT_NE(error_of("[dns]\nresolvr = \"x\"\n").find("unknown setting"), std::string::npos);
  EXPECT_NE(error_of("[platform]\ndkim_zones = \"x\"\n").find("unknown setting"),
            std::string::npos);
  EXPECT_NE(error_of("master_key = \"x\"\n").find("unknown setting"), std::string::npos);
}

TEST(ConfigDomains, MasterKeyFileMustBe32PrivateBytes) {
  tern::app::Config c;
  const std::string key(32, '\x01');
  c.master_key_file = write_tmp(key);
  EXPECT_EQ(tern::app::read_master_key(c), key);
  chmod(c.master_key_file.c_str(), 0640);
  EXPECT_THROW(tern::app::read_master_key(c), std::runtime_error);
  std::remove(c.master_key_file.c_str());
  for (size_t n : {0u, 31u, 33u, 64u}) {
    c.master_key_file = write_tmp(std::string(n, 'k'));
    EXPECT_THROW(tern::app::read_master_key(c), std::runtime_error) << n;
    std::remove(c.master_key_file.c_str());
  }
}
