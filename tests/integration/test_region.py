"""Three Tern nodes on one PostgreSQL 15 (issue 12, docs/cluster.md): a region started at once,
a node killed with SIGKILL under SMTP load, a node killed while it holds leased webhook items,
and the DNS re-check queue spread over the nodes. Real processes only: PostgreSQL
(pg_harness.PgServer, one per test class, a fresh schema per test), three `tern serve`
(region_harness.Region), an aiosmtpd test MX on loopback that every node relays to (the
operator's smarthost), an HTTP receiver for the reports, nsd + unbound for the DNS test.

RegionStart.test_three_nodes_started_at_once_migrate_once_and_serve: every schema migration is
applied exactly once (schema_version rows, and each version in exactly one node's log), all
three answer SMTP and the API, list each other, and each singleton job has one holder.

RegionKill.test_kill9_of_node_2_under_load_delivers_every_acked_message_once: SMTP load spread
over the three nodes; node 2 is killed (-9) midway and restarted: every message that got a 250
on any node reaches the test MX; duplicates (by Message-ID) only in the documented window of
node 2 (the MX said 250, node 2 died before it recorded that), at most a handful.

RegionKill.test_a_dead_nodes_webhook_items_go_out_from_another_node_within_the_lease: node 1
delivers and claims the reports, the receiver holds its POST; node 1 is killed (-9): another
node posts every item node 1 held within the lease + 1 s, each (messageId, status) once after
deduplication; a singleton job node 1 held moves to another node.

RegionDns.test_each_domain_is_rechecked_by_one_node_per_interval: 12 domains, 3 nodes, a 2 s
interval: every re-check is logged by the node that made it; per domain, successive re-checks
are an interval apart (never two in one interval), and the work is spread over the nodes.
"""
import collections
import http.server
import json
import re
import smtplib
import socket
import threading
import time
import unittest

import harness
import pg_harness
from mail_peers import Receiver
from region_harness import Region

WAIT_S = 60
SENDER = "load@region.test"


def submit_one(node, marker, rcpt, extra_headers=()):
    """One message over node's submission port (STARTTLS + AUTH); returns the queue id."""
    msg = harness.message_bytes(SENDER, [rcpt], subject=marker, body=f"{marker}\r\n",
                                extra_headers=(f"Message-ID: <{marker}@region.test>",
                                               *extra_headers))
    with smtplib.SMTP("127.0.0.1", node.port("submission"), timeout=30) as c:
        c.starttls(context=harness.client_tls_context())
        c.login(node.username, node.password)
        c.mail(SENDER)
        code, text = c.rcpt(rcpt)
        assert code == 250, (code, text)
        code, text = c.data(msg)
        assert code == 250, (code, text)
        return text.decode().rsplit(" ", 1)[-1]


MARKER = re.compile(rb"^Message-ID: <([^@>]+)@region\.test>", re.I | re.M)


def markers_at(mx):
    """Message-ID markers of every message the test MX accepted, in arrival order."""
    out = []
    for t in list(mx.messages):
        m = MARKER.search(t.data)
        out.append(m.group(1).decode() if m else None)
    return out


class RegionTest(unittest.TestCase):
    """One PostgreSQL per class; a fresh schema (and region) per test."""

    @classmethod
    def setUpClass(cls):
        cls.pg = pg_harness.PgServer()

    @classmethod
    def tearDownClass(cls):
        cls.pg.close()

    def region(self, n=3, config=None, per_node=None):
        r = Region(self.pg, n, config, per_node)
        self.addCleanup(r.close)
        return r


class RegionStart(RegionTest):
    def test_three_nodes_started_at_once_migrate_once_and_serve(self):
        r = self.region()
        # schema_version: every version once, 1..newest without a gap.
        versions = sorted(int(v[0]) for v in r.rows("SELECT version FROM schema_version"))
        self.assertGreaterEqual(len(versions), 10)
        self.assertEqual(versions, list(range(1, len(versions) + 1)))
        # Each version was applied by exactly one node (they raced for each migration's lock).
        applied = collections.Counter()
        for node in r.nodes:
            for v in re.findall(rb"store: applied schema migration (\d+)", node.log()):
                applied[int(v)] += 1
        self.assertEqual(sorted(applied), versions, applied)
        self.assertEqual(set(applied.values()), {1}, f"a migration applied twice: {applied}")

        # All three serve: SMTP greets and answers EHLO, the API answers with the region's
        # operator token (adopted from whichever node stored it first).
        admin = r.admin()
        for node in r.nodes:
            s = harness.RawSMTP(node.port("smtp"))
            try:
                self.assertEqual(s.greeting.code, 220)
                self.assertEqual(s.cmd("EHLO client.test").code, 250)
            finally:
                s.close()
            code, body = r.api(node, "GET", "/api/v1/accounts", admin)
            self.assertEqual(code, 200, body)
        ids = sorted((n["id"], n["alive"]) for n in r.nodes[2].cli_json("node", "list"))
        self.assertEqual(ids, [("node-1", True), ("node-2", True), ("node-3", True)])

        # Each singleton job has one holder: one node logged that it runs it, and the lease
        # row names that node.
        held = dict((row[0], row[1]) for row in r.rows("SELECT name, holder FROM cluster_leases"))
        for job in ("job:captured-retention", "job:change-log-trim"):
            runners = [f"node-{i + 1}" for i, node in enumerate(r.nodes)
                       if f"lease {job}: this node runs the job".encode() in node.log()]
            self.assertEqual(len(runners), 1, f"{job}: {runners}")
            self.assertEqual(held.get(job), runners[0])


class SpreadLoad:
    """Client threads (per node) sending marked messages until `total` were tried. A thread
    whose node dies stops; the others go on until the total is reached."""

    def __init__(self, nodes, total, per_node=2):
        self.nodes = nodes
        self.left = total
        self.lock = threading.Lock()
        self.acked = {}      # marker -> node index (the client read 250 ... queued as)
        self.attempted = {}  # marker -> node index (DATA sent: perhaps stored)
        self.errors = collections.Counter()
        self.threads = [threading.Thread(target=self.run, args=(i, t), daemon=True)
                        for i in range(len(nodes)) for t in range(per_node)]

    def start(self):
        for t in self.threads:
            t.start()

    def join(self, timeout=120):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self.threads)

    def ticket(self):
        with self.lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True

    def run(self, i, tid):
        node = self.nodes[i]
        n = 0
        try:
            with smtplib.SMTP("127.0.0.1", node.port("submission"), timeout=20) as c:
                c.starttls(context=harness.client_tls_context())
                c.login(node.username, node.password)
                while self.ticket():
                    marker = f"n{i + 1}t{tid}m{n}"
                    n += 1
                    msg = harness.message_bytes(
                        SENDER, [f"rcpt{i}@dest.test"], subject=marker, body=f"{marker}\r\n" * 10,
                        extra_headers=(f"Message-ID: <{marker}@region.test>",))
                    c.mail(SENDER)
                    code, _ = c.rcpt(f"rcpt{i}@dest.test")
                    if code != 250:
                        raise smtplib.SMTPException(f"RCPT {code}")
                    with self.lock:
                        self.attempted[marker] = i
                    code, _ = c.data(msg)
                    if code == 250:
                        with self.lock:
                            self.acked[marker] = i
        except (OSError, smtplib.SMTPException) as e:  # the node was killed under us
            with self.lock:
                self.errors[(i, type(e).__name__)] += 1


class RegionKill(RegionTest):
    def test_kill9_of_node_2_under_load_delivers_every_acked_message_once(self):
        total = 300
        with Receiver("127.0.0.1", data_delay=0.01) as mx:
            r = self.region(config={
                "delivery": {"smarthost": f"127.0.0.1:{mx.port}", "smarthost_security": "none",
                             "retry_schedule": "1s", "max_age": "1h",
                             "max_connections_per_destination": 2}})
            r.account("reg", "region.test")
            load = SpreadLoad(r.nodes, total)
            load.start()
            deadline = time.monotonic() + WAIT_S
            while time.monotonic() < deadline:
                with load.lock:
                    on_2 = sum(1 for i in load.acked.values() if i == 1)
                if on_2 >= 25 and len(mx.messages) >= 25:
                    break
                time.sleep(0.01)
            r.nodes[1].kill9()
            killed_at = len(markers_at(mx))
            self.assertTrue(load.join(), "load threads did not finish")
            with load.lock:
                acked, attempted = dict(load.acked), dict(load.attempted)
            self.assertLess(killed_at, total, "killed after everything was delivered")
            self.assertGreater(len(acked), total * 2 // 3, load.errors)
            r.nodes[1].start()  # same data directory: its spool replays

            # Every acked message reaches the MX.
            deadline = time.monotonic() + WAIT_S
            while time.monotonic() < deadline:
                if set(acked) <= set(markers_at(mx)):
                    break
                time.sleep(0.2)
            got = markers_at(mx)
            missing = sorted(set(acked) - set(got))
            self.assertEqual(missing, [], f"{len(missing)} acked messages never delivered")
            # Nothing left to deliver on any node (then no later duplicate can come).
            for node in r.nodes:
                deadline = time.monotonic() + WAIT_S
                while node.queue() and time.monotonic() < deadline:
                    time.sleep(0.2)
                self.assertEqual(node.queue(), [], node.log_path)
            got = markers_at(mx)
            self.assertNotIn(None, got)
            self.assertLessEqual(set(got), set(attempted), "a message nobody sent")
            counts = collections.Counter(got)
            dups = {m: c for m, c in counts.items() if c > 1}
            # The window: node 2 delivered these and died before it recorded the MX's 250; its
            # spool replays them after the restart. Only node 2's mail, only a handful (at most
            # two connections to the MX were open at the kill).
            self.assertTrue(all(attempted[m] == 1 and c == 2 for m, c in dups.items()), dups)
            self.assertLessEqual(len(dups), 4, dups)
            print(f"\n  region kill -9: {len(acked)} acked ({sum(1 for i in acked.values() if i == 1)}"
                  f" on node 2), {killed_at} delivered before the kill, {len(dups)} duplicates "
                  f"in the window", flush=True)

    def test_a_dead_nodes_webhook_items_go_out_from_another_node_within_the_lease(self):
        # The receiver holds node 1's POST: node 1 must be killed before the POST's timeout
        # (then it would mark the items failed and retry them in 30 s).
        lease_s, timeout_s = 9, 3
        lease = max(lease_s, 3 * timeout_s)  # the outbox lease on PostgreSQL (docs/cluster.md)
        hooks = HoldingReceiver()
        self.addCleanup(hooks.close)
        with Receiver("127.0.0.1") as mx:
            r = self.region(config={
                "cluster": {"lease_s": lease_s, "heartbeat_s": 1},
                "webhooks": {"allow_loopback": True, "timeout_s": timeout_s},
                "delivery": {"smarthost": f"127.0.0.1:{mx.port}", "smarthost_security": "none",
                             "retry_schedule": "1s", "max_age": "1h"}})
            r.account("hooks", "region.test")
            node1 = r.nodes[0]
            n = 12
            qids = [submit_one(node1, f"hook{i}", f"to{i}@dest.test",
                               (f"X-IB-notify-url: {hooks.url('/r')}",)) for i in range(n)]
            want = {(q + ".0", "DELIVERED_TO_HANDSET") for q in qids}
            mx.wait_for(n, timeout=WAIT_S)
            # Node 1 delivered them and enqueued every report (a report not yet enqueued when a
            # node dies waits for that node's restart, like its queue), claimed them, and the
            # receiver holds its POST.
            deadline = time.monotonic() + WAIT_S
            while time.monotonic() < deadline:
                if r.rows("SELECT count(*) FROM webhook_outbox") == [[str(n)]]:
                    break
                time.sleep(0.02)
            while time.monotonic() < deadline:
                held = r.rows("SELECT count(*) FROM webhook_outbox WHERE state = 'pending' "
                              "AND lease_owner = 'node-1'")[0][0]
                if hooks.count() >= 1 and int(held) >= 1:
                    break
                time.sleep(0.05)
            self.assertGreaterEqual(hooks.count(), 1, "node 1 never posted")
            jobs_before = {row[0]: row[1] for row in
                           r.rows("SELECT name, holder FROM cluster_leases")}
            node1.kill9()
            killed = time.monotonic()
            # What node 1 held when it died (its rows stay as they were).
            held = r.rows("SELECT message_id FROM webhook_outbox WHERE state = 'pending' AND "
                          "lease_owner = 'node-1'")
            held = {row[0] for row in held}
            self.assertTrue(held, "node 1 held no webhook item when it was killed")
            hooks.release()  # from now on every POST is answered at once

            deadline = killed + lease + 10
            while time.monotonic() < deadline:
                if want <= hooks.keys():
                    break
                time.sleep(0.05)
            self.assertEqual(hooks.keys(), want)
            # Node 1's items, from another node, within the lease + 1 s of the kill.
            late = {}
            for mid in held:
                after = [t for t, key in hooks.arrivals() if key[0] == mid and t > killed]
                self.assertEqual(len(after), 1, f"{mid}: {len(after)} POSTs after the kill")
                late[mid] = after[0] - killed
            self.assertLessEqual(max(late.values()), lease + 1.0, late)
            # Each (messageId, status) exactly once after deduplication; a second copy only
            # of what node 1 had posted before it died (received, never answered).
            counts = collections.Counter(key for _, key in hooks.arrivals())
            for key, c in counts.items():
                self.assertLessEqual(c, 2 if key[0] in held else 1, (key, c))
            print(f"\n  region webhooks: node 1 held {len(held)} of {n} items; another node "
                  f"posted them {max(late.values()):.2f} s after the kill (lease {lease} s)",
                  flush=True)

            # A singleton job node 1 held moves to a live node within the lease + a renewal.
            moved = [job for job, holder in jobs_before.items() if holder == "node-1"]
            for job in moved:
                deadline = killed + lease_s + lease_s / 3 + 3
                holder = "node-1"
                while time.monotonic() < deadline:
                    holder = dict((row[0], row[1]) for row in
                                  r.rows("SELECT name, holder FROM cluster_leases"))[job]
                    if holder != "node-1":
                        break
                    time.sleep(0.2)
                self.assertIn(holder, ("node-2", "node-3"), job)
                runners = [node for node in r.nodes[1:]
                           if f"lease {job}: this node runs the job".encode() in node.log()]
                self.assertEqual(len(runners), 1, job)


class HoldingReceiver:
    """An HTTP receiver that records every report POST on arrival (time, body) and, until
    release(), does not answer (the POST stays in flight, its items claimed); afterwards, and
    for the held ones at release, it answers 200. key(result) is what a result is recorded as
    (default: (messageId, status name))."""

    def __init__(self, key=None):
        self.lock = threading.Lock()
        self.got = []  # (monotonic time, key(result)) per result
        key = key or (lambda res: (res["messageId"], res["status"]["name"]))
        self.posts = 0
        self.released = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                now = time.monotonic()
                with outer.lock:
                    outer.posts += 1
                    for res in json.loads(body)["results"]:
                        outer.got.append((now, key(res)))
                outer.released.wait(60)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the poster died meanwhile

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def count(self):
        with self.lock:
            return self.posts

    def arrivals(self):
        with self.lock:
            return list(self.got)

    def keys(self):
        return {key for _, key in self.arrivals()}

    def release(self):
        self.released.set()

    def close(self):
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class RegionDns(RegionTest):
    def test_each_domain_is_rechecked_by_one_node_per_interval(self):
        from dns_harness import DnsServers
        domains = [f"d{i}.test" for i in range(12)]
        interval = 2  # the nodes poll every min(interval, 5 s)
        dns = DnsServers({d: [] for d in domains})
        self.addCleanup(dns.close)
        r = self.region(config={"dns": {"resolver": dns.resolver_addr,
                                        "check_interval_s": interval}})
        code, made = r.api(r.nodes[0], "POST", "/api/v1/accounts", r.admin(), {"name": "dnsco"})
        self.assertEqual(code, 201, made)
        start = time.monotonic()
        for d in domains:
            r.nodes[0].cli("domain", "add", "dnsco", d)
        # Until every domain was re-checked three times (bounded).
        pattern = re.compile(rb"T(\d\d:\d\d:\d\d\.\d+) [^\n]*?domain (d\d+\.test): re-checked")
        deadline = start + 4 * interval + 20
        while time.monotonic() < deadline:
            per_domain = collections.Counter()
            for node in r.nodes:
                for _, d in pattern.findall(node.log()):
                    per_domain[d.decode()] += 1
            if len(per_domain) == len(domains) and min(per_domain.values()) >= 3:
                break
            time.sleep(0.2)
        checks = collections.defaultdict(list)  # domain -> [(time s, node)]
        for i, node in enumerate(r.nodes):
            for ts, d in pattern.findall(node.log()):
                hh, mm, ss = ts.decode().split(":")
                checks[d.decode()].append((int(hh) * 3600 + int(mm) * 60 + float(ss), i + 1))
        self.assertEqual(sorted(checks), sorted(domains))
        nodes_used = set()
        for d, cs in checks.items():
            cs.sort()
            self.assertGreaterEqual(len(cs), 3, (d, cs))
            gaps = [b[0] - a[0] for a, b in zip(cs, cs[1:])]
            # Never two re-checks of one domain in one interval (a little slack for the poll).
            self.assertGreaterEqual(min(gaps), interval - 0.5, (d, cs))
            nodes_used |= {n for _, n in cs}
        self.assertGreaterEqual(len(nodes_used), 2, f"the work was not spread: {checks}")
        # The queue in the database: every claim scheduled in the future, none left leased.
        rows = r.rows("SELECT count(*) FROM domains WHERE next_check_ms = 0")
        self.assertEqual(rows, [["0"]])


if __name__ == "__main__":
    unittest.main()
