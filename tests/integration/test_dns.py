"""The libunbound resolver and SPF evaluation against real DNS: nsd serves the zones, unbound
recurses into them (dns_harness.DnsServers), and `tern-dns-probe` (built next to `tern`) runs
the C++ resolver and check_host() and prints JSON.

Zones mirror what issue 3 needs: a customer zone with SPF, MX and a DKIM selector delegated by
CNAME into the platform's zone, and the platform zone with the key and an SPF include chain.
"""
import json
import os
import subprocess
import unittest

from dns_harness import DnsServers

TERN_BIN = os.environ.get("TERN_BIN", "")
PROBE = os.path.join(os.path.dirname(TERN_BIN), "tern-dns-probe") if TERN_BIN else ""

# A DKIM-sized TXT value (> 255 octets) published as several character-strings.
KEY = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + "x" * 300 + "IDAQAB"
KEY_STRINGS = " ".join(f'"{KEY[i:i + 255]}"' for i in range(0, len(KEY), 255))

CUSTOMER = [
    '@ TXT "v=spf1 " "include:_spf.platform.test ~all"',
    '@ TXT "tern-verification=abc123"',
    "@ MX 20 mx2.acme.test.",
    "@ MX 10 mx1.acme.test.",
    "@ MX 30 backup.example.test.",
    "mx1 A 192.0.2.1",
    "mx2 A 192.0.2.2",
    "mx2 AAAA 2001:db8::2",
    "s1._domainkey CNAME s1-acme._domainkey.dkim.platform.test.",
    "twice CNAME hop.platform.test.",
    "dangling CNAME nowhere.platform.test.",
    'nul TXT "a\\000b"',
    'two-spf TXT "v=spf1 -all"',
    'two-spf TXT "v=spf1 +all"',
]
PLATFORM = [
    '_spf TXT "v=spf1 include:_net.platform.test -all"',
    '_net TXT "v=spf1 ip4:192.0.2.0/25 ip6:2001:db8:100::/48"',
    "hop CNAME s1-acme._domainkey.dkim.platform.test.",
    f"s1-acme._domainkey.dkim TXT {KEY_STRINGS}",
]


class DnsProbeTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not TERN_BIN:
            raise unittest.SkipTest("TERN_BIN not set")
        if not os.access(PROBE, os.X_OK):
            raise RuntimeError(f"{PROBE} not built (target tern-dns-probe)")
        cls.dns = DnsServers({"acme.test": CUSTOMER, "platform.test": PLATFORM})

    @classmethod
    def tearDownClass(cls):
        cls.dns.close()

    def probe(self, *args):
        out = subprocess.run([PROBE, *args], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout)

    def query(self, name, rtype):
        return self.probe(self.dns.resolver_addr, name, rtype)

    def spf(self, ip, domain="acme.test"):
        return self.probe("--spf", self.dns.resolver_addr, ip, domain)

    # --- records ---------------------------------------------------------------------------
    def test_txt_strings_joined_per_record(self):
        a = self.query("acme.test", "TXT")
        self.assertEqual(a["status"], "ok", a)
        self.assertEqual(sorted(a["txt"]), ["tern-verification=abc123",
                                            "v=spf1 include:_spf.platform.test ~all"])

    def test_cname_into_other_zone_followed(self):
        a = self.query("s1._domainkey.acme.test", "TXT")
        self.assertEqual(a["status"], "ok", a)
        self.assertEqual(a["cnames"], ["s1-acme._domainkey.dkim.platform.test"])
        self.assertEqual(a["canonical_name"], "s1-acme._domainkey.dkim.platform.test")
        self.assertEqual(a["txt"], [KEY])  # the > 255-octet key, strings joined

    def test_cname_chain_of_two_in_order(self):
        a = self.query("twice.acme.test", "TXT")
        self.assertEqual(a["status"], "ok", a)
        self.assertEqual(a["cnames"], ["hop.platform.test", "s1-acme._domainkey.dkim.platform.test"])
        self.assertEqual(a["txt"], [KEY])

    def test_cname_query_is_not_followed(self):
        a = self.query("twice.acme.test", "CNAME")
        self.assertEqual(a["status"], "ok", a)
        self.assertEqual(a["cnames"], ["hop.platform.test"])
        self.assertEqual(a["txt"], [])

    def test_mx_in_preference_order(self):
        a = self.query("ACME.test.", "MX")
        self.assertEqual(a["status"], "ok", a)
        self.assertEqual([(m["preference"], m["host"]) for m in a["mx"]],
                         [(10, "mx1.acme.test"), (20, "mx2.acme.test"), (30, "backup.example.test")])

    def test_addresses(self):
        self.assertEqual(self.query("mx2.acme.test", "A")["addrs"], ["192.0.2.2"])
        self.assertEqual(self.query("mx2.acme.test", "AAAA")["addrs"], ["2001:db8::2"])

    def test_nxdomain_versus_nodata(self):
        self.assertEqual(self.query("missing.acme.test", "TXT")["status"], "nxdomain")
        self.assertEqual(self.query("mx1.acme.test", "TXT")["status"], "nodata")
        self.assertEqual(self.query("mx1.acme.test", "AAAA")["status"], "nodata")
        # Empty non-terminal: exists because names below it do.
        self.assertEqual(self.query("_domainkey.acme.test", "TXT")["status"], "nodata")
        d = self.query("dangling.acme.test", "A")
        self.assertEqual(d["status"], "nxdomain", d)
        self.assertEqual(d["cnames"], ["nowhere.platform.test"])

    def test_txt_with_nul_byte_kept(self):
        a = self.query("nul.acme.test", "TXT")
        self.assertEqual(a["txt"], ["a\x00b"])

    # --- SPF -------------------------------------------------------------------------------
    def test_spf_include_chain_across_zones(self):
        ok = self.spf("192.0.2.77")
        self.assertEqual(ok["result"], "pass", ok)
        self.assertIn("_net.platform.test: ip4:192.0.2.0/25", ok["explanation"])
        self.assertEqual(ok["dns_lookups"], 2)
        self.assertEqual(self.spf("2001:db8:100::25")["result"], "pass")
        # Outside the /25: the inner -all only makes the include miss; the outer ~all decides.
        out = self.spf("192.0.2.200")
        self.assertEqual(out["result"], "softfail", out)
        self.assertEqual(self.spf("2001:db8:101::1")["result"], "softfail")

    def test_spf_none_and_permerror(self):
        self.assertEqual(self.spf("192.0.2.1", "missing.acme.test")["result"], "none")
        self.assertEqual(self.spf("192.0.2.1", "mx1.acme.test")["result"], "none")
        self.assertEqual(self.spf("192.0.2.1", "two-spf.acme.test")["result"], "permerror")
        self.assertEqual(self.spf("not-an-ip")["result"], "permerror")


class DnsUpdateTests(unittest.TestCase):
    """update() changes what both the servers and a fresh resolver see."""

    def test_update_changes_answers_and_spf(self):
        if not TERN_BIN:
            self.skipTest("TERN_BIN not set")
        dns = DnsServers({"acme.test": ['@ TXT "v=spf1 ip4:192.0.2.1 -all"']})
        self.addCleanup(dns.close)
        run = lambda *a: json.loads(subprocess.run([PROBE, *a], capture_output=True, text=True,
                                                   timeout=60, check=True).stdout)
        self.assertEqual(run("--spf", dns.resolver_addr, "192.0.2.1", "acme.test")["result"], "pass")
        dns.update("acme.test", ['@ TXT "v=spf1 ip4:198.51.100.1 -all"'])
        self.assertEqual(run("--spf", dns.resolver_addr, "192.0.2.1", "acme.test")["result"], "fail")
        self.assertEqual(run(dns.resolver_addr, "acme.test", "TXT")["txt"],
                         ["v=spf1 ip4:198.51.100.1 -all"])
        dns.update("acme.test", [])
        self.assertEqual(run(dns.resolver_addr, "acme.test", "TXT")["status"], "nodata")

    def test_close_stops_both_and_cleans_up(self):
        dns = DnsServers({"acme.test": ["www A 192.0.2.1"]})
        procs, d = (dns.nsd, dns.unbound), dns.dir
        dns.close()
        dns.close()  # idempotent
        self.assertTrue(all(p.poll() is not None for p in procs))
        self.assertFalse(os.path.exists(d))


if __name__ == "__main__":
    unittest.main()
