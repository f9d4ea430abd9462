"""The console's API (issue 13) against the real `tern serve`: cookie sessions over real HTTP
(attributes, CSRF, logout, a key revoked by the CLI ends its session, the one-time login link of
`tern console link` works once on the running server, logins limited per address), the platform
view without secrets, the sandbox route end to end (SMTP and HTTP mail captured instead of sent,
"delivered" with 250 2.0.0 captured (sandbox), the report webhook, the HTML under its sandboxing
CSP, the test email captured, nothing reaching a real MX), statistics that survive a restart,
account suspension (SMTP 550 5.7.1 at AUTH and MAIL, HTTP 403, lifted again), the operator's
queue view and bulk actions, webhook history / retry / test, the test email answered without
holding a thread and one at a time per account, and the isolation of every new resource between
two accounts.
"""
import http.client
import json
import os
import re
import smtplib
import socket
import threading
import time
import unittest
from urllib.parse import quote

import harness
from mail_peers import Receiver
from test_api import Api
from test_delivery import find, submit
from test_reports import HookReceiver

WAIT_S = 40


def admin_token(server):
    with open(os.path.join(server.data, "admin.token")) as f:
        return f.read().strip()


def new_key(server, account):
    return server.cli("apikey", "create", account).split()[0]


class Browser:
    """Just enough of a browser for the session rules: keeps the session cookie, sends the CSRF
    header and Sec-Fetch-Site on writes (like the console's fetch), from a chosen source
    address."""

    def __init__(self, server, source="127.0.0.1"):
        self.port = server.port("http")
        self.source = source
        self.cookie = None
        self.csrf = None

    def request(self, method, path, body=None, headers=None, csrf=True, site="same-origin"):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60,
                                          source_address=(self.source, 0))
        h = {"Host": f"127.0.0.1:{self.port}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if self.cookie:
            h["Cookie"] = f"__Host-tern_session={self.cookie}"
        if site:
            h["Sec-Fetch-Site"] = site
        if csrf and self.csrf and method not in ("GET", "HEAD"):
            h["X-Tern-CSRF"] = self.csrf
        h.update(headers or {})
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        raw = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        set_cookies = [v for k, v in r.getheaders() if k.lower() == "set-cookie"]
        conn.close()
        parsed = json.loads(raw) if raw and hdrs.get("content-type", "").startswith(
            "application/json") else raw
        return r.status, parsed, hdrs, set_cookies

    def login(self, **body):
        status, parsed, hdrs, cookies = self.request("POST", "/api/v1/session", body, csrf=False)
        if status == 201:
            m = re.match(r"__Host-tern_session=([^;]*);", cookies[0])
            self.cookie = m.group(1)
            self.csrf = parsed["csrf"]
        return status, parsed, hdrs, cookies


class SessionTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.TernServer({
            "auth": {"max_failures_per_ip": 3, "window_s": 300},
            "delivery": {"smarthost": "relay.isp.test:587", "smarthost_username": "isp-user",
                         "smarthost_password": "isp-secret-password"},
        })
        cls.admin = admin_token(cls.server)
        cls.api = Api(f"http://127.0.0.1:{cls.server.port('http')}")

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def test_login_sets_a_host_cookie_and_cookie_writes_need_csrf(self):
        b = Browser(self.server)
        status, body, hdrs, cookies = b.login(token=self.admin)
        self.assertEqual(status, 201, body)
        self.assertEqual(len(cookies), 1)
        for attr in ("Path=/", "HttpOnly", "Secure", "SameSite=Strict"):
            self.assertIn(attr, cookies[0])
        self.assertNotIn("Domain", cookies[0])
        self.assertNotIn(self.admin, cookies[0])
        self.assertEqual(hdrs.get("cache-control"), "no-store")
        self.assertEqual(body["kind"], "operator")
        # Reads with the cookie alone; GET /session gives the csrf back after a reload.
        status, who, _, _ = b.request("GET", "/api/v1/session")
        self.assertEqual((status, who["csrf"]), (200, b.csrf))
        status, accounts, _, _ = b.request("GET", "/api/v1/accounts")
        self.assertEqual(status, 200)
        # A write without the CSRF header, or from another site: 403, nothing made.
        status, err, _, _ = b.request("POST", "/api/v1/accounts", {"name": "csrf1"}, csrf=False)
        self.assertEqual((status, err["error"]["code"]), (403, "csrf"))
        status, err, _, _ = b.request("POST", "/api/v1/accounts", {"name": "csrf1"},
                                      site="cross-site")
        self.assertEqual((status, err["error"]["code"]), (403, "csrf"))
        status, err, _, _ = b.request("POST", "/api/v1/accounts", {"name": "csrf1"}, site=None,
                                      headers={"Origin": "https://evil.test"})
        self.assertEqual(status, 403)
        self.assertEqual(self.api.call("GET", "/api/v1/accounts/csrf1", self.admin)[0], 404)
        status, made, _, _ = b.request("POST", "/api/v1/accounts", {"name": "csrf1"})
        self.assertEqual(status, 201, made)
        # An older browser without Sec-Fetch-Site: its own Origin passes.
        status, _, _, _ = b.request("POST", "/api/v1/accounts", {"name": "csrf2"}, site=None,
                                    headers={"Origin": f"http://127.0.0.1:{b.port}"})
        self.assertEqual(status, 201)
        # Bearer clients are not affected.
        self.assertEqual(self.api.call("POST", "/api/v1/accounts", self.admin,
                                       {"name": "csrf3"})[0], 201)
        # Logout: 204, cookie cleared, session gone.
        old = b.cookie
        status, _, _, cleared = b.request("DELETE", "/api/v1/session")
        self.assertEqual(status, 204)
        self.assertIn("Max-Age=0", cleared[0])
        b.cookie = old
        self.assertEqual(b.request("GET", "/api/v1/accounts")[0], 401)

    def test_revoking_the_key_in_the_cli_ends_the_session_at_once(self):
        key = new_key(self.server, "acme")
        b = Browser(self.server)
        status, body, _, _ = b.login(token=key)
        self.assertEqual(status, 201, body)
        self.assertEqual(body["kind"], "account")
        self.assertEqual(body["account"]["name"], "acme")
        self.assertEqual(b.request("GET", "/api/v1/domains")[0], 200)
        # Another process (the CLI) revokes the key: the server's next look-up refuses it.
        self.server.cli("apikey", "revoke", "acme", key[:12])
        self.assertEqual(b.request("GET", "/api/v1/domains")[0], 401)
        self.assertEqual(b.request("GET", "/api/v1/session")[0], 401)

    def test_console_link_logs_the_operator_in_once(self):
        out = self.server.cli("console", "link").strip()
        m = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/console/#login=([a-z2-7]{26})", out)
        self.assertIsNotNone(m, out)
        self.assertEqual(int(m.group(1)), self.server.port("http"))
        b = Browser(self.server)
        status, body, _, _ = b.login(code=m.group(2))
        self.assertEqual(status, 201, body)
        self.assertEqual(body["kind"], "operator")
        self.assertEqual(b.request("GET", "/api/v1/queue")[0], 200)
        self.assertEqual(Browser(self.server).login(code=m.group(2))[0], 401)  # once
        # The database keeps only the code's hash.
        import sqlite3
        db = sqlite3.connect(os.path.join(self.server.data, "tern.db"))
        try:
            self.assertEqual(db.execute("SELECT count(*) FROM console_login_codes WHERE code_hash "
                                        "= ?", (m.group(2),)).fetchone()[0], 0)
        finally:
            db.close()

    def test_logins_are_limited_per_address(self):
        b = Browser(self.server, source="127.0.0.2")
        for i in range(3):
            self.assertEqual(b.login(token=f"tern_admin_wrong{i}")[0], 401)
        status, err, hdrs, _ = b.login(token=self.admin)
        self.assertEqual(status, 429, err)
        self.assertIn("retry-after", hdrs)
        # Another address still logs in.
        self.assertEqual(Browser(self.server, source="127.0.0.3").login(token=self.admin)[0], 201)
        # A cross-site form post is no login either.
        status, err, _, _ = Browser(self.server, source="127.0.0.4").request(
            "POST", "/api/v1/session", {"token": self.admin}, site="cross-site")
        self.assertEqual((status, err["error"]["code"]), (403, "csrf"))

    def test_platform_shows_how_to_connect_and_no_secret(self):
        key = new_key(self.server, "acme")
        status, p, _ = self.api.call("GET", "/api/v1/platform", key)
        self.assertEqual(status, 200, p)
        self.assertEqual(p["hostname"], "mx.test")
        ports = {l["name"]: (l["port"], l["tls"]) for l in p["listeners"]}
        self.assertEqual(ports["submission"], (self.server.port("submission"), "starttls"))
        self.assertEqual(ports["submissions"], (self.server.port("submissions"), "implicit"))
        self.assertEqual(p["authMethods"], ["PLAIN", "LOGIN"])
        self.assertEqual(p["platformRoute"], {"kind": "smarthost", "host": "relay.isp.test",
                                              "port": 587, "security": "starttls"})
        text = json.dumps(p)
        self.assertNotIn("isp-secret-password", text)
        self.assertNotIn("isp-user", text)
        self.assertNotIn(self.admin, text)
        self.assertEqual(self.api.call("GET", "/api/v1/platform")[0], 401)


class SandboxTests(unittest.TestCase):
    """route=sandbox: mail is accepted, logged and reported like any other, kept in the capture
    store, and never sent. beta uses a real relay (a Receiver) as the positive marker."""

    @classmethod
    def setUpClass(cls):
        cls.closers = []
        try:
            cls.rx = Receiver("127.0.0.1")
            cls.closers.append(cls.rx.start())
            cls.hooks = HookReceiver()
            cls.closers.append(cls.hooks)
            cls.server = harness.TernServer({
                "delivery": {"retry_schedule": "1s", "max_age": "1h", "connect_timeout_s": 5},
                "webhooks": {"allow_loopback": True},
                "sandbox": {"max_messages": 50, "max_age_s": 3600},
            })
            cls.closers.append(cls.server)
        except BaseException:
            cls.tearDownClass()
            raise
        s = cls.server
        cls.admin = admin_token(s)
        cls.api = Api(f"http://127.0.0.1:{s.port('http')}")
        cls.key_a = new_key(s, "acme")
        s.create_account("beta", "beta.test")
        cls.key_b = new_key(s, "beta")
        cls.api.ok("PATCH", "/api/v1/settings", cls.key_a,
                   {"route": "sandbox", "notify_url": cls.hooks.url("/acme")})
        cls.api.ok("PATCH", "/api/v1/settings", cls.key_b,
                   {"route": "custom", "relay.host": "127.0.0.1", "relay.port": cls.rx.port,
                    "relay.security": "none"})

    @classmethod
    def tearDownClass(cls):
        for c in reversed(getattr(cls, "closers", [])):
            try:
                c.close()
            except Exception:
                pass

    def wait_captured(self, pred, key=None):
        deadline = time.monotonic() + WAIT_S
        while True:
            items = self.api.ok("GET", "/api/v1/captured?limit=1000", key or self.key_a)["items"]
            got = [i for i in items if pred(i)]
            if got:
                return got
            self.assertLess(time.monotonic(), deadline, items)
            time.sleep(0.2)

    def wait_status(self, qid, status):
        deadline = time.monotonic() + WAIT_S
        while True:
            code, detail, _ = self.api.call("GET", f"/api/v1/messages/{qid}.0", self.key_a)
            if code == 200 and detail["status"] == status:
                return detail
            self.assertLess(time.monotonic(), deadline, detail)
            time.sleep(0.2)

    def test_smtp_mail_is_captured_delivered_and_reported_never_sent(self):
        qid = submit(self.server, "hello@acme.test", ["you@example.com"], "sandbox-smtp-1")
        item = self.wait_captured(lambda i: i["subject"] == "sandbox-smtp-1")[0]
        self.assertEqual(item["to"], ["you@example.com"])
        self.assertEqual(item["queueId"], qid)
        self.assertEqual(item["sender"], "hello@acme.test")
        detail = self.wait_status(qid, "delivered")
        done = [e for e in detail["events"] if e["event"] == "delivered"]
        self.assertEqual(len(done), 1, detail["events"])
        self.assertEqual((done[0]["code"], done[0]["enhanced"]), (250, "2.0.0"))
        self.assertEqual(done[0]["reply"], "captured (sandbox)")
        self.assertEqual(done[0]["mxHost"], "sandbox")
        # Accepted, signed and logged like any mail: Tern's Received line is in what was kept.
        status, raw, hdrs = self.api.call("GET", f"/api/v1/captured/{item['id']}/raw", self.key_a)
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["Content-Type"].startswith("message/rfc822"))
        self.assertIn("attachment", hdrs["Content-Disposition"])
        self.assertIn(b"by mx.test (Tern)", raw)
        self.assertIn(b"Subject: sandbox-smtp-1", raw)
        # The report webhook says DELIVERED.
        got = self.hooks.wait("/acme", lambda r: r["messageId"] == f"{qid}.0")
        self.assertEqual(got[0][1]["status"]["groupName"], "DELIVERED")
        # Positive marker: beta's mail through a real relay arrives; acme's never did.
        submit_as(self.server, "beta", "b@beta.test", ["peer@example.com"], "sandbox-marker-1")
        self.assertEqual(len(find(self.rx, "sandbox-marker-1")), 1)
        self.assertFalse(any(b"sandbox-smtp-1" in t.data for t in self.rx.transactions))
        # Beta cannot see acme's capture; beta's own list is empty (it is not on sandbox).
        for sfx in ("", "/raw", "/html"):
            self.assertEqual(self.api.call("GET", f"/api/v1/captured/{item['id']}{sfx}",
                                           self.key_b)[0], 404)
        self.assertEqual(self.api.ok("GET", "/api/v1/captured", self.key_b)["items"], [])

    def test_http_mail_html_is_served_under_a_sandboxing_csp(self):
        self.api.ok("POST", "/api/v1/messages", self.key_a, {
            "from": "hello@acme.test", "to": ["you@example.com"], "subject": "sandbox-html-1",
            "text": "plain part", "html": "<p>Hi <script>alert(document.cookie)</script></p>"})
        item = self.wait_captured(lambda i: i["subject"] == "sandbox-html-1")[0]
        detail = self.api.ok("GET", f"/api/v1/captured/{item['id']}", self.key_a)
        self.assertIn("plain part", detail["text"])
        self.assertIn("<script>", detail["html"])  # data, shown only inside the sandbox
        names = [h["name"].lower() for h in detail["headers"]]
        self.assertIn("subject", names)
        status, html, hdrs = self.api.call("GET", f"/api/v1/captured/{item['id']}/html",
                                           self.key_a)
        self.assertEqual(status, 200)
        csp = hdrs["Content-Security-Policy"]
        self.assertTrue(csp.startswith("sandbox;"), csp)
        self.assertIn("default-src 'none'", csp)
        self.assertNotIn("allow-scripts", csp)
        self.assertEqual(hdrs["X-Content-Type-Options"], "nosniff")
        self.assertIn(b"<p>Hi", html)

    def test_test_email_in_the_sandbox_is_captured(self):
        r = self.api.ok("POST", "/api/v1/settings/test-email", self.key_a,
                        {"to": "me@example.com", "from": "hello@acme.test"})
        self.assertEqual((r["outcome"], r["code"], r["route"]), ("delivered", 250, "sandbox"), r)
        self.assertEqual(r["reply"], "captured (sandbox)")
        self.wait_captured(lambda i: i["subject"] == "Tern test email" and
                           i["to"] == ["me@example.com"])

    def test_stats_count_what_happened_and_survive_a_restart(self):
        before = self.api.ok("GET", "/api/v1/stats", self.key_a)["totals"]
        qid = submit(self.server, "hello@acme.test", ["a@example.com", "b@example.com"],
                     "sandbox-stats-1")
        self.wait_status(qid, "delivered")
        deadline = time.monotonic() + WAIT_S
        while True:
            s = self.api.ok("GET", "/api/v1/stats", self.key_a)
            if s["totals"]["delivered"] >= before["delivered"] + 2:
                break
            self.assertLess(time.monotonic(), deadline, s["totals"])
            time.sleep(0.2)
        self.assertEqual(s["totals"]["accepted"] - before["accepted"], 2)
        self.assertEqual(s["totals"]["delivered"] - before["delivered"], 2)
        self.assertEqual(len(s["series"]), 24)
        self.assertEqual(s["bounceRate"], 0)
        # beta's own stats do not include acme's; the operator's all-accounts view does.
        self.assertLess(self.api.ok("GET", "/api/v1/stats", self.key_b)["totals"]["delivered"],
                        s["totals"]["delivered"])
        op = self.api.ok("GET", "/api/v1/stats", self.admin)["totals"]
        self.assertGreaterEqual(op["delivered"], s["totals"]["delivered"])
        # A restart neither loses nor doubles a count.
        self.server.stop()
        self.server.start()
        again = self.api.ok("GET", "/api/v1/stats", self.key_a)["totals"]
        self.assertEqual(again, s["totals"])
        days = self.api.ok("GET", "/api/v1/stats?step=day", self.key_a)
        self.assertEqual(len(days["series"]), 30)
        self.assertEqual(days["totals"]["delivered"], again["delivered"])

    def test_webhook_history_retry_and_test(self):
        qid = submit(self.server, "hello@acme.test", ["w@example.com"], "sandbox-hook-1")
        self.hooks.wait("/acme", lambda r: r["messageId"] == f"{qid}.0")
        deadline = time.monotonic() + WAIT_S
        while True:
            items = self.api.ok("GET", "/api/v1/webhooks/deliveries?limit=1000",
                                self.key_a)["items"]
            mine = [i for i in items if i["messageId"] == f"{qid}.0"]
            if mine and mine[0]["status"] == "sent":
                break
            self.assertLess(time.monotonic(), deadline, items)
            time.sleep(0.2)
        self.assertEqual(mine[0]["lastCode"], 200)
        self.assertEqual(mine[0]["kind"], "report")
        self.assertIsNotNone(mine[0]["sentAt"])
        # beta sees none of it, and cannot retry it.
        self.assertEqual([i for i in self.api.ok("GET", "/api/v1/webhooks/deliveries",
                                                  self.key_b)["items"]
                          if i["id"] == mine[0]["id"]], [])
        self.assertEqual(self.api.call("POST", f"/api/v1/webhooks/deliveries/{mine[0]['id']}/retry",
                                       self.key_b)[0], 404)
        self.assertEqual(self.api.call("POST", f"/api/v1/webhooks/deliveries/{mine[0]['id']}/retry",
                                       self.key_a)[0], 409)  # sent already
        # A test report: one signed POST now, marked as a test.
        self.api.ok("POST", "/api/v1/settings/webhook-secret", self.key_a)
        r = self.api.ok("POST", "/api/v1/webhooks/test", self.key_a, {"kind": "report"})
        self.assertEqual((r["ok"], r["status"]), (True, 200), r)
        tests = [q for q in self.hooks.requests if q["headers"].get("x-tern-test") == "1"]
        self.assertEqual(len(tests), 1)
        self.assertIn("x-tern-signature", tests[0]["headers"])
        self.assertIn(b"tern-webhook-test", tests[0]["body"])
        # No tracking URL set: 400, nothing sent.
        self.assertEqual(self.api.call("POST", "/api/v1/webhooks/test", self.key_a,
                                       {"kind": "tracking"})[0], 400)

    def test_a_failed_webhook_can_be_retried(self):
        dead = harness.free_port()
        key = new_key(self.server, "beta")
        self.api.ok("PATCH", "/api/v1/settings", key,
                    {"notify_url": f"http://127.0.0.1:{dead}/gone"})
        try:
            submit_as(self.server, "beta", "b@beta.test", ["peer@example.com"], "hook-fail-1")
            deadline = time.monotonic() + WAIT_S
            while True:
                items = self.api.ok("GET", "/api/v1/webhooks/deliveries", key)["items"]
                failed = [i for i in items if i["url"].endswith("/gone") and i["attempts"] >= 1]
                if failed:
                    break
                self.assertLess(time.monotonic(), deadline, items)
                time.sleep(0.2)
            self.assertEqual(failed[0]["status"], "failed")
            self.assertIn("POST", failed[0]["lastError"])
            r = self.api.ok("POST", f"/api/v1/webhooks/deliveries/{failed[0]['id']}/retry", key,
                            expect=202)
            self.assertEqual(r["id"], failed[0]["id"])
            # Tried again at once: the attempts grow without waiting for the 30 s backoff.
            deadline = time.monotonic() + 15
            while True:
                one = self.api.ok("GET", f"/api/v1/webhooks/deliveries/{failed[0]['id']}", key)
                if one["attempts"] > failed[0]["attempts"]:
                    break
                self.assertLess(time.monotonic(), deadline, one)
                time.sleep(0.2)
        finally:
            self.api.ok("PATCH", "/api/v1/settings", key, {"notify_url": None})


def submit_as(server, account, sender, rcpts, subject):
    """submit() with another account's SMTP login (made once per account)."""
    creds = getattr(server, "_creds", {})
    if account not in creds:
        key = new_key(server, account)
        api = Api(f"http://127.0.0.1:{server.port('http')}")
        made = api.ok("POST", "/api/v1/credentials", key, {}, expect=201)
        creds[account] = (made["username"], made["password"])
        server._creds = creds
    user, password = creds[account]
    saved = server.username, server.password
    server.username, server.password = user, password
    try:
        return submit(server, sender, rcpts, subject)
    finally:
        server.username, server.password = saved


class SuspendTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.TernServer()
        cls.admin = admin_token(cls.server)
        cls.api = Api(f"http://127.0.0.1:{cls.server.port('http')}")
        cls.key = new_key(cls.server, "acme")

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def test_suspended_account_is_refused_in_smtp_and_http(self):
        s = self.server
        # A session authenticated before the suspension is refused at its next MAIL.
        early = harness.authed_session(s)
        acc = self.api.ok("POST", "/api/v1/accounts/acme/suspend", self.admin,
                          {"reason": "unpaid invoice"})
        self.assertTrue(acc["suspended"])
        self.assertEqual(acc["suspendedReason"], "unpaid invoice")
        r = early.cmd("MAIL FROM:<a@acme.test>")
        self.assertEqual(r.code, 550, r)
        self.assertIn("5.7.1 Account suspended: unpaid invoice", r.text)
        early.close()
        # A new AUTH is refused with the reason.
        c = harness.RawSMTP(s.port("submission"))
        c.cmd("EHLO client.test")
        c.starttls()
        c.cmd("EHLO client.test")
        r = c.auth_plain(s.username, s.password)
        self.assertEqual(r.code, 550, r)
        self.assertIn("5.7.1 Account suspended: unpaid invoice", r.text)
        c.close()
        # The account's key: 403 with the reason; the operator still reaches it.
        status, err, _ = self.api.call("GET", "/api/v1/domains", self.key)
        self.assertEqual((status, err["error"]["code"]), (403, "suspended"))
        self.assertIn("unpaid invoice", err["error"]["message"])
        self.assertEqual(self.api.call("POST", "/api/v1/messages", self.key, {
            "from": "a@acme.test", "to": ["x@example.com"], "subject": "s", "text": "t"})[0], 403)
        self.api.ok("GET", "/api/v1/accounts/acme/domains", self.admin)
        listed = [a for a in self.api.ok("GET", "/api/v1/accounts", self.admin)["items"]
                  if a["name"] == "acme"]
        self.assertTrue(listed[0]["suspended"])
        # An API key cannot lift it.
        self.assertEqual(self.api.call("POST", "/api/v1/accounts/acme/unsuspend", self.key)[0],
                         403)
        self.api.ok("POST", "/api/v1/accounts/acme/unsuspend", self.admin)
        self.api.ok("GET", "/api/v1/domains", self.key)
        ok = harness.authed_session(s)
        self.assertEqual(ok.cmd("MAIL FROM:<a@acme.test>").code, 250)
        ok.close()

    def auth_until(self, code):
        """AUTH as acme until the reply has this code (the CLI's change reaching the running
        server's SMTP side, which reloads suspensions every 5 s); the last reply."""
        s = self.server
        deadline = time.monotonic() + 15
        while True:
            c = harness.RawSMTP(s.port("submission"))
            c.cmd("EHLO client.test")
            c.starttls()
            c.cmd("EHLO client.test")
            r = c.auth_plain(s.username, s.password)
            c.close()
            if r.code == code:
                return r
            self.assertLess(time.monotonic(), deadline, r)
            time.sleep(0.5)

    def test_cli_suspension_reaches_smtp_within_seconds(self):
        s = self.server
        s.cli("account", "suspend", "acme", "--reason", "cli says no")
        try:
            self.assertIn("cli says no", json.dumps(s.cli_json("account", "list")))
            # The API reads the database: at once.
            self.assertEqual(self.api.call("GET", "/api/v1/domains", self.key)[0], 403)
            self.assertIn("cli says no", self.auth_until(550).text)
        finally:
            s.cli("account", "unsuspend", "acme")
        self.auth_until(235)


class QueueTests(unittest.TestCase):
    """The operator's queue: acme's mail waits on a relay that refuses connections."""

    @classmethod
    def setUpClass(cls):
        cls.server = harness.TernServer({
            "delivery": {"retry_schedule": "1h", "max_age": "2d", "connect_timeout_s": 2},
        })
        s = cls.server
        cls.admin = admin_token(s)
        cls.api = Api(f"http://127.0.0.1:{s.port('http')}")
        cls.key = new_key(s, "acme")
        cls.dead = harness.free_port()
        cls.api.ok("PATCH", "/api/v1/settings", cls.key,
                   {"route": "custom", "relay.host": "127.0.0.1", "relay.port": cls.dead,
                    "relay.security": "none"})
        cls.acme_id = cls.api.ok("GET", "/api/v1/accounts/acme", cls.admin)["id"]

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def test_groups_messages_and_bulk_actions(self):
        qids = [submit(self.server, "a@acme.test", ["x@example.com"], f"queue-{i}")
                for i in range(3)]
        dest = f"relay:{self.acme_id}"
        deadline = time.monotonic() + WAIT_S
        while True:
            msgs = self.api.ok("GET", "/api/v1/queue/messages?limit=1000&destination=" +
                               quote(dest), self.admin)["items"]
            if len(msgs) >= 3 and all(m["recipients"][0]["attempts"] >= 1 for m in msgs
                                      if m["id"] in qids):
                break
            self.assertLess(time.monotonic(), deadline, msgs)
            time.sleep(0.2)
        mine = {m["id"]: m for m in msgs}
        self.assertTrue(set(qids) <= set(mine))
        self.assertEqual(mine[qids[0]]["recipients"][0]["state"], "deferred")
        self.assertEqual(mine[qids[0]]["account"], "acme")
        groups = self.api.ok("GET", "/api/v1/queue", self.admin)["groups"]
        g = [x for x in groups if x["key"] == dest][0]
        self.assertGreaterEqual(g["messages"], 3)
        by_acc = self.api.ok("GET", "/api/v1/queue?by=account", self.admin)["groups"]
        self.assertIn("acme", [x["key"] for x in by_acc])
        # Pages, oldest first.
        page = self.api.ok("GET", "/api/v1/queue/messages?limit=1", self.admin)
        self.assertEqual(len(page["items"]), 1)
        self.assertIsNotNone(page["nextCursor"])
        # Hold every message of the destination, release one, delete by ids.
        r = self.api.ok("POST", "/api/v1/queue/actions", self.admin,
                        {"action": "hold", "destination": dest})
        self.assertGreaterEqual(r["count"], 3)
        held = self.api.ok("GET", "/api/v1/queue/messages?state=held&limit=1000",
                           self.admin)["items"]
        self.assertTrue(set(qids) <= {m["id"] for m in held})
        self.assertEqual(self.api.ok("POST", "/api/v1/queue/actions", self.admin,
                                     {"action": "release", "ids": [qids[0]]})["count"], 1)
        self.assertEqual(self.api.ok("POST", "/api/v1/queue/actions", self.admin,
                                     {"action": "retry", "account": "acme"})["action"], "retry")
        self.assertEqual(self.api.ok("POST", "/api/v1/queue/actions", self.admin,
                                     {"action": "delete", "ids": qids})["count"], 3)
        left = {m["id"] for m in self.api.ok("GET", "/api/v1/queue/messages?limit=1000",
                                             self.admin)["items"]}
        self.assertFalse(set(qids) & left)
        self.assertFalse(set(qids) & {m["id"] for m in self.server.queue()})
        # Accounts' keys never see the queue.
        self.assertEqual(self.api.call("GET", "/api/v1/queue", self.key)[0], 403)
        self.assertEqual(self.api.call("POST", "/api/v1/queue/actions", self.key,
                                       {"action": "delete", "account": "acme"})[0], 403)


class TestEmailBoundTests(unittest.TestCase):
    """The test email waits on a slow relay without holding an API thread, one per account."""

    @classmethod
    def setUpClass(cls):
        cls.closers = []
        try:
            cls.slow = Receiver("127.0.0.1", data_delay=4.0)
            cls.closers.append(cls.slow.start())
            cls.server = harness.TernServer({"delivery": {"connect_timeout_s": 5}})
            cls.closers.append(cls.server)
        except BaseException:
            cls.tearDownClass()
            raise
        s = cls.server
        cls.api = Api(f"http://127.0.0.1:{s.port('http')}")
        cls.key = new_key(s, "acme")
        cls.api.ok("PATCH", "/api/v1/settings", cls.key,
                   {"route": "custom", "relay.host": "127.0.0.1", "relay.port": cls.slow.port,
                    "relay.security": "none"})

    @classmethod
    def tearDownClass(cls):
        for c in reversed(getattr(cls, "closers", [])):
            try:
                c.close()
            except Exception:
                pass

    def test_one_at_a_time_and_the_api_keeps_answering(self):
        results = {}

        def first():
            results["first"] = self.api.call("POST", "/api/v1/settings/test-email", self.key,
                                             {"to": "me@example.com",
                                              "from": "postmaster@acme.test"})

        before = self.slow.sessions
        t = threading.Thread(target=first)
        t.start()
        try:
            # Wait until the relay has the test message (it holds the end of DATA 4 s).
            deadline = time.monotonic() + 10
            while self.slow.sessions == before:
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            status, err, hdrs = self.api.call("POST", "/api/v1/settings/test-email", self.key,
                                              {"to": "me@example.com"})
            self.assertEqual(status, 429, err)
            self.assertIn("still being sent", err["error"]["message"])
            # Meanwhile many other requests are answered (more than the API has threads).
            for _ in range(12):
                self.assertEqual(self.api.call("GET", "/api/v1/settings", self.key)[0], 200)
            self.assertTrue(t.is_alive())  # the first is still waiting on the relay
        finally:
            t.join(30)
        status, r, _ = results["first"]
        self.assertEqual(status, 200, r)
        self.assertEqual((r["outcome"], r["code"], r["route"]), ("delivered", 250, "custom"), r)
        # Free again.
        self.assertEqual(self.api.call("POST", "/api/v1/settings/test-email", self.key,
                                       {"to": "me@example.com"})[0], 200)

    def test_more_test_emails_in_flight_than_the_api_has_threads(self):
        """10 accounts' test emails wait on the relay at the same time: more than the slow
        pool's 8 threads (and the main pool's 4), so none of them holds a thread."""
        s = self.server
        keys = []
        for i in range(10):
            s.create_account(f"many{i}", f"many{i}.test")
            k = new_key(s, f"many{i}")
            self.api.ok("PATCH", "/api/v1/settings", k,
                        {"route": "custom", "relay.host": "127.0.0.1",
                         "relay.port": self.slow.port, "relay.security": "none"})
            keys.append(k)
        before = self.slow.sessions
        results = []
        lock = threading.Lock()

        def one(k, i):
            r = self.api.call("POST", "/api/v1/settings/test-email", k,
                              {"to": "me@example.com", "from": f"postmaster@many{i}.test"})
            with lock:
                results.append(r)

        threads = [threading.Thread(target=one, args=(k, i)) for i, k in enumerate(keys)]
        for t in threads:
            t.start()
        try:
            deadline = time.monotonic() + 10
            while self.slow.sessions - before < 10:
                self.assertLess(time.monotonic(), deadline,
                                f"only {self.slow.sessions - before} at the relay")
                time.sleep(0.05)
            with lock:
                self.assertEqual(results, [])  # all ten still waiting on the relay at once
        finally:
            for t in threads:
                t.join(30)
        self.assertEqual(len(results), 10)
        for status, r, _ in results:
            self.assertEqual((status, r["outcome"]), (200, "delivered"), r)


if __name__ == "__main__":
    unittest.main()
