"""A private PostgreSQL 15 for integration tests (scripts/pg-test-server.sh).

PgServer() runs initdb in a fresh temp dir and starts the server on a free 127.0.0.1 port as the
`postgres` user (root) or the caller; close() stops it and removes the dir. halt()/resume()
stop and restart it on the same port with its data (a database outage); new_schema() gives a
URL whose connections use a fresh schema of their own.

Invariants:
  - Every server started here is stopped when the test ends, also on failure: close() is
    idempotent (tests register it with addCleanup), atexit closes what is left, and the
    script's watchdog stops the server once this Python process is gone (kill -9 included).
  - Every wait is bounded; the server listens on 127.0.0.1 and its own socket dir only.
"""
import atexit
import os
import secrets
import subprocess

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                      "pg-test-server.sh")
PSQL = "/usr/lib/postgresql/15/bin/psql"

_live = set()


def _close_all_at_exit():
    for s in list(_live):
        s.close()


atexit.register(_close_all_at_exit)


class PgServer:
    def __init__(self, durable=False):
        cmd = ["bash", SCRIPT, "start", "--watch", str(os.getpid())]
        if durable:
            cmd.append("--durable")
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError("pg-test-server.sh start failed: " + out.stderr + out.stdout)
        lines = out.stdout.splitlines()
        self.dir, self.url = lines[0], lines[1]
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])
        _live.add(self)

    def psql(self, sql, url=None):
        """Runs SQL and returns its rows as lists of strings (unaligned, tab-separated)."""
        out = subprocess.run([PSQL, url or self.url, "-qAtX", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                              "-c", sql], capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"psql {sql!r}: {out.stderr.strip()}")
        return [line.split("\t") for line in out.stdout.splitlines()]

    def new_schema(self):
        """(name, url): a fresh schema and a URL whose connections use it."""
        name = "t_" + secrets.token_hex(8)
        self.psql(f"CREATE SCHEMA {name}")
        return name, f"{self.url}?options=-csearch_path%3D{name}"

    def halt(self):
        """Stops the server (fast shutdown), keeping its data and port."""
        subprocess.run(["bash", SCRIPT, "halt", self.dir], check=True, timeout=60,
                       capture_output=True)

    def resume(self):
        subprocess.run(["bash", SCRIPT, "resume", self.dir], check=True, timeout=60,
                       capture_output=True)

    def close(self):
        if self not in _live:
            return
        _live.discard(self)
        subprocess.run(["bash", SCRIPT, "stop", self.dir], timeout=60, capture_output=True)
