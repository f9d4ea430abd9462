"""The test PostgreSQL helper itself (scripts/pg-test-server.sh, pg_harness.PgServer): it serves
on loopback, survives a halt/resume with its data, and leaves nothing behind: no process, no
directory, neither after a normal stop nor when the process that started it dies (watchdog).
"""
import os
import socket
import subprocess
import time
import unittest

import pg_harness


def port_open(port):
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_for(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


class PgServerTests(unittest.TestCase):
    def test_serves_and_stop_removes_everything(self):
        pg = pg_harness.PgServer()
        self.addCleanup(pg.close)
        self.assertEqual(pg.psql("SELECT 1 + 1"), [["2"]])
        self.assertTrue(pg.psql("SHOW listen_addresses")[0][0] == "127.0.0.1")
        name, url = pg.new_schema()
        pg.psql("CREATE TABLE x(a int); INSERT INTO x VALUES (7)", url=url)
        self.assertEqual(pg.psql(f"SELECT a FROM {name}.x"), [["7"]])
        d, port = pg.dir, pg.port
        self.assertTrue(os.path.isdir(d))
        pg.close()
        self.assertFalse(os.path.exists(d))
        self.assertFalse(port_open(port))
        pg.close()  # idempotent

    def test_halt_and_resume_keep_the_data_and_port(self):
        pg = pg_harness.PgServer()
        self.addCleanup(pg.close)
        pg.psql("CREATE TABLE kept(a int); INSERT INTO kept VALUES (1)")
        pg.halt()
        self.assertFalse(port_open(pg.port))
        with self.assertRaises(RuntimeError):
            pg.psql("SELECT 1")
        pg.resume()
        self.assertEqual(pg.psql("SELECT a FROM kept"), [["1"]])

    def test_watchdog_stops_the_server_of_a_dead_owner(self):
        # A process that starts a server and dies (kill -9) without stopping it.
        owner = subprocess.Popen(["sleep", "600"])
        self.addCleanup(lambda: owner.poll() is None and owner.kill())
        out = subprocess.run(["bash", pg_harness.SCRIPT, "start", "--watch", str(owner.pid)],
                             capture_output=True, text=True, timeout=120, check=True)
        d, url = out.stdout.splitlines()[:2]
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        self.addCleanup(lambda: os.path.isdir(d) and subprocess.run(
            ["bash", pg_harness.SCRIPT, "stop", d], timeout=60))
        self.assertTrue(port_open(port))
        owner.kill()
        owner.wait()
        self.assertTrue(wait_for(lambda: not os.path.exists(d), 30), "server dir left behind")
        self.assertFalse(port_open(port))


if __name__ == "__main__":
    unittest.main()
