"""Platform names (issue 14.6) with the real binary: the server and the CLI derive the DKIM zone
from the same host name (the config's `hostname`, else the machine's FQDN, never a silent
"localhost"), and a name ending in localhost is warned about in the server's log and on the CLI's
stderr.
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import unittest
import urllib.request

import harness


def machine_fqdn():
    """What `hostname -f` would say: the canonical name of gethostname(), lower-case."""
    name = socket.gethostname()
    try:
        canon = socket.getaddrinfo(name, None, flags=socket.AI_CANONNAME)[0][3]
        if "." in canon:
            name = canon
    except OSError:
        pass
    return name.lower().rstrip(".")


def tern(*args, data):
    r = subprocess.run([harness.TERN_BIN, *args, "--data", data], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=60)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


class PlatformNameTests(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tern-names-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def test_server_and_cli_derive_the_same_dkim_zone(self):
        server = harness.TernServer({"hostname": "mail.example.net"})
        self.addCleanup(server.close)
        cli = server.cli_json("domain", "add", "acme", "cli.test", "--dkim", "delegated")
        targets = [r["value"] for r in cli["records"] if r["type"] == "CNAME"]
        self.assertTrue(targets, cli)
        for t in targets:
            self.assertTrue(t.rstrip(".").endswith("._domainkey.dkim.mail.example.net"), t)
        self.assertEqual(server.cli_json("dns", "zone")["zone"], "dkim.mail.example.net")
        with open(os.path.join(server.data, "admin.token")) as f:
            admin = f.read().strip()
        req = urllib.request.Request(
            f"http://127.0.0.1:{server.port('http')}/api/v1/accounts/acme/domains",
            data=json.dumps({"domain": "api.test", "dkim": "delegated"}).encode(), method="POST",
            headers={"Authorization": "Bearer " + admin, "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            api = json.loads(r.read())
        for rec in api["records"]:
            if rec["type"] == "CNAME":
                self.assertTrue(rec["value"].rstrip(".").endswith(
                    "._domainkey.dkim.mail.example.net"), rec)
        self.assertNotIn(b"ends in localhost", server.log())

    def test_default_is_the_machine_name_not_localhost(self):
        code, out, err = tern("dns", "zone", "--json", data=self.dir)
        self.assertEqual(code, 0, err)
        zone = json.loads(out)["zone"]
        fqdn = machine_fqdn()
        self.assertEqual(zone, "dkim." + fqdn)
        if fqdn != "localhost":
            self.assertNotIn("localhost", zone)

    def test_localhost_names_are_warned_about(self):
        code, out, err = tern("dns", "zone", "--hostname", "localhost", data=self.dir)
        self.assertEqual(code, 0, err)
        self.assertIn("warning", err)
        self.assertIn("ends in localhost", err)
        code, out, err = tern("dns", "zone", "--hostname", "mx.example.org", data=self.dir)
        self.assertNotIn("warning", err)
        server = harness.TernServer({"hostname": "box.localhost"}, account=False)
        self.addCleanup(server.close)
        self.assertIn(b"ends in localhost", server.log())


if __name__ == "__main__":
    unittest.main()
