"""HTTP send end to end (issue 5): POST /api/v1/messages with an API key → Tern composes, signs
and queues the message → the delivery engine hands it to an aiosmtpd MX; dkimpy verifies it and
the attachments arrive intact. Hostile input (CR/LF in subject, recipients, header values and
filenames; bad base64; a sender the account may not use; no key) is refused with 400/401 and
nothing is queued.
"""
import base64
import os
import time
import unittest

import dkim

from send_helpers import WAIT_S, SendTestBase, api
from test_delivery import submit


class SendTests(SendTestBase):
    def post(self, body, key=None):
        return api(self.server, "POST", "/api/v1/messages", body, key=key or self.key)

    def test_send_delivers_signed_message_with_intact_attachments(self):
        pdf = os.urandom(50_000)
        csv = "name,value\r\nä,1\r\n".encode()
        status, out = self.post({
            "from": "Acme News <news@signed.test>",
            "to": ["Bob <bob@dest.test>"],
            "cc": ["carol@dest.test"],
            "bcc": ["hidden@dest.test"],
            "subject": "send-e2e Grüße",
            "text": "Hello Bob,\nplain text with ü.\n",
            "html": "<p>Hello <b>Bob</b></p>",
            "attachments": [
                {"filename": "report.pdf", "contentType": "application/pdf",
                 "content": base64.b64encode(pdf).decode()},
                {"filename": "données.csv", "contentType": "text/csv",
                 "content": base64.b64encode(csv).decode()},
            ],
            "headers": {"X-Campaign": "send-e2e"},
            "callbackData": "cb-send",
        })
        self.assertEqual(status, 200, out)
        self.assertEqual([m["to"] for m in out["messages"]],
                         ["bob@dest.test", "carol@dest.test", "hidden@dest.test"])
        bulk = out["bulkId"]
        for i, m in enumerate(out["messages"]):
            self.assertEqual(m["messageId"], f"{bulk}.{i}")
            self.assertEqual(m["status"]["groupName"], "PENDING")
            self.assertEqual(m["status"]["name"], "PENDING_ACCEPTED")

        got = self.delivered("X-Campaign: send-e2e")
        self.assertEqual(len(got), 1)
        t = got[0]
        self.assertEqual(t.mail_from, "news@signed.test")
        self.assertEqual(sorted(t.rcpt_tos), ["bob@dest.test", "carol@dest.test", "hidden@dest.test"])
        self.assertTrue(dkim.verify(t.data, dnsfunc=self.dnsfunc), t.data[:600])
        self.assertNotIn(b"hidden@", t.data.split(b"\r\n\r\n", 1)[0])  # Bcc not in the header
        msg = self.parse(t.data)
        self.assertEqual(str(msg["Subject"]), "send-e2e Grüße")
        self.assertEqual(msg["Message-ID"], f"<{bulk}@mx.test>")
        self.assertEqual(msg.get_body(("plain",)).get_content().replace("\r\n", "\n"),
                         "Hello Bob,\nplain text with ü.\n")
        self.assertIn("<b>Bob</b>", msg.get_body(("html",)).get_content())
        atts = {a.get_filename(): a.get_payload(decode=True) for a in msg.iter_attachments()}
        self.assertEqual(atts["report.pdf"], pdf)
        self.assertEqual(atts["données.csv"], csv)

    def log_row(self, message_id):
        """GET /api/v1/messages/{id} once the message log has the row (bounded wait)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            status, out = api(self.server, "GET", "/api/v1/messages/" + message_id, key=self.key)
            if status == 200 or time.monotonic() > deadline:
                return status, out
            time.sleep(0.1)

    def test_subject_in_message_log_for_http_and_smtp(self):
        """Issue 14.3: the message log's subject was always "" (both paths)."""
        subject = "log-subject Grüße ✉ from HTTP"
        status, out = self.post({"from": "news@signed.test", "to": ["bob@dest.test"],
                                 "subject": subject, "text": "hi\n"})
        self.assertEqual(status, 200, out)
        status, row = self.log_row(out["messages"][0]["messageId"])
        self.assertEqual(status, 200, row)
        self.assertEqual(row["subject"], subject)
        # SMTP: a plain subject, and an RFC 2047 one (decoded for display)
        for sent, shown in (("log-subject plain SMTP", "log-subject plain SMTP"),
                            ("=?UTF-8?B?" + base64.b64encode("Müller über SMTP".encode()).decode()
                             + "?=", "Müller über SMTP")):
            with self.subTest(subject=sent):
                qid = submit(self.server, "news@signed.test", ["bob@dest.test"], sent)
                status, row = self.log_row(qid + ".0")
                self.assertEqual(status, 200, row)
                self.assertEqual(row["subject"], shown)

    def test_header_injection_refused_and_nothing_queued(self):
        before = len(self.server.queue())
        base = {"from": "news@signed.test", "to": ["bob@dest.test"], "subject": "inj",
                "text": "x"}
        cases = [
            {"subject": "hi\r\nBcc: victim@evil.test"},
            {"subject": "hi\nX-Evil: 1"},
            {"to": ["bob@dest.test\r\nBcc: victim@evil.test"]},
            {"cc": ["carol@dest.test\rX: y"]},
            {"from": "news@signed.test\r\nSender: x@evil.test"},
            {"replyTo": "a@signed.test\u0000"},
            {"headers": {"X-Note": "a\r\nBcc: victim@evil.test"}},
            {"headers": {"X-Note\r\nBcc": "victim@evil.test"}},
            {"headers": {"Bcc": "victim@evil.test"}},
            {"attachments": [{"filename": "a.txt\r\nContent-Type: text/html", "content": "aGk="}]},
            {"attachments": [{"filename": "a.txt", "contentType": "text/plain\r\nX: y", "content": "aGk="}]},
            {"trackingUrl": "http://x.test/\r\nX: y"},
        ]
        for c in cases:
            status, out = self.post({**base, **c})
            self.assertEqual(status, 400, (c, out))
            self.assertEqual(out["error"]["code"], "bad_request", (c, out))
        self.assertEqual(len(self.server.queue()), before)

    def test_bad_base64_refused(self):
        before = len(self.server.queue())
        for content in ["not base64!", "aGVsbG8", "aGVs*G8="]:
            status, out = self.post({"from": "news@signed.test", "to": ["bob@dest.test"],
                                     "text": "x", "attachments": [{"filename": "a", "content": content}]})
            self.assertEqual(status, 400, out)
            self.assertIn("attachments[0].content: invalid base64", out["error"]["message"])
        self.assertEqual(len(self.server.queue()), before)

    def test_unauthorized_sender_refused(self):
        before = len(self.server.queue())
        status, out = self.post({"from": "ceo@bank.test", "to": ["bob@dest.test"], "text": "x"})
        self.assertEqual(status, 400, out)
        self.assertEqual(out["error"]["code"], "sender_not_authorized")
        self.assertIn("ceo@bank.test", out["error"]["message"])
        self.assertEqual(len(self.server.queue()), before)

    def test_malformed_json_and_missing_key(self):
        status, out = api(self.server, "POST", "/api/v1/messages", raw_body=b"{nope", key=self.key)
        self.assertEqual(status, 400, out)
        status, _ = api(self.server, "POST", "/api/v1/messages",
                        {"from": "news@signed.test", "to": ["bob@dest.test"], "text": "x"})
        self.assertEqual(status, 401)


if __name__ == "__main__":
    unittest.main()
