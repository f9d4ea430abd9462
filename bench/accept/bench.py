"""Accept benchmark, Tern vs Postfix, same machine, same run, same client (smtp-source).

For each cell (sessions x message size x new/reused connections) and each server: run
smtp-source for a fixed message count RUNS times on an empty queue, check that the server
queued exactly that many, and take the median of msgs/s and CPU-seconds per message (server
process tree, from /proc). Then, in separate runs so tracing does not skew throughput: fsyncs
per message (strace -c -f on the server tree), commit latency p50/p99 (latency.py, 20
sessions), and memory per idle connection (idle.py: 10,000 for Tern; Postfix serves at most
default_process_limit = 100 sessions, so 100 for it).

Usage: bench.py TERN_BIN OUT_MD   (run.sh sets it up; env RUNS, N_SMALL, N_LARGE, IDLE_N)
       SIGN=1 bench.py TERN_BIN OUT_MD   Tern with DKIM signing on vs unsigned vs Postfix (sign.py)
"""
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RUNS = int(os.environ.get("RUNS", "3"))
N_SMALL = int(os.environ.get("N_SMALL", "2000"))   # messages per run, 1 KiB
N_LARGE = int(os.environ.get("N_LARGE", "500"))    # messages per run, 100 KiB
IDLE_N = int(os.environ.get("IDLE_N", "10000"))
FSYNC_N = int(os.environ.get("FSYNC_N", "1000"))      # messages per strace run
LATENCY_N = int(os.environ.get("LATENCY_N", "2000"))  # messages of the latency run
IDLE_PF = min(100, IDLE_N)  # Postfix serves at most default_process_limit = 100 sessions
# Where the raw numbers go (SMOKE=1 in run.sh points this at a temp dir).
RESULTS_DIR = os.environ.get("BENCH_RESULTS_DIR") or os.path.join(HERE, "results")
SESSIONS = [int(x) for x in os.environ.get("SESSIONS", "1,20,100").split(",")]
SIZES = [1024, 102400]
SENDER, RCPT = "bench@bench.test", "sink@bench.test"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def smtp_source(port, sessions, count, size, reuse):
    argv = ["smtp-source", "-s", str(sessions), "-m", str(count), "-l", str(size),
            "-f", SENDER, "-t", RCPT, "-M", "bench.test"]
    if reuse:
        argv.append("-d")
    argv.append(f"127.0.0.1:{port}")
    t0 = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t0
    if r.returncode != 0 or r.stderr.strip():
        raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr[-1000:]}")
    return wall, " ".join(argv)


def wait_queued(server, want, timeout=30):
    deadline = time.monotonic() + timeout
    got = -1
    while time.monotonic() < deadline:
        got = server.queued()
        if got >= want:
            return got
        time.sleep(0.2)
    return got


def run_once(server, sessions, size, reuse, count):
    server.reset()
    root = server.server_pid()
    c0 = peers.cpu_seconds(root)
    wall, cmd = smtp_source(server.port, sessions, count, size, reuse)
    c1 = peers.cpu_seconds(root)
    got = wait_queued(server, count)
    if got != count:
        raise RuntimeError(f"{server.name}: {got} queued after {count} sent ({cmd})")
    return count / wall, (c1 - c0) / count * 1000


def run_cell(servers, sessions, size, reuse, once=run_once):
    """RUNS runs per server, alternating (A, B, A, B, ...): a slow phase of a shared machine
    then weighs on both servers instead of on whichever ran during it. once(server, sessions,
    size, reuse, count) -> (msgs/s, CPU ms/msg) is one checked run."""
    count = N_SMALL if size <= 1024 else N_LARGE
    rates = {s.name: [] for s in servers}
    cpus = {s.name: [] for s in servers}
    for _ in range(RUNS):
        for server in servers:
            rate, cpu = once(server, sessions, size, reuse, count)
            rates[server.name].append(rate)
            cpus[server.name].append(cpu)
    return {s.name: {"msgs_s": statistics.median(rates[s.name]),
                     "cpu_ms": statistics.median(cpus[s.name]),
                     "runs": [round(r, 1) for r in rates[s.name]],
                     "cpu_runs": [round(c, 3) for c in cpus[s.name]], "count": count}
            for s in servers}


def strace_fsyncs(server, sessions, count, size):
    server.reset()
    pids = peers.tree(server.server_pid())
    out = os.path.join(peers.make_temp(), "strace.txt")
    argv = ["strace", "-c", "-f", "-o", out, "-e", "trace=fsync,fdatasync,sync_file_range,msync"]
    for p in pids:
        argv += ["-p", str(p)]
    st = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # let strace attach to every thread
    smtp_source(server.port, sessions, count, size, reuse=False)
    wait_queued(server, count)
    time.sleep(0.5)
    st.send_signal(signal.SIGINT)
    st.wait(30)
    calls = {}
    with open(out) as f:
        for line in f:
            m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$", line)
            if m:
                calls[m.group(2)] = int(m.group(1))
    shutil.rmtree(os.path.dirname(out), ignore_errors=True)
    return {"per_msg": (calls.get("fsync", 0) + calls.get("fdatasync", 0)) / count,
            "calls": calls, "count": count, "sessions": sessions}


def latency(server, sessions=20, count=LATENCY_N, size=1024):
    server.reset()
    r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "latency.py"), str(server.port),
                        str(sessions), str(count), str(size)],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"latency.py against {server.name}: {r.stderr[-1500:]}")
    return json.loads(r.stdout)


def idle(server, n):
    server.fresh()
    r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "idle.py"), str(server.port),
                        str(server.server_pid()), str(n)],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"idle.py against {server.name}: {r.stderr[-1500:]}")
    return json.loads(r.stdout)


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    pf = subprocess.run(["postconf", "-d", "-h", "mail_version"], capture_output=True,
                        text=True).stdout.strip()
    return f"{os.cpu_count()} x {cpu}; kernel {os.uname().release}; Postfix {pf}"


def main():
    if sys.argv[1] == "--render":
        with open(sys.argv[2]) as f:
            write_doc(sys.argv[3], render(json.load(f)))
        return
    if sys.argv[1] == "--render-sign":
        import sign
        with open(sys.argv[2]) as f:
            sign.write(sys.argv[3], json.load(f))
        return
    tern_bin, out_md = sys.argv[1], sys.argv[2]
    if os.environ.get("SIGN", "0") == "1":
        import sign  # the DKIM-signing-on comparison instead of the full table (sign.py)
        sign.main(tern_bin, out_md)
        return
    base = peers.make_temp()
    pf = peers.PostfixInstance(base)
    tn = peers.TernInstance(base, tern_bin)
    results = {"cells": [], "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
               "loadavg_before": [round(x, 2) for x in os.getloadavg()]}
    t_start = time.monotonic()
    try:
        pf.start()
        tn.start()
        for reuse in (False, True):
            for size in SIZES:
                for s in SESSIONS:
                    row = {"sessions": s, "size": size, "reuse": reuse}
                    log(f"cell s={s} size={size} reuse={reuse}: Tern and Postfix alternating")
                    row.update(run_cell((tn, pf), s, size, reuse))
                    log("  ", json.dumps(row))
                    results["cells"].append(row)
        results["fsync"] = {srv.name: [strace_fsyncs(srv, s, FSYNC_N, 1024) for s in (1, 20)]
                            for srv in (tn, pf)}
        log("fsync", json.dumps(results["fsync"]))
        results["latency"] = {srv.name: latency(srv) for srv in (tn, pf)}
        log("latency", json.dumps(results["latency"]))
        results["idle"] = {tn.name: idle(tn, IDLE_N), pf.name: idle(pf, IDLE_PF)}
        log("idle", json.dumps(results["idle"]))
    finally:
        tn.stop()
        pf.stop()
        shutil.rmtree(base, ignore_errors=True)
    results["minutes"] = round((time.monotonic() - t_start) / 60, 1)
    results["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    results["machine"] = machine()
    os.makedirs(RESULTS_DIR, exist_ok=True)
    with open(os.path.join(RESULTS_DIR, "last.json"), "w") as f:
        json.dump(results, f, indent=1)  # raw numbers; `bench.py --render FILE OUT_MD` redraws
    md = render(results)
    print(md)
    write_doc(out_md, md)


def render(r):
    L = []
    L.append("Command: `sudo bench/accept/run.sh build/tern` (as root; "
             f"RUNS={RUNS} N_SMALL={N_SMALL} N_LARGE={N_LARGE} IDLE_N={IDLE_N}).  ")
    load = ""
    if "loadavg_before" in r:
        load = (f"; load average (1/5/15 min) {'/'.join(str(x) for x in r['loadavg_before'])} "
                f"before, {'/'.join(str(x) for x in r['loadavg_after'])} after")
    L.append(f"Run {r['started']}, {r['minutes']} min, {r['machine']}{load}.  ")
    L.append("Client: `smtp-source -s S -m N -l SIZE [-d] -f bench@bench.test -t "
             "sink@bench.test -M bench.test 127.0.0.1:PORT`; each run starts with an empty "
             f"queue; the value is the median of {RUNS} runs, the two servers' runs alternating "
             "(Tern, Postfix, Tern, ...); every run was checked to have "
             "queued exactly N messages. CPU = user+sys of the server's process tree "
             "(/proc, Postfix's exited children included) per message.")
    L.append("")
    L.append("| sessions | size | connections | Tern msg/s | Postfix msg/s | Tern/Postfix "
             "| Tern CPU ms/msg | Postfix CPU ms/msg |")
    L.append("|---:|---:|---|---:|---:|---:|---:|---:|")
    for c in r["cells"]:
        t, p = c["Tern"], c["Postfix"]
        L.append(f"| {c['sessions']} | {c['size'] // 1024} KiB | "
                 f"{'reused (-d)' if c['reuse'] else 'new per message'} | {t['msgs_s']:.0f} | "
                 f"{p['msgs_s']:.0f} | {t['msgs_s'] / p['msgs_s']:.2f} | {t['cpu_ms']:.2f} | "
                 f"{p['cpu_ms']:.2f} |")
    L.append("")
    L.append("Read with care: the machine is small and was shared with parallel builds while this "
             "ran (the per-run numbers in bench/accept/results/last.json show the spread). "
             "Postfix is configured for acceptance only (`defer_transports = smtp`, "
             "`in_flow_delay = 0s`), but its CPU still includes qmgr and the error/defer "
             "daemons marking each message deferred and postlogd writing the mail log; Tern "
             "runs with delivery off (`[delivery] enabled = false`). Both answer 250 only after "
             "the message is on disk (Postfix: fsync of the queue file; Tern: fdatasync of the "
             "spool, which concurrent commits may share: the fsync table shows how often). CPU figures come from 100 Hz tick counters, so "
             "values under ~0.5 ms/msg are coarse.")
    L.append("")
    L.append(f"Durability cost, separate runs under `strace -c -f` (1 KiB, {FSYNC_N:,} messages, new "
             "connection per message; throughput of these runs is not reported):")
    L.append("")
    L.append("| server | sessions | fsync+fdatasync per message | calls seen |")
    L.append("|---|---:|---:|---|")
    for name, runs in r["fsync"].items():
        for f in runs:
            calls = ", ".join(f"{k} {v}" for k, v in sorted(f["calls"].items())) or "none"
            L.append(f"| {name} | {f['sessions']} | {f['per_msg']:.3f} | {calls} |")
    L.append("")
    L.append("Commit latency, final `.` to `250` (bench/accept/latency.py: 20 sessions, "
             f"connections reused, {LATENCY_N:,} messages of 1 KiB; Python asyncio client):")
    L.append("")
    L.append("| server | p50 ms | p99 ms | max ms | msgs/s in this run |")
    L.append("|---|---:|---:|---:|---:|")
    for name, x in r["latency"].items():
        L.append(f"| {name} | {x['p50_ms']:.2f} | {x['p99_ms']:.2f} | {x['max_ms']:.2f} | "
                 f"{x['msgs_per_s']:.0f} |")
    L.append("")
    L.append("Idle connections (bench/accept/idle.py: open, read the 220, hold; memory of the "
             "server's process tree before and with them). Postfix runs one smtpd process per "
             "session and its default_process_limit is 100, so it holds 100; further "
             "connections wait in the listen queue unserved.")
    L.append("")
    L.append("| server | connections held | errors | RSS KiB per connection | "
             "PSS KiB per connection | processes |")
    L.append("|---|---:|---:|---:|---:|---:|")
    for name, x in r["idle"].items():
        L.append(f"| {name} | {x['connections']} | {x['errors']} | {x['rss_per_conn_kib']:.1f} | "
                 f"{x['pss_per_conn_kib']:.1f} | {x['server_processes']} |")
    return "\n".join(L) + "\n"


BEGIN, END = "<!-- bench/accept:begin -->", "<!-- bench/accept:end -->"


def write_doc(path, md, begin=BEGIN, end=END,
              title="Accepting mail: Tern vs Postfix (bench/accept)"):
    """Replaces the section between begin and end (appends it if absent); the rest is kept."""
    section = f"{begin}\n## {title}\n\n{md}{end}\n"
    old = ""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
    if begin in old and end in old:
        new = old[:old.index(begin)] + section + old[old.index(end) + len(end) + 1:]
    else:
        new = (old or "# Performance\n\n") + ("\n" if old and not old.endswith("\n\n") else "") \
            + section
    with open(path, "w") as f:
        f.write(new)


if __name__ == "__main__":
    main()
