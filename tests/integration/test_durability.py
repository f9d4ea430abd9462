"""kill -9 under concurrent load loses no acknowledged message and duplicates none.

Eight client threads send messages, each carrying a unique marker (in Subject, body and its
own Message-ID), over authenticated STARTTLS sessions. After a moment the server is killed with
SIGKILL; it is restarted on the same data directory. Then:
  - every message for which a client read `250 ... queued as ID` is in `queue list` exactly
    once under that ID, and its stored bytes carry that message's marker;
  - no marker appears in more than one queued message (at most once also for the messages
    whose 250 never arrived).
Three rounds, killed at different moments, on the same data directory.
"""
import random
import re
import smtplib
import ssl
import threading
import time
import unittest

import harness

SENDER = "load@acme.test"
RCPT = "sink@dest.test"
THREADS = 8
QUEUED = re.compile(r"2\.0\.0 Ok: queued as ([0-9A-Z]{20})$")
MAX_RAW_CHECKS_PER_ROUND = 150


class Load:
    def __init__(self, server, round_no):
        self.server = server
        self.round = round_no
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked = {}        # marker -> queue id (client read the 250)
        self.attempted = set()  # markers whose DATA was sent (maybe stored)
        self.errors = []
        self.threads = [threading.Thread(target=self.run, args=(t,), daemon=True)
                        for t in range(THREADS)]

    def start(self):
        for t in self.threads:
            t.start()

    def join(self):
        for t in self.threads:
            t.join(30)
        return not any(t.is_alive() for t in self.threads)

    def run(self, tid):
        n = 0
        while not self.stop.is_set():
            try:
                with smtplib.SMTP(harness.LOOPBACK, self.server.port("submission"),
                                  timeout=10) as c:
                    c.ehlo("load.test")
                    c.starttls(context=harness.client_tls_context())
                    c.ehlo("load.test")
                    c.login(self.server.username, self.server.password)
                    while not self.stop.is_set():
                        marker = f"r{self.round}t{tid}n{n}x{random.getrandbits(32):08x}"
                        n += 1
                        msg = harness.message_bytes(
                            SENDER, [RCPT], subject=marker, body=f"{marker}\r\n" * 20,
                            extra_headers=(f"Message-ID: <{marker}@acme.test>",))
                        code, _ = c.mail(SENDER)
                        if code != 250:
                            raise smtplib.SMTPException(f"MAIL {code}")
                        code, _ = c.rcpt(RCPT)
                        if code != 250:
                            raise smtplib.SMTPException(f"RCPT {code}")
                        with self.lock:
                            self.attempted.add(marker)
                        code, text = c.data(msg)
                        m = QUEUED.match(text.decode(errors="replace"))
                        if code == 250 and m:
                            with self.lock:
                                self.acked[marker] = m.group(1)
                        elif code == 250:
                            self.errors.append(f"250 without a queue id: {text!r}")
            except (smtplib.SMTPException, OSError, ssl.SSLError):
                if not self.stop.is_set():
                    time.sleep(0.05)  # the server is gone (killed): retry until told to stop


class DurabilityTest(unittest.TestCase):
    def test_kill9_under_load_keeps_every_acked_message_once(self):
        srv = harness.TernServer()
        self.addCleanup(srv.close)
        all_acked = {}
        kill_after = [1.0, 1.7, 2.4]
        for rnd, delay in enumerate(kill_after):
            load = Load(srv, rnd)
            load.start()
            time.sleep(delay)
            srv.kill9()
            load.stop.set()
            self.assertTrue(load.join(), "client threads did not finish")
            self.assertEqual(load.errors, [])
            self.assertGreater(len(load.acked), 0, f"round {rnd}: nothing was acknowledged "
                               "before the kill:\n" + srv.log().decode(errors="replace")[-3000:])
            all_acked.update(load.acked)

            srv.start()  # same data dir, same ports
            queue = srv.queue()
            by_id = {}
            for m in queue:
                by_id.setdefault(m["id"], []).append(m)
            dup_ids = {i: len(v) for i, v in by_id.items() if len(v) > 1}
            self.assertEqual(dup_ids, {}, "queue ids listed more than once")

            # Every acknowledged message (all rounds so far) is there under its id.
            missing = {mk: qid for mk, qid in all_acked.items() if qid not in by_id}
            self.assertEqual(missing, {}, f"round {rnd}: {len(missing)} of {len(all_acked)} "
                             "acknowledged messages lost after kill -9")

            # Marker by Message-ID: at most once for every marker, acked or not.
            markers = [m.get("message_id", "").strip("<>").split("@")[0] for m in queue]
            markers = [mk for mk in markers if mk.startswith("r")]
            dups = {mk for mk in markers if markers.count(mk) > 1}
            self.assertEqual(dups, set(), "a message was stored twice")
            for mk, qid in all_acked.items():
                got = by_id[qid][0].get("message_id", "").strip("<>")
                self.assertEqual(got, f"{mk}@acme.test", f"queue id {qid} holds another message")
            unknown = set(markers) - load.attempted - set(all_acked)
            unknown = {mk for mk in unknown if mk.startswith(f"r{rnd}t")}
            self.assertEqual(unknown, set(), "stored messages that were never sent")

            # Content check: the stored bytes carry the marker (sampled when many).
            sample = list(load.acked.items())
            random.shuffle(sample)
            for mk, qid in sample[:MAX_RAW_CHECKS_PER_ROUND]:
                raw = srv.raw(qid)
                self.assertIn(f"Subject: {mk}\r\n".encode(), raw)
                self.assertEqual(raw.count(mk.encode() + b"\r\n"), 21, qid)  # subject + 20 lines
            print(f"\n  round {rnd}: killed after {delay}s, {len(load.acked)} acked, "
                  f"{len(load.attempted) - len(load.acked)} in flight, queue {len(queue)}",
                  flush=True)


if __name__ == "__main__":
    unittest.main()
