"""Helpers for the HTTP send and tracking tests: calls to Tern's HTTP API, a webhook receiver
(http.server on a thread) that records every POST and answers GETs of a landing page, curl, and a
test class base that starts DNS + an aiosmtpd MX + a signing domain + `tern serve` with an API key.

Invariants: everything listens on 127.0.0.1 only; every wait is bounded; every process or thread
started here is stopped in close()/tearDownClass, also after a failed start.
"""
import email
import email.policy
import http.server
import json
import subprocess
import threading
import time
import unittest
import urllib.error
import urllib.request

import harness
from dns_harness import txt_lookup
from mail_peers import Receiver, mail_dns
from test_domains import PLATFORM_BASE, by_id, zone_lines

WAIT_S = 40


def api(server, method, path, body=None, key=None, raw_body=None):
    """(status, parsed JSON or raw bytes) of one call to the server's HTTP listener."""
    url = f"http://127.0.0.1:{server.port('http')}{path}"
    data = raw_body if raw_body is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, payload = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, payload = e.code, e.read()
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, payload


def curl(*args):
    """curl's stdout (bytes); curl itself must succeed (HTTP errors are not curl errors)."""
    r = subprocess.run(["curl", "-sS", "--max-time", "20", *args], capture_output=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError(f"curl {args}: {r.stderr.decode(errors='replace')}")
    return r.stdout


class WebhookReceiver:
    """Records the JSON body of every POST; GET answers 200 "landing" (a click's destination)."""

    def __init__(self):
        self.posts = []  # (path, headers dict, parsed JSON or raw bytes)
        self.gets = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
                with outer.lock:
                    outer.posts.append((self.path, dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                with outer.lock:
                    outer.gets.append(self.path)
                out = b"landing"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def events(self):
        """Every JSON object with a "type" field in any POST body (a batch may hold several)."""
        out = []

        def walk(v):
            if isinstance(v, dict):
                if "type" in v and "messageId" in v:
                    out.append(v)
                else:
                    for x in v.values():
                        walk(x)
            elif isinstance(v, list):
                for x in v:
                    walk(x)

        with self.lock:
            for _, _, body in self.posts:
                walk(body)
        return out

    def wait_events(self, pred, timeout=WAIT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ev = self.events()
            if pred(ev):
                return ev
            time.sleep(0.2)
        raise AssertionError(f"tracking events never matched: {self.events()} (posts {self.posts})")

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


class SendTestBase(unittest.TestCase):
    """DNS (dest.test MX → 127.0.0.1), an aiosmtpd MX, `tern serve` delivering there, acme with
    the signing domain signed.test checked ok, and an API key (cls.key)."""

    server_config = {}

    @classmethod
    def setUpClass(cls):
        cls.peers = []
        cls.server = cls.dns = None
        try:
            cls.port = harness.free_port()
            cls.rx = Receiver("127.0.0.1", cls.port)
            cls.peers.append(cls.rx.start())
            cls.dns = mail_dns({"dest.test": [(10, "127.0.0.1")], "acme.test": [(10, "127.0.0.1")],
                                "signed.test": []}, extra={"platform.test": PLATFORM_BASE})
            cls.server = harness.TernServer(harness.merge({
                "platform": {"dkim_zone": "dkim.platform.test", "spf_include": "spf.platform.test",
                             "sending_ips": ["192.0.2.10"]},
                "dns": {"resolver": cls.dns.resolver_addr, "check_interval_s": 3600},
                "delivery": {"mx_port": cls.port, "retry_schedule": "1s", "max_age": "1h",
                             "connect_timeout_s": 5, "command_timeout_s": 15},
            }, cls.server_config))
            rep = cls.server.cli_json("domain", "add", "acme", "signed.test")
            cls.dns.update("signed.test", zone_lines(rep["records"]))
            checked = by_id(cls.server.cli_json("domain", "check", "signed.test"))
            assert checked["dkim:tern1"]["status"] == "ok", checked
            cls.key = cls.server.cli_json("apikey", "create", "acme")["key"]
        except BaseException:
            cls.tearDownClass()
            raise
        cls.dnsfunc = staticmethod(txt_lookup(cls.dns.resolver_addr))

    @classmethod
    def tearDownClass(cls):
        for obj in (cls.server, cls.dns):
            if obj is not None:
                try:
                    obj.close()
                except Exception:
                    pass
        for p in cls.peers:
            p.close()

    def delivered(self, marker, n=1, timeout=WAIT_S):
        """The received transactions whose content holds marker (waits for n of them)."""
        deadline = time.monotonic() + timeout
        while True:
            got = [t for t in self.rx.messages if marker.encode() in t.data]
            if len(got) >= n or time.monotonic() > deadline:
                return got
            time.sleep(0.1)

    @staticmethod
    def parse(data):
        return email.message_from_bytes(data, policy=email.policy.default)
