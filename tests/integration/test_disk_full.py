"""A full disk: the spool's filesystem runs out of space mid-message. The client gets
452 4.3.1, nothing half-written is queued, earlier messages stay, and once space returns the
next message is accepted without a restart. Needs root to mount a small tmpfs (skipped if not).

Issue 10 item 6, with delivery running: (a) the disk is filled by another writer while
messages are being delivered - their DONE records cannot be written, yet none is delivered
twice, and once space returns the records go down without a restart; (b) the disk is filled by
Tern's own queued mail - the [spool] reserve keeps room for the state records, and once the
mail is delivered its dead bytes are given back, so new mail is accepted again without a
restart (it used to get 452 forever with an empty queue). Both count deliveries at the
receiving MX: exactly once each, also after a restart.
"""
import errno
import os
import shutil
import subprocess
import tempfile
import time
import unittest
from collections import Counter

import harness
from harness import authed_session

SENDER = "sender@acme.test"
RCPT = "rcpt@dest.test"
WAIT_S = 60


def send(srv, size, marker, rcpt=RCPT):
    s = authed_session(srv)
    try:
        body = (marker + "\r\n") + ("x" * 76 + "\r\n") * (size // 78)
        msg = harness.message_bytes(SENDER, [rcpt], subject=marker, body=body)
        assert s.cmd(f"MAIL FROM:<{SENDER}>").code == 250
        assert s.cmd(f"RCPT TO:<{rcpt}>").code == 250
        assert s.cmd("DATA").code == 354
        s.sock.settimeout(60)
        s.timeout = 60
        s.send(msg + b".\r\n")
        return s.reply()
    finally:
        s.close()


def server_on_tmpfs(test, size, config=None):
    """A TernServer whose data dir is a tmpfs of the given size (skips the test if it cannot
    mount one)."""
    if os.geteuid() != 0:
        test.skipTest("needs root to mount a tmpfs")
    srv = harness.TernServer(config)
    test.addCleanup(srv.close)
    srv.stop()
    saved = tempfile.mkdtemp(prefix="tern-df-")
    test.addCleanup(shutil.rmtree, saved, True)
    shutil.copytree(srv.data, saved, dirs_exist_ok=True)
    shutil.rmtree(srv.data)
    os.makedirs(srv.data)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", srv.data],
                       capture_output=True)
    if r.returncode != 0:
        test.skipTest("cannot mount tmpfs: " + r.stderr.decode(errors="replace"))
    test.addCleanup(subprocess.run, ["umount", "-l", srv.data])
    test.addCleanup(srv.stop)  # runs before the umount
    shutil.copytree(saved, srv.data, dirs_exist_ok=True)
    srv.start()
    return srv


def fill_disk(directory):
    """Another writer takes every free byte of the filesystem; returns the file's path."""
    path = os.path.join(directory, "filler")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 1 << 9, 1):
            chunk = b"\0" * size
            while True:
                try:
                    if os.write(fd, chunk) < size:
                        break
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return path


def wait_until(pred, what, timeout=WAIT_S):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting until " + what)
        time.sleep(0.1)


class DiskFullTest(unittest.TestCase):
    def setUp(self):
        # A 1 MiB reserve on a 6 MiB disk (the default 16 MiB would refuse everything).
        self.srv = server_on_tmpfs(self, "6m", {"spool": {"reserve_mb": 1}})

    def test_full_disk_gives_452_and_recovers_when_space_returns(self):
        r1 = send(self.srv, 2_000_000, "first-ok")
        self.assertEqual(r1.code, 250, r1)
        qid1 = r1.text.rsplit(" ", 1)[1]
        failed = failed_marker = None
        for i in range(6):  # fills the 6 MiB filesystem within a few messages
            failed_marker = f"fill-{i}"
            r = send(self.srv, 2_000_000, failed_marker)
            if r.code != 250:
                failed = r
                break
        self.assertIsNotNone(failed, "disk never filled")
        self.assertEqual(failed.code, 452, failed)
        self.assertIn("4.3.1 Insufficient system storage", failed.text)
        queued = {m["id"] for m in self.srv.queue()}
        self.assertIn(qid1, queued)

        # Space returns: the next message is accepted by the same running server.
        subprocess.run(["mount", "-o", "remount,size=64m", self.srv.data], check=True)
        r2 = send(self.srv, 100_000, "after-space-returns")
        self.assertEqual(r2.code, 250, r2)
        qid2 = r2.text.rsplit(" ", 1)[1]
        self.assertIn(b"after-space-returns", self.srv.raw(qid2))

        # Restart: everything acknowledged is recovered, the failed one is not.
        self.srv.stop()
        self.srv.start()
        ids = {m["id"] for m in self.srv.queue()}
        self.assertIn(qid1, ids)
        self.assertIn(qid2, ids)
        for m in self.srv.queue():
            self.assertNotIn(failed_marker.encode() + b"\r\n", self.srv.raw(m["id"]))


class RejectedMessageSpaceTest(unittest.TestCase):
    """A message refused at the end of DATA (550: NUL bytes) was already streamed to the spool;
    its bytes are given back at once instead of staying until the 64 MiB segment rolls."""

    def test_rejected_message_leaves_no_bytes_in_the_spool(self):
        srv = harness.TernServer()
        self.addCleanup(srv.close)

        def spool_bytes():
            d = os.path.join(srv.data, "spool")
            return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))

        r = send(srv, 2000, "kept")
        self.assertEqual(r.code, 250, r)
        before = spool_bytes()
        for i in range(3):
            s = authed_session(srv)
            try:
                assert s.cmd(f"MAIL FROM:<{SENDER}>").code == 250
                assert s.cmd(f"RCPT TO:<{RCPT}>").code == 250
                assert s.cmd("DATA").code == 354
                body = ("x" * 76 + "\r\n") * 13000 + "nul \0 here\r\n"  # ~1 MB, then a NUL
                s.sock.settimeout(60)
                s.timeout = 60
                s.send(harness.message_bytes(SENDER, [RCPT], subject=f"nul-{i}",
                                             body=body) + b".\r\n")
                r = s.reply()
            finally:
                s.close()
            self.assertEqual(r.code, 550, r)
        self.assertEqual(spool_bytes(), before)
        self.assertEqual(len(srv.queue()), 1)


class DiskFullDeliveryTest(unittest.TestCase):
    """Delivery to a real receiving MX (aiosmtpd) while the disk fills."""

    def start(self, size, reserve_mb, rx_kwargs):
        from mail_peers import Receiver, mail_dns
        from test_delivery import port_free_everywhere
        port = port_free_everywhere(["127.0.0.1"])
        self.rx = Receiver("127.0.0.1", port, **rx_kwargs)
        self.rx.start()
        self.addCleanup(self.rx.close)
        self.dns = mail_dns({"dest.test": [(10, "127.0.0.1")]})
        self.dns.__enter__()
        self.addCleanup(self.dns.__exit__, None, None, None)
        self.srv = server_on_tmpfs(self, size, {
            "dns": {"resolver": self.dns.resolver_addr},
            "delivery": {"mx_port": port, "retry_schedule": "1s",
                         "max_connections_per_destination": 2},
            "spool": {"reserve_mb": reserve_mb}})

    def delivered(self):
        return Counter(t.rcpt_tos[0] for t in list(self.rx.messages))

    def assert_exactly_once(self, want):
        got = self.delivered()
        self.assertEqual(set(got), want)
        self.assertEqual({r: n for r, n in got.items() if n != 1}, {}, "delivered twice")

    def restart_and_check_nothing_comes_back(self, want):
        self.srv.stop()
        self.srv.start()
        # Read from the spool on disk: a message whose DONE never reached it would be here.
        self.assertEqual(self.srv.queue(), [])
        self.assert_exactly_once(want)

    def test_disk_filled_by_another_writer_during_delivery(self):
        # Enough messages that their DONE records cannot all fit in the slack of the spool's
        # last page (tmpfs allocates whole pages): the MX defers them all once, then the disk
        # is filled, then the MX accepts - every delivery happens on a full disk.
        n = 150
        self.start("24m", 2, {"tempfail_first": 10 ** 6})
        want = {f"r{i}@dest.test" for i in range(n)}
        for i in range(n):
            r = send(self.srv, 2000, f"during-{i}", rcpt=f"r{i}@dest.test")
            self.assertEqual(r.code, 250, r)
        wait_until(lambda: {t.rcpt_tos[0] for t in list(self.rx.transactions)} == want,
                   "every message was tried (and deferred) once")
        filler = fill_disk(self.srv.data)
        r = send(self.srv, 2000, "while-full")
        self.assertEqual(r.code, 452, r)
        self.assertIn("4.3.1", r.text)
        self.rx.tempfail_first = 0  # the MX accepts now, while the disk is full
        # Delivery goes on (reading needs no space); the DONE records wait in memory and no
        # message is handed out a second time.
        wait_until(lambda: set(self.delivered()) == want, "every message was delivered")
        self.assert_exactly_once(want)
        self.assertIn(b"spool finish: disk full", self.srv.log(),
                      "the disk was not full when the DONE records were written")
        os.remove(filler)  # space returns: the waiting records go down, no restart needed
        wait_until(lambda: self.srv.queue() == [], "the spool on disk holds no message")
        r = send(self.srv, 2000, "after-space-returns", rcpt="late@dest.test")
        self.assertEqual(r.code, 250, r)
        want.add("late@dest.test")
        wait_until(lambda: set(self.delivered()) == want, "the new message was delivered")
        self.assert_exactly_once(want)
        self.restart_and_check_nothing_comes_back(want)

    def test_disk_filled_by_queued_mail_recovers_once_it_is_delivered(self):
        # The MX defers everything at first, so Tern's own mail fills the disk.
        self.start("12m", 1, {"tempfail_first": 10 ** 6})
        accepted, refused = [], None
        for i in range(80):
            r = send(self.srv, 300_000, f"queued-{i}", rcpt=f"q{i}@dest.test")
            if r.code != 250:
                refused = r
                break
            accepted.append(f"q{i}@dest.test")
        self.assertIsNotNone(refused, "the disk never filled")
        self.assertEqual(refused.code, 452, refused)
        self.assertGreater(len(accepted), 5)
        self.rx.tempfail_first = 0  # the MX accepts now
        want = set(accepted)
        wait_until(lambda: set(self.delivered()) == want, "every queued message was delivered")
        self.assert_exactly_once(want)
        # The spool holds only dead bytes now: they are given back and new mail is accepted
        # by the same process (it used to get 452 until a restart).
        deadline = time.monotonic() + 20
        while True:
            r = send(self.srv, 300_000, "after-delivery", rcpt="late@dest.test")
            if r.code == 250 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual(r.code, 250, r)
        want.add("late@dest.test")
        wait_until(lambda: set(self.delivered()) == want, "the new message was delivered")
        wait_until(lambda: self.srv.queue() == [], "the spool on disk holds no message")
        self.restart_and_check_nothing_comes_back(want)


if __name__ == "__main__":
    unittest.main()
