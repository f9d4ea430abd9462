"""Delivery reports end to end (issue 5, SPEC §5): mail submitted over SMTP with X-IB-* headers is
delivered by the engine to aiosmtpd receivers found through real DNS, and the reports arrive at a
REAL HTTP receiver started here (http.server on 127.0.0.1; [webhooks] allow_loopback = true):
delivered (JSON, exact fields, callbackData echoed, HMAC signature verified with the account's
webhook_secret), XML when X-IB-notify-content-type asks, deferred with intermediate reports
(PENDING then DELIVERED), bounced (550), expired (short max_age), rejected (a suppressed
address), and a receiver that is down while Tern restarts (the reports come later, from the
durable outbox). Also `tern account test-email` against an aiosmtpd receiver.
"""
import hashlib
import hmac
import http.server
import json
import re
import socket
import threading
import time
import unittest
import urllib.request
import xml.etree.ElementTree as ET

import harness
from mail_peers import Receiver, mail_dns
from test_delivery import port_free_everywhere, submit

WAIT_S = 60
SECRET = "s3cret-for-webhook-tests-0123456789"


class HookReceiver:
    """A real HTTP server recording every request (method, path, headers, body); answers 200."""

    def __init__(self, port=0, host="127.0.0.1"):
        self.host = host
        self.requests = []
        self.cond = threading.Condition()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with outer.cond:
                    outer.requests.append({"method": "POST", "path": self.path,
                                           "headers": {k.lower(): v for k, v in self.headers.items()},
                                           "body": body})
                    outer.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer((host, port), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://{self.host}:{self.port}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def results(self, path):
        """(request, result) for every JSON or XML result POSTed to path so far."""
        out = []
        with self.cond:
            reqs = list(self.requests)
        for r in reqs:
            if r["path"] != path:
                continue
            ctype = r["headers"].get("content-type", "")
            if ctype.startswith("application/json"):
                for res in json.loads(r["body"])["results"]:
                    out.append((r, res))
            elif ctype.startswith("application/xml"):
                root = ET.fromstring(r["body"])
                for res in root.iter("result"):
                    out.append((r, xml_result(res)))
        return out

    def wait(self, path, pred, timeout=WAIT_S):
        deadline = time.monotonic() + timeout
        while True:
            got = [x for x in self.results(path) if pred(x[1])]
            if got:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"no matching report at {path} within {timeout}s; "
                                     f"got {self.results(path)!r}")
            time.sleep(0.1)


def xml_result(el):
    """An XML <result> as a dict shaped like the JSON one (numbers stay strings)."""
    d = {}
    for child in el:
        if len(child):
            d[child.tag] = {c.tag: c.text or "" for c in child}
        else:
            d[child.tag] = child.text or ""
    return d


def signature_parts(req):
    """(t, [v1, ...]) of the request's X-Tern-Signature (several v1 during a secret rotation)."""
    sig = req["headers"].get("x-tern-signature")
    if sig is None:
        return None, []
    t, v1 = None, []
    for part in sig.split(","):
        k, _, v = part.partition("=")
        if k == "t":
            t = v
        elif k == "v1":
            v1.append(v)
    return t, v1


def mac(secret, t, body):
    return hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(test, req, secret=SECRET):
    t, v1 = signature_parts(req)
    test.assertIsNotNone(t, req["headers"])
    want = mac(secret, t, req["body"])
    test.assertTrue(any(hmac.compare_digest(want, v) for v in v1), (v1, want))
    test.assertLess(abs(int(t) - time.time()), 300)
    # A tampered body does not verify.
    test.assertNotIn(mac(secret, t, req["body"] + b" "), v1)


class ReportTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        hosts = ["127.0.0.1", "127.0.0.4", "127.0.0.7"]
        cls.port = port_free_everywhere(hosts)
        cls.peers = []
        cls.hooks = None
        try:
            cls.rx = Receiver("127.0.0.1", cls.port, starttls=True,
                              rcpt_replies={"nobody@ok.test": "550 5.1.1 No such user"})
            cls.peers.append(cls.rx.start())
            cls.flaky = Receiver("127.0.0.4", cls.port, tempfail_first=1)
            cls.peers.append(cls.flaky.start())
            cls.never = Receiver("127.0.0.7", cls.port, tempfail_first=100000)
            cls.peers.append(cls.never.start())
            cls.dns = mail_dns({
                "ok.test": [(10, "127.0.0.1")],
                "acme.test": [(10, "127.0.0.1")],
                "flaky.test": [(10, "127.0.0.4")],
                "never.test": [(10, "127.0.0.7")],
            })
            cls.hooks = HookReceiver()
            cls.server = harness.TernServer({
                "dns": {"resolver": cls.dns.resolver_addr},
                "delivery": {"mx_port": cls.port, "retry_schedule": "1s", "max_age": "4s",
                             "connect_timeout_s": 5, "command_timeout_s": 15},
                "webhooks": {"allow_loopback": True},
            })
            cls.server.cli("account", "set", "acme", f"webhook_secret={SECRET}")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for name in ("server", "dns", "hooks"):
            obj = getattr(cls, name, None)
            if obj is not None:
                try:
                    obj.close()
                except Exception:
                    pass
        for p in getattr(cls, "peers", []):
            p.close()

    def send(self, rcpts, subject, path, *extra):
        return submit(self.server, "a@acme.test", rcpts, subject,
                      extra_headers=[f"X-IB-notify-url: {self.hooks.url(path)}", *extra])

    def test_delivered_json_exact_fields_and_signature(self):
        qid = self.send(["bob@ok.test"], "rep-delivered", "/delivered",
                        "X-IB-bulk-id: bulk-77", "X-IB-callback-data: {\"order\":42}")
        mid = qid + ".0"
        (req, res), = self.hooks.wait("/delivered", lambda r: r["messageId"] == mid)
        self.assertEqual(req["headers"]["content-type"].split(";")[0], "application/json")
        self.assertEqual(res["bulkId"], "bulk-77")
        self.assertEqual(res["messageId"], mid)
        self.assertEqual(res["to"], "bob@ok.test")
        self.assertEqual(res["status"]["groupId"], 3)
        self.assertEqual(res["status"]["groupName"], "DELIVERED")
        self.assertEqual(res["status"]["id"], 5)
        self.assertEqual(res["status"]["name"], "DELIVERED_TO_HANDSET")
        self.assertEqual(res["error"]["id"], 0)
        self.assertFalse(res["error"]["permanent"])
        self.assertEqual(res["callbackData"], "{\"order\":42}")
        self.assertEqual(res["channel"], "EMAIL")
        self.assertEqual(res["messageCount"], 1)
        # The vendor's fields and types (issue 14): handlers written for it read these.
        self.assertIs(type(res["smsCount"]), int)
        self.assertEqual(res["smsCount"], 1)
        self.assertIs(type(res["attemptCount"]), int)
        self.assertEqual(res["attemptCount"], 1)
        self.assertEqual(set(res["price"]), {"pricePerMessage", "currency"})
        self.assertIn(type(res["price"]["pricePerMessage"]), (int, float))
        self.assertEqual(res["price"]["pricePerMessage"], 0)
        self.assertEqual(res["price"]["currency"], "EUR")
        self.assertEqual(res["sendingIp"], "127.0.0.1")  # our end of the loopback connection
        self.assertIs(type(res["timeToFirstAttempt"]), int)
        self.assertGreaterEqual(res["timeToFirstAttempt"], 0)
        self.assertLess(res["timeToFirstAttempt"], WAIT_S * 1000)
        for k in ("sentAt", "doneAt"):
            self.assertRegex(res[k], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
        verify_signature(self, req)
        # The message log (CLI events) holds accepted then delivered.
        ev = self.server.cli_json("queue", "events", qid)
        names = [e["event"] for e in ev]
        self.assertEqual(names[0], "accepted")
        self.assertIn("delivered", names)

    def test_xml_when_asked(self):
        qid = self.send(["carol@ok.test"], "rep-xml", "/xml",
                        "X-IB-notify-content-type: application/xml", "X-IB-callback-data: cx")
        mid = qid + ".0"
        (req, res), = self.hooks.wait("/xml", lambda r: r.get("messageId") == mid)
        self.assertEqual(req["headers"]["content-type"].split(";")[0], "application/xml")
        self.assertTrue(req["body"].startswith(b"<?xml"))
        self.assertEqual(res["to"], "carol@ok.test")
        self.assertEqual(res["status"]["groupId"], "3")
        self.assertEqual(res["status"]["name"], "DELIVERED_TO_HANDSET")
        self.assertEqual(res["callbackData"], "cx")
        self.assertEqual(res["bulkId"], qid)  # no X-IB-bulk-id: one per submission
        self.assertEqual(res["smsCount"], "1")
        self.assertEqual(res["attemptCount"], "1")
        self.assertEqual(res["price"], {"pricePerMessage": "0", "currency": "EUR"})
        self.assertEqual(res["sendingIp"], "127.0.0.1")
        self.assertRegex(res["timeToFirstAttempt"], r"^\d+$")
        verify_signature(self, req)

    def test_no_callback_data_means_no_callback_data_field(self):
        qid = self.send(["dora@ok.test"], "rep-nocb", "/nocb")
        (req, res), = self.hooks.wait("/nocb", lambda r: r["messageId"] == qid + ".0")
        self.assertNotIn("callbackData", res)  # the vendor omits it; Tern used to send ""
        self.assertEqual(res["smsCount"], 1)

    def test_deferred_intermediate_then_delivered(self):
        qid = self.send(["dan@flaky.test"], "rep-deferred", "/deferred",
                        "X-IB-intermediate-report: true")
        mid = qid + ".0"
        self.hooks.wait("/deferred", lambda r: r["messageId"] == mid
                        and r["status"]["groupId"] == 3)
        got = [res for _, res in self.hooks.results("/deferred") if res["messageId"] == mid]
        groups = [r["status"]["groupId"] for r in got]
        self.assertEqual(groups, [1, 3], got)
        pending = got[0]
        self.assertEqual(pending["status"]["groupName"], "PENDING")
        self.assertFalse(pending["error"]["permanent"])
        self.assertNotEqual(pending["error"]["id"], 0)

    def test_expired_without_pending_reports(self):
        # never.test tempfails forever: with max_age 4 s it expires, and only the final report
        # is sent (no PENDING ones were asked for).
        qid = self.send(["erin@never.test"], "rep-expired", "/expired")
        mid = qid + ".0"
        (req, res), = self.hooks.wait("/expired", lambda r: r["messageId"] == mid)
        self.assertEqual(res["status"]["groupId"], 4)
        self.assertEqual(res["status"]["groupName"], "EXPIRED")
        self.assertFalse(res["error"]["permanent"])
        # Positive marker: a report enqueued after the expiry (the message is finished) for the
        # same URL arrives; nothing more about mid came before it.
        qid2 = self.send(["erin@ok.test"], "rep-expired-marker", "/expired")
        self.hooks.wait("/expired", lambda r: r["messageId"] == qid2 + ".0")
        self.assertEqual(len([r for _, r in self.hooks.results("/expired")
                              if r["messageId"] == mid]), 1)

    def test_bounced_then_rejected_when_suppressed(self):
        qid = self.send(["nobody@ok.test"], "rep-bounced", "/bounced")
        mid = qid + ".0"
        (req, res), = self.hooks.wait("/bounced", lambda r: r["messageId"] == mid)
        self.assertEqual(res["status"]["groupId"], 2)
        self.assertEqual(res["status"]["groupName"], "UNDELIVERABLE")
        self.assertTrue(res["error"]["permanent"])
        self.assertIn("550", res.get("smtpReply", "550"))
        verify_signature(self, req)
        # The hard bounce put the address on the suppression list: the next message is rejected.
        qid2 = self.send(["nobody@ok.test"], "rep-rejected", "/rejected")
        mid2 = qid2 + ".0"
        (req2, res2), = self.hooks.wait("/rejected", lambda r: r["messageId"] == mid2)
        self.assertEqual(res2["status"]["groupId"], 5)
        self.assertEqual(res2["status"]["groupName"], "REJECTED")
        self.assertTrue(res2["error"]["permanent"])
        # Rejected before any attempt: no connection, no first attempt; and the reply is what
        # docs/webhooks.md shows for a rejected report.
        self.assertNotIn("sendingIp", res2)
        self.assertNotIn("timeToFirstAttempt", res2)
        self.assertEqual(res2["smtpReply"],
                         "5.1.1 recipient is on the account's suppression list after a hard "
                         "bounce (tern suppression remove allows it again)")

    def test_test_email_cli(self):
        before = len(self.rx.messages)
        out = self.server.cli_json("account", "test-email", "acme", "tester@ok.test",
                                   "--from", "a@acme.test")
        self.assertEqual(out["outcome"], "delivered", out)
        self.assertEqual(out["code"], 250)
        self.assertEqual(out["route"], "platform")
        self.assertTrue(out["host"])
        self.assertTrue(out["tls"])  # the receiver offers STARTTLS
        got = [t for t in self.rx.messages[before:] if b"Subject: Tern test email" in t.data]
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0].rcpt_tos, ["tester@ok.test"])
        self.assertIn(b"Message-ID: <", got[0].data)
        self.assertIn(b"Date: ", got[0].data)
        # A refused recipient: outcome bounced with the remote reply, exit status 1.
        r = self.server.cli("account", "test-email", "acme", "nobody@ok.test", check=False)
        self.assertEqual(r.returncode, 1)
        text = r.stdout.decode()
        self.assertIn("outcome: bounced", text)
        self.assertIn("550", text)
        # Hostile input: a clear error, nothing sent.
        r = self.server.cli("account", "test-email", "acme", "bad\r\naddr", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("invalid", (r.stdout + r.stderr).decode())
        r = self.server.cli("account", "test-email", "nosuch", "x@ok.test", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no such account", r.stderr.decode())

    def test_control_socket_refuses_hostile_test_email_requests(self):
        path = self.server.data + "/control.sock"

        def ask(line):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
                c.settimeout(30)
                c.connect(path)
                c.sendall(line + b"\n")
                buf = b""
                while not buf.endswith(b"\n"):
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    buf += chunk
            return json.loads(buf)

        for line, why in [
            (b'{"cmd":"test-email","account":"acme","to":5}', "malformed request"),
            (b'{"cmd":"test-email","account":["acme"],"to":"x@ok.test"}', "malformed request"),
            (b'{"cmd":"test-email","account":"acme","to":"x@ok.test\\r\\nRCPT TO:<y@z>"}',
             "invalid to address"),
            (b'{"cmd":"test-email","account":"acme","from":"<>","to":"x@ok.test"}',
             "invalid from address"),
            (b'{"cmd":"test-email","account":"ghost","to":"x@ok.test"}', "no such account"),
        ]:
            rep = ask(line)
            self.assertFalse(rep["ok"], (line, rep))
            self.assertIn(why, rep["error"], (line, rep))

    def test_latency_histograms_in_metrics(self):
        self.send(["metrics@ok.test"], "rep-metrics", "/metrics-test")
        deadline = time.monotonic() + WAIT_S
        while True:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.server.port('http')}/metrics", timeout=10) as r:
                text = r.read().decode()
            counts = {m.group(1): int(m.group(2)) for m in
                      re.finditer(r"^(tern_\w+_latency_seconds)_count (\d+)$", text, re.M)}
            if counts.get("tern_delivery_latency_seconds", 0) >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertGreaterEqual(counts.get("tern_accept_latency_seconds", 0), 1, text)
        self.assertGreaterEqual(counts.get("tern_delivery_latency_seconds", 0), 1, text)
        for name in ("tern_accept_latency_seconds", "tern_delivery_latency_seconds"):
            self.assertIn(f"# TYPE {name} histogram", text)
            inf = re.search(rf'^{name}_bucket{{le="\+Inf"}} (\d+)$', text, re.M)
            self.assertIsNotNone(inf, text)
            self.assertEqual(int(inf.group(1)), counts[name])
            self.assertRegex(text, rf"(?m)^{name}_sum \d+\.\d+$")


class SecretRotationTests(unittest.TestCase):
    """A webhook secret set or rotated over the API signs the very next report (there was a 30 s
    settings cache: a first secret left reports unsigned, a rotated one signed with the old);
    during the grace period the report carries v1 for the new secret and for the old one."""

    def test_new_and_rotated_secret_sign_the_next_report(self):
        port = port_free_everywhere(["127.0.0.1"])
        with Receiver("127.0.0.1", port) as rx, \
                mail_dns({"ok.test": [(10, "127.0.0.1")]}) as d:
            hooks = HookReceiver()
            self.addCleanup(hooks.close)
            server = harness.TernServer({
                "dns": {"resolver": d.resolver_addr},
                "delivery": {"mx_port": port, "retry_schedule": "1s"},
                "webhooks": {"allow_loopback": True},
            })
            self.addCleanup(server.close)
            with open(server.data + "/admin.token") as f:
                admin = f.read().strip()

            def api(method, path, body=None):
                req = urllib.request.Request(
                    f"http://127.0.0.1:{server.port('http')}/api/v1/accounts/acme{path}",
                    data=None if body is None else json.dumps(body).encode(), method=method,
                    headers={"Authorization": "Bearer " + admin,
                             "Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=30) as r:
                    return json.loads(r.read())

            def report(subject):
                qid = submit(server, "a@acme.test", ["rot@ok.test"], subject,
                             extra_headers=[f"X-IB-notify-url: {hooks.url('/rot')}"])
                (req, _), = hooks.wait("/rot", lambda r: r["messageId"] == qid + ".0")
                return req

            first = report("rot-unsigned")
            self.assertIsNone(first["headers"].get("x-tern-signature"))
            api("PATCH", "/settings", {"webhook_secret": SECRET})
            signed = report("rot-first-secret")
            verify_signature(self, signed, SECRET)
            self.assertEqual(len(signature_parts(signed)[1]), 1)
            rotated = api("POST", "/settings/webhook-secret")["webhookSecret"]
            both = report("rot-rotated")
            t, v1 = signature_parts(both)
            self.assertEqual(v1, [mac(rotated, t, both["body"]), mac(SECRET, t, both["body"])])
            rx.wait_for(3, timeout=WAIT_S)


class ReceiverDownTests(unittest.TestCase):
    def test_reports_survive_restart_and_arrive_when_receiver_is_up(self):
        port = port_free_everywhere(["127.0.0.1"])
        hook_port = harness.free_port()
        with Receiver("127.0.0.1", port) as rx, \
                mail_dns({"ok.test": [(10, "127.0.0.1")]}) as d:
            server = harness.TernServer({
                "dns": {"resolver": d.resolver_addr},
                "delivery": {"mx_port": port, "retry_schedule": "1s"},
                "webhooks": {"allow_loopback": True},
            })
            self.addCleanup(server.close)
            url = f"http://127.0.0.1:{hook_port}/late"
            qid = submit(server, "a@acme.test", ["late@ok.test"], "rep-late",
                         extra_headers=[f"X-IB-notify-url: {url}"])
            rx.wait_for(1, timeout=WAIT_S)
            # Let the first POST fail (nothing listens), then restart Tern.
            deadline = time.monotonic() + WAIT_S
            while time.monotonic() < deadline:
                ev = server.cli_json("queue", "events", qid)
                if any(e["event"] == "webhook" for e in ev):
                    break
                time.sleep(0.2)
            server.stop()
            hooks = HookReceiver(hook_port)
            self.addCleanup(hooks.close)
            server.start()
            (req, res), = hooks.wait("/late", lambda r: r["messageId"] == qid + ".0",
                                     timeout=120)
            self.assertEqual(res["status"]["groupId"], 3)


if __name__ == "__main__":
    unittest.main()
