"""The cluster benchmark's processes: a region of Tern nodes on one store, and the loopback
webhook receiver.

Region: n `tern serve` nodes with their own data dirs (spools) on one store: SQLite (one node:
<data>/tern.db, the default) or a fresh schema of the bench's private PostgreSQL 15
(tests/integration/pg_harness.py, started durable: fsync on). start() makes a fresh generation
(new data dirs, new schema), runs the setup through node 1's CLI (account `bench`, domain
bench.test with its DKIM key published through the test DNS and checked ok, as bench/relay), then
starts every node. Loopback is trusted as account `bench` (smtp-source cannot AUTH).

Receiver: an asyncio HTTP/1.1 server on 127.0.0.1..127.0.0.H (one port), in a thread; it answers
every POST 200 and counts the report results by messageId (duplicates counted apart) with the
arrival time of each POST.

Invariants:
  - Every process started here is stopped by pid (SIGTERM, then SIGKILL after 20 s), never by
    name; every wait is bounded.
  - Nodes of one region share everything in the store and nothing else: data dirs, spools and
    ports are per node. stop() removes the generation's data dirs and drops its schema.
"""
import asyncio
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "bench", "accept"))
sys.path.insert(0, os.path.join(ROOT, "bench", "relay"))
import peers  # noqa: E402  (bench/accept: free_port, cpu_seconds, tern_listen_toml)
from servers import DOMAIN  # noqa: E402  (bench/relay)
from test_domains import by_id, zone_lines  # noqa: E402

CHECK_TIMEOUT_S = 60
READY_TIMEOUT_S = 60


class Node:
    """One `tern serve`; its ports are fixed for the bench, its data dir is per generation."""

    def __init__(self, base, binary, index):
        self.index = index
        self.node_id = f"node-{index}"
        self.base = os.path.join(base, self.node_id)
        os.makedirs(self.base, exist_ok=True)
        self.bin = binary
        self.port = peers.free_port()
        self.ports = {k: peers.free_port() for k in ("submission", "submissions", "http")}
        self.config = os.path.join(self.base, "tern.toml")
        self.data = None
        self.proc = None
        self.logf = None

    def configure(self, data, store_url, delivery_toml, dns_addr):
        self.data = data
        store = f'[store]\nurl = "{store_url}"\n' if store_url else ""
        with open(self.config, "w") as f:
            f.write(peers.tern_listen_toml(f"{self.node_id}.bench.test", self.port, self.ports)
                    + f"""[cluster]
node_id = "{self.node_id}"
[dns]
resolver = "{dns_addr}"
check_interval_s = 3600
[webhooks]
allow_loopback = true
{store}{delivery_toml}""")

    def cli(self, *args):
        r = subprocess.run([self.bin, *args, "--data", self.data, "--config", self.config],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"{self.node_id}: tern {' '.join(args)}: {r.stderr}")
        return r.stdout

    def start(self, tag):
        self.logf = os.path.join(self.base, f"serve-{tag}.log")
        with open(self.logf, "wb") as log:
            self.proc = subprocess.Popen(
                [self.bin, "serve", "--data", self.data, "--config", self.config],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)

    def wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            with open(self.logf, "rb") as f:
                if b"tern ready" in f.read():
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"{self.node_id} did not become ready:\n{tail}")

    def stop(self):
        p, self.proc = self.proc, None
        if p and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)

    def log_tail(self, n=3000):
        try:
            with open(self.logf, errors="replace") as f:
                return f.read()[-n:]
        except (OSError, TypeError):
            return ""

    def queued(self):
        return len(json.loads(self.cli("queue", "list", "--json")))


class Region:
    """n nodes on one store. kind: "sqlite" (n must be 1) or "pg" (pg = a PgServer)."""

    def __init__(self, base, binary, key, name, kind, n, dns_servers, pg=None):
        if kind == "sqlite" and n != 1:
            raise ValueError("SQLite is one node's store")
        self.key, self.name, self.kind = key, name, kind
        self.base = os.path.join(base, key)
        self.bin = binary
        self.dns_servers, self.pg = dns_servers, pg
        self.nodes = [Node(self.base, binary, i + 1) for i in range(n)]
        self.generation = 0
        self.schema = None

    # ----------------------------------------------------------------- lifecycle
    def start(self, delivery, sink_port, before_start=None):
        """A fresh generation: new data dirs and schema, setup through node 1, every node
        started and ready. delivery: relay to 127.0.0.1:sink_port, else acceptance only.
        before_start(region), when given, runs after the setup, before the nodes start."""
        self.generation += 1
        g = self.generation
        url = None
        if self.kind == "pg":
            self.schema, url = self.pg.new_schema()
        if delivery:
            dtoml = (f'[delivery]\nenabled = true\nmx_port = {sink_port}\n'
                     f'smarthost = "127.0.0.1:{sink_port}"\nsmarthost_security = "none"\n')
        else:
            dtoml = "[delivery]\nenabled = false\n"
        for n in self.nodes:
            data = os.path.join(n.base, f"data{g}")
            os.makedirs(data)
            n.configure(data, url, dtoml, self.dns_servers.resolver_addr)
        self._setup(self.nodes[0])
        if before_start:
            before_start(self)
        self.start_nodes(f"g{g}")

    def start_nodes(self, tag):
        for n in self.nodes:
            n.start(tag)
        try:
            for n in self.nodes:
                n.wait_ready()
        except BaseException:
            self.stop_nodes()
            raise

    def stop_nodes(self):
        for n in self.nodes:
            n.stop()

    def stop(self):
        """Stops the nodes, removes this generation's data dirs and drops its schema."""
        self.stop_nodes()
        for n in self.nodes:
            if n.data and os.path.isdir(n.data) and not os.environ.get("TERN_BENCH_KEEP"):
                shutil.rmtree(n.data, ignore_errors=True)
        if self.kind == "pg" and self.schema and not os.environ.get("TERN_BENCH_KEEP"):
            try:
                self.pg.psql(f"DROP SCHEMA {self.schema} CASCADE")
            except RuntimeError:
                pass
            self.schema = None

    def _setup(self, node):
        """Account bench, domain bench.test with DKIM published and checked (as bench/relay)."""
        node.cli("account", "create", "bench", "--json")
        rep = json.loads(node.cli("domain", "add", "bench", DOMAIN, "--json"))
        ids = {r["id"] for r in rep["records"]}
        if "dkim:tern1" not in ids or "ownership" not in ids:
            raise RuntimeError(f"domain add printed no dkim:tern1/ownership record: {rep}")
        self.dns_servers.update(DOMAIN, zone_lines(rep["records"]))
        deadline = time.monotonic() + CHECK_TIMEOUT_S
        out = {}
        while time.monotonic() < deadline:
            out = by_id(json.loads(node.cli("domain", "check", DOMAIN, "--json")))
            if out["dkim:tern1"]["status"] == "ok" and out["ownership"]["status"] == "ok":
                return
            time.sleep(0.5)
        raise RuntimeError(f"{DOMAIN} did not check ok within {CHECK_TIMEOUT_S}s: {out}")

    # ----------------------------------------------------------------- looking inside
    def pids(self):
        return [n.proc.pid for n in self.nodes if n.proc]

    def cpu(self):
        return sum(peers.cpu_seconds(p) for p in self.pids())

    def queued(self):
        return sum(n.queued() for n in self.nodes)

    def sql(self, query):
        """Rows of a read-only query against the region's store (lists of strings)."""
        if self.kind == "pg":
            return self.pg.psql(f"SET search_path TO {self.schema}; {query}")
        path = os.path.join(self.nodes[0].data, "tern.db")
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            return [[str(v) for v in row] for row in db.execute(query)]
        finally:
            db.close()

    def count(self, query):
        rows = self.sql(query)
        return int(rows[0][0]) if rows and rows[0] else 0

    def _stats(self):
        rows = self.pg.psql("SELECT relname, n_tup_ins, n_tup_upd + n_tup_del FROM "
                            f"pg_stat_user_tables WHERE schemaname = '{self.schema}'")
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}

    def row_writes(self, timeout=20):
        """{table: inserted+updated+deleted rows} since the schema was made (PostgreSQL only:
        pg_stat_user_tables of the region's schema); None on SQLite. Each backend flushes its
        counts when idle, at most once a second: read until two reads 1 s apart agree and the
        insert counts of the append-only tables equal their row counts."""
        if self.kind != "pg":
            return None
        deadline = time.monotonic() + timeout
        prev = None
        while True:
            cur = self._stats()
            rows = self.sql("SELECT (SELECT count(*) FROM delivery_events), "
                            "(SELECT count(*) FROM messages)")[0]
            complete = (cur.get("delivery_events", (0, 0))[0] == int(rows[0])
                        and cur.get("messages", (0, 0))[0] == int(rows[1]))
            if complete and cur == prev:
                return {t: a + b for t, (a, b) in cur.items()}
            if time.monotonic() > deadline:
                raise TimeoutError(f"table statistics did not settle: {cur} vs rows {rows}")
            prev = cur
            time.sleep(1.0)

    def log_tail(self):
        return "\n".join(f"--- {n.node_id}\n{n.log_tail(1500)}" for n in self.nodes)


def split(total, parts):
    """total as evenly as possible over parts (larger shares first, no zero share unless
    total < parts)."""
    q, r = divmod(total, parts)
    return [q + (1 if i < r else 0) for i in range(parts)]


def submit_spread(region, count, sessions, size, sender, rcpt, limit_at):
    """smtp-source at every node at once, count and sessions spread evenly; returns the wall
    time from the first start to the last exit. Any client error fails the cell."""
    counts = split(count, len(region.nodes))
    sess = split(sessions, len(region.nodes))
    procs = []
    t0 = time.monotonic()
    for n, c, s in zip(region.nodes, counts, sess):
        if c == 0:
            continue
        argv = ["smtp-source", "-s", str(max(1, s)), "-m", str(c), "-l", str(size), "-f", sender,
                "-t", rcpt, "-M", DOMAIN, f"127.0.0.1:{n.port}"]
        procs.append((argv, subprocess.Popen(argv, stdout=subprocess.PIPE,
                                             stderr=subprocess.PIPE, text=True)))
    errors = []
    for argv, p in procs:
        try:
            out, err = p.communicate(timeout=max(1, limit_at - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            errors.append(f"{' '.join(argv)}: timed out")
            continue
        if p.returncode != 0 or err.strip():
            errors.append(f"{' '.join(argv)} failed ({p.returncode}): {err[-1000:]}")
    took = time.monotonic() - t0
    if errors:
        raise RuntimeError("; ".join(errors))
    return took


# --------------------------------------------------------------------- webhook receiver
class Receiver:
    """HTTP receiver on 127.0.0.1..127.0.0.<hosts>:port; 200 to every POST. Counts results by
    messageId; arrivals: (monotonic time, results in that POST)."""

    MSGID = re.compile(rb'"messageId":"([^"]*)"')

    def __init__(self, hosts):
        self.hosts = [f"127.0.0.{i + 1}" for i in range(hosts)]
        self.port = peers.free_port()
        self.lock = threading.Lock()
        self.reset()
        self.loop = asyncio.new_event_loop()
        self.servers = []
        self.error = None
        started = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self.thread.start()
        if not started.wait(10) or self.error:
            raise RuntimeError(f"webhook receiver did not start: {self.error}")

    def url(self, i):
        return f"http://{self.hosts[i % len(self.hosts)]}:{self.port}/hook"

    def reset(self):
        with self.lock:
            self.seen = {}
            self.arrivals = []
            self.posts = 0
            self.bad = 0

    def _run(self, started):
        asyncio.set_event_loop(self.loop)
        try:
            for h in self.hosts:
                self.servers.append(self.loop.run_until_complete(
                    asyncio.start_server(self._serve, h, self.port, backlog=512)))
        except Exception as e:  # reported by __init__
            self.error = e
        started.set()
        if not self.error:
            self.loop.run_forever()

    async def _serve(self, reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                close = False
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    k = k.strip().lower()
                    if k == b"content-length":
                        length = int(v.strip())
                    elif k == b"connection" and v.strip().lower() == b"close":
                        close = True
                body = await reader.readexactly(length) if length else b""
                self._count(body)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                             + (b"Connection: close\r\n" if close else b"") + b"\r\n")
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    def _count(self, body):
        ids = self.MSGID.findall(body)
        now = time.monotonic()
        with self.lock:
            self.posts += 1
            if not ids:
                self.bad += 1
            for i in ids:
                self.seen[i] = self.seen.get(i, 0) + 1
            self.arrivals.append((now, len(ids)))

    def unique(self):
        with self.lock:
            return len(self.seen)

    def snapshot(self):
        with self.lock:
            dup = sum(v - 1 for v in self.seen.values())
            return {"unique": len(self.seen), "duplicates": dup, "posts": self.posts,
                    "bad_posts": self.bad, "arrivals": list(self.arrivals)}

    def wait_unique(self, n, deadline):
        while True:
            got = self.unique()
            if got >= n:
                return time.monotonic()
            if time.monotonic() > deadline:
                raise TimeoutError(f"receiver has {got} of {n} reports")
            time.sleep(0.02)

    def close(self):
        def shut():
            for s in self.servers:
                s.close()
            self.loop.stop()
        self.loop.call_soon_threadsafe(shut)
        self.thread.join(10)
