"""Sending domains end to end against real DNS (issue 3): nsd serves the customer and platform
zones, unbound resolves them (dns_harness.DnsServers), Tern's CLI and server use that resolver.

Covered: records printed by `tern domain add`; `tern domain check` reporting ok / missing /
wrong (with what was found) for direct and delegated (CNAME) DKIM; `tern dns zone` output
loaded into the platform zone; SPF evaluated through an include chain; the ownership TXT
verifying a domain (MAIL FROM refused with 550 5.7.1 before, accepted after, by the server's
periodic re-check); rotation switching selectors only once the new record checks ok;
`opendkim-testkey` confirming the published key matches the exported private key.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import harness
from dns_harness import DnsServers

PLATFORM_IPS = ["192.0.2.10", "2001:db8::10"]
PLATFORM_BASE = [
    # Include chain: spf.platform.test -> spf6.platform.test, each with the platform's ranges.
    'spf TXT "v=spf1 ip4:192.0.2.0/24 include:spf6.platform.test -all"',
    'spf6 TXT "v=spf1 ip6:2001:db8::/32 -all"',
]
ZONES = ["customer.test", "deleg.test", "own.test", "rot.test", "platform.test"]


def txt_line(name, value):
    """A zone-file TXT line for an absolute name, the value split into <= 255-octet strings."""
    parts = " ".join('"%s"' % value[i:i + 255] for i in range(0, len(value), 255)) or '""'
    return f"{name}. TXT {parts}"


def zone_lines(records, skip=(), override=None):
    """Zone lines publishing `records` (from --json) except ids in skip; override: id -> value."""
    out = []
    for r in records:
        if r["id"] in skip:
            continue
        value = (override or {}).get(r["id"], r["value"])
        if r["type"] == "CNAME":
            out.append(f"{r['name']}. CNAME {value}.")
        else:
            out.append(txt_line(r["name"], value))
    return out


def by_id(report):
    return {r["id"]: r for r in report["records"]}


class DomainTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not harness.TERN_BIN:
            raise unittest.SkipTest("TERN_BIN not set")
        cls.dns = DnsServers({z: (PLATFORM_BASE if z == "platform.test" else [])
                              for z in ZONES})
        try:
            # The server re-checks hourly here (its first round runs at start, before any
            # domain exists), so the CLI's checks see every transition themselves.
            cls.server = harness.TernServer(cls.config(3600))
        except BaseException:
            cls.dns.close()
            raise

    @classmethod
    def config(cls, interval):
        return {
            "platform": {"dkim_zone": "dkim.platform.test",
                         "spf_include": "spf.platform.test",
                         "sending_ips": PLATFORM_IPS},
            "dns": {"resolver": cls.dns.resolver_addr, "check_interval_s": interval},
        }

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.close()
        finally:
            cls.dns.close()

    def check(self, domain, expect_rc=0):
        r = self.server.cli("domain", "check", domain, "--json", check=False)
        self.assertEqual(r.returncode, expect_rc, r.stderr.decode(errors="replace"))
        return json.loads(r.stdout)

    def add(self, domain, *flags):
        return self.server.cli_json("domain", "add", "acme", domain, *flags)

    # --- direct DKIM ------------------------------------------------------------------------
    def test_direct_domain_records_check_ok_missing_wrong(self):
        rep = self.add("customer.test")
        recs = by_id(rep)
        self.assertEqual(rep["domain"], "customer.test")
        self.assertFalse(rep["verified"])
        self.assertEqual(sorted(recs), ["dkim:tern1", "dkim:tern2", "dmarc", "ownership", "spf"])
        for r in rep["records"]:
            self.assertEqual(set(r) - {"id", "found"}, {"type", "name", "value", "purpose", "status"})
            self.assertEqual(r["status"], "pending")
        self.assertEqual(recs["ownership"]["name"], "_tern.customer.test")
        self.assertRegex(recs["ownership"]["value"], r"^tern-verification=[a-z2-7]{26}$")
        self.assertEqual(recs["spf"]["value"], "v=spf1 include:spf.platform.test ~all")
        self.assertEqual(recs["dkim:tern1"]["type"], "TXT")
        self.assertEqual(recs["dkim:tern1"]["name"], "tern1._domainkey.customer.test")
        self.assertRegex(recs["dkim:tern1"]["value"], r"^v=DKIM1; k=rsa; p=MIIB[A-Za-z0-9+/=]+$")
        self.assertNotEqual(recs["dkim:tern1"]["value"], recs["dkim:tern2"]["value"])
        self.assertEqual(recs["dmarc"]["value"],
                         "v=DMARC1; p=none; rua=mailto:dmarc@customer.test")
        # `domain records` prints the same again.
        again = self.server.cli_json("domain", "records", "customer.test")
        self.assertEqual([r["value"] for r in again["records"]],
                         [r["value"] for r in rep["records"]])

        # Nothing published yet: all missing; exit 0 (the report says so).
        out = self.check("customer.test")
        for r in out["records"]:
            self.assertEqual(r["status"], "missing", r)
        self.assertFalse(out["verified"])

        # Everything published: all ok, the domain verified by its ownership TXT.
        self.dns.update("customer.test", zone_lines(rep["records"]))
        out = self.check("customer.test")
        for r in out["records"]:
            self.assertEqual(r["status"], "ok", r)
        self.assertTrue(out["verified"])
        listed = {d["domain"]: d for d in self.server.cli_json("domain", "list", "acme")}
        self.assertEqual(listed["customer.test"]["states"]["dkim:tern1"], "ok")
        self.assertTrue(listed["customer.test"]["verified"])

        # The published key matches the private key (opendkim-testkey, same DNS); the other
        # selector's private key does not (so the tool really compares).
        self.opendkim_testkey("customer.test", "tern1")
        self.opendkim_testkey("customer.test", "tern1", key_of="tern2", expect_ok=False)

        # One record removed, one altered: missing, and wrong with what was found.
        other = recs["dkim:tern2"]["value"]
        self.dns.update("customer.test", zone_lines(rep["records"], skip={"dmarc"},
                                                     override={"dkim:tern1": other}))
        out = by_id(self.check("customer.test"))
        self.assertEqual(out["dmarc"]["status"], "missing")
        self.assertEqual(out["dkim:tern1"]["status"], "wrong")
        self.assertIn(other.split("p=")[1], out["dkim:tern1"]["found"])
        self.assertEqual(out["dkim:tern2"]["status"], "ok")
        self.assertEqual(out["spf"]["status"], "ok")
        self.dns.update("customer.test", zone_lines(rep["records"]))
        self.assertEqual(by_id(self.check("customer.test"))["dkim:tern1"]["status"], "ok")

    # --- SPF ---------------------------------------------------------------------------------
    def test_spf_is_evaluated_through_the_include_chain(self):
        rep = self.add("customer.test")  # again: same records, same keys
        base = zone_lines(rep["records"], skip={"spf"})
        cases = [
            ("v=spf1 include:spf.platform.test ~all", "ok", None),
            # Both addresses pass through another customer's own terms: still ok.
            ("v=spf1 ip4:192.0.2.10 ip6:2001:db8::/48 -all", "ok", None),
            # A policy without the platform: the platform's addresses fail.
            ("v=spf1 ip4:198.51.100.0/24 -all", "wrong", "192.0.2.10: fail"),
            # The include is written, but -all comes first.
            ("v=spf1 -all include:spf.platform.test", "wrong", "fail"),
        ]
        for policy, status, found in cases:
            with self.subTest(policy=policy):
                self.dns.update("customer.test", base + [txt_line("customer.test", policy)])
                spf = by_id(self.check("customer.test"))["spf"]
                self.assertEqual(spf["status"], status, spf)
                if found:
                    self.assertIn(found, spf["found"])
        self.dns.update("customer.test", base + [
            txt_line("customer.test", "v=spf1 include:spf.platform.test ~all"),
            txt_line("customer.test", "v=spf1 -all")])
        spf = by_id(self.check("customer.test"))["spf"]
        self.assertEqual(spf["status"], "wrong")
        self.assertIn("2 SPF records", spf["found"])

    # --- delegated DKIM ----------------------------------------------------------------------
    def test_delegated_domain_via_platform_zone(self):
        rep = self.add("deleg.test", "--dkim", "delegated")
        recs = by_id(rep)
        code = self.server.cli_json("account", "list")[0]["code"]
        self.assertEqual(recs["dkim:tern1"]["type"], "CNAME")
        self.assertEqual(recs["dkim:tern1"]["value"], f"tern1-{code}._domainkey.dkim.platform.test")
        self.assertEqual(recs["dkim:tern2"]["value"], f"tern2-{code}._domainkey.dkim.platform.test")

        # The CNAMEs are in the customer zone, the platform zone does not have the keys yet.
        self.dns.update("deleg.test", zone_lines(rep["records"]))
        self.dns.update("platform.test", PLATFORM_BASE)
        out = by_id(self.check("deleg.test"))
        self.assertEqual(out["dkim:tern1"]["status"], "wrong")
        self.assertIn("CNAME ok", out["dkim:tern1"]["found"])
        self.assertEqual(out["ownership"]["status"], "ok")

        # `tern dns zone` (BIND format) loaded into the platform zone: ok.
        zone = self.server.cli("dns", "zone")
        lines = [l for l in zone.splitlines() if l and not l.startswith(";")]
        self.assertGreaterEqual(len(lines), 2)
        for l in lines:
            self.assertRegex(l, r"^tern[12]-[a-z2-7]{8}\._domainkey\.dkim\.platform\.test\. IN TXT \( (\"[^\"]{1,255}\" )+\)$")
        zj = self.server.cli_json("dns", "zone")
        self.assertEqual(zj["zone"], "dkim.platform.test")
        for r in zj["records"]:
            self.assertEqual("".join(r["strings"]), r["value"])
            self.assertTrue(all(len(s) <= 255 for s in r["strings"]))
        self.dns.update("platform.test", PLATFORM_BASE + lines)
        out = self.check("deleg.test")
        for r in out["records"]:
            self.assertEqual(r["status"], "ok", r)
        self.assertEqual(out["dkim"], "delegated")
        self.opendkim_testkey("deleg.test", "tern1")

        # A CNAME pointing elsewhere is wrong, naming its target.
        self.dns.update("deleg.test", zone_lines(
            rep["records"], override={"dkim:tern2": "tern2-zzzzzzzz._domainkey.dkim.platform.test"}))
        out = by_id(self.check("deleg.test"))
        self.assertEqual(out["dkim:tern2"]["status"], "wrong")
        self.assertIn("tern2-zzzzzzzz", out["dkim:tern2"]["found"])
        self.assertEqual(out["dkim:tern1"]["status"], "ok")

    # --- ownership -> verified -> MAIL FROM accepted (server's periodic re-check) ----------
    def test_ownership_txt_verifies_domain_and_unlocks_sending(self):
        # A server of its own that re-checks every second.
        server = harness.TernServer(self.config(1))
        self.addCleanup(server.close)
        rep = server.cli_json("domain", "add", "acme", "own.test")
        self.assertFalse(rep["verified"])
        s = harness.authed_session(server)
        r = s.cmd("MAIL FROM:<news@own.test>")
        if r.code == 250:
            s.cmd("RCPT TO:<someone@example.net>")
            r = s.cmd("DATA")
        self.assertEqual(r.code, 550, r)
        self.assertIn("5.7.1", r.text)
        s.close()

        own = by_id(rep)["ownership"]
        self.dns.update("own.test", [txt_line(own["name"], own["value"])])
        # No CLI check: the server re-checks every second and logs what changed.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if b"domain own.test: verified no -> yes" in server.log():
                break
            time.sleep(0.2)
        log = server.log().decode(errors="replace")
        self.assertRegex(log, r"domain own\.test: ownership (pending|missing) -> ok")
        self.assertIn("domain own.test: verified no -> yes", log)
        s = harness.authed_session(server)
        self.assertEqual(s.cmd("MAIL FROM:<news@own.test>").code, 250)
        s.close()

    # --- rotation ----------------------------------------------------------------------------
    def test_rotation_switches_only_after_the_new_record_checks_ok(self):
        rep = self.add("rot.test")
        self.dns.update("rot.test", zone_lines(rep["records"]))
        out = self.check("rot.test")
        self.assertEqual(out["activeSelector"], "tern1")
        old_tern2 = by_id(rep)["dkim:tern2"]["value"]

        rot = self.server.cli_json("dkim", "rotate", "rot.test")
        self.assertEqual(rot["activeSelector"], "tern1")
        self.assertEqual(rot["rotationSelector"], "tern2")
        new_tern2 = by_id(rot)["dkim:tern2"]["value"]
        self.assertNotEqual(new_tern2, old_tern2)
        # The old tern2 is still published: wrong, signing stays on tern1.
        out = self.check("rot.test")
        self.assertEqual(by_id(out)["dkim:tern2"]["status"], "wrong")
        self.assertEqual(out["activeSelector"], "tern1")
        # Publish the new one: the check switches.
        self.dns.update("rot.test", zone_lines(rot["records"]))
        out = self.check("rot.test")
        self.assertEqual(out["activeSelector"], "tern2")
        self.assertIsNone(out["rotationSelector"])
        self.assertIn({"what": "active selector", "from": "tern1", "to": "tern2"}, out["changes"])
        self.opendkim_testkey("rot.test", "tern2")

    # --- master key: private keys sealed at rest -------------------------------------------
    def test_master_key_seals_private_keys(self):
        d = tempfile.mkdtemp(prefix="tern-mk-")
        self.addCleanup(shutil.rmtree, d, True)
        key = os.path.join(d, "master.key")
        r = subprocess.run([harness.TERN_BIN, "master-key", "create", key], capture_output=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        st = os.stat(key)
        self.assertEqual(st.st_size, 32)
        self.assertEqual(st.st_mode & 0o777, 0o600)
        r = subprocess.run([harness.TERN_BIN, "master-key", "create", key], capture_output=True,
                           timeout=30)
        self.assertNotEqual(r.returncode, 0)  # never overwrites a key in use
        self.assertEqual(os.stat(key).st_mtime, st.st_mtime)

        server = harness.TernServer(harness.merge(self.config(3600), {"master_key_file": key}))
        self.addCleanup(server.close)
        server.cli_json("domain", "add", "acme", "sealed.test", "--ed25519")
        import sqlite3
        db = sqlite3.connect(f"file:{server.data}/tern.db?mode=ro", uri=True)
        rows = db.execute("SELECT private_key FROM dkim_keys").fetchall()
        db.close()
        self.assertGreaterEqual(len(rows), 4 + 2)  # acme.test and sealed.test (+ Ed25519)
        for (pk,) in rows:
            self.assertTrue(pk.startswith("sbx1:"), pk[:40])
            self.assertNotIn("PRIVATE", pk)
        pem = server.cli("dkim", "export-key", "sealed.test", "tern1e")
        self.assertIn("BEGIN PRIVATE KEY", pem)
        # The same data without the master key: sealed keys cannot be read (public ones can).
        plain_cfg = os.path.join(d, "plain.toml")
        with open(plain_cfg, "w") as f:
            f.write(harness.to_toml(self.config(3600)))
        argv = [harness.TERN_BIN, "dkim", "export-key", "sealed.test", "tern1",
                "--data", server.data, "--config", plain_cfg]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("master_key_file", r.stderr)
        argv[1:5] = ["domain", "records", "sealed.test"]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        # A key file readable by others is refused.
        os.chmod(key, 0o644)
        r = server.cli("domain", "records", "sealed.test", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("chmod 600", r.stderr.decode())
        os.chmod(key, 0o600)

    # --- CLI errors ------------------------------------------------------------------------
    def test_bad_requests_fail_with_one_line(self):
        for args in (["domain", "add", "acme", "bad..name"],
                     ["domain", "add", "acme", "x.test", "--dkim", "sideways"],
                     ["domain", "add", "nobody", "x.test"],
                     ["domain", "check", "unknown.test"],
                     ["dkim", "rotate", "unknown.test"],
                     ["dkim", "export-key", "acme.test", "tern9"]):
            with self.subTest(args=args):
                r = self.server.cli(*args, check=False)
                self.assertNotEqual(r.returncode, 0)

    # --- helpers -----------------------------------------------------------------------------
    def opendkim_testkey(self, domain, selector, key_of=None, expect_ok=True):
        """opendkim-testkey resolves through libunbound: ResolverConfiguration points it at the
        test resolver; the private key comes from `tern dkim export-key`."""
        if not shutil.which("opendkim-testkey"):
            self.skipTest("opendkim-testkey (opendkim-tools) not installed")
        d = tempfile.mkdtemp(prefix="tern-testkey-")
        try:
            key = os.path.join(d, "key.pem")
            pem = self.server.cli("dkim", "export-key", domain, key_of or selector)
            self.assertIn("PRIVATE KEY", pem)
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, pem.encode())
            os.close(fd)
            host, port = self.dns.resolver_addr.split(":")
            ub = os.path.join(d, "unbound.conf")
            # libunbound answers NXDOMAIN for test. by itself (a default local zone) unless told
            # not to; everything else is forwarded to the test resolver.
            with open(ub, "w") as f:
                f.write("server:\n  do-not-query-localhost: no\n  module-config: \"iterator\"\n"
                        "  domain-insecure: \"test.\"\n  local-zone: \"test.\" nodefault\n"
                        f"forward-zone:\n  name: \".\"\n  forward-addr: {host}@{port}\n")
            conf = os.path.join(d, "opendkim.conf")
            with open(conf, "w") as f:
                f.write(f"ResolverConfiguration {ub}\n")
            r = subprocess.run(["opendkim-testkey", "-x", conf, "-d", domain, "-s", selector,
                                "-k", key, "-vvv"], capture_output=True, text=True, timeout=60)
            out = r.stdout + r.stderr
            if expect_ok:
                self.assertEqual(r.returncode, 0, out)
                self.assertIn("key OK", out)
            else:
                self.assertNotEqual(r.returncode, 0, out)
                self.assertNotIn("key OK", out)
                self.assertIn("match", out)
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
