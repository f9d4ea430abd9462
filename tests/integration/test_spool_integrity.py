"""One flipped byte in the last spool record (issue 10 item 7). A message is acknowledged
(250 queued as ID); its COMMIT is the last record of the log. The server is killed with
SIGKILL and one byte of that COMMIT is flipped on disk. A torn write can only ever be a record
cut short, so a whole record failing its check is damage: after the restart the message is in
<data>/quarantine/ (content and envelope), named by `tern queue list` and the log - not
discarded as a torn tail.
"""
import glob
import json
import os
import struct
import unittest

import harness
from harness import authed_session

SENDER = "sender@acme.test"
RCPT = "rcpt@dest.test"


def send(srv, marker):
    s = authed_session(srv)
    try:
        assert s.cmd(f"MAIL FROM:<{SENDER}>").code == 250
        assert s.cmd(f"RCPT TO:<{RCPT}>").code == 250
        assert s.cmd("DATA").code == 354
        s.send(harness.message_bytes(SENDER, [RCPT], subject=marker,
                                     body=marker + "\r\n") + b".\r\n")
        r = s.reply()
        assert r.code == 250, r
        return r.text.rsplit(" ", 1)[1]
    finally:
        s.close()


def records(path):
    """(offset, type, id, total length) of each record in a segment file."""
    with open(path, "rb") as f:
        data = f.read()
    out, off = [], 0
    while off + 32 <= len(data):
        assert data[off:off + 4] == b"TRNR", f"no record at {off} in {path}"
        rtype = data[off + 4]
        id_len, = struct.unpack_from("<H", data, off + 8)
        length, = struct.unpack_from("<I", data, off + 12)
        total = 32 + id_len + length
        out.append((off, rtype, data[off + 32:off + 32 + id_len].decode(), total))
        off += total
    assert off == len(data), f"{path}: records end at {off}, file at {len(data)}"
    return out


class LastRecordFlipTest(unittest.TestCase):
    def setUp(self):
        self.srv = harness.TernServer()
        self.addCleanup(self.srv.close)

    def flip_last_commit(self, qid, where):
        segs = sorted(glob.glob(os.path.join(self.srv.data, "spool", "seg-*.log")))
        self.assertTrue(segs)
        recs = records(segs[-1])
        off, rtype, rid, total = recs[-1]
        self.assertEqual((rtype, rid), (2, qid), "the last record is the message's COMMIT")
        pos = {"payload": off + total - total // 3, "tag": off + 20, "length": off + 13}[where]
        with open(segs[-1], "r+b") as f:
            f.seek(pos)
            b = f.read(1)
            f.seek(pos)
            f.write(bytes([b[0] ^ 0x01]))

    def check_quarantined(self, qid, marker, kept):
        ids = {m["id"] for m in self.srv.queue()}
        self.assertNotIn(qid, ids)
        self.assertIn(kept, ids)
        qdir = os.path.join(self.srv.data, "quarantine")
        with open(os.path.join(qdir, qid + ".eml"), "rb") as f:
            self.assertIn(marker.encode(), f.read())
        with open(os.path.join(qdir, qid + ".json")) as f:
            self.assertEqual(json.load(f)["id"], qid)
        listing = self.srv.cli("queue", "list")
        self.assertIn("1 quarantined", listing)
        self.assertIn(qid, listing)
        log = self.srv.log().decode(errors="replace")
        self.assertIn(f"message {qid} quarantined", log)
        self.assertNotIn("torn tail", log)

    def run_case(self, where):
        kept = send(self.srv, "earlier-message")
        marker = f"acknowledged-last-{where}"
        qid = send(self.srv, marker)
        self.srv.kill9()
        self.flip_last_commit(qid, where)
        self.srv.start()
        self.check_quarantined(qid, marker, kept)
        # Reported once: a second restart neither resurrects nor re-quarantines it.
        self.srv.stop()
        self.srv.start()
        self.assertNotIn(qid, {m["id"] for m in self.srv.queue()})
        self.assertNotIn("quarantined to", self.srv.log().decode(errors="replace"))

    def test_flip_in_envelope_quarantines(self):
        self.run_case("payload")

    def test_flip_in_tag_quarantines(self):
        self.run_case("tag")

    def test_flip_in_length_field_quarantines(self):
        self.run_case("length")


if __name__ == "__main__":
    unittest.main()
