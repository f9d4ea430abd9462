"""Delivery end to end (issue 4): mail submitted to a real `tern serve` leaves through its delivery
engine to real peers on 127.0.0.N, found through real DNS (nsd + unbound with MX/A records):
aiosmtpd receivers (mail_peers.Receiver), a private Postfix as receiving MX, and relays that
require AUTH over SMTPS and over STARTTLS. Checked: the exact bytes received and a DKIM signature
dkimpy verifies, retries after temporary failures, bounces (RFC 3464 notice to the sender, the
suppression list, later mail rejected), expiry, first MX down → second MX, null MX, a slow
receiver, the account's CC/BCC/Mail-From, operator queue commands, and kill -9 mid-delivery.

Every MX host of a test domain resolves to a loopback address of its own (127.0.0.N); Tern's
[delivery] mx_port is one port for all, so every peer listens on that same port at its address.
"""
import email
import email.policy
import os
import smtplib
import socket
import threading
import time
import unittest
import uuid

import dkim

import harness
from dns_harness import txt_lookup
from mail_peers import AuthRelay, PostfixMX, Receiver, mail_dns
from send_helpers import api
from test_domains import PLATFORM_BASE, by_id, zone_lines

WAIT_S = 40


def port_free_everywhere(hosts):
    """A port free on every one of the loopback addresses."""
    for _ in range(50):
        p = harness.free_port()
        ok = True
        for h in hosts:
            with socket.socket() as s:
                try:
                    s.bind((h, p))
                except OSError:
                    ok = False
                    break
        if ok:
            return p
    raise RuntimeError("no common free port")


def submit(server, sender, rcpts, subject, body="Hello.\r\n", extra_headers=(), header_to=None):
    """Sends one message over submission (STARTTLS + AUTH); returns its queue id."""
    to = header_to if header_to is not None else ", ".join(rcpts)
    lines = [f"From: <{sender}>", f"To: {to}", f"Subject: {subject}",
             f"Message-ID: <{uuid.uuid4().hex}@client.test>", *extra_headers, "", body]
    data = "\r\n".join(lines).encode()
    with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=30) as s:
        s.starttls(context=harness.client_tls_context())
        s.login(server.username, server.password)
        s.mail(sender)
        for r in rcpts:
            code, msg = s.rcpt(r)
            assert code == 250, (code, msg)
        code, msg = s.data(data)
        assert code == 250, (code, msg)
        return msg.decode().rsplit(" ", 1)[-1]


def find(receiver, subject, n=1, timeout=WAIT_S):
    """The accepted transactions whose Subject is subject (waits for n of them)."""
    deadline = time.monotonic() + timeout
    while True:
        got = [t for t in receiver.messages if f"Subject: {subject}\r\n".encode() in t.data]
        if len(got) >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


# Events that are not delivery outcomes (issue 5: acceptance, webhook attempts, tracking).
NOT_OUTCOMES = {"accepted", "webhook", "opened", "clicked"}


def wait_events(server, qid, pred, timeout=WAIT_S):
    """Polls `tern queue events ID --json` until pred(outcome events) holds; returns them (the
    delivery outcomes only, without the accepted/webhook/tracking events)."""
    deadline = time.monotonic() + timeout
    ev = []
    while time.monotonic() < deadline:
        ev = [e for e in server.cli_json("queue", "events", qid) if e["event"] not in NOT_OUTCOMES]
        if pred(ev):
            return ev
        time.sleep(0.2)
    raise AssertionError(f"events of {qid} never matched: {ev}")


class DeliveryTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        hosts = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"]
        cls.port = port_free_everywhere(hosts)
        cls.peers = []
        try:
            cls.rx = Receiver("127.0.0.1", cls.port, starttls=True,
                              rcpt_replies={"nobody@dest.test": "550 5.1.1 No such user"})
            cls.peers.append(cls.rx.start())
            cls.slow = Receiver("127.0.0.3", cls.port, data_delay=3.0)
            cls.peers.append(cls.slow.start())
            cls.flaky = Receiver("127.0.0.4", cls.port, tempfail_first=2)
            cls.peers.append(cls.flaky.start())
            cls.dns = mail_dns({
                "dest.test": [(10, "127.0.0.1")],
                "acme.test": [(10, "127.0.0.1")],              # bounce notices come back here
                "second.test": [(10, "127.0.0.2"), (20, "127.0.0.1")],  # first MX down
                "nullmx.test": [],                             # RFC 7505 null MX
                "slow.test": [(10, "127.0.0.3")],
                "flaky.test": [(10, "127.0.0.4")],
                "later.test": [(10, "127.0.0.5")],             # nothing listens until a test starts one
                "pfx.test": [(10, "127.0.0.6")],               # Postfix as MX
                "signed.test": [],
            }, extra={"platform.test": PLATFORM_BASE})
            cls.server = harness.TernServer({
                "platform": {"dkim_zone": "dkim.platform.test", "spf_include": "spf.platform.test",
                             "sending_ips": ["192.0.2.10"]},
                "dns": {"resolver": cls.dns.resolver_addr, "check_interval_s": 3600},
                "delivery": {"mx_port": cls.port, "retry_schedule": "1s", "max_age": "1h",
                             "connect_timeout_s": 5, "command_timeout_s": 15},
            })
        except BaseException:
            cls.tearDownClass()
            raise
        cls.dnsfunc = staticmethod(txt_lookup(cls.dns.resolver_addr))

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

    # --- platform route: direct to MX -----------------------------------------------------------
    def test_delivers_exact_stored_bytes_with_valid_dkim(self):
        # Sign for signed.test: publish its records in the test DNS and check them.
        rep = self.server.cli_json("domain", "add", "acme", "signed.test")
        self.dns.update("signed.test", zone_lines(rep["records"]) + ["@ MX 10 mx1", "mx1 A 127.0.0.5"])
        checked = by_id(self.server.cli_json("domain", "check", "signed.test"))
        self.assertEqual(checked["dkim:tern1"]["status"], "ok", checked)
        # later.test's MX does not listen yet: the message waits in the queue, deferred.
        qid = submit(self.server, "news@signed.test", ["someone@later.test"], "exact-bytes",
                     body="Line one.\r\n.leading dot\r\n\r\nend\r\n")
        wait_events(self.server, qid, lambda ev: any(e["event"] == "deferred" for e in ev))
        stored = self.server.raw(qid)
        self.assertIn(b"DKIM-Signature:", stored)
        with Receiver("127.0.0.5", self.port) as late:
            self.server.cli("queue", "retry", qid)
            got = late.wait_for(1, timeout=WAIT_S)
        self.assertEqual(got[0].data, stored)  # byte for byte what the spool holds
        self.assertEqual(got[0].mail_from, "news@signed.test")
        self.assertEqual(got[0].rcpt_tos, ["someone@later.test"])
        self.assertTrue(dkim.verify(got[0].data, dnsfunc=self.dnsfunc))
        ev = wait_events(self.server, qid, lambda ev: ev[-1]["event"] == "delivered")
        self.assertEqual(ev[-1]["code"], 250)
        self.assertEqual(ev[-1]["mxHost"], "mx1.later.test")
        self.assertEqual(self.server.cli("queue", "show", qid, check=False).returncode, 1)

    def test_opportunistic_starttls_and_one_transaction_for_two_recipients(self):
        qid = submit(self.server, "a@acme.test", ["one@dest.test", "two@dest.test"], "two-rcpts")
        t = find(self.rx, "two-rcpts")
        self.assertEqual(len(t), 1, "both recipients in one transaction")
        self.assertEqual(sorted(t[0].rcpt_tos), ["one@dest.test", "two@dest.test"])
        self.assertTrue(t[0].tls)
        self.assertEqual(t[0].ehlo, "mx.test")
        ev = wait_events(self.server, qid, lambda ev: len(ev) == 2)
        self.assertTrue(all(e["event"] == "delivered" and e["tls"] for e in ev), ev)

    def test_postfix_as_receiving_mx(self):
        with PostfixMX(["pfx.test"], host="127.0.0.6", port=self.port) as mx:
            submit(self.server, "a@acme.test", ["user@pfx.test"], "to-postfix",
                   body="Delivered by Tern to Postfix.\r\n")
            got = mx.wait_for(1, timeout=WAIT_S)
        self.assertIn(b"Subject: to-postfix", got[0].raw)
        self.assertIn(b"Delivered by Tern to Postfix.", got[0].raw)

    def test_first_mx_down_second_mx_takes_it(self):
        qid = submit(self.server, "a@acme.test", ["x@second.test"], "second-mx")
        self.assertEqual(len(find(self.rx, "second-mx")), 1)
        ev = wait_events(self.server, qid, lambda ev: ev and ev[-1]["event"] == "delivered")
        self.assertEqual(ev[-1]["mxHost"], "mx2.second.test")

    def test_null_mx_bounces_at_once_with_notice(self):
        qid = submit(self.server, "a@acme.test", ["x@nullmx.test"], "null-mx")
        ev = wait_events(self.server, qid, lambda ev: ev and ev[-1]["event"] == "bounced")
        self.assertEqual(ev[-1]["enhanced"], "5.1.10")
        self.assertEqual(ev[-1]["attempt"], 1)
        notice = self.bounce_notice_for(qid)
        self.assertIn("x@nullmx.test", notice)

    def bounce_notice_for(self, qid):
        """The RFC 3464 notice about qid that reached a@acme.test (via acme.test's MX)."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            for t in self.rx.messages:
                if t.mail_from in ("", "<>") and qid.encode() in t.data:
                    msg = email.message_from_bytes(t.data, policy=email.policy.default)
                    self.assertEqual(msg.get_content_type(), "multipart/report")
                    self.assertEqual(msg.get_param("report-type"), "delivery-status")
                    self.assertEqual(t.rcpt_tos, ["a@acme.test"])
                    return t.data.decode("ascii")
            time.sleep(0.2)
        self.fail(f"no bounce notice for {qid}")

    # --- outcomes and retries -------------------------------------------------------------------
    def test_temporary_failures_then_success(self):
        qid = submit(self.server, "a@acme.test", ["x@flaky.test"], "flaky")
        got = find(self.flaky, "flaky")
        self.assertEqual(len(got), 1)
        ev = wait_events(self.server, qid, lambda ev: ev and ev[-1]["event"] == "delivered")
        self.assertEqual([e["event"] for e in ev], ["deferred", "deferred", "delivered"])
        self.assertEqual(ev[0]["code"], 451)
        self.assertEqual(ev[-1]["attempt"], 3)

    def test_permanent_failure_bounce_notice_and_suppression(self):
        qid = submit(self.server, "a@acme.test", ["nobody@dest.test", "ok@dest.test"], "hard-bounce")
        ev = wait_events(self.server, qid, lambda ev: len(ev) == 2)
        by = {e["recipient"]: e for e in ev}
        self.assertEqual(by["nobody@dest.test"]["event"], "bounced")
        self.assertEqual(by["nobody@dest.test"]["code"], 550)
        self.assertEqual(by["ok@dest.test"]["event"], "delivered")
        notice = self.bounce_notice_for(qid)
        self.assertIn("Final-Recipient: rfc822; nobody@dest.test", notice)
        self.assertIn("Status: 5.1.1", notice)
        self.assertNotIn("ok@dest.test\r\nAction", notice)
        # The hard bounce is on the account's suppression list; later mail is not attempted.
        self.assertIn("nobody@dest.test", self.server.cli("suppression", "list", "acme"))
        before = len(self.rx.transactions)
        qid2 = submit(self.server, "a@acme.test", ["nobody@dest.test"], "suppressed")
        ev2 = wait_events(self.server, qid2, lambda ev: len(ev) == 1)
        self.assertEqual(ev2[0]["event"], "rejected")
        # Positive marker: a message submitted after the rejection arrives; the suppressed one,
        # finished before it was even submitted, must not have arrived before (or with) it.
        submit(self.server, "a@acme.test", ["ok@dest.test"], "after-suppressed")
        self.assertEqual(len(find(self.rx, "after-suppressed")), 1)
        self.assertFalse(any(b"Subject: suppressed" in t.data for t in self.rx.transactions[before:]))
        self.assertNotIn(qid2, [m["id"] for m in self.server.queue()])
        self.server.cli("suppression", "remove", "acme", "nobody@dest.test")
        self.assertNotIn("nobody@dest.test", self.server.cli("suppression", "list", "acme"))

    def test_concurrent_messages_each_get_their_suppression_answer(self):
        """Messages submitted at once, half of them with a suppressed recipient, all move on,
        and only the suppressed recipients are rejected (look-ups of concurrent messages may be
        answered together: delivery/suppression_batches, unit-tested there)."""
        key = self.server.cli_json("apikey", "create", "acme")["key"]
        code, body = api(self.server, "POST", "/api/v1/suppressions",
                         {"address": "held-back@dest.test"}, key=key)
        self.assertEqual(code, 201, body)
        self.addCleanup(self.server.cli, "suppression", "remove", "acme", "held-back@dest.test")
        n = 24
        qids = [None] * n

        def one(i):
            rcpts = [f"each-{i}@dest.test"] + (["held-back@dest.test"] if i % 2 else [])
            qids[i] = submit(self.server, "a@acme.test", rcpts, f"sup-batch-{i}")

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertTrue(all(qids), qids)
        for i, qid in enumerate(qids):
            ev = wait_events(self.server, qid, lambda ev, i=i: len(ev) == 1 + i % 2)
            by = {e["recipient"]: e["event"] for e in ev}
            self.assertEqual(by[f"each-{i}@dest.test"], "delivered", ev)
            if i % 2:
                self.assertEqual(by["held-back@dest.test"], "rejected", ev)
        self.assertFalse(any("held-back@dest.test" in t.rcpt_tos for t in self.rx.transactions))

    def test_slow_receiver_does_not_hold_others(self):
        slow_qid = submit(self.server, "a@acme.test", ["x@slow.test"], "slow-one")
        fast_qid = submit(self.server, "a@acme.test", ["y@dest.test"], "fast-one")
        wait_events(self.server, fast_qid, lambda ev: ev and ev[-1]["event"] == "delivered",
                    timeout=2.5)  # well before the slow receiver answers (3 s)
        ev = wait_events(self.server, slow_qid, lambda ev: ev and ev[-1]["event"] == "delivered")
        self.assertEqual(len(find(self.slow, "slow-one")), 1)
        self.assertEqual(ev[-1]["attempt"], 1)

    # --- account settings -----------------------------------------------------------------------
    def test_cc_bcc_and_mail_from_apply(self):
        acct = self.server.cli_json("account", "create", "ccbcc")
        self.server.cli("domain", "add", "ccbcc", "ccbcc.test", "--verified")
        self.server.cli("account", "set", "ccbcc", "mail_from=bounces@ccbcc.test",
                        "cc=audit@dest.test", "bcc=archive@dest.test")
        s = harness.TernServer.__new__(harness.TernServer)
        s.__dict__.update(self.server.__dict__)
        s.username, s.password = acct["username"], acct["password"]
        submit(s, "app@ccbcc.test", ["to@dest.test"], "cc-bcc")
        t = find(self.rx, "cc-bcc")
        self.assertEqual(len(t), 1)
        self.assertEqual(t[0].mail_from, "bounces@ccbcc.test")
        self.assertEqual(sorted(t[0].rcpt_tos), ["archive@dest.test", "audit@dest.test", "to@dest.test"])
        msg = email.message_from_bytes(t[0].data, policy=email.policy.default)
        self.assertEqual(msg["Cc"], "audit@dest.test")
        self.assertNotIn(b"archive@dest.test", t[0].data)  # BCC never in the header

    # --- operator queue commands ----------------------------------------------------------------
    def test_hold_release_delete(self):
        qid = submit(self.server, "a@acme.test", ["q@later.test"], "hold-me")  # MX not listening
        wait_events(self.server, qid, lambda ev: any(e["event"] == "deferred" for e in ev))
        self.server.cli("queue", "hold", qid)
        self.assertTrue(next(m for m in self.server.queue() if m["id"] == qid)["held"])
        self.server.cli("queue", "release", qid)
        self.assertFalse(next(m for m in self.server.queue() if m["id"] == qid)["held"])
        self.server.cli("queue", "delete", qid)
        self.assertFalse(any(m["id"] == qid for m in self.server.queue()))
        r = self.server.cli("queue", "hold", qid, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"no such message", r.stderr)


class RelayTests(unittest.TestCase):
    """route=custom: the account's own server, which requires AUTH over SMTPS or STARTTLS."""

    def relay_roundtrip(self, security):
        with AuthRelay("relayuser", "s3cret pass", security=security) as relay:
            server = harness.TernServer({"delivery": {"ca_file": relay.ca_file}})
            self.addCleanup(server.close)
            server.cli("account", "set", "acme", "route=custom", "relay.host=127.0.0.1",
                       f"relay.port={relay.port}", f"relay.security={security}",
                       "relay.username=relayuser", "relay.password=s3cret pass")
            qid = submit(server, "a@acme.test", ["anyone@elsewhere.example"], f"relay-{security}")
            got = relay.wait_for(1, timeout=WAIT_S)
            self.assertEqual(got[0].auth_user, "relayuser")
            self.assertTrue(got[0].tls)
            self.assertEqual(got[0].rcpt_tos, ["anyone@elsewhere.example"])
            ev = wait_events(server, qid, lambda ev: ev and ev[-1]["event"] == "delivered")
            self.assertTrue(ev[-1]["tls"])
            out = server.cli("account", "show", "acme")
            self.assertNotIn("s3cret", out)

    def test_relay_smtps_with_auth(self):
        self.relay_roundtrip("tls")

    def test_relay_starttls_with_auth(self):
        self.relay_roundtrip("starttls")

    def test_platform_route_through_operator_smarthost(self):
        with AuthRelay("tern", "smart pw", security="starttls") as smarthost:
            server = harness.TernServer({"delivery": {
                "smarthost": f"127.0.0.1:{smarthost.port}", "smarthost_security": "starttls",
                "smarthost_username": "tern", "smarthost_password": "smart pw",
                "ca_file": smarthost.ca_file}})
            self.addCleanup(server.close)
            qid = submit(server, "a@acme.test", ["a@one.example", "b@two.example"], "via-smarthost")
            got = smarthost.wait_for(1, timeout=WAIT_S)
            rcpts = sorted(r for t in got for r in t.rcpt_tos)
            if len(rcpts) < 2:
                got = smarthost.wait_for(2, timeout=WAIT_S)
                rcpts = sorted(r for t in got for r in t.rcpt_tos)
            self.assertEqual(rcpts, ["a@one.example", "b@two.example"])
            self.assertTrue(all(t.auth_user == "tern" and t.tls for t in got))
            wait_events(server, qid, lambda ev: len(ev) == 2 and all(e["event"] == "delivered" for e in ev))

    def test_route_changed_through_the_api_applies_to_the_next_message(self):
        """The engine keeps an account's settings for 30 s; a change through the API drops
        that copy at once, so the next message takes the new route."""
        with Receiver() as relay:
            server = harness.TernServer({"delivery": {"enabled": True}})
            self.addCleanup(server.close)
            key = server.cli_json("apikey", "create", "acme")["key"]
            server.cli("account", "set", "acme", "route=sandbox")
            q1 = submit(server, "a@acme.test", ["anyone@elsewhere.example"], "route-before")
            ev = wait_events(server, q1, lambda ev: ev and ev[-1]["event"] == "delivered")
            self.assertIn("sandbox", ev[-1]["reply"])  # the engine now holds route=sandbox
            code, body = api(server, "PATCH", "/api/v1/settings",
                             {"route": "custom", "relay.host": "127.0.0.1",
                              "relay.port": relay.port, "relay.security": "none"}, key=key)
            self.assertEqual(code, 200, body)
            submit(server, "a@acme.test", ["anyone@elsewhere.example"], "route-after")
            self.assertEqual(len(find(relay, "route-after")), 1)

    def test_relay_with_unknown_ca_is_never_used_in_plaintext(self):
        with AuthRelay("relayuser", "pw", security="starttls") as relay:
            # no ca_file: the relay's certificate is not trusted
            server = harness.TernServer({"delivery": {"enabled": True}})
            self.addCleanup(server.close)
            server.cli("account", "set", "acme", "route=custom", "relay.host=127.0.0.1",
                       f"relay.port={relay.port}", "relay.security=starttls",
                       "relay.username=relayuser", "relay.password=pw")
            qid = submit(server, "a@acme.test", ["anyone@elsewhere.example"], "untrusted")
            ev = wait_events(server, qid, lambda ev: ev and ev[-1]["event"] == "deferred")
            self.assertEqual(ev[-1]["code"], 0)
            self.assertEqual(relay.auth_attempts, [])
            self.assertEqual(relay.messages, [])


class ExpiryAndCrashTests(unittest.TestCase):
    def test_expiry_with_short_max_age_sends_notice(self):
        port = port_free_everywhere(["127.0.0.1", "127.0.0.7"])
        with Receiver("127.0.0.1", port) as home, \
                Receiver("127.0.0.7", port, tempfail_first=1000) as never, \
                mail_dns({"acme.test": [(10, "127.0.0.1")], "never.test": [(10, "127.0.0.7")]}) as d:
            server = harness.TernServer({
                "dns": {"resolver": d.resolver_addr},
                "delivery": {"mx_port": port, "retry_schedule": "1s", "max_age": "3s"}})
            self.addCleanup(server.close)
            qid = submit(server, "a@acme.test", ["x@never.test"], "expire-me")
            ev = wait_events(server, qid, lambda ev: ev and ev[-1]["event"] == "expired")
            self.assertGreaterEqual(len(ev), 2)
            self.assertTrue(all(e["event"] == "deferred" for e in ev[:-1]))
            self.assertGreaterEqual(len(never.transactions), 2)
            notices = [t for t in home.wait_for(1, timeout=WAIT_S) if t.mail_from in ("", "<>")]
            self.assertEqual(len(notices), 1)
            self.assertIn(b"Action: failed", notices[0].data)
            self.assertIn(b"x@never.test", notices[0].data)

    def test_kill9_mid_delivery_loses_nothing(self):
        port = port_free_everywhere(["127.0.0.1"])
        n = 40
        with Receiver("127.0.0.1", port, data_delay=0.05) as rx, \
                mail_dns({"crash.test": [(10, "127.0.0.1")]}) as d:
            server = harness.TernServer({
                "dns": {"resolver": d.resolver_addr},
                "delivery": {"mx_port": port, "retry_schedule": "1s",
                             "max_connections_per_destination": 2}})
            self.addCleanup(server.close)
            for i in range(n):
                submit(server, "a@acme.test", [f"r{i}@crash.test"], f"crash-{i}")
            deadline = time.monotonic() + WAIT_S
            while len(rx.messages) < n // 4 and time.monotonic() < deadline:
                time.sleep(0.02)
            server.kill9()
            self.assertLess(len(rx.messages), n, "killed before every message was delivered")
            server.start()
            want = {f"r{i}@crash.test" for i in range(n)}
            deadline = time.monotonic() + WAIT_S
            got = set()
            while time.monotonic() < deadline:
                got = {t.rcpt_tos[0] for t in list(rx.messages)}
                if got >= want:
                    break
                time.sleep(0.1)
            self.assertEqual(got, want)
            deadline = time.monotonic() + WAIT_S
            while server.queue() and time.monotonic() < deadline:
                time.sleep(0.2)
            self.assertEqual(server.queue(), [])
            # Duplicates only in the window between the remote 250 and the local record.
            self.assertLessEqual(len(rx.messages) - n, 4)


if __name__ == "__main__":
    unittest.main()
