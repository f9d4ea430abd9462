"""Webhook sender end to end (issue 5): SSRF rules hold at send time in the real binary. With
[webhooks] allow_loopback off (the default), a report whose notify URL points at a receiver on
127.0.0.1 is never POSTed: the item is given up at once, the message's events record the refused
attempt, the server log names the reason, and /metrics counts it (tern_webhooks_given_up_total,
tern_webhook_backlog back to 0). A name that resolves to 127.0.0.1 through real DNS is refused
the same way.
"""
import re
import sqlite3
import time
import unittest
import urllib.request

import harness
from mail_peers import Receiver, mail_dns
from test_delivery import port_free_everywhere, submit
from test_reports import HookReceiver

WAIT_S = 60


def metrics(server):
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port('http')}/metrics",
                                timeout=10) as r:
        text = r.read().decode()
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^(tern_webhook\w*) (\d+)$", text, re.M)}


class SsrfAtSendTime(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = port_free_everywhere(["127.0.0.1"])
        cls.closers = []
        try:
            cls.rx = Receiver("127.0.0.1", cls.port)
            cls.closers.append(cls.rx.start())
            cls.dns = mail_dns({"ok.test": [(10, "127.0.0.1")]},
                               extra={"ok.test": ["hooks A 127.0.0.1"]})
            cls.closers.append(cls.dns)
            cls.hooks = HookReceiver()
            cls.closers.append(cls.hooks)
            # The positive marker: 127.0.0.2 is let through by the operator's allow list, so a
            # report to it arrives, and everything enqueued before it was handled by then.
            cls.marker_hooks = HookReceiver(host="127.0.0.2")
            cls.closers.append(cls.marker_hooks)
            cls.server = harness.TernServer({
                "dns": {"resolver": cls.dns.resolver_addr},
                "delivery": {"mx_port": cls.port},
                "webhooks": {"allow": ["127.0.0.2/32"]},
            })
            cls.closers.append(cls.server)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for c in reversed(getattr(cls, "closers", [])):
            try:
                c.close()
            except Exception:
                pass

    def wait_given_up(self, n):
        deadline = time.monotonic() + WAIT_S
        while True:
            m = metrics(self.server)
            if m.get("tern_webhooks_given_up_total", 0) >= n or time.monotonic() > deadline:
                return m
            time.sleep(0.2)

    def test_loopback_notify_url_is_refused_and_counted(self):
        url = self.hooks.url("/refused")
        qid = submit(self.server, "a@acme.test", ["x@ok.test"], "ssrf-1",
                     extra_headers=[f"X-IB-notify-url: {url}"])
        m = self.wait_given_up(1)
        self.assertGreaterEqual(m.get("tern_webhooks_given_up_total", 0), 1, m)
        self.assertEqual(m.get("tern_webhooks_sent_total"), 0, m)
        self.assertEqual(m.get("tern_webhook_backlog"), 0, m)
        self.assertIn("tern_webhook_failures_total", m)
        self.wait_marker("marker-1")
        self.assertEqual([r for r in self.hooks.requests if r["path"] == "/refused"], [])
        self.assertIn(b"refused target address 127.0.0.1: loopback", self.server.log())
        # The message's log has the refused attempt as a "webhook" event.
        rows = self.wait_webhook_events(qid)
        self.assertTrue(rows, "no webhook event recorded")
        code, reply = rows[0]
        self.assertEqual(code, 0)
        self.assertEqual(reply, f"POST {url}: refused target address 127.0.0.1: loopback (given up)")

    def test_name_resolving_to_loopback_is_refused(self):
        url = f"http://hooks.ok.test:{self.hooks.port}/named"
        before = metrics(self.server).get("tern_webhooks_given_up_total", 0)
        qid = submit(self.server, "a@acme.test", ["y@ok.test"], "ssrf-2",
                     extra_headers=[f"X-IB-notify-url: {url}"])
        m = self.wait_given_up(before + 1)
        self.assertGreaterEqual(m.get("tern_webhooks_given_up_total", 0), before + 1, m)
        rows = self.wait_webhook_events(qid)
        self.assertTrue(rows, "no webhook event recorded")
        self.assertEqual(rows[0][1],
                         f"POST {url}: refused target address 127.0.0.1: loopback (given up)")
        self.wait_marker("marker-2")
        self.assertEqual([r for r in self.hooks.requests if r["path"] == "/named"], [])

    def wait_marker(self, name):
        """Sends a message whose report goes to the allowed 127.0.0.2 and waits until it is
        POSTed: the refused items were enqueued and given up before it."""
        path = "/" + name
        submit(self.server, "a@acme.test", ["m@ok.test"], name,
               extra_headers=[f"X-IB-notify-url: {self.marker_hooks.url(path)}"])
        self.marker_hooks.wait(path, lambda r: True, timeout=WAIT_S)

    def wait_webhook_events(self, qid):
        deadline = time.monotonic() + WAIT_S
        while True:
            rows = self.webhook_events(qid)
            if rows or time.monotonic() > deadline:
                return rows
            time.sleep(0.2)

    def webhook_events(self, qid):
        """(code, reply) of the queue id's "webhook" events, read from the store file."""
        db = sqlite3.connect(f"file:{self.server.data}/tern.db?mode=ro", uri=True, timeout=10)
        try:
            return db.execute("SELECT code, reply FROM delivery_events WHERE queue_id = ? AND "
                              "event = 'webhook' ORDER BY rowid", (qid,)).fetchall()
        finally:
            db.close()


if __name__ == "__main__":
    unittest.main()
