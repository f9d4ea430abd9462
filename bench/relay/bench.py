"""Relay benchmark (issue 4): mail submitted over SMTP, DKIM-signed (RSA-2048) and relayed to
smtp-sink, Tern vs Postfix + OpenDKIM, same machine, same run, same client (smtp-source).

Cells, per server, RUNS times (servers alternate within each run):
  flow   the sink is up; smtp-source submits FLOW_N messages (SESSIONS sessions, SIZE bytes, a new
         connection per message). delivered msgs/s = FLOW_N / (first submission .. the sink has
         counted FLOW_N): acceptance, signing and delivery running at once.
  drain  the sink is down; smtp-source submits N messages; each relay tries, fails to connect,
         and defers them all (the cell waits until all N sit deferred with nothing in flight).
         Then the sink starts and the operator's "retry now" is given: `postqueue -f` for
         Postfix, `tern queue retry --all` for Tern. drain time = that command .. the sink has
         counted N.
Why this way of holding the queue (fairness): both relays see the same thing (a destination
that refused connections, then came back) and get the same operator action; no server-specific
hold feature (Postfix's hold queue / defer_transports, a Tern hold command) is involved, and
neither relay's retry timer is waited for. Both keep their default delivery concurrency.

Invariants (the numbers mean what they say):
  - Before the cells and after them, a probe message through each relay must arrive (at a
    mail_peers.Receiver on the sink's port) signed d=bench.test a=rsa-sha256 with a 2048-bit key
    that dkimpy verifies through the test DNS; a tampered copy must fail (servers.probe).
  - A cell counts only when the sink counted exactly the number submitted (duplicates fail it).
  - Every cell runs under a deadline (CELL_TIMEOUT, SIGALRM plus bounded waits): a stuck peer
    makes that cell "timeout" and the run goes on; nothing can hang the run.

Usage: bench.py TERN_BIN|-  (run.sh sets it up). env: N (100000) FLOW_N (min(N, 20000))
       SESSIONS (20) SIZE (1024) RUNS (1) CELL_TIMEOUT (s) SERVERS (postfix,tern)
Writes bench/relay/results/last.json and prints a table.
"""
import contextlib
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "common"))
import cells  # noqa: E402  (bench/common)
from cells import deadline, guarded, log  # noqa: E402
import servers  # noqa: E402
from servers import DOMAIN, RCPT, SENDER  # noqa: E402
from dns_harness import DnsServers  # noqa: E402  (path set up by servers)
import peers  # noqa: E402  (bench/accept)


env_int = cells.env_int_reader("bench/relay")


N = env_int("N", 100000, 1, 10_000_000)
FLOW_N = env_int("FLOW_N", min(N, 20000), 1, 10_000_000)
SESSIONS = env_int("SESSIONS", 20, 1, 1000)
SIZE = env_int("SIZE", 1024, 1, 50_000_000)
RUNS = env_int("RUNS", 1, 1, 100)
CELL_TIMEOUT = env_int("CELL_TIMEOUT", 180 + (N + FLOW_N) // 25, 10, 7 * 86400)
SERVERS = [s.strip() for s in os.environ.get("SERVERS", "postfix,tern").split(",") if s.strip()]
if not SERVERS or set(SERVERS) - {"postfix", "tern"}:
    sys.exit(f"bench/relay: SERVERS={os.environ.get('SERVERS')!r}: a list of postfix, tern")
# SMOKE=1 in run.sh points BENCH_RESULTS_DIR at a temp dir.
RESULTS = os.path.join(os.environ.get("BENCH_RESULTS_DIR") or os.path.join(HERE, "results"),
                       "last.json")


def submit(relay, count, limit_at):
    argv = ["smtp-source", "-s", str(SESSIONS), "-m", str(count), "-l", str(SIZE), "-f", SENDER,
            "-t", RCPT, "-M", DOMAIN, f"127.0.0.1:{relay.port}"]
    t0 = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True,
                       timeout=max(1, limit_at - time.monotonic()))
    if r.returncode != 0 or r.stderr.strip():
        raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr[-1000:]}")
    return time.monotonic() - t0


def exact(sink, n):
    time.sleep(0.5)  # a duplicate would arrive right behind the last one
    got = sink.count()
    if got != n:
        raise RuntimeError(f"sink counted {got}, submitted {n}")


def flow_cell(relay, sink):
    with deadline(CELL_TIMEOUT) as limit_at:
        relay.reset()
        sink.start()
        try:
            pids = relay.pids()
            c0, t0 = servers.cpu(pids), time.monotonic()
            sub_s = submit(relay, FLOW_N, limit_at)
            t_end = sink.wait_count(FLOW_N, limit_at)
            c1 = servers.cpu(pids)
            exact(sink, FLOW_N)
        finally:
            sink.stop()
    total = t_end - t0
    return {"count": FLOW_N, "submit_s": round(sub_s, 2), "total_s": round(total, 2),
            "delivered_msgs_s": round(FLOW_N / total, 1),
            "cpu_ms_per_msg": round((c1 - c0) / FLOW_N * 1000, 3)}


def drain_cell(relay, sink):
    with deadline(CELL_TIMEOUT) as limit_at:
        sink.stop()
        relay.reset()
        sub_s = submit(relay, N, limit_at)
        t_sub = time.monotonic()
        while not relay.settled(N):
            if time.monotonic() > limit_at:
                raise TimeoutError(f"{relay.name}: {relay.queued()} queued, not settled")
            time.sleep(1.0)
        settle_s = time.monotonic() - t_sub
        sink.start()
        try:
            pids = relay.pids()
            c0, t0 = servers.cpu(pids), time.monotonic()
            relay.flush()
            t_end = sink.wait_count(N, limit_at)
            c1 = servers.cpu(pids)
            exact(sink, N)
            left = relay.queued()
            while left and time.monotonic() < min(limit_at, t_end + 30):
                time.sleep(0.5)
                left = relay.queued()
        finally:
            sink.stop()
    drain = t_end - t0
    return {"count": N, "submit_s": round(sub_s, 2), "settle_s": round(settle_s, 2),
            "drain_s": round(drain, 2), "drain_msgs_s": round(N / drain, 1),
            "cpu_ms_per_msg": round((c1 - c0) / N * 1000, 3), "left_in_queue": left}


def summarize(runs, key):
    vals = [r[key] for r in runs if key in r]
    if not vals or len(vals) != len(runs):
        return None
    return statistics.median(vals)


def table(res):
    names = [r["name"] for r in res["relays"].values()]
    rows = [("flow: delivered msgs/s", "flow", "delivered_msgs_s"),
            ("flow: CPU ms/msg", "flow", "cpu_ms_per_msg"),
            ("drain: seconds", "drain", "drain_s"),
            ("drain: msgs/s", "drain", "drain_msgs_s"),
            ("drain: CPU ms/msg", "drain", "cpu_ms_per_msg"),
            ("drain: submit seconds", "drain", "submit_s")]
    head = f"{'':26}" + "".join(f"{n:>20}" for n in names)
    if len(names) == 2:
        head += f"{'ratio 2/1':>12}"
    out = [f"relay bench: N={N} FLOW_N={FLOW_N} sessions={SESSIONS} size={SIZE} runs={RUNS}",
           head]
    for label, cell, key in rows:
        vals = [r.get("median", {}).get(cell, {}).get(key) for r in res["relays"].values()]
        line = f"{label:26}" + "".join(f"{('-' if v is None else v):>20}" for v in vals)
        if len(vals) == 2:
            a, b = vals
            line += f"{(round(b / a, 2) if a and b else '-'):>12}"
        out.append(line)
    out += cells.error_lines(res["relays"].values(), ("flow", "drain"))
    return "\n".join(out)


def main(tern_bin):
    base = peers.make_temp()
    res = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "n": N, "flow_n": FLOW_N,
           "sessions": SESSIONS, "size": SIZE, "runs": RUNS, "cell_timeout_s": CELL_TIMEOUT,
           "cpus": os.cpu_count(), "loadavg_before": [round(x, 2) for x in os.getloadavg()],
           "method": "flow: sink up, submit FLOW_N, time to last delivery; drain: sink down, "
                     "submit N, all deferred, sink up + postqueue -f / tern queue retry --all, "
                     "time to N delivered", "relays": {}}
    dns_servers = DnsServers({DOMAIN: []})
    relays, sinks, pf = {}, {}, None
    try:
        pf = servers.PostfixOpenDkim(base, servers.free_port())
        dns_servers.update(DOMAIN, [pf.zone_line()])
        if "postfix" in SERVERS:
            relays["postfix"] = pf
        if "tern" in SERVERS:
            if not tern_bin or not os.access(tern_bin, os.X_OK):
                res["relays"]["tern"] = {"name": "Tern", "error": f"no tern binary ({tern_bin})"}
            else:
                relays["tern"] = servers.TernRelay(base, tern_bin, servers.free_port(),
                                                   dns_servers, pf.zone_line())
        for key, relay in list(relays.items()):
            entry = res["relays"].setdefault(key, {"name": relay.name})
            sinks[key] = servers.Sink(relay.sink_port, base)
            try:
                with deadline(300):
                    relay.start()
                    entry["probe_before"] = servers.probe(relay, dns_servers)
                log(f"{relay.name}: signing checked {entry['probe_before']}")
            except Exception as e:
                entry["error"] = f"start/probe: {type(e).__name__}: {e}\n{relay.log_tail()}"
                log(f"{relay.name}: {entry['error']}")
                del relays[key]
                with contextlib.suppress(Exception):
                    relay.stop()
        for run in range(RUNS):
            for cell, fn in (("flow", flow_cell), ("drain", drain_cell)):
                for key, relay in relays.items():
                    log(f"run {run + 1}/{RUNS} {cell} {relay.name} ...")
                    r = guarded(f"{relay.name} {cell}", fn, relay, sinks[key])
                    log(f"  {r}")
                    res["relays"][key].setdefault(cell, []).append(r)
        for key, relay in relays.items():
            entry = res["relays"][key]
            entry["probe_after"] = guarded(f"{relay.name} probe", servers.probe, relay,
                                           dns_servers)
            entry["median"] = {}
            for cell in ("flow", "drain"):
                runs = entry.get(cell, [])
                entry["median"][cell] = {k: summarize(runs, k) for k in
                                         ("delivered_msgs_s", "cpu_ms_per_msg", "drain_s",
                                          "drain_msgs_s", "submit_s", "total_s")
                                         if summarize(runs, k) is not None}
    finally:
        for key, relay in relays.items():
            with contextlib.suppress(Exception):
                sinks[key].stop()
            with contextlib.suppress(Exception):
                relay.stop()
        if pf is not None:  # also when it was built but never run (SERVERS=tern, failed start)
            with contextlib.suppress(Exception):
                pf.stop()
        dns_servers.close()
        res["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        cells.remove_temp(base)
    p, t = res["relays"].get("postfix", {}), res["relays"].get("tern", {})
    ratios = {}
    for cell, key in (("flow", "delivered_msgs_s"), ("drain", "drain_msgs_s")):
        a = p.get("median", {}).get(cell, {}).get(key)
        b = t.get("median", {}).get(cell, {}).get(key)
        if a and b:
            ratios[f"{cell}_tern_over_postfix"] = round(b / a, 2)
    res["ratios"] = ratios
    cells.write_results(res, RESULTS)
    print(table(res) + f"\nresults: {os.path.relpath(RESULTS)}", flush=True)
    return 1 if cells.failed(res["relays"].values(), ("flow", "drain")) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != "-" else ""))
