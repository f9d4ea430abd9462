"""Tests of the delivery-test peers themselves (mail_peers.py): each peer is driven by a real
client (swaks or smtplib) and must record exactly what happened, refuse what it should refuse,
and reject bad arguments. Needs no Tern binary.

Run: cd tests/integration && /usr/bin/python3 -m unittest test_mail_peers -v
"""
import os
import smtplib
import socket
import ssl
import subprocess
import time
import unittest

import dns.rdatatype

import dns_harness
from mail_peers import (AuthRelay, PostfixMX, Receiver, check_address, mail_dns, mx_records)

MSG = (b"From: <a@src.test>\r\nTo: <b@dest.test>\r\nSubject: peers\r\n\r\n"
       b"line one\r\n.leading dot\r\n..two dots\r\nlast line\r\n")


def swaks(*args, timeout=30):
    return subprocess.run(["swaks", "--timeout", "10", *args], capture_output=True, text=True,
                          timeout=timeout)


def send(host, port, rcpts, data=MSG, sender="a@src.test", helo="client.test"):
    """smtplib with the exact bytes: smtplib dot-stuffs them, the peer must undo it."""
    with smtplib.SMTP(host, port, local_hostname=helo, timeout=15) as s:
        return s.sendmail(sender, rcpts, data)


class ReceiverTest(unittest.TestCase):
    def test_records_transaction_with_exact_bytes_after_dot_unstuffing(self):
        with Receiver() as rx:
            self.assertEqual(send(rx.host, rx.port, ["b@dest.test", "c@dest.test"]), {})
            [t] = rx.wait_for(1, timeout=10)
        self.assertEqual(t.data, MSG)  # ".leading dot" came as "..leading dot" on the wire
        self.assertEqual(t.mail_from, "a@src.test")
        self.assertEqual(t.rcpt_tos, ["b@dest.test", "c@dest.test"])
        self.assertEqual(t.ehlo, "client.test")
        self.assertFalse(t.tls)
        self.assertEqual(t.peer[0], "127.0.0.1")
        self.assertIsNone(t.auth_user)

    def test_starttls_offered_and_recorded(self):
        with Receiver(starttls=True) as rx:
            self.assertTrue(os.path.exists(rx.ca_file))
            with smtplib.SMTP(rx.host, rx.port, local_hostname="tls.test", timeout=15) as s:
                s.ehlo()
                self.assertTrue(s.has_extn("starttls"))
                s.starttls(context=rx.cert.client_context())  # verifies chain and 127.0.0.1
                s.ehlo()
                s.sendmail("a@src.test", ["b@dest.test"], MSG)
            with smtplib.SMTP(rx.host, rx.port, timeout=15) as s:  # plaintext still allowed
                s.sendmail("a@src.test", ["b@dest.test"], MSG)
            first, second = rx.wait_for(2, timeout=10)
        self.assertTrue(first.tls)
        self.assertIn(first.tls_version, ("TLSv1.2", "TLSv1.3"))
        self.assertEqual(first.ehlo, "tls.test")
        self.assertFalse(second.tls)
        self.assertNotEqual(first.session, second.session)

    def test_no_starttls_unless_asked(self):
        with Receiver() as rx:
            with smtplib.SMTP(rx.host, rx.port, timeout=15) as s:
                s.ehlo()
                self.assertFalse(s.has_extn("starttls"))

    def test_scripted_recipient_replies(self):
        with Receiver(rcpt_replies={"Nobody@Dest.test": "550 5.1.1 No such user",
                                    "busy@dest.test": "452 4.2.2 Mailbox full"}) as rx:
            refused = send(rx.host, rx.port, ["nobody@dest.test", "busy@dest.test", "ok@dest.test"])
            [t] = rx.wait_for(1, timeout=10)
        self.assertEqual(refused["nobody@dest.test"], (550, b"5.1.1 No such user"))
        self.assertEqual(refused["busy@dest.test"], (452, b"4.2.2 Mailbox full"))
        self.assertEqual(t.rcpt_tos, ["ok@dest.test"])
        self.assertEqual(t.rejected_rcpts, [("nobody@dest.test", "550 5.1.1 No such user"),
                                            ("busy@dest.test", "452 4.2.2 Mailbox full")])

    def test_all_recipients_refused_means_no_transaction(self):
        with Receiver(rcpt_replies={"nobody@dest.test": "550 5.1.1 No such user"}) as rx:
            with self.assertRaises(smtplib.SMTPRecipientsRefused):
                send(rx.host, rx.port, ["nobody@dest.test"])
            # Positive marker: a later transaction is recorded, and it is the only one.
            send(rx.host, rx.port, ["b@dest.test"])
            [t] = rx.wait_for(1, timeout=10)
            self.assertEqual(t.rcpt_tos, ["b@dest.test"])
            self.assertEqual(len(rx.transactions), 1)

    def test_tempfail_first_n_then_accept(self):
        with Receiver(tempfail_first=2) as rx:
            for _ in range(2):
                with self.assertRaises(smtplib.SMTPDataError) as cm:
                    send(rx.host, rx.port, ["b@dest.test"])
                self.assertEqual(cm.exception.smtp_code, 451)
            self.assertEqual(rx.messages, [])
            send(rx.host, rx.port, ["b@dest.test"])
            msgs = rx.wait_for(1, timeout=10)
        self.assertEqual(len(msgs), 1)
        self.assertEqual([t.reply[:3] for t in rx.transactions], ["451", "451", "250"])

    def test_slow_reply_at_end_of_data(self):
        with Receiver(data_delay=1.0) as rx:
            t0 = time.monotonic()
            send(rx.host, rx.port, ["b@dest.test"])
            took = time.monotonic() - t0
            rx.wait_for(1, timeout=10)
        self.assertGreaterEqual(took, 1.0)

    def test_binds_only_the_given_loopback_address(self):
        with Receiver(host="127.0.0.2") as rx:
            self.assertEqual(rx.host, "127.0.0.2")
            with self.assertRaises(OSError):
                socket.create_connection(("127.0.0.1", rx.port), timeout=2).close()
            send("127.0.0.2", rx.port, ["b@dest.test"])
            rx.wait_for(1, timeout=10)

    def test_wait_for_times_out_with_a_clear_error(self):
        with Receiver() as rx:
            with self.assertRaises(AssertionError) as cm:
                rx.wait_for(1, timeout=0.3)
        self.assertIn("0 of 1 messages", str(cm.exception))

    def test_bad_arguments_are_refused(self):
        for kw in ({"host": "10.0.0.1"}, {"host": "localhost"}, {"host": "::1"},
                   {"rcpt_replies": {"x@dest.test": "250 ok\r\nRSET"}},
                   {"rcpt_replies": {"x@dest.test": "hello"}},
                   {"rcpt_replies": {"x y@dest.test": "550 no"}},
                   {"tempfail_first": -1}, {"tempfail_reply": "250 fine"},
                   {"data_delay": -1}, {"port": 70000}):
            with self.subTest(kw=kw), self.assertRaises(ValueError):
                Receiver(**kw).close()


class AuthRelayTest(unittest.TestCase):
    def test_starttls_auth_plain_and_login_with_swaks(self):
        with AuthRelay("relayuser", "s3cret pass") as relay:
            for mech in ("PLAIN", "LOGIN"):
                r = swaks("-s", relay.host, "-p", str(relay.port), "-tls", "--tls-verify",
                          "--tls-ca-path", relay.ca_file, "--tls-sni", "localhost",
                          "-a", mech, "-au", "relayuser", "-ap", "s3cret pass",
                          "-f", "a@src.test", "-t", "b@dest.test", "--helo", "swaks.test")
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            msgs = relay.wait_for(2, timeout=10)
        for t in msgs:
            self.assertTrue(t.tls)
            self.assertEqual(t.auth_user, "relayuser")
            self.assertEqual(t.ehlo, "swaks.test")
            self.assertEqual(t.rcpt_tos, ["b@dest.test"])
        self.assertEqual([(m, ok) for m, _, ok in relay.auth_attempts],
                         [("PLAIN", True), ("LOGIN", True)])

    def test_starttls_mode_refuses_mail_without_auth(self):
        with AuthRelay("relayuser", "s3cret") as relay:
            r = swaks("-s", relay.host, "-p", str(relay.port), "-tls",
                      "-f", "a@src.test", "-t", "b@dest.test")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("530", r.stdout)
            self.assertEqual(relay.transactions, [])

    def test_starttls_mode_refuses_wrong_password(self):
        with AuthRelay("relayuser", "s3cret") as relay:
            r = swaks("-s", relay.host, "-p", str(relay.port), "-tls", "-a", "PLAIN",
                      "-au", "relayuser", "-ap", "wrong", "-f", "a@src.test", "-t", "b@dest.test")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("535", r.stdout)
            self.assertEqual(relay.auth_attempts, [("PLAIN", "relayuser", False)])
            self.assertEqual(relay.transactions, [])

    def test_starttls_mode_refuses_auth_before_starttls(self):
        with AuthRelay("relayuser", "s3cret") as relay:
            with smtplib.SMTP(relay.host, relay.port, timeout=15) as s:
                s.ehlo()
                code, _ = s.docmd("AUTH", "PLAIN AHJlbGF5dXNlcgBzM2NyZXQ=")
                self.assertEqual(code, 530)
                code, _ = s.docmd("MAIL", "FROM:<a@src.test>")
                self.assertEqual(code, 530)
            self.assertEqual(relay.auth_attempts, [])

    def test_implicit_tls_verified_against_ca_file(self):
        with AuthRelay("relayuser", "s3cret", security="tls") as relay:
            with smtplib.SMTP_SSL(relay.host, relay.port, timeout=15,
                                  context=relay.cert.client_context()) as s:
                s.login("relayuser", "s3cret")
                s.sendmail("a@src.test", ["b@dest.test"], MSG)
            r = swaks("-s", relay.host, "-p", str(relay.port), "--tls-on-connect",
                      "-a", "LOGIN", "-au", "relayuser", "-ap", "s3cret",
                      "-f", "a@src.test", "-t", "c@dest.test")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            first, second = relay.wait_for(2, timeout=10)
        self.assertEqual(first.data, MSG)
        self.assertTrue(first.tls and second.tls)
        self.assertEqual((first.auth_user, second.auth_user), ("relayuser", "relayuser"))

    def test_implicit_tls_certificate_fails_for_another_name_or_ca(self):
        with AuthRelay("relayuser", "s3cret", security="tls") as relay:
            ctx = relay.cert.client_context()
            with socket.create_connection((relay.host, relay.port), timeout=5) as raw:
                with self.assertRaises(ssl.SSLCertVerificationError):
                    ctx.wrap_socket(raw, server_hostname="mx.example.test")
            with socket.create_connection((relay.host, relay.port), timeout=5) as raw:
                with self.assertRaises(ssl.SSLCertVerificationError):
                    ssl.create_default_context().wrap_socket(raw, server_hostname="localhost")
            with socket.create_connection((relay.host, relay.port), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    self.assertTrue(s.recv(100).startswith(b"220"))

    def test_implicit_tls_sends_nothing_in_plaintext(self):
        with AuthRelay("relayuser", "s3cret", security="tls") as relay:
            with socket.create_connection((relay.host, relay.port), timeout=2) as s:
                s.settimeout(1.0)
                with self.assertRaises(socket.timeout):
                    s.recv(100)  # a plaintext client never sees a greeting

    def test_plaintext_mode_allows_auth_without_tls(self):
        with AuthRelay("relayuser", "s3cret", security="none", host="127.0.0.3") as relay:
            with smtplib.SMTP(relay.host, relay.port, timeout=15) as s:
                s.login("relayuser", "s3cret")
                s.sendmail("a@src.test", ["b@dest.test"], MSG)
            [t] = relay.wait_for(1, timeout=10)
        self.assertFalse(t.tls)
        self.assertEqual(t.auth_user, "relayuser")

    def test_bad_arguments_are_refused(self):
        for args, kw in ((("u", "p"), {"security": "ssl"}), (("u\n", "p"), {}),
                         (("u", ""), {}), (("u", "p\0"), {}), (("u", "p"), {"host": "8.8.8.8"})):
            with self.subTest(args=args, kw=kw), self.assertRaises(ValueError):
                AuthRelay(*args, **kw).close()


class PostfixMXTest(unittest.TestCase):
    def test_stores_message_the_test_reads_back(self):
        with PostfixMX(["dest.test", "other.test"]) as mx:
            self.assertEqual(send(mx.host, mx.port, ["Bob@dest.test", "carol@other.test"]), {})
            msgs = mx.wait_for(2, timeout=30)
            pid = mx.pid
        self.assertEqual(sorted(m.rcpt for m in msgs), ["bob@dest.test", "carol@other.test"])
        for m in msgs:
            self.assertEqual(m.as_sent(), MSG)  # exact bytes, Postfix's own fields removed
            names = [n.lower() for n, _ in m.headers_added()]
            self.assertEqual(names[:3], ["return-path", "x-original-to", "delivered-to"])
            self.assertIn("received", names)
            self.assertEqual(dict((n.lower(), v) for n, v in m.headers_added())["return-path"],
                             "<a@src.test>")
        self.assertFalse(os.path.exists(f"/proc/{pid}"), "postfix master still running")

    def test_known_mailboxes_only_and_no_relaying(self):
        with PostfixMX(["dest.test"], mailboxes=["bob@dest.test"]) as mx:
            refused = send(mx.host, mx.port, ["nobody@dest.test", "x@elsewhere.test",
                                              "bob@dest.test"])
            self.assertEqual(refused["nobody@dest.test"][0], 550)
            self.assertIn(b"5.1.1", refused["nobody@dest.test"][1])
            self.assertEqual(refused["x@elsewhere.test"][0], 554)
            self.assertIn(b"5.7.1", refused["x@elsewhere.test"][1])
            [m] = mx.wait_for(1, timeout=30)
            self.assertEqual(m.rcpt, "bob@dest.test")

    def test_two_instances_side_by_side_and_starttls(self):
        with PostfixMX(["one.test"], host="127.0.0.1") as a, \
                PostfixMX(["two.test"], host="127.0.0.2", starttls=True) as b:
            r = swaks("-s", b.host, "-p", str(b.port), "-tls", "--tls-verify",
                      "--tls-ca-path", b.cert.ca_file, "-f", "a@src.test", "-t", "x@two.test")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            send(a.host, a.port, ["y@one.test"])
            [mb] = b.wait_for(1, timeout=30)
            [ma] = a.wait_for(1, timeout=30)
            self.assertEqual((ma.rcpt, mb.rcpt), ("y@one.test", "x@two.test"))
            received = dict((n.lower(), v) for n, v in mb.headers_added())["received"]
            self.assertIn("TLS", received)
            a_dir = a.base
        with self.assertRaises(OSError):
            socket.create_connection((a.host, a.port), timeout=2).close()
        self.assertFalse(os.path.exists(a_dir))

    def test_bad_arguments_are_refused(self):
        for args, kw in (((["dest.test\nrelayhost = evil"],), {}), (("dest.test",), {}),
                         (([],), {}), ((["dest.test"],), {"mailboxes": ["a@other.test"]}),
                         ((["dest.test"],), {"mailboxes": ["a b@dest.test"]}),
                         ((["dest.test"],), {"host": "192.0.2.1"})):
            with self.subTest(args=args, kw=kw), self.assertRaises(ValueError):
                PostfixMX(*args, **kw).close()


class MailDnsTest(unittest.TestCase):
    def test_mx_hosts_resolve_to_loopback_addresses(self):
        servers = mail_dns({"dest.test": [(10, "127.0.0.1"), (20, "127.0.0.2")],
                        "null.test": [],
                        "ext.test": [(5, "mx.dest.test.", None)]},
                       extra={"dest.test": ["@ TXT \"v=spf1 -all\""]})
        self.addCleanup(servers.close)
        port = servers.unbound_port
        mx = dns_harness.query(port, "dest.test.", dns.rdatatype.MX).answer[0]
        got = sorted((r.preference, r.exchange.to_text()) for r in mx)
        self.assertEqual(got, [(10, "mx1.dest.test."), (20, "mx2.dest.test.")])
        a2 = dns_harness.query(port, "mx2.dest.test.", dns.rdatatype.A).answer[0]
        self.assertEqual([r.address for r in a2], ["127.0.0.2"])
        null = dns_harness.query(port, "null.test.", dns.rdatatype.MX).answer[0]
        self.assertEqual([(r.preference, r.exchange.to_text()) for r in null], [(0, ".")])
        ext = dns_harness.query(port, "ext.test.", dns.rdatatype.MX).answer[0]
        self.assertEqual([r.exchange.to_text() for r in ext], ["mx.dest.test."])

    def test_bad_records_are_refused(self):
        for domain, mxes in (("dest.test", [(10, "127.0.0.1\n@ A 1.2.3.4")]),
                             ("dest.test", [(70000, "127.0.0.1")]),
                             ("dest.test", [(10, "mx 1", "127.0.0.1")]),
                             ("dest.test", [(10,)]), ("bad domain", [])):
            with self.subTest(mxes=mxes), self.assertRaises(ValueError):
                mx_records(domain, mxes)
        self.assertEqual(check_address("Bob@Dest.TEST"), "Bob@dest.test")


if __name__ == "__main__":
    unittest.main()
