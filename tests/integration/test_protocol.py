"""Protocol edges over real sockets: order errors, sender policy, SMTP smuggling, STARTTLS
command injection, limits, timeouts and connection caps.

Tests that need their own settings (timeouts, caps, greet pause, AUTH failure limit) start
their own server so one test's state (e.g. per-IP failure counters) never leaks into another.
"""
import os
import socket
import time
import unittest

import harness
from harness import RawSMTP, authed_session

SENDER = "sender@acme.test"
RCPT = "rcpt@dest.test"


def queued_ids(server):
    return {m["id"] for m in server.queue()}


class SharedServerTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.TernServer()

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def session(self, port_name="submission"):
        s = authed_session(self.server, port_name)
        self.addCleanup(s.close)
        return s

    def test_auth_before_tls_is_538(self):
        s = RawSMTP(self.server.port("submission"))
        self.addCleanup(s.close)
        ehlo = s.cmd("EHLO client.test")
        self.assertIn("STARTTLS", ehlo.text)
        r = s.auth_plain(self.server.username, self.server.password)
        self.assertEqual(r.code, 538, r)
        self.assertIn("5.7.11", r.text)

    def test_mail_before_auth_is_530(self):
        s = RawSMTP(self.server.port("submission"))
        self.addCleanup(s.close)
        s.cmd("EHLO client.test")
        s.starttls()
        s.cmd("EHLO client.test")
        r = s.cmd(f"MAIL FROM:<{SENDER}>")
        self.assertEqual(r.code, 530, r)
        self.assertIn("5.7.0", r.text)

    def test_unauthorized_sender_is_550_571(self):
        s = self.session()
        r = s.cmd("MAIL FROM:<someone@not-acme.test>")
        if r.code == 250:  # the check may also run at RCPT/DATA; it must refuse by then
            s.cmd(f"RCPT TO:<{RCPT}>")
            r = s.cmd("DATA")
        self.assertEqual(r.code, 550, r)
        self.assertIn("5.7.1", r.text)
        self.assertIn("not-acme.test", r.text)

    def test_unauthorized_header_from_is_550_571(self):
        before = queued_ids(self.server)
        s = self.session()
        self.assertEqual(s.cmd(f"MAIL FROM:<{SENDER}>").code, 250)
        self.assertEqual(s.cmd(f"RCPT TO:<{RCPT}>").code, 250)
        self.assertEqual(s.cmd("DATA").code, 354)
        s.send(harness.message_bytes("ceo@victim.test", [RCPT]) + b".\r\n")
        r = s.reply()
        self.assertEqual(r.code, 550, r)
        self.assertIn("5.7.1", r.text)
        self.assertEqual(queued_ids(self.server), before)

    def test_header_rcpt_missing_from_envelope_is_550(self):
        s = self.session()
        self.assertEqual(s.cmd(f"MAIL FROM:<{SENDER}>").code, 250)
        self.assertEqual(s.cmd(f"RCPT TO:<{RCPT}>").code, 250)
        self.assertEqual(s.cmd("DATA").code, 354)
        s.send(harness.message_bytes(SENDER, [RCPT, "other@dest.test"]) + b".\r\n")
        r = s.reply()
        self.assertEqual(r.code, 550, r)
        self.assertIn("other@dest.test", r.text)

    # --- SMTP smuggling (bare CR / LF end-of-data variants) --------------------------------
    SMUGGLES = {
        "lf_dot_lf": b"\n.\n",
        "lf_dot_crlf": b"\n.\r\n",
        "cr_dot_crlf": b"\r.\r\n",
        "crlf_dot_cr": b"\r\n.\r",
        "crlf_nul_dot_crlf": b"\r\n\x00.\r\n",
    }

    def smuggle(self, name):
        seq = self.SMUGGLES[name]
        marker = f"smuggled-{name}"
        before = {m["id"] for m in self.server.queue()}
        s = self.session("submissions")
        self.assertEqual(s.cmd(f"MAIL FROM:<{SENDER}>").code, 250)
        self.assertEqual(s.cmd(f"RCPT TO:<{RCPT}>").code, 250)
        self.assertEqual(s.cmd("DATA").code, 354)
        inner = (f"MAIL FROM:<evil@acme.test>\r\nRCPT TO:<victim@dest.test>\r\nDATA\r\n"
                 f"From: <evil@acme.test>\r\nTo: <victim@dest.test>\r\nSubject: {marker}\r\n"
                 f"\r\n{marker}\r\n").encode()
        payload = (harness.message_bytes(SENDER, [RCPT], subject="outer", body="outer body")
                   + seq + inner + b".\r\n")
        s.send(payload)  # one write: a vulnerable server would see several commands
        first = s.reply()
        # Exactly one reply for the whole payload: the next reply must answer our VRFY.
        nxt = s.cmd("VRFY postmaster")
        self.assertEqual(nxt.code, 252, f"extra reply after the data: first={first} next={nxt}")
        after = self.server.queue()
        new = [m for m in after if m["id"] not in before]
        self.assertFalse([m for m in new if m["sender"] == "evil@acme.test"],
                         f"smuggled transaction was executed: {new}")
        if b"\x00" in seq:
            # No bare CR/LF: the sequence is content, not an end. Either refused whole, or
            # queued as one message that carries the inner lines as text.
            self.assertIn(first.code, (250, 550, 554), first)
            self.assertLessEqual(len(new), 1)
            if first.code == 250:
                self.assertIn(marker.encode(), self.server.raw(new[0]["id"]))
        else:
            self.assertEqual(first.code, 550, first)
            self.assertIn("5.6.0", first.text)
            self.assertEqual(new, [])

    def test_smuggle_lf_dot_lf(self):
        self.smuggle("lf_dot_lf")

    def test_smuggle_lf_dot_crlf(self):
        self.smuggle("lf_dot_crlf")

    def test_smuggle_cr_dot_crlf(self):
        self.smuggle("cr_dot_crlf")

    def test_smuggle_crlf_dot_cr(self):
        self.smuggle("crlf_dot_cr")

    def test_smuggle_crlf_nul_dot_crlf(self):
        self.smuggle("crlf_nul_dot_crlf")

    def test_starttls_command_injection_discarded(self):
        s = RawSMTP(self.server.port("submission"))
        self.addCleanup(s.close)
        s.cmd("EHLO client.test")
        s.send(b"STARTTLS\r\nRSET\r\n")
        r = s.reply()
        self.assertEqual(r.code, 220, r)
        s.sock = harness.client_tls_context().wrap_socket(s.sock)
        s.buf = b""
        r = s.cmd("VRFY postmaster")
        self.assertEqual(r.code, 252, f"first reply after TLS was not to VRFY: {r}")
        # and the session was reset to pre-EHLO: a fresh EHLO works and offers AUTH
        r = s.cmd("EHLO client.test")
        self.assertEqual(r.code, 250)
        self.assertIn("AUTH", r.text)
        self.assertNotIn("STARTTLS", r.text)

    def test_command_line_over_512_is_500_552(self):
        s = RawSMTP(self.server.port("submission"))
        self.addCleanup(s.close)
        r = s.cmd("EHLO " + "a" * 600)
        self.assertEqual(r.code, 500, r)
        self.assertIn("5.5.2", r.text)
        self.assertEqual(s.cmd("NOOP").code, 250)  # still in sync after the long line

    def test_size_above_limit_is_552(self):
        s = self.session()
        r = s.cmd(f"MAIL FROM:<{SENDER}> SIZE=30000000")
        self.assertEqual(r.code, 552, r)
        self.assertIn("5.3.4", r.text)
        # Issue 14.12: the text says what the 20 MiB leave for attachments after base64.
        self.assertIn("20.0 MiB (about 14.6 MiB of attachments once base64-encoded)", r.text)
        self.assertEqual(s.cmd(f"MAIL FROM:<{SENDER}> SIZE=1000").code, 250)

    def test_authzid_other_than_the_login_is_refused(self):
        import base64
        s = RawSMTP(self.server.port("submission"))
        self.addCleanup(s.close)
        s.cmd("EHLO client.test")
        s.starttls()
        s.cmd("EHLO client.test")
        u, p = self.server.username, self.server.password

        def plain(authzid):
            tok = base64.b64encode(f"{authzid}\0{u}\0{p}".encode()).decode()
            return s.cmd("AUTH PLAIN " + tok)

        r = plain("someone-else")  # RFC 4616: an identity Tern cannot act as
        self.assertEqual(r.code, 535, r)
        self.assertIn("5.7.8", r.text)
        self.assertIn("Authorization identity", r.text)
        self.assertEqual(plain(u).code, 235)  # the login itself as authzid is fine

    def test_received_has_an_address_literal_and_utf8smtpsa(self):
        s = self.session("submissions")
        self.assertEqual(s.cmd(f"MAIL FROM:<{SENDER}> SMTPUTF8").code, 250)
        self.assertEqual(s.cmd("RCPT TO:<m\u00fcller@dest.test>").code, 250)
        self.assertEqual(s.cmd("DATA").code, 354)
        s.send(f"From: <{SENDER}>\r\nSubject: utf8smtp\r\n\r\nx\r\n.\r\n".encode())
        r = s.reply()
        self.assertEqual(r.code, 250, r)
        raw = self.server.raw(r.text.rsplit(" ", 1)[-1])
        self.assertRegex(raw, rb"Received: from client\.test \(\[127\.0\.0\.1\]\) by mx\.test "
                              rb"\(Tern\) with UTF8SMTPSA id ")

    def test_invalid_utf8_address_under_smtputf8_is_553(self):
        s = self.session()
        self.assertEqual(s.cmd(f"MAIL FROM:<{SENDER}> SMTPUTF8").code, 250)
        s.send(b"RCPT TO:<m\xfcller@dest.test>\r\n")  # Latin-1, not UTF-8
        r = s.reply()
        self.assertEqual(r.code, 553, r)
        self.assertIn("5.1.3", r.text)
        self.assertEqual(s.cmd(f"RCPT TO:<{RCPT}>").code, 250)

    def test_data_over_limit_is_552_after_dot(self):
        s = self.session()
        self.assertEqual(s.cmd(f"MAIL FROM:<{SENDER}>").code, 250)
        self.assertEqual(s.cmd(f"RCPT TO:<{RCPT}>").code, 250)
        self.assertEqual(s.cmd("DATA").code, 354)
        line = b"y" * 998 + b"\r\n"
        s.send(harness.message_bytes(SENDER, [RCPT], body=""))
        for _ in range(21 * 1024 * 1024 // len(line) + 10):
            s.sock.sendall(line)
        s.send(b".\r\n")
        r = s.reply()
        self.assertEqual(r.code, 552, r)
        self.assertIn("5.3.4", r.text)
        self.assertEqual(s.cmd("NOOP").code, 250)

    def test_recipient_flood_1001st_is_452_453(self):
        s = self.session()
        self.assertEqual(s.cmd(f"MAIL FROM:<{SENDER}>").code, 250)
        n = 1001
        s.send("".join(f"RCPT TO:<r{i}@dest.test>\r\n" for i in range(n)))
        replies = [s.reply() for _ in range(n)]
        codes = [r.code for r in replies]
        self.assertEqual(codes[:1000], [250] * 1000, [r for r in replies if r.code != 250][:3])
        self.assertEqual(codes[1000], 452, replies[1000])
        self.assertIn("4.5.3", replies[1000].text)

    def test_http_request_closes_connection(self):
        s = RawSMTP(self.server.port("submission"))
        self.addCleanup(s.close)
        s.send(b"GET / HTTP/1.1\r\nHost: mx.test\r\nUser-Agent: x\r\n\r\n")
        closed, got = s.expect_closed(within=10)
        self.assertTrue(closed, f"connection still open after an HTTP request; got {got!r}")
        self.assertNotIn(b"\r\n250", b"\r\n" + got)

    def test_helo_noop_help_vrfy_quit(self):
        s = RawSMTP(self.server.port("submission"))
        self.addCleanup(s.close)
        self.assertEqual(s.cmd("HELO client.test").code, 250)
        self.assertEqual(s.cmd("NOOP").code, 250)
        help_ = s.cmd("HELP")
        self.assertIn(help_.code, (214, 211))
        for c in ("EHLO", "MAIL", "RCPT", "DATA", "STARTTLS", "AUTH"):
            self.assertIn(c, help_.text)
        self.assertEqual(s.cmd("VRFY a@b.test").code, 252)
        self.assertEqual(s.cmd("QUIT").code, 221)
        closed, _ = s.expect_closed(within=5)
        self.assertTrue(closed)


class OwnServerTests(unittest.TestCase):
    def server(self, **config):
        srv = harness.TernServer(config)
        self.addCleanup(srv.close)
        return srv

    def test_three_bad_auths_421_and_close(self):
        srv = self.server()
        s = RawSMTP(srv.port("submissions"), tls=True)
        self.addCleanup(s.close)
        s.cmd("EHLO client.test")
        replies = []
        for i in range(3):
            try:
                r = s.auth_plain(srv.username, f"wrong-{i}")
            except ConnectionError:
                break
            replies.append(r)
            if r.code == 421:
                break
        self.assertEqual([r.code for r in replies[:2]], [535, 535], replies)
        self.assertIn("5.7.8", replies[0].text)
        seen_421 = any(r.code == 421 for r in replies)
        closed, got = s.expect_closed(within=10)
        self.assertTrue(seen_421 or got.startswith(b"421"), f"{replies} then {got!r}")
        self.assertTrue(closed, "connection still open after 3 bad AUTHs")

    def test_auth_failures_rate_limited_per_ip_and_user_across_connections(self):
        srv = self.server(auth={"max_failures_per_ip": 4, "max_failures_per_user": 100})

        def attempt(password, source=None):
            s = RawSMTP(srv.port("submissions"), tls=True, source=source)
            try:
                s.cmd("EHLO client.test")
                return s.auth_plain(srv.username, password)
            finally:
                s.close()

        codes = [attempt(f"wrong-{i}").code for i in range(4)]
        self.assertEqual(codes, [535] * 4)
        # The IP is now blocked: even the right password is refused without being checked.
        r = attempt(srv.password)
        self.assertEqual(r.code, 454, r)
        self.assertIn("4.7.0", r.text)

        srv2 = self.server(auth={"max_failures_per_ip": 100, "max_failures_per_user": 3})
        srv = srv2
        codes = [attempt(f"wrong-{i}").code for i in range(3)]
        self.assertEqual(codes, [535] * 3)
        self.assertEqual(attempt(srv.password).code, 454)  # the username, from this address
        # Issue 10, item 9: failures from one address never lock the user out elsewhere.
        self.assertEqual(attempt(srv.password, source="127.0.0.2").code, 235)
        codes = [attempt(f"wrong-{i}", source="127.0.0.3").code for i in range(3)]
        self.assertEqual(codes, [535] * 3)
        self.assertEqual(attempt(srv.password, source="127.0.0.2").code, 235)

    def test_early_talker_gets_554(self):
        srv = self.server(smtp={"greet_pause_ms": 500})
        s = RawSMTP(srv.port("submission"), read_greeting=False)
        self.addCleanup(s.close)
        s.send(b"EHLO early.test\r\n")
        r = s.reply()
        self.assertEqual(r.code, 554, r)
        closed, _ = s.expect_closed(within=5)
        self.assertTrue(closed)
        # a patient client is greeted normally
        p = RawSMTP(srv.port("submission"))
        self.addCleanup(p.close)
        self.assertEqual(p.greeting.code, 220)

    def test_idle_client_times_out_421_442(self):
        srv = self.server(smtp={"command_timeout_s": 2})
        s = RawSMTP(srv.port("submission"))
        self.addCleanup(s.close)
        t0 = time.monotonic()
        r = s.reply()  # nothing sent: the next thing the server says is the timeout
        waited = time.monotonic() - t0
        self.assertEqual(r.code, 421, r)
        self.assertIn("4.4.2", r.text)
        self.assertGreater(waited, 1.5)
        self.assertLess(waited, 8)
        closed, _ = s.expect_closed(within=5)
        self.assertTrue(closed)

    def test_slow_data_sender_421_442(self):
        srv = self.server(smtp={"min_data_rate": 100000, "data_grace_s": 1})
        before = queued_ids(srv)
        s = authed_session(srv)
        self.addCleanup(s.close)
        self.assertEqual(s.cmd(f"MAIL FROM:<{SENDER}>").code, 250)
        self.assertEqual(s.cmd(f"RCPT TO:<{RCPT}>").code, 250)
        self.assertEqual(s.cmd("DATA").code, 354)
        s.send(harness.message_bytes(SENDER, [RCPT], body=""))
        deadline = time.monotonic() + 15
        got = b""
        s.sock.settimeout(0.2)
        while time.monotonic() < deadline and b"\r\n" not in got:
            try:
                s.sock.sendall(b"slow line\r\n")
            except OSError:
                break
            try:
                chunk = s.sock.recv(4096)
                if not chunk:
                    break
                got += chunk
            except socket.timeout:
                pass
        self.assertTrue(got.startswith(b"421 4.4.2"), f"got {got!r}")
        self.assertEqual(queued_ids(srv), before)

    def test_per_ip_connection_cap(self):
        srv = self.server(smtp={"max_connections_per_ip": 3})
        conns = []
        for _ in range(3):
            c = RawSMTP(srv.port("submission"))
            self.addCleanup(c.close)
            self.assertEqual(c.greeting.code, 220)
            conns.append(c)
        fourth = RawSMTP(srv.port("submission"), read_greeting=False)
        self.addCleanup(fourth.close)
        r = fourth.reply()
        self.assertEqual(r.code, 421, r)
        closed, _ = fourth.expect_closed(within=5)
        self.assertTrue(closed)
        # a slot frees up when one closes
        conns[0].cmd("QUIT")
        conns[0].close()
        deadline = time.monotonic() + 5
        while True:
            c = RawSMTP(srv.port("submission"), read_greeting=False)
            self.addCleanup(c.close)
            g = c.reply()
            if g.code == 220 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(g.code, 220, g)

    @unittest.skipIf(os.environ.get("TERN_SANITIZER"),
                     "under ASan freed memory stays in its quarantine: RSS says nothing here")
    def test_20mb_message_streams_without_being_held_in_memory(self):
        """The body streams from the socket to the spool: the server's resident memory while a
        20 MB message passes grows by far less than the message (which would be held whole by a
        server that buffers)."""
        srv = self.server()
        body_line = b"x" * 76 + b"\r\n"
        head = harness.message_bytes(SENDER, [RCPT], subject="stream", body="")
        msg = head + body_line * ((20_000_000 - len(head)) // len(body_line))
        s = authed_session(srv)  # AUTH (Argon2id) is done and its memory freed before we measure
        self.addCleanup(s.close)
        self.assertEqual(s.cmd(f"MAIL FROM:<{SENDER}>").code, 250)
        self.assertEqual(s.cmd(f"RCPT TO:<{RCPT}>").code, 250)
        self.assertEqual(s.cmd("DATA").code, 354)

        def rss_kib():
            with open(f"/proc/{srv.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
            return 0

        import threading
        base = rss_kib()
        peak = [base]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], rss_kib())
                time.sleep(0.005)

        t = threading.Thread(target=sample)
        t.start()
        try:
            s.sock.settimeout(60)
            s.timeout = 60
            for i in range(0, len(msg), 1 << 20):  # 1 MiB writes, sampled in between
                s.send(msg[i:i + (1 << 20)])
            s.send(b".\r\n")
            r = s.reply()
        finally:
            done.set()
            t.join()
        self.assertEqual(r.code, 250, r)
        grown_mib = (peak[0] - base) / 1024
        self.assertLess(grown_mib, 8, f"RSS grew by {grown_mib:.1f} MiB for a 20 MB message")

    def test_20mb_message_accepted_and_stored_exactly(self):
        srv = self.server()
        body_line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/0123456789AB\r\n"
        head = harness.message_bytes(SENDER, [RCPT], subject="big", body="", extra_headers=(
            "Message-ID: <big-1@acme.test>", "Date: Thu, 1 Jan 2026 00:00:00 +0000"))
        nlines = (20_000_000 - len(head)) // len(body_line)
        msg = head + body_line * nlines
        s = authed_session(srv)
        self.addCleanup(s.close)
        self.assertEqual(s.cmd(f"MAIL FROM:<{SENDER}> SIZE={len(msg)}").code, 250)
        self.assertEqual(s.cmd(f"RCPT TO:<{RCPT}>").code, 250)
        self.assertEqual(s.cmd("DATA").code, 354)
        s.sock.settimeout(60)
        s.timeout = 60
        s.send(msg + b".\r\n")
        r = s.reply()
        self.assertEqual(r.code, 250, r)
        qid = r.text.rsplit(" ", 1)[1]
        raw = srv.raw(qid)
        # Stored = added trace header(s) + exactly what we sent (Message-ID and Date given).
        self.assertTrue(raw.endswith(msg), "stored message does not end with the sent bytes")
        prefix = raw[:len(raw) - len(msg)]
        self.assertTrue(prefix.lower().startswith(b"received:"), prefix[:200])
        self.assertLess(len(prefix), 2000)
        entry = next(m for m in srv.queue() if m["id"] == qid)
        self.assertEqual(entry["size"], len(raw))
        self.assertEqual(entry["message_id"].strip("<>"), "big-1@acme.test")


if __name__ == "__main__":
    unittest.main()
