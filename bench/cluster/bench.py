"""Cluster benchmark (issue 12): what a region costs. One node on SQLite, one node on PostgreSQL
and three nodes on PostgreSQL (the load spread over them), in one run, on one machine, with the
same client and the same delivery target.

Regions (bench/cluster/region.py): each cell starts a fresh generation (new data dirs, a fresh
schema of one private PostgreSQL 15 started durable, fsync on), account `bench`, domain
bench.test with an RSA-2048 DKIM key checked through the test DNS (nsd + unbound), as
bench/relay.

Cells, per region, RUNS times (regions alternate within each run):
  flow    smtp-sink up; smtp-source submits FLOW_N messages of SIZE bytes, SESSIONS sessions
          split over the nodes (a new connection per message). delivered msgs/s = FLOW_N /
          (first submission .. the sink has counted FLOW_N): acceptance, DKIM signing and
          delivery at once. Then the cell waits until the store's message log says every
          recipient delivered (logged_s) and, on PostgreSQL, counts the row writes the cell
          caused: n_tup_ins + n_tup_upd + n_tup_del of pg_stat_user_tables in the region's
          schema, before the submission and after the log is complete (idle backends flush their
          counts within a second: read until two reads agree and the insert counts of
          delivery_events and messages equal their row counts), per delivered recipient, and
          by table.
  accept  delivery off; smtp-source submits ACCEPT_N messages as above; msgs/s = ACCEPT_N /
          wall time of the clients; every node's queue must hold its share (all ACCEPT_N), and
          logged_s = until the message log holds ACCEPT_N rows.
  outbox  webhooks to the loopback Receiver on HOOK_HOSTS addresses 127.0.0.1..H (Tern sends
          one POST at a time per receiving host, at most 8 per node: several hosts stand for
          several customers). One real report first: notify_url set, one message relayed, the
          receiver gets its report; its stored outbox item is the template. The nodes stop;
          OUTBOX_N copies of the item (distinct messageIds, URLs over the H hosts, due now) are
          inserted into webhook_outbox with SQL (the fill is not timed); the nodes start.
          reports/s = results received after the first POST / (first POST .. OUTBOX_N unique
          messageIds received). The receiver answers 200 at once; duplicates fail the cell. On
          PostgreSQL also row writes per report.
Invariants:
  - A cell counts only when the sink / queues / receiver counted exactly what was submitted.
  - Before the cells, a probe through every node of every region arrives signed and verifies
    with dkimpy through the test DNS (bench/relay/servers.probe).
  - Every cell runs under a deadline (CELL_TIMEOUT); a failed cell is reported and the run goes
    on; the exit status is 1 when any cell failed.

Usage: bench.py TERN_BIN (run.sh sets it up). env: FLOW_N (10000) ACCEPT_N (5000)
       OUTBOX_N (20000) HOOK_HOSTS (8) SESSIONS (20) SIZE (1024) RUNS (3) CELL_TIMEOUT (s)
       REGIONS (sqlite1,pg1,pg3) CELLS (flow,accept,outbox)
Writes bench/cluster/results/last.json and prints a table.
"""
import contextlib
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "common"))
import cells  # noqa: E402  (bench/common)
from cells import deadline, guarded, log  # noqa: E402
import region as rg  # noqa: E402
import servers  # noqa: E402  (bench/relay, path set up by region)
import pg_harness  # noqa: E402  (tests/integration)
import peers  # noqa: E402  (bench/accept)
from dns_harness import DnsServers  # noqa: E402
from servers import DOMAIN, RCPT, SENDER  # noqa: E402


env_int = cells.env_int_reader("bench/cluster")


FLOW_N = env_int("FLOW_N", 10000, 1, 10_000_000)
ACCEPT_N = env_int("ACCEPT_N", 5000, 1, 10_000_000)
OUTBOX_N = env_int("OUTBOX_N", 20000, 1, 10_000_000)
HOOK_HOSTS = env_int("HOOK_HOSTS", 8, 1, 250)
SESSIONS = env_int("SESSIONS", 20, 3, 1000)
SIZE = env_int("SIZE", 1024, 1, 50_000_000)
RUNS = env_int("RUNS", 3, 1, 100)
PGSS = os.environ.get("PGSS") == "1"  # print the flow cell's top PostgreSQL statements
CELL_TIMEOUT = env_int("CELL_TIMEOUT", 240 + max(FLOW_N, ACCEPT_N, OUTBOX_N) // 50, 30,
                       7 * 86400)
REGIONS = {"sqlite1": ("1 node, SQLite", "sqlite", 1),
           "pg1": ("1 node, PostgreSQL", "pg", 1),
           "pg3": ("3 nodes, PostgreSQL", "pg", 3)}
CHOSEN = [s.strip() for s in os.environ.get("REGIONS", ",".join(REGIONS)).split(",") if s.strip()]
if not CHOSEN or set(CHOSEN) - set(REGIONS):
    sys.exit(f"bench/cluster: REGIONS={os.environ.get('REGIONS')!r}: a list of "
             + ", ".join(REGIONS))
ALL_CELLS = ("flow", "accept", "outbox")
CELLS = tuple(c.strip() for c in os.environ.get("CELLS", ",".join(ALL_CELLS)).split(",")
              if c.strip())
if not CELLS or set(CELLS) - set(ALL_CELLS):
    sys.exit(f"bench/cluster: CELLS={os.environ.get('CELLS')!r}: a list of "
             + ", ".join(ALL_CELLS))
RESULTS = os.path.join(os.environ.get("BENCH_RESULTS_DIR") or os.path.join(HERE, "results"),
                       "last.json")


def wait_for(what, fn, want, limit_at, step=0.1):
    """Polls fn() until it returns want; returns the monotonic time it did."""
    while True:
        got = fn()
        if got == want:
            return time.monotonic()
        if time.monotonic() > limit_at:
            raise TimeoutError(f"{what}: {got}, expected {want}")
        time.sleep(step)


def writes_delta(before, after):
    if before is None or after is None:
        return None
    d = {t: after.get(t, 0) - before.get(t, 0) for t in after}
    return {t: v for t, v in sorted(d.items()) if v}


def print_statements(region):
    """PGSS=1: the flow cell's statements on PostgreSQL by total execution time (a profile)."""
    rows = region.pg.psql(
        "SELECT calls, round(total_exec_time::numeric, 1), rows, "
        "left(regexp_replace(query, '\\s+', ' ', 'g'), 110) FROM pg_stat_statements "
        "ORDER BY total_exec_time DESC LIMIT 15")
    print(f"  {region.name} flow, top statements (calls, total ms, rows, query):", flush=True)
    for r in rows:
        print("   ", "  ".join(r), flush=True)


def flow_cell(region, sink):
    with deadline(CELL_TIMEOUT) as limit_at:
        try:
            region.start(delivery=True, sink_port=sink.port)
            sink.start()
            w0 = region.row_writes()
            if PGSS and region.pg:
                region.pg.psql("SELECT pg_stat_statements_reset()")
            c0, t0 = region.cpu(), time.monotonic()
            sub_s = rg.submit_spread(region, FLOW_N, SESSIONS, SIZE, SENDER, RCPT, limit_at)
            t_end = sink.wait_count(FLOW_N, limit_at)
            c1 = region.cpu()
            time.sleep(0.5)  # a duplicate would arrive right behind the last one
            if sink.count() != FLOW_N:
                raise RuntimeError(f"sink counted {sink.count()}, submitted {FLOW_N}")
            t_log = wait_for("message log rows delivered",
                             lambda: region.count("SELECT count(*) FROM messages "
                                                  "WHERE status = 'delivered'"),
                             FLOW_N, limit_at, step=0.25)
            w1 = region.row_writes()
            if PGSS and region.pg:
                print_statements(region)
        finally:
            sink.stop()
            region.stop()
    total = t_end - t0
    r = {"count": FLOW_N, "submit_s": round(sub_s, 2), "total_s": round(total, 2),
         "delivered_msgs_s": round(FLOW_N / total, 1),
         "logged_s": round(t_log - t0, 2),
         "cpu_ms_per_msg": round((c1 - c0) / FLOW_N * 1000, 3)}
    d = writes_delta(w0, w1)
    if d is not None:
        r["row_writes"] = d
        r["row_writes_per_rcpt"] = round(sum(d.values()) / FLOW_N, 2)
    return r


def accept_cell(region, sink):
    with deadline(CELL_TIMEOUT) as limit_at:
        try:
            region.start(delivery=False, sink_port=sink.port)
            c0, t0 = region.cpu(), time.monotonic()
            wall = rg.submit_spread(region, ACCEPT_N, SESSIONS, SIZE, SENDER, RCPT, limit_at)
            c1 = region.cpu()
            wait_for("queued", region.queued, ACCEPT_N, limit_at, step=0.2)
            t_log = wait_for("message log rows",
                             lambda: region.count("SELECT count(*) FROM messages"), ACCEPT_N,
                             limit_at, step=0.25)
        finally:
            region.stop()
    return {"count": ACCEPT_N, "wall_s": round(wall, 2), "msgs_s": round(ACCEPT_N / wall, 1),
            "logged_s": round(t_log - t0, 2),
            "cpu_ms_per_msg": round((c1 - c0) / ACCEPT_N * 1000, 3)}


TEMPLATE_ID = "TERNBENCHTEMPLATE.0"


def fill_outbox(region, receiver, template, now_ms):
    """OUTBOX_N copies of the template item, due now, URLs over the receiver's hosts."""
    rows = region.sql("SELECT account_id, queue_id, recipient FROM webhook_outbox "
                      "ORDER BY id LIMIT 1")
    account, queue_id, rcpt = rows[0]
    item = json.loads(template)
    item["messageId"] = TEMPLATE_ID
    tpl = json.dumps(item, separators=(",", ":"), sort_keys=True)
    if region.kind == "pg":
        urls = "ARRAY[" + ",".join(f"'{receiver.url(i)}'" for i in range(HOOK_HOSTS)) + "]"
        tpl_sql = tpl.replace("'", "''")
        region.pg.psql(
            f"SET search_path TO {region.schema}; "
            "INSERT INTO webhook_outbox(account_id, kind, url, content_type, message_id, "
            "queue_id, recipient, item, created_ms, next_attempt_ms) "
            f"SELECT {int(account)}, 'report', ({urls})[1 + g % {HOOK_HOSTS}], "
            f"'application/json', 'OBX' || lpad(g::text, 9, '0') || '.0', '{queue_id}', "
            f"'{rcpt}', replace('{tpl_sql}', '{TEMPLATE_ID}', "
            f"'OBX' || lpad(g::text, 9, '0') || '.0'), {now_ms}, {now_ms} "
            f"FROM generate_series(1, {OUTBOX_N}) g")
        return
    import sqlite3
    db = sqlite3.connect(os.path.join(region.nodes[0].data, "tern.db"), timeout=30)
    try:
        with db:
            db.executemany(
                "INSERT INTO webhook_outbox(account_id, kind, url, content_type, message_id, "
                "queue_id, recipient, item, created_ms, next_attempt_ms) "
                "VALUES(?, 'report', ?, 'application/json', ?, ?, ?, ?, ?, ?)",
                ((int(account), receiver.url(g % HOOK_HOSTS), f"OBX{g:09d}.0", queue_id, rcpt,
                  tpl.replace(TEMPLATE_ID, f"OBX{g:09d}.0"), now_ms, now_ms)
                 for g in range(1, OUTBOX_N + 1)))
    finally:
        db.close()


def outbox_cell(region, sink, receiver):
    def notify(r):
        r.nodes[0].cli("account", "set", "bench", f"notify_url={receiver.url(0)}")

    with deadline(CELL_TIMEOUT) as limit_at:
        receiver.reset()
        try:
            region.start(delivery=True, sink_port=sink.port, before_start=notify)
            sink.start()
            # One real report: the template.
            rg.submit_spread(_first_node(region), 1, 1, SIZE, SENDER, RCPT, limit_at)
            receiver.wait_unique(1, limit_at)
            template = region.sql("SELECT item FROM webhook_outbox ORDER BY id LIMIT 1")[0][0]
            wait_for("template report marked sent",
                     lambda: region.count("SELECT count(*) FROM webhook_outbox "
                                          "WHERE state = 'pending'"), 0, limit_at)
            region.stop_nodes()
            fill_outbox(region, receiver, template, int(time.time() * 1000))
            w0 = region.row_writes()
            receiver.reset()
            t_start = time.monotonic()
            region.start_nodes(f"g{region.generation}-outbox")
            t_end = receiver.wait_unique(OUTBOX_N, limit_at)
            cpu = region.cpu()  # the nodes' whole life: start-up included
            time.sleep(0.5)  # a duplicate would arrive right behind the last one
            snap = receiver.snapshot()
            if snap["duplicates"] or snap["unique"] != OUTBOX_N or snap["bad_posts"]:
                raise RuntimeError(f"receiver: {snap['unique']} unique of {OUTBOX_N}, "
                                   f"{snap['duplicates']} duplicates, {snap['bad_posts']} "
                                   "posts without results")
            wait_for("outbox items marked sent",
                     lambda: region.count("SELECT count(*) FROM webhook_outbox "
                                          "WHERE state = 'pending'"), 0, limit_at, step=0.25)
            w1 = region.row_writes()
            if PGSS and region.pg:
                print_statements(region)
        finally:
            sink.stop()
            region.stop()
    t_first, n_first = snap["arrivals"][0]
    span = max(t_end - t_first, 1e-6)
    r = {"count": OUTBOX_N, "hosts": HOOK_HOSTS, "posts": snap["posts"],
         "reports_per_post": round(OUTBOX_N / snap["posts"], 1),
         "reports_s": round((OUTBOX_N - n_first) / span, 1) if OUTBOX_N > n_first else None,
         "from_start_s": round(t_end - t_start, 2),
         "cpu_ms_per_report": round(cpu / OUTBOX_N * 1000, 4)}
    d = writes_delta(w0, w1)
    if d is not None:
        r["row_writes"] = d
        r["row_writes_per_report"] = round(sum(d.values()) / OUTBOX_N, 2)
    return r


class _first_node:
    """A one-node view of a region (the template report goes through node 1)."""

    def __init__(self, region):
        self.nodes = region.nodes[:1]


SUMMARY_KEYS = {"flow": ("delivered_msgs_s", "cpu_ms_per_msg", "logged_s", "submit_s",
                         "row_writes_per_rcpt"),
                "accept": ("msgs_s", "cpu_ms_per_msg", "logged_s"),
                "outbox": ("reports_s", "cpu_ms_per_report", "from_start_s",
                           "row_writes_per_report", "reports_per_post")}
HEADLINE = {"flow": "delivered_msgs_s", "accept": "msgs_s", "outbox": "reports_s"}


def median_of(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    if not vals or len(vals) != len(runs):
        return None
    return round(statistics.median(vals), 3)


def ratios(res):
    out = {}
    med = {k: v.get("median", {}) for k, v in res["regions"].items()}
    pairs = (("pg1_over_sqlite1", "pg1", "sqlite1"), ("pg3_over_pg1", "pg3", "pg1"),
             ("pg3_over_sqlite1", "pg3", "sqlite1"))
    for cell, key in HEADLINE.items():
        for name, a, b in pairs:
            x = med.get(a, {}).get(cell, {}).get(key)
            y = med.get(b, {}).get(cell, {}).get(key)
            if x and y:
                out[f"{cell}_{name}"] = round(x / y, 2)
    return out


def table(res):
    keys = [k for k in CHOSEN if k in res["regions"]]
    rows = [("flow: delivered msgs/s", "flow", "delivered_msgs_s"),
            ("flow: CPU ms/msg (nodes)", "flow", "cpu_ms_per_msg"),
            ("flow: log complete after s", "flow", "logged_s"),
            ("flow: row writes / rcpt", "flow", "row_writes_per_rcpt"),
            ("accept: msgs/s", "accept", "msgs_s"),
            ("accept: CPU ms/msg", "accept", "cpu_ms_per_msg"),
            ("accept: log complete after s", "accept", "logged_s"),
            ("outbox: reports/s", "outbox", "reports_s"),
            ("outbox: CPU ms/report", "outbox", "cpu_ms_per_report"),
            ("outbox: row writes / report", "outbox", "row_writes_per_report")]
    out = [f"cluster bench: FLOW_N={FLOW_N} ACCEPT_N={ACCEPT_N} OUTBOX_N={OUTBOX_N} "
           f"hosts={HOOK_HOSTS} sessions={SESSIONS} size={SIZE} runs={RUNS} (medians)",
           f"{'':30}" + "".join(f"{REGIONS[k][0]:>22}" for k in keys)]
    for label, cell, key in rows:
        vals = [res["regions"][k].get("median", {}).get(cell, {}).get(key) for k in keys]
        out.append(f"{label:30}" + "".join(f"{('-' if v is None else v):>22}" for v in vals))
    out.append("ratios: " + ", ".join(f"{k} {v}" for k, v in res["ratios"].items()))
    out += cells.error_lines([res["regions"][k] for k in keys], CELLS)
    return "\n".join(out)


def main(tern_bin):
    base = peers.make_temp()
    res = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "flow_n": FLOW_N,
           "accept_n": ACCEPT_N, "outbox_n": OUTBOX_N, "hook_hosts": HOOK_HOSTS,
           "sessions": SESSIONS, "size": SIZE, "runs": RUNS, "cell_timeout_s": CELL_TIMEOUT,
           "cpus": os.cpu_count(), "loadavg_before": [round(x, 2) for x in os.getloadavg()],
           "method": __doc__.split("Invariants:")[0].strip(), "regions": {}}
    dns_servers = DnsServers({DOMAIN: []})
    pg = receiver = None
    regions = {}
    sink = servers.Sink(peers.free_port(), base)
    try:
        if PGSS:
            os.environ["PG_EXTRA_OPTS"] = ("-c shared_preload_libraries=pg_stat_statements "
                                           "-c pg_stat_statements.track=all")
        pg = pg_harness.PgServer(durable=True)
        if PGSS:
            pg.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        receiver = rg.Receiver(HOOK_HOSTS)
        for key in CHOSEN:
            name, kind, n = REGIONS[key]
            regions[key] = rg.Region(base, tern_bin, key, name, kind, n, dns_servers,
                                     pg if kind == "pg" else None)
            res["regions"][key] = {"name": name, "nodes": n, "store": kind}
        # Every node of every region signs: a probe through each before the cells.
        for key, region in list(regions.items()):
            entry = res["regions"][key]
            try:
                with deadline(300):
                    try:
                        region.start(delivery=True, sink_port=sink.port)
                        entry["probe"] = [servers.probe(_ProbeTarget(region, node, sink.port),
                                                        dns_servers)
                                          for node in region.nodes]
                    finally:
                        region.stop()
                log(f"{region.name}: every node signs: {entry['probe'][0]}")
            except Exception as e:
                entry["error"] = f"start/probe: {type(e).__name__}: {e}\n{region.log_tail()}"
                log(f"{region.name}: {entry['error']}")
                del regions[key]
        for run in range(RUNS):
            for cell in CELLS:
                for key, region in regions.items():
                    log(f"run {run + 1}/{RUNS} {cell} {region.name} ...")
                    if cell == "flow":
                        r = guarded(f"{region.name} flow", flow_cell, region, sink)
                    elif cell == "accept":
                        r = guarded(f"{region.name} accept", accept_cell, region, sink)
                    else:
                        r = guarded(f"{region.name} outbox", outbox_cell, region, sink, receiver)
                    if "error" in r:
                        r["log_tail"] = region.log_tail()[-3000:]
                    log(f"  {({k: v for k, v in r.items() if k != 'log_tail'})}")
                    res["regions"][key].setdefault(cell, []).append(r)
        for key in regions:
            entry = res["regions"][key]
            entry["median"] = {}
            for cell in CELLS:
                runs = entry.get(cell, [])
                entry["median"][cell] = {k: median_of(runs, k) for k in SUMMARY_KEYS[cell]
                                         if median_of(runs, k) is not None}
    finally:
        for region in regions.values():
            with contextlib.suppress(Exception):
                region.stop()
        with contextlib.suppress(Exception):
            sink.stop()
        if receiver:
            receiver.close()
        if pg:
            res["postgres_settings"] = _pg_settings(pg)
            pg.close()
        dns_servers.close()
        res["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        cells.remove_temp(base)
    res["ratios"] = ratios(res)
    cells.write_results(res, RESULTS)
    print(table(res) + f"\nresults: {os.path.relpath(RESULTS)}", flush=True)
    return 1 if cells.failed(res["regions"].values(), CELLS) else 0


def _pg_settings(pg):
    try:
        rows = pg.psql("SELECT name, setting FROM pg_settings WHERE name IN ('fsync', "
                       "'synchronous_commit', 'shared_buffers', 'server_version')")
        return {r[0]: r[1] for r in rows}
    except Exception as e:  # informational only
        return {"error": str(e)}


class _ProbeTarget:
    """What servers.probe needs of a relay: one node's port, the sink port, a name, a log."""

    def __init__(self, region, node, sink_port):
        self.name = f"{region.name} {node.node_id}"
        self.port, self.sink_port = node.port, sink_port
        self.node = node

    def log_tail(self):
        return self.node.log_tail()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
