"""A Tern node on PostgreSQL (issue 12, docs/cluster.md): a private PostgreSQL 15
(pg_harness.PgServer, a fresh schema) and one `tern serve` whose [store] url points at it. An
account and an API key are made through the API, a sending domain with the CLI (same flags as on
SQLite), a message is sent over submission with SMTP AUTH, and GET /api/v1/messages finds it
with the node that accepted it; `tern node list` shows the node's heartbeat. The rows are read back with psql, so the test fails if anything
of it stayed in a SQLite file.
"""
import json
import os
import time
import unittest
import urllib.error
import urllib.request
from urllib.parse import quote

import harness
import pg_harness
from test_console_api import Browser
from test_delivery import submit

WAIT_S = 20


def call(server, method, path, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{server.port('http')}{path}", data=data,
                                 method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class NodeOnPostgres(unittest.TestCase):
    def setUp(self):
        self.pg = pg_harness.PgServer()
        self.addCleanup(self.pg.close)
        self.schema, url = self.pg.new_schema()
        self.server = harness.TernServer({"store": {"url": url},
                                          "cluster": {"node_id": "node-a"}}, account=False)
        self.addCleanup(self.server.close)

    def rows(self, sql):
        return self.pg.psql(f"SET search_path TO {self.schema}; {sql}")

    def test_account_key_smtp_and_message_search(self):
        s = self.server
        self.assertIn(b"node node-a on a PostgreSQL store", s.log())
        with open(os.path.join(s.data, "admin.token")) as f:
            admin = f.read().strip()
        code, made = call(s, "POST", "/api/v1/accounts", admin, {"name": "pgco"})
        self.assertEqual(code, 201, made)
        code, key = call(s, "POST", "/api/v1/accounts/pgco/api-keys", admin)
        self.assertEqual(code, 201, key)
        # The CLI with the same flags as on SQLite: it reads [store] url from the config.
        s.cli("domain", "add", "pgco", "pgco.test", "--verified")
        self.assertEqual(self.rows("SELECT domain, verified FROM domains"), [["pgco.test", "1"]])
        self.assertEqual(self.rows("SELECT name FROM accounts"), [["pgco"]])
        self.assertFalse(os.path.exists(os.path.join(s.data, "tern.db")))

        s.username, s.password = made["username"], made["password"]
        qid = submit(s, "news@pgco.test", ["reader@dest.test"], "on postgres")
        deadline = time.monotonic() + WAIT_S
        while True:
            code, page = call(s, "GET", "/api/v1/messages?recipient=" + quote("reader@dest.test"),
                              key["key"])
            self.assertEqual(code, 200, page)
            items = [m for m in page["items"] if m["queueId"] == qid]
            if items or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(len(items), 1, page)
        self.assertEqual(items[0]["node"], "node-a")
        self.assertEqual(items[0]["status"], "accepted")  # delivery is off in this test
        self.assertEqual(self.rows(f"SELECT node_id, recipient FROM messages "
                                   f"WHERE queue_id = '{qid}'"), [["node-a", "reader@dest.test"]])
        # The node registry: the serving node heartbeats into PostgreSQL; the CLI lists it.
        nodes = s.cli_json("node", "list")
        self.assertEqual([(n["id"], n["alive"]) for n in nodes], [("node-a", True)])
        self.assertEqual(self.rows("SELECT node_id FROM cluster_nodes"), [["node-a"]])
        # Another account's key does not see it.
        code, other = call(s, "POST", "/api/v1/accounts", admin, {"name": "other"})
        self.assertEqual(code, 201, other)
        code, okey = call(s, "POST", "/api/v1/accounts/other/api-keys", admin)
        self.assertEqual(code, 201, okey)
        code, page = call(s, "GET", "/api/v1/messages", okey["key"])
        self.assertEqual((code, page["items"]), (200, []))

    def test_console_login_stats_and_key_revocation_on_postgres(self):
        # The console's stores are in PostgreSQL (no node-local file): an account logs in to the
        # console with its API key, its statistics count its mail, and revoking the key in the
        # CLI (another process, same database) ends the session at once.
        s = self.server
        with open(os.path.join(s.data, "admin.token")) as f:
            admin = f.read().strip()
        code, made = call(s, "POST", "/api/v1/accounts", admin, {"name": "pgco"})
        self.assertEqual(code, 201, made)
        code, key = call(s, "POST", "/api/v1/accounts/pgco/api-keys", admin)
        self.assertEqual(code, 201, key)
        s.cli("domain", "add", "pgco", "pgco.test", "--verified")
        b = Browser(s)
        status, body, _, _ = b.login(token=key["key"])
        self.assertEqual(status, 201, body)
        self.assertEqual(body["kind"], "account")
        self.assertEqual(b.request("GET", "/api/v1/domains")[0], 200)
        self.assertEqual(self.rows("SELECT count(*) FROM console_sessions "
                                   "WHERE account_id IS NOT NULL"), [["1"]])
        self.assertFalse(os.path.exists(os.path.join(s.data, "node-local.db")))

        s.username, s.password = made["username"], made["password"]
        submit(s, "news@pgco.test", ["a@dest.test", "b@dest.test"], "counted on postgres")
        deadline = time.monotonic() + WAIT_S
        while True:
            status, st, _, _ = b.request("GET", "/api/v1/stats")
            self.assertEqual(status, 200, st)
            if st["totals"]["accepted"] >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(st["totals"]["accepted"], 2, st["totals"])
        self.assertEqual(self.rows("SELECT sum(n) FROM stats_hourly WHERE event = 'accepted'"),
                         [["2"]])

        s.cli("apikey", "revoke", "pgco", key["key"][:12])
        self.assertEqual(b.request("GET", "/api/v1/domains")[0], 401)
        self.assertEqual(b.request("GET", "/api/v1/session")[0], 401)
        self.assertEqual(self.rows("SELECT count(*) FROM console_sessions"), [["0"]])


if __name__ == "__main__":
    unittest.main()
