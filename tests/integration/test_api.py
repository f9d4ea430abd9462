"""REST API over HTTP (issue 5) against a real `tern serve`: every resource group with the
operator token and with an API key, isolation between two accounts, errors, sender
verification end to end (the link is mailed through Tern's delivery to an aiosmtpd MX found
through real DNS, then opened with urllib), the test email against that MX, message search after
an SMTP submission, and the OpenAPI document.
"""
import json
import os
import re
import sqlite3
import time
import unittest
import urllib.error
import urllib.request
from urllib.parse import quote

import harness
from mail_peers import Receiver, mail_dns
from test_delivery import find, submit
from test_domains import by_id, zone_lines

WAIT_S = 40


class Api:
    """A tiny JSON client: call() returns (status, parsed body or None, headers)."""

    def __init__(self, base):
        self.base = base

    def call(self, method, path, token=None, body=None, raw=None, headers=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, text, hdrs = r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            status, text, hdrs = e.code, e.read(), dict(e.headers)
        ctype = hdrs.get("Content-Type", "")
        parsed = json.loads(text) if text and ctype.startswith("application/json") else text
        return status, parsed, hdrs

    def ok(self, method, path, token, body=None, expect=200):
        status, parsed, _ = self.call(method, path, token, body)
        assert status == expect, f"{method} {path}: {status} {parsed!r}"
        return parsed


class ApiTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.peers = []
        try:
            port = harness.free_port()
            cls.rx = Receiver("127.0.0.1", port, starttls=True,
                              rcpt_replies={"nobody@dest.test": "550 5.1.1 No such user"})
            cls.peers.append(cls.rx.start())
            cls.dns = mail_dns({"dest.test": [(10, "127.0.0.1")],
                                "partner.test": [(10, "127.0.0.1")],
                                "beta-send.test": None})
            cls.server = harness.TernServer({
                "dns": {"resolver": cls.dns.resolver_addr, "check_interval_s": 3600},
                "delivery": {"mx_port": port, "retry_schedule": "1s", "max_age": "1h",
                             "connect_timeout_s": 5, "command_timeout_s": 15},
            })
        except BaseException:
            cls.tearDownClass()
            raise
        s = cls.server
        cls.api = Api(f"http://127.0.0.1:{s.port('http')}")
        token_file = os.path.join(s.data, "admin.token")
        with open(token_file) as f:
            cls.admin = f.read().strip()
        assert cls.admin.startswith("tern_admin_") and len(cls.admin) == 43, cls.admin
        assert os.stat(token_file).st_mode & 0o077 == 0
        # Keys for acme (made by the harness) and a second account made over the API.
        cls.key_a = cls.api.ok("POST", "/api/v1/accounts/acme/api-keys", cls.admin, expect=201)["key"]
        beta = cls.api.ok("POST", "/api/v1/accounts", cls.admin, {"name": "beta"}, expect=201)
        cls.beta_id = beta["account"]["id"]
        cls.beta_password = beta["password"]
        cls.key_b = cls.api.ok("POST", f"/api/v1/accounts/{cls.beta_id}/api-keys", cls.admin,
                               expect=201)["key"]

    @classmethod
    def tearDownClass(cls):
        for name in ("server", "dns"):
            obj = getattr(cls, name, None)
            if obj is not None:
                try:
                    obj.close()
                except Exception:
                    pass
        for p in getattr(cls, "peers", []):
            p.close()

    # --- auth, errors, OpenAPI ---------------------------------------------------------------
    def test_auth(self):
        for token in (None, "wrong", "tern_" + "a" * 26, self.admin + "x"):
            status, body, hdrs = self.api.call("GET", "/api/v1/domains", token)
            self.assertEqual(status, 401, token)
            self.assertEqual(body["error"]["code"], "unauthorized")
            self.assertEqual(hdrs.get("WWW-Authenticate"), "Bearer")
        # The operator has no account of its own: short forms say so.
        status, body, _ = self.api.call("GET", "/api/v1/domains", self.admin)
        self.assertEqual(status, 400)
        self.assertIn("/api/v1/accounts/{id}/", body["error"]["message"])
        # A revoked key stops working at once.
        k = self.api.ok("POST", "/api/v1/api-keys", self.key_a, expect=201)
        self.api.ok("GET", "/api/v1/domains", k["key"])
        self.api.ok("DELETE", "/api/v1/api-keys/" + k["prefix"], self.key_a, expect=204)
        self.assertEqual(self.api.call("GET", "/api/v1/domains", k["key"])[0], 401)

    def test_errors(self):
        status, body, _ = self.api.call("POST", "/api/v1/domains", self.key_a, raw=b"{nope")
        self.assertEqual((status, body["error"]["code"]), (400, "bad_request"))
        status, body, hdrs = self.api.call("PUT", "/api/v1/domains", self.key_a, body={})
        self.assertEqual((status, body["error"]["code"]), (405, "method_not_allowed"))
        self.assertEqual(hdrs.get("Allow"), "GET, POST")
        status, body, _ = self.api.call("POST", "/api/v1/domains", self.key_a,
                                        raw=b" " * (1024 * 1024 + 10))
        self.assertEqual((status, body["error"]["code"]), (413, "payload_too_large"))
        status, body, _ = self.api.call("GET", "/api/v1/nothing", self.key_a)
        self.assertEqual((status, body["error"]["code"]), (404, "not_found"))
        # The transport's own limits answer too (then close) instead of dropping the client:
        # a header section over 8 KiB is 431.
        status, body, _ = self.api.call("GET", "/api/v1/domains", self.key_a,
                                        headers={"X-Filler": "a" * 20000})
        self.assertEqual((status, body["error"]["code"]), (431, "bad_request"))
        self.assertEqual(self.api.call("GET", "/healthz")[0], 200)  # still serving
        self.assertEqual(self.api.call("GET", "/api/v1/suppressions?limit=0", self.key_a)[0], 400)
        self.assertEqual(self.api.call("GET", "/api/v1/messages?from=soon", self.key_a)[0], 400)
        # /healthz and /metrics still answer beside the API.
        self.assertEqual(self.api.call("GET", "/healthz")[0], 200)
        self.assertEqual(self.api.call("GET", "/metrics")[0], 200)

    def test_openapi_document(self):
        status, doc, _ = self.api.call("GET", "/api/v1/openapi.json")  # no auth
        self.assertEqual(status, 200)
        self.assertEqual(doc["openapi"], "3.0.3")
        paths = doc["paths"]
        for p, m in [("/api/v1/accounts", "post"), ("/api/v1/domains/{domain}/check", "post"),
                     ("/api/v1/accounts/{accountId}/senders", "post"),
                     ("/api/v1/settings/test-email", "post"), ("/api/v1/messages", "post"),
                     ("/api/v1/messages/{messageId}", "get"), ("/api/v1/settings", "patch"),
                     ("/api/v1/suppressions/{address}", "delete"), ("/v/{token}", "get")]:
            self.assertIn(m, paths.get(p, {}), p)

    # --- resources ----------------------------------------------------------------------------
    def test_accounts_and_credentials(self):
        accts = self.api.ok("GET", "/api/v1/accounts", self.admin)
        names = [a["name"] for a in accts["items"]]
        self.assertIn("acme", names)
        self.assertIn("beta", names)
        self.assertEqual([a["name"] for a in self.api.ok("GET", "/api/v1/accounts", self.key_a)["items"]],
                         ["acme"])
        self.assertEqual(self.api.call("POST", "/api/v1/accounts", self.key_a, {"name": "x"})[0], 403)
        self.assertEqual(self.api.call("POST", "/api/v1/accounts", self.admin, {"name": "beta"})[0], 409)
        # A new SMTP login made over the API authenticates over SMTP.
        cred = self.api.ok("POST", "/api/v1/credentials", self.key_a, {}, expect=201)
        s = harness.authed_session(self.server, user=cred["username"], password=cred["password"])
        s.close()
        listed = self.api.ok("GET", "/api/v1/credentials", self.key_a)
        self.assertIn(cred["username"], [c["username"] for c in listed["items"]])
        self.api.ok("DELETE", "/api/v1/credentials/" + quote(cred["username"]), self.key_a, expect=204)
        # Operator long form, and deleting an account.
        gamma = self.api.ok("POST", "/api/v1/accounts", self.admin, {"name": "gamma"}, expect=201)
        self.api.ok("GET", "/api/v1/accounts/gamma/credentials", self.admin)
        self.api.ok("DELETE", f"/api/v1/accounts/{gamma['account']['id']}", self.admin, expect=204)
        self.assertEqual(self.api.call("GET", "/api/v1/accounts/gamma", self.admin)[0], 404)

    def test_domains(self):
        rep = self.api.ok("POST", "/api/v1/domains", self.key_b, {"domain": "beta-send.test"},
                          expect=201)
        ids = {r["id"]: r for r in rep["records"]}
        self.assertIn("ownership", ids)
        self.assertIn("dkim:tern1", ids)
        # Publish ownership and DKIM in the test DNS; the API's check sees them.
        self.dns.update("beta-send.test",
                        zone_lines([ids["ownership"], ids["dkim:tern1"]]))
        checked = self.api.ok("POST", "/api/v1/domains/beta-send.test/check", self.key_b)
        states = {r["id"]: r["status"] for r in checked["records"]}
        self.assertEqual(states["ownership"], "ok", checked)
        self.assertEqual(states["dkim:tern1"], "ok", checked)
        self.assertTrue(checked["verified"])
        shown = self.api.ok("GET", "/api/v1/domains/beta-send.test", self.key_b)
        self.assertTrue(shown["verified"])
        rot = self.api.ok("POST", "/api/v1/domains/beta-send.test/rotate", self.key_b)
        self.assertEqual(rot["rotationSelector"], "tern2")
        listed = self.api.ok("GET", f"/api/v1/accounts/{self.beta_id}/domains", self.admin)
        self.assertEqual([d["domain"] for d in listed["items"]], ["beta-send.test"])
        self.api.ok("DELETE", "/api/v1/domains/beta-send.test", self.key_b, expect=204)
        self.assertEqual(self.api.call("GET", "/api/v1/domains/beta-send.test", self.key_b)[0], 404)

    def test_settings_and_suppressions(self):
        out = self.api.ok("PATCH", "/api/v1/settings", self.key_b,
                          {"notify_url": "https://hooks.beta.test/r", "report_format": "xml",
                           "bcc": ["audit@beta.test"]})
        self.assertEqual(out["notify_url"], "https://hooks.beta.test/r")
        self.assertEqual(out["bcc"], "audit@beta.test")
        status, body, _ = self.api.call("PATCH", "/api/v1/settings", self.key_b,
                                        {"notify_url": "https://x.test/", "route": "custom"})
        self.assertEqual(status, 400)  # route=custom needs relay.host: nothing applied
        self.assertEqual(self.api.ok("GET", "/api/v1/settings", self.key_b)["notify_url"],
                         "https://hooks.beta.test/r")
        secret = self.api.ok("POST", "/api/v1/settings/webhook-secret", self.key_b)["webhookSecret"]
        self.assertTrue(secret.startswith("whsec_"))
        shown = self.api.ok("GET", "/api/v1/settings", self.key_b)
        self.assertEqual(shown["webhook_secret"], "set")
        self.assertNotIn(secret, json.dumps(shown))
        self.api.ok("PATCH", "/api/v1/settings", self.key_b, {"bcc": None, "notify_url": ""})

        self.api.ok("POST", "/api/v1/suppressions", self.key_b, {"address": "gone@dest.test"},
                    expect=201)
        listed = self.api.ok("GET", "/api/v1/suppressions", self.key_b)
        self.assertEqual([s["address"] for s in listed["items"]], ["gone@dest.test"])
        self.api.ok("DELETE", "/api/v1/suppressions/gone%40dest.test", self.key_b, expect=204)
        self.assertEqual(self.api.call("DELETE", "/api/v1/suppressions/gone@dest.test",
                                       self.key_b)[0], 404)

    def test_isolation_between_accounts(self):
        self.api.ok("POST", "/api/v1/domains", self.key_b, {"domain": "only-beta.test"}, expect=201)
        self.api.ok("POST", f"/api/v1/accounts/{self.beta_id}/senders", self.admin,
                    {"address": "ceo@only-beta.test", "verified": True}, expect=201)
        self.api.ok("POST", "/api/v1/suppressions", self.key_b, {"address": "x@dest.test"}, expect=201)
        for method, path in [("GET", "/api/v1/domains/only-beta.test"),
                             ("DELETE", "/api/v1/domains/only-beta.test"),
                             ("POST", "/api/v1/domains/only-beta.test/check"),
                             ("GET", "/api/v1/senders/ceo@only-beta.test"),
                             ("DELETE", "/api/v1/senders/ceo@only-beta.test"),
                             ("DELETE", "/api/v1/suppressions/x@dest.test"),
                             ("GET", f"/api/v1/accounts/{self.beta_id}"),
                             ("GET", f"/api/v1/accounts/{self.beta_id}/domains"),
                             ("GET", "/api/v1/accounts/beta/settings")]:
            status, body, _ = self.api.call(method, path, self.key_a)
            self.assertEqual(status, 404, (method, path, body))
        # beta's claim is unverified: it blocks nobody (issue 10 item 11). acme's own claim has
        # its own token and never shows beta's; removing it leaves beta's claim alone.
        beta_claim = self.api.ok("GET", "/api/v1/domains/only-beta.test", self.key_b)
        mine = self.api.ok("POST", "/api/v1/domains", self.key_a, {"domain": "only-beta.test"},
                           expect=201)
        self.assertEqual(mine["account"], "acme")
        self.assertNotEqual(by_id(mine)["ownership"]["value"],
                            by_id(beta_claim)["ownership"]["value"])
        self.api.ok("DELETE", "/api/v1/domains/only-beta.test", self.key_a, expect=204)
        # Still all there for beta.
        self.api.ok("GET", "/api/v1/domains/only-beta.test", self.key_b)
        self.api.ok("GET", "/api/v1/senders/ceo@only-beta.test", self.key_b)
        self.api.ok("DELETE", "/api/v1/suppressions/x@dest.test", self.key_b, expect=204)

    # --- sender verification end to end ----------------------------------------------------------
    def verification_mails(self, rcpt):
        """The verification emails the test MX received for rcpt (waits for the first)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            got = [t for t in self.rx.messages if t.rcpt_tos == [rcpt]
                   and b"Subject: Verify your sender address\r\n" in t.data]
            if got or time.monotonic() > deadline:
                return got
            time.sleep(0.1)

    def test_sender_verification_link(self):
        r = self.api.ok("POST", "/api/v1/senders", self.key_a, {"address": "owner@partner.test"},
                        expect=201)
        self.assertFalse(r["verified"])
        self.assertTrue(r["verificationSent"])
        got = self.verification_mails("owner@partner.test")
        self.assertEqual(len(got), 1, "the verification email reached the MX")
        self.assertEqual(got[0].mail_from, "noreply@mx.test")
        m = re.search(rb"(http://127\.0\.0\.1:\d+/v/[a-z2-7]{26})", got[0].data)
        self.assertIsNotNone(m, got[0].data)
        link = m.group(1).decode()
        # A forged link does nothing.
        forged = link[:-26] + "a" * 26
        status, page, _ = self.api.call("GET", forged[len(self.api.base):])
        self.assertEqual(status, 404)
        senders = self.api.ok("GET", "/api/v1/senders", self.key_a)["items"]
        self.assertFalse([s for s in senders if s["address"] == "owner@partner.test"][0]["verified"])
        # The real link, opened as a browser would.
        with urllib.request.urlopen(link, timeout=30) as resp:
            self.assertEqual(resp.status, 200)
            self.assertIn(b"owner@partner.test", resp.read())
        senders = self.api.ok("GET", "/api/v1/senders", self.key_a)["items"]
        self.assertTrue([s for s in senders if s["address"] == "owner@partner.test"][0]["verified"])
        # Used up.
        self.assertEqual(self.api.call("GET", link[len(self.api.base):])[0], 404)
        self.api.ok("DELETE", "/api/v1/senders/owner@partner.test", self.key_a, expect=204)

    def test_expired_sender_link_is_410(self):
        self.api.ok("POST", "/api/v1/senders", self.key_b, {"address": "late@partner.test"},
                    expect=201)
        got = self.verification_mails("late@partner.test")
        self.assertEqual(len(got), 1, "the verification email reached the MX")
        path = re.search(rb"/v/[a-z2-7]{26}", got[0].data).group(0).decode()
        # 48 hours pass: move the link's expiry into the past in the store.
        db = sqlite3.connect(os.path.join(self.server.data, "tern.db"), timeout=10)
        with db:
            n = db.execute("UPDATE sender_verifications SET expires_ms = 1 WHERE address = ?",
                           ("late@partner.test",)).rowcount
        db.close()
        self.assertEqual(n, 1)
        status, page, _ = self.api.call("GET", path)
        self.assertEqual(status, 410)
        self.assertIn(b"expired", page)
        senders = self.api.ok("GET", "/api/v1/senders", self.key_b)["items"]
        self.assertFalse([s for s in senders if s["address"] == "late@partner.test"][0]["verified"])

    # --- test email ----------------------------------------------------------------------------
    def test_test_email_reports_the_remote_reply(self):
        ok = self.api.ok("POST", "/api/v1/settings/test-email", self.key_a,
                         {"to": "someone@dest.test", "from": "postmaster@acme.test"})
        self.assertEqual(ok["outcome"], "delivered", ok)
        self.assertEqual(ok["code"], 250)
        self.assertEqual(ok["host"], "mx1.dest.test")
        self.assertTrue(ok["tls"])
        self.assertEqual(ok["route"], "platform")
        refused = self.api.ok("POST", "/api/v1/settings/test-email", self.key_a,
                              {"to": "nobody@dest.test"})
        self.assertEqual(refused["outcome"], "bounced", refused)
        self.assertEqual(refused["code"], 550)
        self.assertIn("No such user", refused["reply"])
        self.assertEqual(self.api.call("POST", "/api/v1/settings/test-email", self.key_a,
                                       {"to": "bad\r\nx"})[0], 400)

    # --- one JSON view for the CLI and the API (issue 14.7) ------------------------------------
    def test_cli_and_api_print_the_same_json(self):
        """`tern … --json` printed active_selector/checked_ms where the API says activeSelector/
        checkedAt: both now print the same view of the same object."""
        s = self.server
        cli_rep = s.cli_json("domain", "add", "acme", "views.test")
        self.assertIn("activeSelector", cli_rep)
        self.assertEqual(cli_rep, self.api.ok("GET", "/api/v1/domains/views.test", self.key_a))
        self.assertEqual(s.cli_json("domain", "list", "acme"),
                         self.api.ok("GET", "/api/v1/domains?limit=1000", self.key_a)["items"])
        self.assertEqual(sorted(s.cli_json("account", "list"), key=lambda a: a["id"]),
                         sorted(self.api.ok("GET", "/api/v1/accounts?limit=1000",
                                            self.admin)["items"], key=lambda a: a["id"]))
        self.assertEqual(s.cli_json("account", "show", "acme"),
                         self.api.ok("GET", "/api/v1/settings", self.key_a))
        # delivery events: `queue events` and the message detail
        qid = submit(s, "a@acme.test", ["views@dest.test"], "cli-api-views")
        deadline = time.monotonic() + WAIT_S
        while True:
            status, detail, _ = self.api.call("GET", f"/api/v1/messages/{qid}.0", self.key_a)
            if status == 200 and "delivered" in [e["event"] for e in detail["events"]]:
                break
            self.assertLess(time.monotonic(), deadline, detail)
            time.sleep(0.2)
        self.assertEqual(s.cli_json("queue", "events", qid), detail["events"])

    # --- messages -------------------------------------------------------------------------------
    def test_message_search_and_detail(self):
        qid = submit(self.server, "a@acme.test", ["reader@dest.test"], "api-search")
        self.assertEqual(len(find(self.rx, "api-search")), 1)
        deadline = time.monotonic() + WAIT_S
        while True:
            page = self.api.ok("GET", "/api/v1/messages?recipient=" + quote("reader@dest.test"),
                               self.key_a)
            items = [m for m in page["items"] if m["queueId"] == qid]
            if items and items[0]["status"] == "delivered" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(len(items), 1, page)
        self.assertEqual(items[0]["status"], "delivered")
        mid = items[0]["messageId"]
        detail = self.api.ok("GET", "/api/v1/messages/" + mid, self.key_a)
        self.assertIn("delivered", [e["event"] for e in detail["events"]])
        self.assertEqual(self.api.call("GET", "/api/v1/messages/" + mid, self.key_b)[0], 404)
        self.api.ok("GET", "/api/v1/accounts/acme/messages/" + mid, self.admin)
        status_q = self.api.ok("GET", "/api/v1/messages?status=delivered&limit=1", self.key_a)
        self.assertEqual(len(status_q["items"]), 1)


if __name__ == "__main__":
    unittest.main()
