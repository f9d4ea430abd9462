"""DKIM signing end to end (issue 3): mail submitted over SMTP is signed by Tern and verified by
dkimpy (python3-dkim) against the real DNS servers of the test (nsd + unbound), for direct and
delegated (CNAME into the platform zone) keys, RSA alone and Ed25519 + RSA, small and large
bodies. A domain whose selector has not checked ok is not signed yet; a tampered message fails.
"""
import smtplib
import unittest
from email.message import EmailMessage

import dkim
import dns.resolver

import harness
from dns_harness import DnsServers
from test_domains import PLATFORM_BASE, by_id, zone_lines

ZONES = ["sign.test", "deleg-sign.test", "ed.test", "late.test", "platform.test"]


class SigningTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dns = DnsServers({z: (PLATFORM_BASE if z == "platform.test" else []) for z in ZONES})
        try:
            cls.server = harness.TernServer({
                "platform": {"dkim_zone": "dkim.platform.test", "spf_include": "spf.platform.test",
                             "sending_ips": ["192.0.2.10"]},
                "dns": {"resolver": cls.dns.resolver_addr, "check_interval_s": 3600},
            })
        except BaseException:
            cls.dns.close()
            raise
        host, port = cls.dns.resolver_addr.rsplit(":", 1)
        cls.res = dns.resolver.Resolver(configure=False)
        cls.res.nameservers = [host]
        cls.res.port = int(port)
        cls.res.lifetime = 5

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.close()
        finally:
            cls.dns.close()

    # dkimpy asks for the selector's TXT through this (the test DNS, CNAMEs followed).
    def dnsfunc(self, name, timeout=5):
        qname = name.decode() if isinstance(name, bytes) else name
        try:
            ans = self.res.resolve(qname.rstrip("."), "TXT")
        except Exception:
            return b""
        return b"".join(b"".join(r.strings) for r in ans)

    def publish_and_check(self, domain, *flags):
        rep = self.server.cli_json("domain", "add", "acme", domain, *flags)
        self.dns.update(domain, zone_lines(rep["records"]))
        if "--dkim" in flags and "delegated" in flags:
            zone = self.server.cli("dns", "zone")
            lines = [l for l in zone.splitlines() if l.strip() and not l.startswith((";", "$"))]
            self.dns.update("platform.test", PLATFORM_BASE + lines)
        out = by_id(self.server.cli_json("domain", "check", domain))
        for rid, r in out.items():
            if rid.startswith("dkim:tern1") or rid == "ownership":
                self.assertEqual(r["status"], "ok", r)
        return rep

    def send(self, domain, body="Hello,\r\nthis is signed.\r\n", subject="signed"):
        msg = EmailMessage()
        msg["From"] = f"Sender <news@{domain}>"
        msg["To"] = "rcpt@dest.test"
        msg["Subject"] = subject
        msg.set_content(body)
        with smtplib.SMTP("127.0.0.1", self.server.port("submission"), timeout=30) as s:
            s.starttls(context=harness.client_tls_context())
            s.login(self.server.username, self.server.password)
            s.send_message(msg)
        newest = max(self.server.queue(), key=lambda m: m["received_ms"])
        return self.server.raw(newest["id"])

    def verify(self, raw, idx=0):
        d = dkim.DKIM(raw)
        try:
            return d.verify(idx=idx, dnsfunc=self.dnsfunc)
        except dkim.ValidationError:  # e.g. body hash mismatch
            return False

    def test_direct_rsa_signature_verifies_with_dkimpy(self):
        self.publish_and_check("sign.test")
        raw = self.send("sign.test")
        self.assertTrue(raw.startswith(b"DKIM-Signature:"), raw[:300])
        self.assertIn(b"d=sign.test", raw[:1000])
        self.assertIn(b"a=rsa-sha256", raw[:1000])
        self.assertTrue(self.verify(raw), raw[:1500])
        # The signature really covers the message: one changed body byte fails.
        tampered = raw.replace(b"this is signed.", b"this is signed!")
        self.assertNotEqual(tampered, raw)
        self.assertFalse(self.verify(tampered))

    def test_large_body_signed_as_it_streams(self):
        self.publish_and_check("sign.test")
        body = "".join(f"line {i:07d} " + "x" * 60 + "\r\n" for i in range(40000))  # ~2.7 MB
        raw = self.send("sign.test", body=body, subject="big")
        self.assertGreater(len(raw), 2_500_000)
        self.assertTrue(self.verify(raw))

    def test_delegated_key_verifies_through_cname(self):
        self.publish_and_check("deleg-sign.test", "--dkim", "delegated")
        raw = self.send("deleg-sign.test")
        self.assertIn(b"d=deleg-sign.test", raw[:1000])
        self.assertTrue(self.verify(raw))

    def test_ed25519_and_rsa_both_verify(self):
        self.publish_and_check("ed.test", "--ed25519")
        raw = self.send("ed.test")
        self.assertIn(b"a=ed25519-sha256", raw[:3000])
        self.assertIn(b"a=rsa-sha256", raw[:3000])
        self.assertEqual(raw.count(b"DKIM-Signature:"), 2)
        self.assertTrue(self.verify(raw, idx=0))
        self.assertTrue(self.verify(raw, idx=1))

    def test_not_signed_before_the_selector_checks_ok(self):
        # Verified by the operator, but no DKIM record published or checked: sent unsigned.
        self.server.cli("domain", "add", "acme", "late.test", "--verified")
        raw = self.send("late.test")
        self.assertNotIn(b"DKIM-Signature:", raw)


if __name__ == "__main__":
    unittest.main()
