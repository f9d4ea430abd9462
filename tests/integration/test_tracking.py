"""Open and click tracking end to end (issue 5): a message with a tracking URL (X-IB-tracking-url
over SMTP, trackingUrl over the HTTP API) reaches each recipient as its own rewritten copy,
which dkimpy verifies; curl follows the click link (302 to the original URL) and fetches the
pixel; the tracking receiver (http.server here, [webhooks] allow_loopback) gets CLICKED and
OPENED events with messageId, bulkId, recipient, url, time, userAgent, ip and callbackData; a
forged token is 404.
"""
import re
import smtplib
import unittest
import urllib.request
import uuid

import dkim

import harness
from send_helpers import SendTestBase, WebhookReceiver, api, curl

TOKEN_LINK = re.compile(r'(https?://[^"\s<>]+/t/([co])/([A-Za-z0-9_-]+))')


class TrackingTests(SendTestBase):
    server_config = {"webhooks": {"allow_loopback": True}}

    @classmethod
    def setUpClass(cls):
        cls.hook = WebhookReceiver()
        try:
            super().setUpClass()
        except BaseException:
            cls.hook.close()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.hook.close()

    def html(self, marker):
        return (f'<html><body><p>{marker}</p>'
                f'<p><a href="{self.hook.url("/landing?x=1&m=" + marker)}">offer</a></p>'
                f'</body></html>')

    def links(self, data):
        """{"c": [click URLs], "o": [pixel URLs]} found in the decoded HTML part."""
        msg = self.parse(data)
        body = msg.get_body(("html",)).get_content()
        out = {"c": [], "o": []}
        for url, kind, _ in TOKEN_LINK.findall(body):
            out[kind].append(url)
        return out

    def check_copies(self, marker, rcpts):
        """One delivered copy per recipient, each signed and verifying, each with its own tokens."""
        got = self.delivered(marker, n=len(rcpts))
        self.assertEqual(len(got), len(rcpts), [t.rcpt_tos for t in got])
        self.assertEqual(sorted(t.rcpt_tos[0] for t in got), sorted(rcpts))
        seen = set()
        copies = {}
        for t in got:
            self.assertEqual(len(t.rcpt_tos), 1)
            self.assertTrue(dkim.verify(t.data, dnsfunc=self.dnsfunc), t.data[:800])
            links = self.links(t.data)
            self.assertEqual(len(links["c"]), 1, links)
            self.assertEqual(len(links["o"]), 1, links)
            self.assertTrue(links["c"][0].startswith(f"http://127.0.0.1:{self.server.port('http')}/t/c/"))
            seen.add(links["c"][0])
            copies[t.rcpt_tos[0]] = links
        self.assertEqual(len(seen), len(rcpts))  # tokens differ per recipient
        return copies

    def follow(self, links, marker, recipient, callback):
        target = self.hook.url("/landing?x=1&m=" + marker)
        # The redirect itself: 302 with Location = the original URL.
        head = curl("-o", "/dev/null", "-D", "-", links["c"][0]).decode()
        self.assertRegex(head, r"^HTTP/1\.1 302")
        self.assertIn(f"Location: {target}", head.replace("location:", "Location:"))
        # curl -L ends at the landing page.
        out = curl("-L", "-A", "tern-test-agent/1.0", "-w", "\n%{http_code} %{url_effective}",
                   links["c"][0]).decode()
        self.assertTrue(out.endswith(f"200 {target}"), out)
        # The pixel: a GIF.
        gif = curl("-A", "tern-test-agent/1.0", links["o"][0])
        self.assertTrue(gif.startswith(b"GIF89a") and len(gif) == 43, gif[:20])

        def mine(ev):
            return [e for e in ev if e.get("recipient") == recipient and e.get("callbackData") == callback]

        ev = mine(self.hook.wait_events(
            lambda ev: {"CLICKED", "OPENED"} <= {e["type"] for e in mine(ev)}))
        click = [e for e in ev if e["type"] == "CLICKED"][-1]
        opened = [e for e in ev if e["type"] == "OPENED"][-1]
        for e in (click, opened):
            for k in ("messageId", "bulkId", "recipient", "url", "time", "userAgent", "ip",
                      "callbackData"):
                self.assertIn(k, e)
            self.assertEqual(e["ip"], "127.0.0.1")
            self.assertEqual(e["userAgent"], "tern-test-agent/1.0")
            self.assertRegex(e["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
            self.assertRegex(e["messageId"], r"^[0-9A-Z]{20}\.0$")
        self.assertEqual(click["url"], target)
        return click

    def test_smtp_message_tracked_per_recipient(self):
        marker = "smtp-" + uuid.uuid4().hex[:8]
        rcpts = ["bob@dest.test", "carol@dest.test"]
        data = "\r\n".join([
            "From: News <news@signed.test>", "To: " + ", ".join(rcpts), f"Subject: {marker}",
            f"X-IB-tracking-url: {self.hook.url('/track')}", "X-IB-callback-data: cb-smtp",
            "MIME-Version: 1.0", "Content-Type: text/html; charset=utf-8", "", self.html(marker), ""])
        with smtplib.SMTP("127.0.0.1", self.server.port("submission"), timeout=30) as s:
            s.starttls(context=harness.client_tls_context())
            s.login(self.server.username, self.server.password)
            s.mail("news@signed.test")
            for r in rcpts:
                self.assertEqual(s.rcpt(r)[0], 250)
            code, reply = s.data(data.encode())
            self.assertEqual(code, 250, reply)
        qid = reply.decode().rsplit(" ", 1)[-1]
        copies = self.check_copies(marker, rcpts)
        click = self.follow(copies["carol@dest.test"], marker, "carol@dest.test", "cb-smtp")
        self.assertEqual(click["bulkId"], qid)  # bulkId defaults to the session's queue id
        self.follow(copies["bob@dest.test"], marker, "bob@dest.test", "cb-smtp")

    def test_api_message_tracked_per_recipient(self):
        marker = "api-" + uuid.uuid4().hex[:8]
        rcpts = ["dave@dest.test", "erin@dest.test"]
        status, out = api(self.server, "POST", "/api/v1/messages", {
            "from": "news@signed.test", "to": rcpts, "subject": marker,
            "text": "plain " + marker, "html": self.html(marker),
            "trackingUrl": self.hook.url("/track"), "callbackData": "cb-api",
            "bulkId": "bulk-" + marker}, key=self.key)
        self.assertEqual(status, 200, out)
        ids = {m["to"]: m["messageId"] for m in out["messages"]}
        self.assertEqual(len(set(ids.values())), 2)
        copies = self.check_copies(marker, rcpts)
        click = self.follow(copies["erin@dest.test"], marker, "erin@dest.test", "cb-api")
        self.assertEqual(click["messageId"], ids["erin@dest.test"])
        self.assertEqual(click["bulkId"], "bulk-" + marker)

    def accepted_total(self):
        url = f"http://127.0.0.1:{self.server.port('http')}/metrics"
        with urllib.request.urlopen(url, timeout=10) as r:
            text = r.read().decode()
        m = re.search(r"^tern_messages_accepted_total (\d+)$", text, re.M)
        self.assertIsNotNone(m, text)
        return int(m.group(1))

    def smtp_send(self, rcpts, marker, tracked):
        lines = ["From: News <news@signed.test>", "To: " + ", ".join(rcpts), f"Subject: {marker}",
                 "MIME-Version: 1.0", "Content-Type: text/html; charset=utf-8"]
        if tracked:
            lines.append(f"X-IB-tracking-url: {self.hook.url('/track')}")
        with smtplib.SMTP("127.0.0.1", self.server.port("submission"), timeout=30) as s:
            s.starttls(context=harness.client_tls_context())
            s.login(self.server.username, self.server.password)
            s.mail("news@signed.test")
            for r in rcpts:
                self.assertEqual(s.rcpt(r)[0], 250)
            code, reply = s.data("\r\n".join(lines + ["", self.html(marker), ""]).encode())
            self.assertEqual(code, 250, reply)

    def test_accepted_counter_counts_every_path(self):
        """Issue 14.5: tern_messages_accepted_total counted streamed SMTP only. One per queued
        message: a tracked submission is stored (and counted) once per recipient."""
        marker = "count-" + uuid.uuid4().hex[:8]
        rcpts = ["gina@dest.test", "hank@dest.test"]
        steps = [
            ("smtp", lambda: self.smtp_send(rcpts, marker + "-s", tracked=False), 1),
            ("smtp tracked", lambda: self.smtp_send(rcpts, marker + "-st", tracked=True), 2),
            ("http", lambda: self.assertEqual(api(self.server, "POST", "/api/v1/messages", {
                "from": "news@signed.test", "to": rcpts, "subject": marker + "-h",
                "text": "x"}, key=self.key)[0], 200), 1),
            ("http tracked", lambda: self.assertEqual(api(self.server, "POST", "/api/v1/messages", {
                "from": "news@signed.test", "to": rcpts, "subject": marker + "-ht",
                "html": self.html(marker), "trackingUrl": self.hook.url("/track")},
                key=self.key)[0], 200), 2),
        ]
        for name, send, n in steps:
            with self.subTest(path=name):
                before = self.accepted_total()
                send()
                self.assertEqual(self.accepted_total() - before, n)

    def test_forged_token_is_404(self):
        base = f"http://127.0.0.1:{self.server.port('http')}"
        for path in ["/t/c/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                     "/t/o/not-a-token", "/t/c/"]:
            out = curl("-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", base + path).decode()
            self.assertEqual(out.strip(), "404", path)
        # A real token with one character changed.
        marker = "forge-" + uuid.uuid4().hex[:8]
        status, out = api(self.server, "POST", "/api/v1/messages", {
            "from": "news@signed.test", "to": ["frank@dest.test"], "subject": marker,
            "html": self.html(marker), "trackingUrl": self.hook.url("/track")}, key=self.key)
        self.assertEqual(status, 200, out)
        got = self.delivered(marker)
        click = self.links(got[0].data)["c"][0]
        i = len(click) - 5
        forged = click[:i] + ("A" if click[i] != "A" else "B") + click[i + 1:]
        out = curl("-o", "/dev/null", "-w", "%{http_code}", forged).decode()
        self.assertEqual(out, "404")


if __name__ == "__main__":
    unittest.main()
