"""Real clients against the real server: swaks, Python smtplib, curl.

Each test submits through a different client or mode and checks the 250 reply, and where the
client lets us, that the message is in the queue with the content the spec promises
(CRLF, Received/Message-ID/Date added, X-IB-* removed).
"""
import os
import re
import smtplib
import subprocess
import tempfile
import unittest
import email.policy
from email.message import EmailMessage

import harness

QUEUED = re.compile(r"250[ -]2\.0\.0 Ok: queued as ([0-9A-Z]{20})\b")
SENDER = "sender@acme.test"
RCPT = "rcpt@dest.test"


class CapturingSMTP(smtplib.SMTP):
    """smtplib.SMTP that remembers the reply to DATA (send_message only returns refusals)."""
    last_data_reply = None

    def data(self, msg):
        self.last_data_reply = super().data(msg)
        return self.last_data_reply


class ClientTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.TernServer()

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def swaks(self, *extra, port="submission", user=None, password=None, tls=("-tls",)):
        s = self.server
        argv = ["swaks", "--server", harness.LOOPBACK, "--port", str(s.port(port)),
                "--from", SENDER, "--to", RCPT, "--helo", "client.test", "--timeout", "20",
                *tls, "-au", user or s.username, "-ap", password or s.password, *extra]
        r = subprocess.run(argv, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
        return r.returncode, out

    def assert_queued(self, out):
        m = QUEUED.search(out)
        self.assertIsNotNone(m, f"no '250 2.0.0 Ok: queued as' in:\n{out}")
        qid = m.group(1)
        ids = [msg["id"] for msg in self.server.queue()]
        self.assertEqual(ids.count(qid), 1, f"{qid} not exactly once in queue list {ids}")
        return qid

    def test_swaks_starttls_auth_plain(self):
        rc, out = self.swaks("-a", "PLAIN")
        self.assertEqual(rc, 0, out)
        self.assertIn("235 2.7.0 Authentication successful", out)
        self.assertIn("250 2.1.0 Sender address accepted", out)
        self.assertIn("250 2.1.5 Recipient address accepted", out)
        self.assertIn("354", out)
        self.assert_queued(out)

    def test_swaks_auth_login(self):
        rc, out = self.swaks("-a", "LOGIN")
        self.assertEqual(rc, 0, out)
        self.assertIn("334 VXNlcm5hbWU6", out)
        self.assertIn("334 UGFzc3dvcmQ6", out)
        self.assert_queued(out)

    def test_swaks_implicit_tls_submissions(self):
        rc, out = self.swaks("-a", "PLAIN", port="submissions", tls=("--tls-on-connect",))
        self.assertEqual(rc, 0, out)
        self.assert_queued(out)

    def test_swaks_smtp_port_starttls(self):
        rc, out = self.swaks("-a", "PLAIN", port="smtp")
        self.assertEqual(rc, 0, out)
        self.assert_queued(out)

    def test_swaks_pipeline(self):
        rc, out = self.swaks("-a", "PLAIN", "--pipeline")
        self.assertEqual(rc, 0, out)
        self.assertIn("PIPELINING", out)
        self.assert_queued(out)

    def test_swaks_api_key_as_password(self):
        key = self.server.cli_json("apikey", "create", "acme")["key"]
        self.assertTrue(key.startswith("tern_"), key)
        rc, out = self.swaks("-a", "PLAIN", user="App", password=key)
        self.assertEqual(rc, 0, out)
        qid = self.assert_queued(out)
        msg = next(m for m in self.server.queue() if m["id"] == qid)
        self.assertEqual(msg["account"], "acme")

    def test_swaks_wrong_api_key_rejected(self):
        rc, out = self.swaks("-a", "PLAIN", user="App", password="tern_" + "0" * 40)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("535 5.7.8", out)
        self.assertIsNone(QUEUED.search(out))

    def test_smtplib_starttls_login_send_message(self):
        s = self.server
        msg = EmailMessage()
        msg["From"] = f"Acme Sender <{SENDER}>"
        msg["To"] = RCPT
        msg["Subject"] = "smtplib check"
        msg["X-IB-callback-data"] = "cb-123"
        msg["X-IB-notify-url"] = "https://hooks.example.com/notify"
        msg["X-IB-bulk-id"] = "bulk-7"
        body = "line one\nline two\n.leading dot\n" + "x" * 200 + "\n"
        msg.set_content(body)
        with CapturingSMTP(harness.LOOPBACK, s.port("submission"), timeout=20) as c:
            c.ehlo("client.test")
            self.assertTrue(c.has_extn("starttls"))
            c.starttls(context=harness.client_tls_context())
            c.ehlo("client.test")
            self.assertIn("plain", c.esmtp_features.get("auth", "").lower())
            c.login(s.username, s.password)
            refused = c.send_message(msg)
            self.assertEqual(refused, {})
            code, text = c.last_data_reply
        self.assertEqual(code, 250)
        m = re.match(r"2\.0\.0 Ok: queued as ([0-9A-Z]{20})$", text.decode())
        self.assertIsNotNone(m, text)
        qid = m.group(1)

        entries = [e for e in s.queue() if e["id"] == qid]
        self.assertEqual(len(entries), 1)
        e = entries[0]
        self.assertEqual(e["account"], "acme")
        self.assertEqual(e["sender"], SENDER)
        self.assertEqual([r["address"] for r in e["recipients"]], [RCPT])
        self.assertEqual(e["header_from"], SENDER)
        self.assertEqual(e["helo"], "client.test")
        self.assertEqual(e["client_ip"], "127.0.0.1")
        opts = e.get("options", {})
        self.assertIn("cb-123", str(opts))
        self.assertIn("https://hooks.example.com/notify", str(opts))

        raw = s.raw(qid)
        self.assertEqual(e["size"], len(raw))
        self.assertNotIn(b"\n", raw.replace(b"\r\n", b""), "bare LF in stored message")
        self.assertNotIn(b"\r", raw.replace(b"\r\n", b""), "bare CR in stored message")
        head, sep, stored_body = raw.partition(b"\r\n\r\n")
        self.assertTrue(sep)
        names = [ln.split(b":", 1)[0].lower() for ln in head.split(b"\r\n")
                 if ln and not ln[:1].isspace()]
        self.assertEqual(names[0], b"received", head)
        for needed in (b"message-id", b"date", b"from", b"to", b"subject"):
            self.assertEqual(names.count(needed), 1, f"{needed} in {names}")
        self.assertFalse([n for n in names if n.startswith(b"x-ib-")], names)
        self.assertNotIn(b"cb-123", head)
        self.assertIn(qid.encode(), head)  # the Received trace names the queue id
        # body exactly as smtplib sent it (dot-stuffing undone, CRLF line ends)
        sent = msg.as_bytes(policy=email.policy.SMTP)
        self.assertEqual(stored_body, sent.partition(b"\r\n\r\n")[2])
        self.assertIn(b"\r\n.leading dot\r\n", stored_body)

    def test_swaks_latin1_option_header_refused_with_reply(self):
        """Issue 14.1: a Latin-1 X-IB-* value (M\\xfcller) got no reply at all: the session died
        after the final dot. Now: 550 naming the header, nothing queued, session still usable."""
        before = len(self.server.queue())
        cases = [(b"X-IB-callback-data", b"M\xfcller"),
                 (b"X-IB-bulk-id", b"M\xfcller"),
                 (b"X-IB-notify-url", b"https://hooks.example.com/M\xfcller")]
        for name, value in cases:
            with self.subTest(header=name):
                rc, out = self.swaks("-a", "PLAIN", "--header", name + b": " + value)
                self.assertIn(f"550 5.6.0 Invalid {name.decode()} header: must be valid UTF-8",
                              out)
                self.assertIn("221", out, "session did not go on to QUIT")
                self.assertIsNone(QUEUED.search(out))
        # the tracked (whole-message) path refuses it the same way
        rc, out = self.swaks("-a", "PLAIN", "--header", b"X-IB-callback-data: M\xfcller",
                             "--header", "X-IB-tracking-url: https://t.example.com/")
        self.assertIn("550 5.6.0 Invalid X-IB-callback-data header: must be valid UTF-8", out)
        self.assertEqual(len(self.server.queue()), before)
        # valid UTF-8 is accepted and kept
        rc, out = self.swaks("-a", "PLAIN", "--header",
                             "X-IB-callback-data: M\u00fcller".encode())
        self.assertEqual(rc, 0, out)
        qid = self.assert_queued(out)
        e = next(m for m in self.server.queue() if m["id"] == qid)
        self.assertEqual(e["options"]["callbackData"], "M\u00fcller")

    def test_curl_smtp_starttls(self):
        s = self.server
        with tempfile.NamedTemporaryFile("wb", suffix=".eml", delete=False) as f:
            f.write(harness.message_bytes(SENDER, [RCPT], subject="via curl",
                                          body="curl body\r\n"))
            path = f.name
        try:
            r = subprocess.run(
                ["curl", "-sS", "-v", "--max-time", "30", f"smtp://127.0.0.1:{s.port('submission')}",
                 "--ssl-reqd", "-k", "--mail-from", SENDER, "--mail-rcpt", RCPT,
                 "-u", f"{s.username}:{s.password}", "-T", path],
                capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        finally:
            os.unlink(path)
        out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
        self.assertEqual(r.returncode, 0, out)
        qid = self.assert_queued(out)
        self.assertIn(b"curl body\r\n", s.raw(qid))


if __name__ == "__main__":
    unittest.main()
