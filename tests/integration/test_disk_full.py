"""A full disk: the spool's filesystem runs out of space mid-message. The client gets
452 4.3.1, nothing half-written is queued, earlier messages stay, and once space returns the
next message is accepted without a restart. Needs root to mount a small tmpfs (skipped if not).
"""
import os
import shutil
import subprocess
import tempfile
import unittest

import harness
from harness import authed_session

SENDER = "sender@acme.test"
RCPT = "rcpt@dest.test"


def send(srv, size, marker):
    s = authed_session(srv)
    try:
        body = (marker + "\r\n") + ("x" * 76 + "\r\n") * (size // 78)
        msg = harness.message_bytes(SENDER, [RCPT], subject=marker, body=body)
        assert s.cmd(f"MAIL FROM:<{SENDER}>").code == 250
        assert s.cmd(f"RCPT TO:<{RCPT}>").code == 250
        assert s.cmd("DATA").code == 354
        s.sock.settimeout(60)
        s.timeout = 60
        s.send(msg + b".\r\n")
        return s.reply()
    finally:
        s.close()


class DiskFullTest(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to mount a tmpfs")
        self.srv = harness.TernServer()
        self.addCleanup(self.srv.close)
        self.srv.stop()
        # Move the data dir onto a 6 MiB tmpfs.
        self.saved = tempfile.mkdtemp(prefix="tern-df-")
        self.addCleanup(shutil.rmtree, self.saved, True)
        shutil.copytree(self.srv.data, self.saved, dirs_exist_ok=True)
        shutil.rmtree(self.srv.data)
        os.makedirs(self.srv.data)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", self.srv.data],
                           capture_output=True)
        if r.returncode != 0:
            self.skipTest("cannot mount tmpfs: " + r.stderr.decode(errors="replace"))
        self.addCleanup(subprocess.run, ["umount", "-l", self.srv.data])
        self.addCleanup(self.srv.stop)  # runs before the umount
        shutil.copytree(self.saved, self.srv.data, dirs_exist_ok=True)
        self.srv.start()

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


if __name__ == "__main__":
    unittest.main()
