"""Metadata durability (issue 10 item 13): tern.db in WAL mode keeps the newest transactions
only in tern.db-wal until a checkpoint. After kill -9, deleting tern.db-wal used to lose an
account, an API key and a setting without a word. Now `tern serve` (and the CLI) refuse to open
a database whose server did not stop cleanly while its WAL is missing, with a message naming
the files and the way out (`tern serve --force`); after a clean stop the WAL holds nothing the
main file lacks, and removing it is harmless.
"""
import os
import subprocess
import unittest

import harness


class WalLossTest(unittest.TestCase):
    def setUp(self):
        self.srv = harness.TernServer()
        self.addCleanup(self.srv.close)
        self.db = os.path.join(self.srv.data, "tern.db")

    def make_metadata(self):
        # Written through the CLI while the server holds the database open: the rows sit in
        # the WAL (no checkpoint), as they would after any recent change.
        self.srv.cli_json("account", "create", "late")
        self.srv.cli_json("apikey", "create", "late")
        self.srv.cli("account", "set", "acme", "bounce_notices=off")
        self.assertTrue(os.path.getsize(self.db + "-wal") > 0)

    def remove_wal(self):
        for suffix in ("-wal", "-shm"):
            try:
                os.remove(self.db + suffix)
            except FileNotFoundError:
                pass

    def serve_once(self):
        argv = [harness.TERN_BIN, "serve", "--data", self.srv.data, "--config",
                self.srv.config_path]
        for name, port in self.srv.ports.items():
            argv += [f"--{name}", f"{harness.LOOPBACK}:{port}"]
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)

    def test_wal_deleted_after_kill9_refuses_to_start(self):
        self.make_metadata()
        self.srv.kill9()
        self.assertTrue(os.path.exists(self.db + "-running"))
        self.remove_wal()
        r = self.serve_once()
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        err = r.stderr.decode(errors="replace")
        self.assertIn("looks truncated", err)
        self.assertIn("tern.db-wal", err)
        self.assertIn("--force", err)
        self.assertFalse(os.path.exists(self.db + "-wal"), "refusing must not create a new WAL")
        # The CLI refuses as well (else opening it would hide the loss).
        cli = self.srv.cli("account", "list", check=False)
        self.assertNotEqual(cli.returncode, 0)
        self.assertIn(b"looks truncated", cli.stderr)
        # The documented way out: start once with --force, accepting the loss.
        self.srv.serve_args = ["--force"]
        self.srv.start()
        self.srv.serve_args = []
        self.assertIn(b"--force: going on", self.srv.log())
        names = {a["name"] for a in self.srv.cli_json("account", "list")}
        self.assertNotIn("late", names)  # what the WAL held is gone, as the message said
        self.srv.cli_json("account", "create", "after")  # and the database works again
        self.srv.stop()
        self.srv.start()  # later starts are normal again

    def test_wal_kept_after_kill9_recovers_everything(self):
        self.make_metadata()
        self.srv.kill9()
        self.srv.start()
        names = {a["name"] for a in self.srv.cli_json("account", "list")}
        self.assertIn("late", names)

    def test_wal_deleted_after_clean_stop_is_harmless(self):
        self.make_metadata()
        self.srv.stop()
        self.assertFalse(os.path.exists(self.db + "-running"))
        self.remove_wal()
        self.srv.start()
        names = {a["name"] for a in self.srv.cli_json("account", "list")}
        self.assertIn("late", names)


if __name__ == "__main__":
    unittest.main()
