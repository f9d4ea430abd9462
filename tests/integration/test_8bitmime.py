"""RFC 6152 end to end (issue 14.11): a client submits 8-bit content WITHOUT declaring
BODY=8BITMIME (Python's smtplib does not); Tern relays it to an aiosmtpd MX found through real
DNS with BODY=8BITMIME declared, byte-exact. A second MX hides 8BITMIME from its EHLO (a 7-bit-only
hop): the 8-bit message is never sent there but bounced with 5.6.3 (docs/architecture.md says why
Tern does not convert it), while a 7-bit message to the same hop is delivered (the positive marker
that the hop was reachable and the 8-bit one did not slip through before it).
"""
import unittest

import harness
from mail_peers import Receiver, mail_dns
from test_delivery import find, port_free_everywhere, submit, wait_events

WAIT_S = 60
EIGHT_BIT_BODY = "Gr\u00fc\u00dfe aus M\u00fcnchen, \u20ac 5.\r\n"


class EightBitMimeTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.peers = []
        try:
            port = port_free_everywhere(["127.0.0.1", "127.0.0.5"])
            cls.modern = Receiver("127.0.0.1", port)
            cls.peers.append(cls.modern.start())
            cls.old = Receiver("127.0.0.5", port, no_8bitmime=True, name="old.test")
            cls.peers.append(cls.old.start())
            cls.dns = mail_dns({"eight.test": [(10, "127.0.0.1")],
                                "seven.test": [(10, "127.0.0.5")]})
            cls.server = harness.TernServer({
                "dns": {"resolver": cls.dns.resolver_addr},
                "delivery": {"mx_port": port, "retry_schedule": "1s", "max_age": "1h",
                             "connect_timeout_s": 5, "command_timeout_s": 15},
            })
        except BaseException:
            cls.tearDownClass()
            raise

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

    def test_undeclared_8bit_body_is_relayed_as_8bitmime(self):
        submit(self.server, "a@acme.test", ["bob@eight.test"], "eight-undeclared",
               body=EIGHT_BIT_BODY)
        submit(self.server, "a@acme.test", ["bob@eight.test"], "seven-plain",
               body="Plain ASCII.\r\n")
        t8, = find(self.modern, "eight-undeclared")
        self.assertIn("BODY=8BITMIME", [o.upper() for o in t8.mail_options], t8.mail_options)
        self.assertIn(EIGHT_BIT_BODY.encode(), t8.data)  # byte-exact, not converted
        t7, = find(self.modern, "seven-plain")
        self.assertNotIn("BODY=8BITMIME", [o.upper() for o in t7.mail_options])

    def test_8bit_message_to_a_7bit_only_hop_bounces_with_5_6_3(self):
        qid = submit(self.server, "a@acme.test", ["carol@seven.test"], "eight-to-old",
                     body=EIGHT_BIT_BODY)
        ev = wait_events(self.server, qid, lambda e: any(x["event"] == "bounced" for x in e),
                         timeout=WAIT_S)
        bounced = [x for x in ev if x["event"] == "bounced"][0]
        self.assertEqual(bounced["enhanced"], "5.6.3", bounced)
        self.assertIn("8BITMIME", bounced["reply"])
        # The hop itself works: a 7-bit message reaches it, and the 8-bit one never did.
        submit(self.server, "a@acme.test", ["carol@seven.test"], "seven-to-old",
               body="Plain ASCII.\r\n")
        self.assertEqual(len(find(self.old, "seven-to-old")), 1)
        subjects = [t.data for t in self.old.transactions]
        self.assertFalse(any(b"Subject: eight-to-old" in d for d in subjects), subjects)
        # A bounce is not a reason to suppress the recipient: the address is fine.
        self.assertEqual(self.server.cli_json("suppression", "list", "acme"), [])


if __name__ == "__main__":
    unittest.main()
