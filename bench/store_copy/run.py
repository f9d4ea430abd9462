"""bench/store_copy: how fast `tern store copy` moves a big message log into PostgreSQL.

A SQLite store is made with the real binary (`tern account create`), then filled with ROWS
message-log rows and as many delivery events (python sqlite3, one transaction), and copied into
a fresh schema of a private PostgreSQL 15 (tests/integration/pg_harness.py). Prints the copy's
wall time and rows per second; exits non-zero when the copy failed or copied fewer rows. Usage:
  bench/store_copy/run.sh [TERN_BIN]   (env ROWS=200000; SMOKE=1: ROWS=200, run by make test)
"""
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
import pg_harness  # noqa: E402

TERN = os.environ.get("TERN_BIN", os.path.join(HERE, "..", "..", "build", "tern"))
ROWS = int(os.environ.get("ROWS", "200000"))


def main():
    d = tempfile.mkdtemp(prefix="tern-bench-copy-")
    pg = pg_harness.PgServer()
    try:
        subprocess.run([TERN, "account", "create", "acme", "--data", d], check=True,
                       capture_output=True)
        db = sqlite3.connect(os.path.join(d, "tern.db"))
        t0 = 1_780_000_000_000
        with db:
            db.executemany(
                "INSERT INTO messages(message_id, queue_id, rcpt_index, account_id, sender, "
                "recipient, header_from, subject, status, created_ms, updated_ms, node_id) "
                "VALUES(?, ?, 0, 1, 'news@acme.test', ?, 'News <news@acme.test>', ?, "
                "'delivered', ?, ?, 'n1')",
                ((f"Q{i:012d}.0", f"Q{i:012d}", f"r{i % 50000}@example.com",
                  f"Newsletter number {i % 1000}", t0 + i, t0 + i) for i in range(ROWS)))
            db.executemany(
                "INSERT INTO delivery_events(time_ms, queue_id, account_id, recipient, event, "
                "attempt, code, enhanced, reply, mx_host, tls, phase) VALUES(?, ?, 1, ?, "
                "'delivered', 1, 250, '2.0.0', '250 2.0.0 Ok: queued as ABCDEF', "
                "'mx.example.com', 1, 'data')",
                ((t0 + i, f"Q{i:012d}", f"r{i % 50000}@example.com") for i in range(ROWS)))
        db.close()
        _, url = pg.new_schema()
        start = time.monotonic()
        r = subprocess.run([TERN, "store", "copy", "--from", "sqlite:" + os.path.join(d, "tern.db"),
                            "--to", url], capture_output=True, text=True)
        took = time.monotonic() - start
        if r.returncode != 0:
            sys.exit("store copy failed: " + r.stderr)
        total = int(r.stdout.strip().splitlines()[-1].split()[1])
        if total < 2 * ROWS:  # the account's rows come on top
            sys.exit(f"store copy: {total} rows copied, expected at least {2 * ROWS}")
        print(r.stdout.strip())
        print(f"store copy: {total} rows in {took:.2f} s = {total / took:,.0f} rows/s "
              f"(messages {ROWS}, delivery_events {ROWS}, migration of the fresh schema included)")
    finally:
        pg.close()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
