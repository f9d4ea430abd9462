"""Nothing lost while the database is away (issue 12, docs/cluster.md "The journal"): one Tern
node on a private PostgreSQL 15 delivers to a real SMTP receiver (aiosmtpd, found through real
DNS) and reports to a real HTTP webhook receiver. A bounded SMTP load (one message every
LOAD_GAP_S, a new connection with STARTTLS + AUTH each, some recipients bounced with 550 5.1.1)
runs while PostgreSQL is stopped for OUTAGE_S (30 s) and started again. During the outage:
mail is accepted (250) from a login the node verified before; a login it never verified gets
454 4.7.0; the API answers 503. Afterwards, counted in PostgreSQL with psql: every accepted
recipient has exactly one message-log row with its final status, one "accepted" and one final
delivery event, one outbox item; every bounced address is suppressed, by the message that
bounced it, and the node applied each suppression exactly once (its counter); every message is
delivered to the receiver exactly once; the webhook receiver got a report for every recipient
(deduplicated by messageId + status, as a receiver must: delivery is at least once).
"""
import os
import re
import smtplib
import threading
import time
import unittest
import urllib.error
import urllib.request
import uuid

import harness
import pg_harness
from mail_peers import Receiver, mail_dns
from test_delivery import port_free_everywhere
from test_reports import HookReceiver

OUTAGE_S = float(os.environ.get("TERN_IT_OUTAGE_S", "30"))
LOAD_GAP_S = 0.25
WAIT_S = 120
BOUNCE_EVERY = 7  # message i also goes to gone<i>@dest.test (550 5.1.1) when i % 7 == 0
QID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def metric(server, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port('http')}/metrics",
                                timeout=30) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return int(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")


def api_status(server, path, token):
    req = urllib.request.Request(f"http://127.0.0.1:{server.port('http')}{path}")
    req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


class JournalOutage(unittest.TestCase):
    def setUp(self):
        self.pg = pg_harness.PgServer()
        self.addCleanup(self.pg.close)
        self.schema, url = self.pg.new_schema()
        port = port_free_everywhere(["127.0.0.1"])
        gone = {f"gone{i}@dest.test": "550 5.1.1 No such user" for i in range(0, 2000, BOUNCE_EVERY)}
        self.rx = Receiver("127.0.0.1", port, rcpt_replies=gone)
        self.rx.start()
        self.addCleanup(self.rx.close)
        self.dns = mail_dns({"dest.test": [(10, "127.0.0.1")], "acme.test": [(10, "127.0.0.1")]})
        self.addCleanup(self.dns.close)
        self.hooks = HookReceiver()
        self.addCleanup(self.hooks.close)
        self.server = harness.TernServer({
            "store": {"url": url},
            "cluster": {"node_id": "node-j"},
            "dns": {"resolver": self.dns.resolver_addr, "check_interval_s": 3600},
            "delivery": {"mx_port": port, "retry_schedule": "1s", "max_age": "1h",
                         "connect_timeout_s": 5, "command_timeout_s": 15},
            "webhooks": {"allow_loopback": True},
        })
        self.addCleanup(self.server.close)
        # A second login the node never verifies before the outage (its AUTH misses the cache).
        self.other = self.server.create_account("other", "other.test")
        key = self.server.cli_json("apikey", "create", "acme")
        self.api_key = key["key"]

    def rows(self, sql):
        return self.pg.psql(f"SET search_path TO {self.schema}; {sql}")

    def send(self, i):
        """Message i over a new connection (STARTTLS + AUTH); (queue id, recipients)."""
        rcpts = [f"ok{i}@dest.test"] + ([f"gone{i}@dest.test"] if i % BOUNCE_EVERY == 0 else [])
        subject = f"load-{i}"
        data = "\r\n".join([
            "From: <a@acme.test>", "To: " + ", ".join(rcpts), f"Subject: {subject}",
            f"Message-ID: <{uuid.uuid4().hex}@client.test>",
            f"X-IB-notify-url: {self.hooks.url('/r')}", "", "load body", ""]).encode()
        with smtplib.SMTP("127.0.0.1", self.server.port("submission"), timeout=30) as s:
            s.starttls(context=harness.client_tls_context())
            s.login(self.server.username, self.server.password)
            s.mail("a@acme.test")
            for r in rcpts:
                code, msg = s.rcpt(r)
                if code != 250:
                    raise AssertionError(f"RCPT {r}: {code} {msg!r}")
            code, msg = s.data(data)
            if code != 250:
                raise AssertionError(f"DATA: {code} {msg!r}")
        qid = msg.decode().rsplit(" ", 1)[-1]
        assert QID.match(qid), msg
        return qid, rcpts

    def auth_reply(self, user, password):
        c = harness.RawSMTP(self.server.port("submission"))
        try:
            assert c.cmd("EHLO client.test").code == 250
            c.starttls()
            assert c.cmd("EHLO client.test").code == 250
            return c.auth_plain(user, password)
        finally:
            c.close()

    def test_postgres_stopped_for_30s_under_load_loses_nothing_applies_nothing_twice(self):
        accepted = []  # (index, queue id, recipients, during outage)
        failures = []
        outage = threading.Event()
        stop = threading.Event()

        def load():
            i = 0
            while not stop.is_set():
                try:
                    qid, rcpts = self.send(i)
                    accepted.append((i, qid, rcpts, outage.is_set()))
                except Exception as e:  # noqa: BLE001 (recorded and asserted on below)
                    failures.append((i, outage.is_set(), repr(e)))
                i += 1
                stop.wait(LOAD_GAP_S)

        # Warm: one message end to end (its report arrives) before the load.
        qid, _ = self.send(100000)
        self.hooks.wait("/r", lambda r: r["messageId"] == qid + ".0", timeout=60)
        t = threading.Thread(target=load, daemon=True)
        t.start()
        try:
            time.sleep(3)
            self.pg.halt()
            outage.set()
            halted = time.monotonic()
            time.sleep(2)
            # During the outage: a login never verified here cannot be checked → 454 4.7.0;
            # the API answers 503.
            r = self.auth_reply(self.other["username"], self.other["password"])
            self.assertEqual((r.code, r.lines[-1][4:9]), (454, "4.7.0"), r)
            self.assertEqual(api_status(self.server, "/api/v1/messages", self.api_key), 503)
            time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - halted)))
            # What was accepted meanwhile waits in the journal.
            pending = metric(self.server, "tern_journal_pending")
            self.assertGreater(pending, 0)
            during = sum(1 for a in accepted if a[3])
            outage.clear()
            self.pg.resume()
            time.sleep(3)
        finally:
            stop.set()
            t.join(60)
        self.assertEqual(failures, [], "every message of the load must get its 250")
        self.assertGreater(during, 5, "mail is accepted while the database is away")
        log = self.server.log()
        self.assertIn(b"the store is unavailable", log)

        accepted.append((100000, qid, ["ok100000@dest.test"], False))
        qids = [a[1] for a in accepted]
        rcpts = {(a[1], r) for a in accepted for r in a[2]}
        gone = {(q, r) for (q, r) in rcpts if r.startswith("gone")}
        ok = rcpts - gone
        in_list = ",".join(f"'{q}'" for q in qids)

        # Every recipient reaches its final status (delivered or bounced) in the message log.
        deadline = time.monotonic() + WAIT_S
        while True:
            final = self.rows(f"SELECT count(*) FROM messages WHERE queue_id IN ({in_list}) "
                              f"AND status IN ('delivered', 'bounced')")[0][0]
            if int(final) == len(rcpts) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual(int(final), len(rcpts))
        self.assertIn(b"the store is back", self.server.log())

        # Exactly one message-log row per recipient, with the right status and node.
        got = {(q, r, s, n) for q, r, s, n in self.rows(
            f"SELECT queue_id, recipient, status, node_id FROM messages "
            f"WHERE queue_id IN ({in_list})")}
        want = {(q, r, "bounced" if (q, r) in gone else "delivered", "node-j") for q, r in rcpts}
        self.assertEqual(got, want)
        # Delivery events: one accepted and one final per recipient, none twice.
        ev = {tuple(x[:3]): int(x[3]) for x in self.rows(
            f"SELECT queue_id, recipient, event, count(*) FROM delivery_events "
            f"WHERE queue_id IN ({in_list}) AND event IN ('accepted', 'delivered', 'bounced') "
            f"GROUP BY 1, 2, 3")}
        want_ev = {(q, r, "accepted"): 1 for q, r in rcpts}
        want_ev.update({(q, r, "bounced" if (q, r) in gone else "delivered"): 1 for q, r in rcpts})
        self.assertEqual(ev, want_ev)
        # The outbox: one report per recipient.
        items = self.rows(f"SELECT message_id, count(*) FROM webhook_outbox "
                          f"WHERE queue_id IN ({in_list}) GROUP BY 1")
        self.assertEqual(len(items), len(rcpts))
        self.assertEqual({int(n) for _, n in items}, {1})
        # Suppressions: each bounced address, from the message that bounced it (the primary
        # key (account, address) forbids a second row, so a row count would prove nothing)...
        sup = self.rows("SELECT address, queue_id, reason FROM suppressions")
        self.assertEqual({(a, q) for a, q, _ in sup}, {(r, q) for q, r in gone})
        for a, _, reason in sup:
            self.assertIn("5.1.1", reason, a)
        # ...and applied once each: the applier counts every suppression entry it settles, so a
        # suppression made, journaled or applied twice would count twice.
        deadline = time.monotonic() + 20
        while (metric(self.server, "tern_reports_suppressions_total") < len(gone)
               and time.monotonic() < deadline):
            time.sleep(0.2)
        self.assertEqual(metric(self.server, "tern_reports_suppressions_total"), len(gone))
        # The receiver: every message delivered exactly once to its ok recipient (bounce notices
        # to a@acme.test are not counted).
        seen = {}
        for m in list(self.rx.messages):
            for r in m.rcpt_tos:
                if r.startswith("ok"):
                    seen[r] = seen.get(r, 0) + 1
        self.assertEqual(seen, {f"ok{a[0]}@dest.test": 1 for a in accepted})
        # The webhook receiver: a report for every recipient, deduplicated by messageId+status.
        want_reports = {(f"{q}.{i}", "UNDELIVERABLE" if r.startswith("gone") else "DELIVERED")
                        for a in accepted for q in [a[1]] for i, r in enumerate(a[2])}
        deadline = time.monotonic() + WAIT_S
        while True:
            got_reports = {(res["messageId"], res["status"]["groupName"])
                           for _, res in self.hooks.results("/r")}
            if want_reports <= got_reports or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual(want_reports - got_reports, set())
        deadline = time.monotonic() + 20  # bounce notices' own events may still be on the way
        while metric(self.server, "tern_journal_pending") and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(metric(self.server, "tern_journal_pending"), 0)
        self.assertGreater(metric(self.server, "tern_journal_apply_retries_total"), 0)
        # Nothing left in the journal: applied and trimmed (the active segment at most).
        jdir = os.path.join(self.server.data, "journal")
        self.assertLessEqual(len([f for f in os.listdir(jdir) if f.endswith(".log")]), 1)


if __name__ == "__main__":
    unittest.main()
