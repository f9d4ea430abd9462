"""Three Tern nodes on one PostgreSQL (issue 12, docs/cluster.md): queue commands reach the node
whose spool holds the message, AUTH failures count region-wide, and a deleted login is refused
everywhere within 2 s.

Each test gets a fresh schema and three `tern serve` on loopback (node-1, node-2, node-3) over one
private PostgreSQL 15 (pg_harness). Mail of the account waits on node 1: its route is a relay on a
port nobody listens on, with an hour between attempts, so a message stays in node 1's spool until
a command changes it.
"""
import json
import os
import time
import unittest
from urllib.parse import quote

import harness
import pg_harness
from test_cluster import CONFIG_S, WAIT_S, auth_code, call, within
from test_delivery import submit


def admin(server):
    with open(os.path.join(server.data, "admin.token")) as f:
        return f.read().strip()


class ThreeNodes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = pg_harness.PgServer()

    @classmethod
    def tearDownClass(cls):
        cls.pg.close()

    def setUp(self):
        self.schema, url = self.pg.new_schema()
        common = {"store": {"url": url},
                  "delivery": {"retry_schedule": "1h", "max_age": "2d", "connect_timeout_s": 2}}
        self.nodes = []
        for i in (1, 2, 3):
            n = harness.TernServer(harness.merge(common, {"cluster": {"node_id": f"node-{i}"}}),
                                   account=False)
            self.addCleanup(n.close)
            self.nodes.append(n)
        self.admin = admin(self.nodes[0])

    def rows(self, sql):
        return self.pg.psql(f"SET search_path TO {self.schema}; {sql}")

    def account(self, name, via):
        code, made = call(via, "POST", "/api/v1/accounts", self.admin, {"name": name})
        self.assertEqual(code, 201, made)
        code, key = call(via, "POST", f"/api/v1/accounts/{name}/api-keys", self.admin)
        self.assertEqual(code, 201, key)
        return made, key["key"]

    def queue_of(self, node):
        code, page = call(node, "GET", "/api/v1/queue/messages?limit=1000", self.admin)
        self.assertEqual(code, 200, page)
        return {m["id"]: m for m in page["items"]}

    def wait_for(self, what, probe, seconds=WAIT_S):
        deadline = time.monotonic() + seconds
        while True:
            got = probe()
            if got:
                return got
            self.assertLess(time.monotonic(), deadline, f"waited {seconds} s for {what}")
            time.sleep(0.1)

    def test_a_message_held_on_node1_is_released_and_deleted_through_node3(self):
        n1, n2, n3 = self.nodes
        made, key = self.account("qco", n1)
        _, other_key = self.account("other", n1)
        n1.cli("domain", "add", "qco", "qco.test", "--verified")
        dead = harness.free_port()
        code, out = call(n1, "PATCH", "/api/v1/settings", key,
                         {"route": "custom", "relay.host": "127.0.0.1", "relay.port": dead,
                          "relay.security": "none"})
        self.assertEqual(code, 200, out)
        n1.username, n1.password = made["username"], made["password"]
        q1 = submit(n1, "a@qco.test", ["x@example.com"], "held-on-node-1")
        q2 = submit(n1, "a@qco.test", ["y@example.com"], "also-on-node-1")
        # Both wait in node 1's queue (tried once); the message log says node 1 holds them.
        self.wait_for("both deferred on node 1", lambda: all(
            q in self.queue_of(n1) and self.queue_of(n1)[q]["recipients"][0]["attempts"] >= 1
            for q in (q1, q2)))

        def logged_node(q):
            code, page = call(n3, "GET", "/api/v1/messages?recipient=" +
                              quote("x@example.com" if q == q1 else "y@example.com"), key)
            return code == 200 and [m["node"] for m in page["items"] if m["queueId"] == q]
        self.assertEqual(self.wait_for("the log rows", lambda: logged_node(q1)), ["node-1"])
        self.wait_for("the log rows", lambda: logged_node(q2))
        self.assertNotIn(q1, self.queue_of(n3))  # node 3's own queue never had it

        # Hold through node 3's API: node 1 holds it now.
        code, r = call(n3, "POST", "/api/v1/queue/actions", self.admin,
                       {"action": "hold", "ids": [q1]})
        self.assertEqual((code, r), (200, {"action": "hold", "count": 1}))
        self.assertTrue(self.queue_of(n1)[q1]["held"])
        self.assertFalse(self.queue_of(n1)[q2]["held"])
        self.assertEqual(self.rows(f"SELECT node_id, command, state FROM node_commands "
                                   f"WHERE queue_id = '{q1}'"), [["node-1", "hold", "done"]])

        # Another account's key cannot act on it through any node (the queue is the operator's).
        for n in self.nodes:
            code, _ = call(n, "POST", "/api/v1/queue/actions", other_key,
                           {"action": "delete", "ids": [q1]})
            self.assertEqual(code, 403)
            code, _ = call(n, "POST", "/api/v1/queue/actions", key,
                           {"action": "release", "ids": [q1]})
            self.assertEqual(code, 403)
        self.assertTrue(self.queue_of(n1)[q1]["held"])

        # Release through node 3's CLI (its control socket routes it to node 1).
        self.assertEqual(n3.cli("queue", "release", q1).strip(), "release: 1 message(s)")
        self.assertFalse(self.queue_of(n1)[q1]["held"])
        # Hold q2 through node 2's CLI, --json.
        self.assertEqual(json.loads(n2.cli("queue", "hold", q2, "--json")),
                         {"command": "hold", "count": 1})
        self.assertTrue(self.queue_of(n1)[q2]["held"])

        # Delete q1 through node 3's API: gone from node 1's spool.
        code, r = call(n3, "POST", "/api/v1/queue/actions", self.admin,
                       {"action": "delete", "ids": [q1]})
        self.assertEqual((code, r["count"]), (200, 1))
        self.assertNotIn(q1, self.queue_of(n1))
        self.assertNotIn(q1, {m["id"] for m in n1.queue()})
        self.assertIn(q2, {m["id"] for m in n1.queue()})

        # Node 1 stops: node 3 says so (202), and the command waits for it.
        n1.stop()
        code, r = call(n3, "POST", "/api/v1/queue/actions", self.admin,
                       {"action": "delete", "ids": [q2]})
        self.assertEqual(code, 202, r)
        self.assertEqual(r["status"], "queued")
        self.assertEqual([p["node"] for p in r["pending"]], ["node-1"])
        self.assertIn("node-1", r["message"])
        out = n3.cli("queue", "release", q2, check=False)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.decode().strip(), "release: 0 message(s)")
        self.assertIn(b"node node-1", out.stderr)
        self.assertIn(q2, {m["id"] for m in n1.queue()})  # nothing ran while it was down
        # Back: it runs what waited (in order: the delete, then a release of nothing).
        n1.start()
        self.wait_for("node 1 running the queued delete",
                      lambda: q2 not in {m["id"] for m in n1.queue()})
        self.wait_for("both commands done", lambda: self.rows(
            f"SELECT count(*) FROM node_commands WHERE queue_id = '{q2}' AND "
            f"state = 'done'") == [["3"]])

    def test_ten_failed_auths_spread_over_three_nodes_block_the_address_on_all(self):
        n1, n2, n3 = self.nodes
        made, _ = self.account("authco", n2)
        user, pw = made["username"], made["password"]
        for n in self.nodes:
            got, took = within(CONFIG_S, lambda: auth_code(n, user, pw), 235)
            self.assertEqual(got, 235, f"login not accepted after {took:.2f} s")
        # Nine failures, three per node, each under another name (no per-user block).
        for i in range(9):
            self.assertEqual(auth_code(self.nodes[i % 3], f"nobody{i}@authco", "wrong"), 535)
        for n in self.nodes:
            self.assertEqual(auth_code(n, user, pw), 235)  # nine do not block anyone
        self.assertEqual(self.rows("SELECT failures FROM auth_failures "
                                   "WHERE key = 'smtp:127.0.0.1'"), [["9"]])
        # The tenth, on node 2: every node refuses the address within 2 s, the right password
        # included.
        self.assertEqual(auth_code(n2, "nobody9@authco", "wrong"), 535)
        for n in (n2, n1, n3):
            got, took = within(CONFIG_S, lambda: auth_code(n, user, pw), 454)
            self.assertEqual(got, 454, f"not blocked after {took:.2f} s")
        row = self.rows("SELECT failures, blocked_until_ms > 0 FROM auth_failures "
                        "WHERE key = 'smtp:127.0.0.1'")
        self.assertEqual(row, [["10", "t"]])

    def test_a_login_deleted_on_node3_is_refused_on_node1_within_2s(self):
        n1, n2, n3 = self.nodes
        _, key = self.account("delco", n1)
        code, cred = call(n3, "POST", "/api/v1/credentials", key, {})
        self.assertEqual(code, 201, cred)
        got, took = within(CONFIG_S, lambda: auth_code(n1, cred["username"], cred["password"]),
                           235)
        self.assertEqual(got, 235, f"login not accepted by node 1 after {took:.2f} s")
        code, _ = call(n3, "DELETE", "/api/v1/credentials/" + quote(cred["username"]), key)
        self.assertEqual(code, 204)
        got, took = within(CONFIG_S, lambda: auth_code(n1, cred["username"], cred["password"]),
                           535)
        self.assertEqual(got, 535, f"deleted login still accepted by node 1 after {took:.2f} s")
        self.assertEqual(auth_code(n2, cred["username"], cred["password"]), 535)


if __name__ == "__main__":
    unittest.main()
