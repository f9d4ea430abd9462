"""testssl.sh against Tern's TLS listeners (issue 14.10): the implicit-TLS submissions port and the
STARTTLS submission port. Debian's testssl.sh (scripts/install-deps.sh installs it) runs only the
checks this needs, to keep the run short: -P (does the server enforce its own cipher order, and
which TLS 1.2 suites it offers in that order) and -L (LUCKY13, which testssl flags whenever a CBC
suite is offered over TLS). The two scans run at once; each takes about 15-20 s here, most of it
testssl's own start-up (it probes the local openssl hundreds of times).

Asserted from testssl's JSON report: the server has a cipher order ("server"); the TLS 1.2 suites
it offers are all AEAD (GCM or ChaCha20-Poly1305), none CBC; LUCKY13 is "not vulnerable". Before
the fix testssl said "NOT a cipher order configured" and "potentially vulnerable, uses TLS CBC
ciphers" (four CBC suites were offered).
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import harness

TESTSSL = shutil.which("testssl") or shutil.which("testssl.sh")
SCAN_TIMEOUT_S = 300


def start_scan(port, out, starttls):
    argv = [TESTSSL, "--quiet", "--color", "0", "--warnings", "off", "--nodns", "none",
            "--openssl-timeout", "10", "-P", "-L", "--jsonfile", out]
    if starttls:
        argv += ["-t", "smtp"]
    argv.append(f"127.0.0.1:{port}")
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def findings(path):
    """{id: (severity, finding)} of a testssl JSON file (flat list form)."""
    with open(path) as f:
        items = json.load(f)
    return {i["id"]: (i.get("severity", ""), i.get("finding", "")) for i in items}


class TlsScanTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if TESTSSL is None:
            raise RuntimeError("testssl.sh is not installed (make deps installs it)")
        cls.dir = tempfile.mkdtemp(prefix="tern-testssl-")
        cls.server = harness.TernServer(account=False)
        cls.results, cls.outputs = {}, {}
        try:
            scans = {}
            for name, starttls in (("submissions", False), ("submission", True)):
                out = os.path.join(cls.dir, name + ".json")
                scans[name] = (start_scan(cls.server.port(name), out, starttls), out)
            for name, (proc, out) in scans.items():
                try:
                    text, _ = proc.communicate(timeout=SCAN_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    text, _ = proc.communicate()
                cls.outputs[name] = text.decode(errors="replace")
                cls.results[name] = findings(out) if os.path.exists(out) else {}
        finally:
            cls.server.close()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def check(self, name):
        f = self.results[name]
        self.assertIn("cipher_order", f, self.outputs[name])
        self.assertEqual(f["cipher_order"], ("OK", "server"), self.outputs[name])
        suites = f.get("cipherorder_TLSv1_2", ("", ""))[1].split()
        self.assertGreaterEqual(len(suites), 2, self.outputs[name])
        for s in suites:
            self.assertTrue("GCM" in s or "CHACHA20-POLY1305" in s, f"{name}: {s} is not AEAD")
            self.assertTrue(s.startswith("ECDHE-"), f"{name}: {s} is not forward secret")
        self.assertEqual(f.get("LUCKY13"), ("OK", "not vulnerable"), self.outputs[name])

    def test_implicit_tls_listener(self):
        self.check("submissions")

    def test_starttls_listener(self):
        self.check("submission")


if __name__ == "__main__":
    unittest.main()
