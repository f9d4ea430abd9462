"""Moving a single node into a region (issue 12, docs/cluster.md): a node on SQLite (with a
master key) accepts mail and has an API key and a DKIM-signing domain; it is stopped, `tern store
copy` moves its store into a fresh PostgreSQL schema, and the same node (same data directory,
spool and master key) starts again on the PostgreSQL URL. There its API key, SMTP login and
message log still work, the DKIM private key exports unchanged and signs new mail that dkimpy
verifies, and new ids come after the copied ones. A second copy into the now used database is
refused and changes nothing; the URL's password is printed nowhere.
"""
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
import unittest
from urllib.parse import quote

import dkim

import harness
import pg_harness
from test_cluster import call
from test_delivery import submit

WAIT_S = 20


class StoreCopy(unittest.TestCase):
    def setUp(self):
        self.pg = pg_harness.PgServer()
        self.addCleanup(self.pg.close)
        self.schema, url = self.pg.new_schema()
        # With a password in it (the test server trusts loopback, so it is never checked):
        # neither the summary nor an error may print it.
        self.url = url.replace("postgres://tern@", "postgres://tern:s3cret-pw@", 1)
        self.assertIn("s3cret-pw", self.url)
        self.keydir = tempfile.mkdtemp(prefix="tern-it-key-")
        self.addCleanup(shutil.rmtree, self.keydir, True)
        self.master = os.path.join(self.keydir, "master.key")
        subprocess.run([harness.TERN_BIN, "master-key", "create", self.master], check=True,
                       capture_output=True, timeout=30)
        self.server = harness.TernServer({"master_key_file": self.master,
                                          "cluster": {"node_id": "single"}})
        self.addCleanup(self.server.close)

    def rows(self, sql):
        return self.pg.psql(f"SET search_path TO {self.schema}; {sql}")

    def copy(self, *extra):
        s = self.server
        argv = [harness.TERN_BIN, "store", "copy", "--from",
                "sqlite:" + os.path.join(s.data, "tern.db"), "--to", self.url, *extra]
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)

    def find_message(self, key, qid, recipient):
        deadline = time.monotonic() + WAIT_S
        while True:
            code, page = call(self.server, "GET",
                              "/api/v1/messages?recipient=" + quote(recipient), key)
            self.assertEqual(code, 200, page)
            items = [m for m in page["items"] if m["queueId"] == qid]
            if items or time.monotonic() > deadline:
                return items
            time.sleep(0.1)

    def test_single_node_moves_into_postgres(self):
        s = self.server
        key = s.cli_json("apikey", "create", "acme")["key"]
        pem = s.cli("dkim", "export-key", "acme.test", "tern1")
        self.assertIn("PRIVATE KEY", pem)
        qid = submit(s, "news@acme.test", ["reader@dest.test"], "before the move")
        self.assertEqual(len(self.find_message(key, qid, "reader@dest.test")), 1)
        records = {r["id"]: r for r in s.cli_json("domain", "records", "acme.test")["records"]}
        dkim_txt = records["dkim:tern1"]
        self.assertEqual(s.stop(), 0)

        # The DNS check of the selector passed (no DNS in this test): mark it as a check would,
        # so the node signs. Only the record state changes; the key is the one made above.
        db = sqlite3.connect(os.path.join(s.data, "tern.db"))
        with db:
            for rid in ("ownership", "dkim:tern1"):
                db.execute("INSERT OR REPLACE INTO domain_records(account_id, domain, id, status, "
                           "found, checked_ms) SELECT account_id, domain, ?, 'ok', '', 1 "
                           "FROM domains WHERE domain = 'acme.test'", (rid,))
        db.close()

        r = self.copy("--json")
        out = r.stdout.decode() + r.stderr.decode()
        self.assertEqual(r.returncode, 0, out)
        self.assertNotIn("s3cret-pw", out)
        summary = json.loads(r.stdout)
        self.assertIn("tern:***@", summary["to"])
        t = summary["tables"]
        self.assertEqual((t["accounts"], t["api_keys"], t["credentials"], t["domains"]),
                         (1, 1, 1, 1))
        self.assertGreaterEqual(t["messages"], 1)
        self.assertGreaterEqual(t["dkim_keys"], 1)
        self.assertEqual(summary["rows"], sum(t.values()))
        self.assertEqual(self.rows(f"SELECT account_id, node_id FROM messages "
                                   f"WHERE queue_id = '{qid}'")[0][1], "single")
        src = sqlite3.connect(os.path.join(s.data, "tern.db"))
        src_accounts = src.execute("SELECT id, name, code FROM accounts").fetchall()
        src_keys = src.execute("SELECT version, private_key FROM dkim_keys ORDER BY 1").fetchall()
        src.close()
        self.assertEqual([(int(a), b, c) for a, b, c in self.rows(
            "SELECT id, name, code FROM accounts")], src_accounts)
        # Sealed key material arrives sealed, byte for byte.
        self.assertEqual([(int(a), b) for a, b in self.rows(
            "SELECT version, private_key FROM dkim_keys ORDER BY 1")], src_keys)
        self.assertFalse(any("PRIVATE KEY" in k for _, k in src_keys))

        # A second copy: the target now holds rows. Refused, nothing changed.
        before = self.rows("SELECT count(*) FROM accounts UNION ALL SELECT count(*) FROM messages")
        r = self.copy()
        err = r.stderr.decode()
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("already holds data", err)
        self.assertNotIn("s3cret-pw", err + r.stdout.decode())
        self.assertEqual(self.rows("SELECT count(*) FROM accounts UNION ALL "
                                   "SELECT count(*) FROM messages"), before)

        # The same node (data dir, spool, master key) on the PostgreSQL URL.
        s.config["store"] = {"url": self.url}
        with open(s.config_path, "w") as f:
            f.write(harness.to_toml(s.config))
        s.start()
        self.assertIn(b"on a PostgreSQL store", s.log())
        self.assertNotIn(b"s3cret-pw", s.log())
        items = self.find_message(key, qid, "reader@dest.test")  # the API key works
        self.assertEqual(len(items), 1)
        self.assertEqual(items[0]["node"], "single")
        self.assertEqual(s.cli("dkim", "export-key", "acme.test", "tern1"), pem)
        # SMTP AUTH with the login made on SQLite; the new message is signed with the copied key.
        qid2 = submit(s, "news@acme.test", ["second@dest.test"], "after the move")
        self.assertEqual(len(self.find_message(key, qid2, "second@dest.test")), 1)
        raw = s.raw(qid2)
        self.assertTrue(raw.startswith(b"DKIM-Signature:"), raw[:300])
        self.assertIn(b"d=acme.test", raw[:1000])

        def dnsfunc(name, timeout=5):
            qname = (name.decode() if isinstance(name, bytes) else name).rstrip(".")
            return dkim_txt["value"].encode() if qname == dkim_txt["name"].rstrip(".") else b""
        self.assertTrue(dkim.DKIM(raw).verify(dnsfunc=dnsfunc), raw[:1500])
        # New rows get new ids, after the copied ones.
        new = s.cli_json("account", "create", "newco")
        self.assertTrue(new["username"])
        ids = {name: int(i) for i, name in self.rows("SELECT id, name FROM accounts")}
        self.assertGreater(ids["newco"], max(a for a, _, _ in src_accounts))


if __name__ == "__main__":
    unittest.main()
