"""A Tern node on PostgreSQL (issue 12, docs/cluster.md): a private PostgreSQL 15
(pg_harness.PgServer, a fresh schema) and one `tern serve` whose [store] url points at it. An
account and an API key are made through the API, a sending domain with the CLI (same flags as on
SQLite), a message is sent over submission with SMTP AUTH, and GET /api/v1/messages finds it
with the node that accepted it; `tern node list` shows the node's heartbeat. The rows are read back with psql, so the test fails if anything
of it stayed in a SQLite file.

TwoNodes: two `tern serve` on one schema. A login and an API key made through node 1 work on node
2 within 2 s; a login deleted on node 2 is refused on node 1 within 2 s although node 1 had just
verified it (its AUTH cache would keep it 300 s without the change feed).

DuplicateNodeId: two data dirs under one [cluster] node_id on one schema (docs/cluster.md, "One
node per id"). The second is refused at start with a message naming the id, the first node's
instance, host and address; the first, killed with -9 and restarted from its own data dir at
once, starts. A node paused for longer than lease_s is replaced by another data dir (a takeover,
logged), and when it resumes it stops on its next heartbeat, non-zero, saying why. A clone of a
running node's data dir (a cloned VM: node.instance hard-linked, so the same inode and host,
hence the same instance) is told apart by its run: started while the original runs, it is
refused as a duplicate and the original goes on; started while the original is paused, it takes
the row, and the original, resumed, stops at its next heartbeat as a duplicate.
"""
import email
import email.policy
import os
import re
import shutil
import signal
import socket
import time
import unittest
import urllib.error
import urllib.request
from urllib.parse import quote

import harness
import pg_harness
from test_console_api import Browser
from mail_peers import Receiver
from test_delivery import find, submit
from test_reports import HookReceiver

WAIT_S = 20


call = harness.api_call  # (server, method, path, token, body=None) -> (status, body)


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


CONFIG_S = 2.0  # config changes reach every node within this (docs/cluster.md)


def auth_code(server, user, password):
    """The reply code to AUTH PLAIN on the server's submission port (235 ok, 535 refused)."""
    s = harness.RawSMTP(server.port("submission"))
    try:
        assert s.greeting.code == 220, s.greeting
        assert s.cmd("EHLO client.test").code == 250
        s.starttls()
        assert s.cmd("EHLO client.test").code == 250
        return s.auth_plain(user, password).code
    finally:
        s.close()


def within(seconds, probe, want):
    """Polls probe() until it returns want or the deadline passes; returns (value, seconds)."""
    start = time.monotonic()
    while True:
        got = probe()
        if got == want or time.monotonic() - start > seconds:
            return got, time.monotonic() - start
        time.sleep(0.05)


class TwoNodes(unittest.TestCase):
    def setUp(self):
        self.pg = pg_harness.PgServer()
        self.addCleanup(self.pg.close)
        self.schema, url = self.pg.new_schema()
        # Delivery on, for the sandbox route (mail is captured, never sent).
        common = {"store": {"url": url}, "delivery": {"retry_schedule": "1s", "max_age": "1h"},
                  "webhooks": {"allow_loopback": True},
                  "sandbox": {"max_messages": 50, "max_age_s": 3600}}
        self.a = harness.TernServer(harness.merge(common, {"cluster": {"node_id": "node-1"}}),
                                    account=False)
        self.addCleanup(self.a.close)
        self.b = harness.TernServer(harness.merge(common, {"cluster": {"node_id": "node-2"}}),
                                    account=False)
        self.addCleanup(self.b.close)

    @staticmethod
    def admin(server):
        with open(os.path.join(server.data, "admin.token")) as f:
            return f.read().strip()

    def test_logins_and_keys_reach_every_node_within_2s(self):
        a, b = self.a, self.b
        code, made = call(a, "POST", "/api/v1/accounts", self.admin(a), {"name": "clco"})
        self.assertEqual(code, 201, made)
        code, key = call(a, "POST", "/api/v1/accounts/clco/api-keys", self.admin(a))
        self.assertEqual(code, 201, key)
        # Made on node 1, usable on node 2: the API key and the account's first login.
        got, took = within(CONFIG_S, lambda: call(b, "GET", "/api/v1/domains", key["key"])[0],
                           200)
        self.assertEqual(got, 200, f"API key not accepted by node 2 after {took:.2f} s")
        got, took = within(CONFIG_S, lambda: auth_code(b, made["username"], made["password"]),
                           235)
        self.assertEqual(got, 235, f"login not accepted by node 2 after {took:.2f} s")

        # A second login, made on node 2, verified on node 1 (now in node 1's AUTH cache).
        code, cred = call(b, "POST", "/api/v1/credentials", key["key"], {})
        self.assertEqual(code, 201, cred)
        got, took = within(CONFIG_S, lambda: auth_code(a, cred["username"], cred["password"]),
                           235)
        self.assertEqual(got, 235, f"login not accepted by node 1 after {took:.2f} s")
        self.assertEqual(auth_code(a, cred["username"], cred["password"]), 235)

        # Deleted on node 2: node 1 refuses it within 2 s (the change feed drops its cached
        # verification; without it node 1 would accept the password for another 300 s).
        code, _ = call(b, "DELETE", "/api/v1/credentials/" + quote(cred["username"]),
                       key["key"])
        self.assertEqual(code, 204)
        self.assertEqual(auth_code(b, cred["username"], cred["password"]), 535)
        got, took = within(CONFIG_S, lambda: auth_code(a, cred["username"], cred["password"]),
                           535)
        self.assertEqual(got, 535, f"deleted login still accepted by node 1 after {took:.2f} s")
        # The account's other login is untouched on both nodes.
        self.assertEqual(auth_code(a, made["username"], made["password"]), 235)
        self.assertEqual(auth_code(b, made["username"], made["password"]), 235)
        # Both nodes registered, each under its own id.
        self.assertEqual(sorted(n["id"] for n in a.cli_json("node", "list")),
                         ["node-1", "node-2"])

    def test_settings_changed_on_one_node_steer_another_nodes_mail_within_2s(self):
        """An account's route and notify URL changed through node 1 apply to mail node 2
        accepts 2 s later: node 2's delivery engine and report thread both held a copy of the
        old settings (up to 30 s) and drop it when the change feed names the account."""
        a, b = self.a, self.b
        hooks = HookReceiver()
        self.addCleanup(hooks.close)
        mx = Receiver()
        mx.start()
        self.addCleanup(mx.close)
        code, made = call(a, "POST", "/api/v1/accounts", self.admin(a), {"name": "seco"})
        self.assertEqual(code, 201, made)
        code, key = call(a, "POST", "/api/v1/accounts/seco/api-keys", self.admin(a))
        self.assertEqual(code, 201, key)
        a.cli("domain", "add", "seco", "seco.test", "--verified")
        code, body = call(a, "PATCH", "/api/v1/settings", key["key"],
                          {"route": "sandbox", "notify_url": hooks.url("/one")})
        self.assertEqual(code, 200, body)
        b.username, b.password = made["username"], made["password"]
        got, took = within(CONFIG_S, lambda: auth_code(b, b.username, b.password), 235)
        self.assertEqual(got, 235, f"login not accepted by node 2 after {took:.2f} s")
        # Node 2 delivers (captures) one message with the first settings: now it holds them.
        q1 = submit(b, "news@seco.test", ["r@dest.test"], "settings-1")
        hooks.wait("/one", lambda r: r["messageId"] == q1 + ".0")

        code, body = call(a, "PATCH", "/api/v1/settings", key["key"],
                          {"route": "custom", "relay.host": "127.0.0.1",
                           "relay.port": mx.port, "relay.security": "none",
                           "notify_url": hooks.url("/two")})
        self.assertEqual(code, 200, body)
        time.sleep(CONFIG_S)  # the contract's bound, not a wait for something to not happen
        q2 = submit(b, "news@seco.test", ["r@dest.test"], "settings-2")
        got = find(mx, "settings-2")
        self.assertEqual(len(got), 1, "node 2 used the old route (sandbox): "
                         + b.log()[-3000:].decode(errors="replace"))
        (_, res), = hooks.wait("/two", lambda r: r["messageId"] == q2 + ".0")
        self.assertEqual(res["status"]["groupName"], "DELIVERED")
        self.assertEqual([r for _, r in hooks.results("/one") if r["messageId"] == q2 + ".0"],
                         [], "node 2 reported to the old notify URL")

    def test_operator_token_and_tracking_key_are_the_regions(self):
        a, b = self.a, self.b
        # One operator token: node 2 adopted node 1's and wrote it to its own file.
        self.assertEqual(self.admin(a), self.admin(b))
        self.assertIn(b"operator token: the region's", b.log())
        with open(os.path.join(a.data, "tracking.key"), "rb") as fa, \
                open(os.path.join(b.data, "tracking.key"), "rb") as fb:
            self.assertEqual(fa.read(), fb.read())
        code, made = call(b, "POST", "/api/v1/accounts", self.admin(a), {"name": "trk"})
        self.assertEqual(code, 201, made)
        code, key = call(a, "POST", "/api/v1/accounts/trk/api-keys", self.admin(b))
        self.assertEqual(code, 201, key)
        a.cli("domain", "add", "trk", "trk.test", "--verified")
        code, out = call(a, "PATCH", "/api/v1/settings", key["key"], {"route": "sandbox"})
        self.assertEqual(code, 200, out)

        # A tracked message accepted by node 1: its click link is signed with node 1's key.
        a.username, a.password = made["username"], made["password"]
        target = "https://landing.example/offer?x=1"
        html = f'<html><body><p><a href="{target}">offer</a></p></body></html>'
        submit(a, "news@trk.test", ["reader@dest.test"], "tracked-in-region", body=html,
               extra_headers=("X-IB-tracking-url: http://127.0.0.1:9/track", "MIME-Version: 1.0",
                              "Content-Type: text/html; charset=utf-8"))
        deadline = time.monotonic() + WAIT_S
        while True:
            code, page = call(a, "GET", "/api/v1/captured", key["key"])
            self.assertEqual(code, 200, page)
            if page["items"] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(len(page["items"]), 1, page)
        req = urllib.request.Request(
            f"http://127.0.0.1:{a.port('http')}/api/v1/captured/{page['items'][0]['id']}/raw")
        req.add_header("Authorization", "Bearer " + key["key"])
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
        body = email.message_from_bytes(raw, policy=email.policy.default)
        html_part = body.get_body(("html",)).get_content()
        links = re.findall(r'https?://[^"\s<>]+/t/c/([A-Za-z0-9_-]+)', html_part)
        self.assertEqual(len(links), 1, html_part)

        # Node 2 verifies it: 302 to the original URL. A forged token is 404 there (the check is
        # real, not a pass-through).
        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None
        opener = urllib.request.build_opener(NoRedirect)

        def click(server, token):
            try:
                with opener.open(f"http://127.0.0.1:{server.port('http')}/t/c/{token}",
                                 timeout=30) as r:
                    return r.status, r.headers.get("Location")
            except urllib.error.HTTPError as e:
                return e.code, e.headers.get("Location")

        self.assertEqual(click(b, links[0]), (302, target))
        forged = links[0][:-4] + ("AAAA" if not links[0].endswith("AAAA") else "BBBB")
        self.assertEqual(click(b, forged)[0], 404)
        self.assertEqual(click(a, links[0]), (302, target))


if __name__ == "__main__":
    unittest.main()


def instance_of(server):
    """The data dir's instance (<data>/node.instance: "<instance> <inode> <host>")."""
    with open(os.path.join(server.data, "node.instance")) as f:
        return f.read().split()[0]


class DuplicateNodeId(unittest.TestCase):
    LEASE_S = 4

    def setUp(self):
        self.pg = pg_harness.PgServer()
        self.addCleanup(self.pg.close)
        self.schema, url = self.pg.new_schema()
        self.config = {"store": {"url": url},
                       "cluster": {"node_id": "node-1", "lease_s": self.LEASE_S,
                                   "heartbeat_s": 1}}

    def rows(self, sql):
        return self.pg.psql(f"SET search_path TO {self.schema}; {sql}")

    def start(self):
        node = harness.TernServer(self.config, account=False)
        self.addCleanup(node.close)
        return node

    def test_a_second_data_dir_is_refused_and_a_killed_node_restarts(self):
        a = self.start()
        first = instance_of(a)
        self.assertEqual(self.rows("SELECT node_id, instance, address FROM cluster_nodes"),
                         [["node-1", first, f"127.0.0.1:{a.port('http')}"]])
        # Another data dir (a copied config) under the same id: refused, non-zero, with a message.
        with self.assertRaises(RuntimeError) as refused:
            harness.TernServer(self.config, account=False)
        said = str(refused.exception)
        self.assertRegex(said, r"tern serve exited with [1-9]")
        self.assertIn('node id "node-1" is already running from another data dir', said)
        self.assertIn(f"instance {first} on host {socket.gethostname()} "
                      f"(127.0.0.1:{a.port('http')})", said)
        self.assertIn("give it its own [cluster] node_id", said)
        self.assertNotIn("tern ready", said)
        # Nothing of the refused one was written.
        self.assertEqual(self.rows("SELECT instance FROM cluster_nodes"), [[first]])
        # kill -9 and at once a restart from the same data dir: its own heartbeat is fresh; it
        # is the same instance under another run, so it looks again after two heartbeats, finds
        # that nobody beat, and starts (start() waits for "tern ready").
        a.kill9()
        a.start()
        self.assertEqual(instance_of(a), first)
        self.assertIn(b"looking again before starting", a.log())
        self.assertEqual(self.rows("SELECT instance, stopped_ms FROM cluster_nodes"),
                         [[first, "0"]])
        nodes = a.cli_json("node", "list")
        self.assertEqual([(n["id"], n["state"], n["instance"]) for n in nodes],
                         [("node-1", "alive", first)])
        # A clean stop frees the id at once: another data dir may take it without waiting.
        self.assertEqual(a.stop(), 0)
        self.assertEqual(self.rows("SELECT count(*) FROM cluster_nodes WHERE stopped_ms > 0"),
                         [["1"]])
        b = self.start()
        self.assertIn(b"taken over by this data dir", b.log())
        self.assertIn(b"stopped cleanly", b.log())
        self.assertEqual(self.rows("SELECT instance FROM cluster_nodes"), [[instance_of(b)]])

    def test_a_paused_node_is_replaced_and_stops_when_it_resumes(self):
        a = self.start()
        first = instance_of(a)
        os.kill(a.proc.pid, signal.SIGSTOP)  # a VM pause, a long partition: it cannot beat

        def resume():
            if a.proc.poll() is None:
                os.kill(a.proc.pid, signal.SIGCONT)
        self.addCleanup(resume)  # runs before a.close()
        # Once a has been silent for lease_s, a replacement (another data dir) takes the id.
        seen = int(self.rows("SELECT seen_ms FROM cluster_nodes")[0][0])
        while time.time() * 1000 < seen + self.LEASE_S * 1000 + 200:
            time.sleep(0.1)
        b = self.start()
        second = instance_of(b)
        self.assertNotEqual(second, first)
        self.assertIn(b"taken over by this data dir", b.log())
        self.assertIn(f"from instance {first}".encode(), b.log())
        # a resumes: its next heartbeat finds the id taken; it stops, non-zero, saying why.
        resume()
        self.assertNotEqual(a.proc.wait(30), 0)
        log = a.log().decode(errors="replace")
        self.assertIn('node id "node-1" is already running from another data dir', log)
        self.assertIn(f"instance {second}", log)
        self.assertIn("this node stops now", log)
        # b runs on, and the row is still b's (a's way out did not check the id out).
        self.assertIsNone(b.proc.poll())
        self.assertEqual(self.rows("SELECT instance, stopped_ms FROM cluster_nodes"),
                         [[second, "0"]])

    def clone_of(self, a):
        """A cloned VM of a's: node.id copied, node.instance hard-linked (same inode, same
        host: the same instance), started while a has its row."""
        def prepare(data):
            shutil.copyfile(os.path.join(a.data, "node.id"), os.path.join(data, "node.id"))
            os.link(os.path.join(a.data, "node.instance"), os.path.join(data, "node.instance"))
        node = harness.TernServer(self.config, account=False, prepare=prepare)
        self.addCleanup(node.close)
        return node

    def test_a_clone_of_a_running_node_is_refused_as_a_duplicate(self):
        a = self.start()
        first = instance_of(a)
        [[run]] = self.rows("SELECT run FROM cluster_nodes")
        self.assertRegex(run, r"^r-[a-z2-7]{20}$")
        with self.assertRaises(RuntimeError) as refused:
            self.clone_of(a)
        said = str(refused.exception)
        self.assertRegex(said, r"tern serve exited with [1-9]")
        self.assertIn("looking again before starting", said)
        self.assertIn('node id "node-1": another process runs from a copy of this data dir '
                      f"(instance {first}, its run {run} on host {socket.gethostname()}", said)
        self.assertNotIn("tern ready", said)
        # The original goes on, and its row is still its own.
        self.assertIsNone(a.proc.poll())
        self.assertEqual(self.rows("SELECT instance, run, stopped_ms FROM cluster_nodes"),
                         [[first, run, "0"]])
        nodes = a.cli_json("node", "list")
        self.assertEqual([(n["id"], n["state"]) for n in nodes], [("node-1", "alive")])

    def test_a_clone_started_while_the_original_is_paused_stops_the_original(self):
        a = self.start()
        first = instance_of(a)
        [[run_a]] = self.rows("SELECT run FROM cluster_nodes")
        os.kill(a.proc.pid, signal.SIGSTOP)

        def resume():
            if a.proc.poll() is None:
                os.kill(a.proc.pid, signal.SIGCONT)
        self.addCleanup(resume)  # runs before a.close()
        b = self.clone_of(a)  # a does not beat while b looks again: b takes the row
        self.assertEqual(instance_of(b), first)
        [[run_b]] = self.rows("SELECT run FROM cluster_nodes")
        self.assertNotEqual(run_b, run_a)
        # a resumes: its next heartbeat finds another run under its instance; it stops,
        # non-zero, saying why, at error level.
        resume()
        self.assertNotEqual(a.proc.wait(30), 0)
        log = a.log().decode(errors="replace")
        self.assertIn("another process runs from a copy of this data dir", log)
        self.assertIn(f"its run {run_b}", log)
        self.assertIn("this node stops now", log)
        # b runs on; the row is b's, not checked out by a's way out.
        self.assertIsNone(b.proc.poll())
        self.assertEqual(self.rows("SELECT instance, run, stopped_ms FROM cluster_nodes"),
                         [[first, run_b, "0"]])
