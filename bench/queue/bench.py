"""Queue-scale benchmark (issue 11): N messages queued with delivery refused, kill -9, restart,
then drained to a loopback sink.

Steps (one Tern, a fresh data dir):
  fill     smtp-source submits N messages (SESSIONS sessions, SIZE bytes) over SMTP; the
           smarthost (127.0.0.1:SINK) does not listen yet, so every message is tried once,
           refused and deferred for an hour (retry_schedule = "1h"). The step ends when
           /metrics shows N queued, N deferred and no connection being made.
  kill     kill -9 of the server (no shutdown: the spool is what recovery gets).
  ready    the server is started again; time-to-ready = from the exec until /metrics answers
           with tern_queue_messages == N (the engine knows every message; the SMTP listener
           is up since /metrics is served after it). RSS (VmRSS) at that moment and the peak
           (VmHWM) so far.
  list     `tern queue list --limit 100 --json` against the running server's data dir: wall time.
  drain    smtp-sink starts on SINK; `tern queue retry --all`; drain rate = N / (retry .. the sink
           counted N). RSS 2 s and 15 s after the queue emptied (the engine gives memory back
           when the queue empties, and again 10 s later when the drain's events are written).
Invariants: the sink must count exactly N (no loss, no duplicates), every step has a deadline.

Usage: bench.py TERN_BIN   env: N (100000), SESSIONS (20), SIZE (1024), SMOKE=1 (N=200, short
deadlines: the same code path for `make test`), KEEP=1 (keep the data dir). Prints a table; writes results/last.json
(results/smoke.json in smoke mode).
Repeated restart measurements without refilling (the fill of a million takes ~15 min):
  KEEP_FILL=DIR  after the fill's kill -9, a copy of the data dir goes to DIR/data (DIR must
                 not exist) with DIR/fill.json (N, SESSIONS, SIZE, fill time, binary); the run
                 then goes on as usual.
  FROM_FILL=DIR  no fill: a copy of DIR/data (the state right after the kill -9, so a faithful
                 start state) is the data dir, N/SESSIONS/SIZE come from DIR/fill.json, and
                 the run starts at "ready". The copy is made before the clock starts.
  READY_ONLY=1   stop after "ready" and the `queue list` page (no drain).
  PERF_OUT=FILE  `perf record -g` attached to the restarted server from its exec until ready
                 (linux-perf; docs/development.md, Profiling).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
import cells  # noqa: E402  (bench/common)

SMOKE = os.environ.get("SMOKE", "") == "1"


env_int = cells.env_int_reader("bench/queue")


N = env_int("N", 200 if SMOKE else 100000, 1, 10_000_000)
SESSIONS = env_int("SESSIONS", 20, 1, 1000)
SIZE = env_int("SIZE", 1024, 1, 10_000_000)
KEEP_FILL = os.environ.get("KEEP_FILL", "").strip()
FROM_FILL = os.environ.get("FROM_FILL", "").strip()
READY_ONLY = os.environ.get("READY_ONLY", "") == "1"
PERF_OUT = os.environ.get("PERF_OUT", "").strip()
FILL_INFO = None
if FROM_FILL:
    if KEEP_FILL:
        sys.exit("bench/queue: KEEP_FILL and FROM_FILL together make no sense")
    try:
        with open(os.path.join(FROM_FILL, "fill.json")) as f_:
            FILL_INFO = json.load(f_)
    except (OSError, ValueError) as e_:
        sys.exit(f"bench/queue: FROM_FILL={FROM_FILL}: no usable fill.json ({e_})")
    if os.environ.get("N", "").strip() and N != FILL_INFO["n"]:
        sys.exit(f"bench/queue: N={N} but FROM_FILL holds {FILL_INFO['n']} messages")
    N, SESSIONS, SIZE = FILL_INFO["n"], FILL_INFO["sessions"], FILL_INFO["size"]
if KEEP_FILL and os.path.exists(KEEP_FILL):
    sys.exit(f"bench/queue: KEEP_FILL={KEEP_FILL} exists already")
FILL_TIMEOUT = 120 if SMOKE else 600 + N // 500
STEP_TIMEOUT = 60 if SMOKE else 300 + N // 2000


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


def proc_status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0]) * 1024
    except OSError:
        pass
    return out


class Tern:
    def __init__(self, base, binary, sink_port, from_data=None):
        self.bin, self.base = binary, base
        self.data = os.path.join(base, "data")
        if from_data:  # a kept fill: its data dir as it was after the kill -9 (cp -a: as is)
            subprocess.run(["cp", "-a", from_data, self.data], check=True)
        else:
            os.makedirs(self.data)
        self.smtp, self.http = free_port(), free_port()
        self.config = os.path.join(base, "tern.toml")
        with open(self.config, "w") as f:
            f.write(f"""hostname = "tern.queue.test"
[listen]
smtp = "127.0.0.1:{self.smtp}"
submission = "127.0.0.1:{free_port()}"
submissions = "127.0.0.1:{free_port()}"
http = "127.0.0.1:{self.http}"
[smtp]
max_connections = 20000
max_connections_per_ip = 20000
trusted_networks = ["127.0.0.1/32"]
trusted_account = "bench"
[delivery]
enabled = true
smarthost = "127.0.0.1:{sink_port}"
smarthost_security = "none"
retry_schedule = "1h"
max_age = "2d"
""")
        self.proc = None
        self.n = 0
        if not from_data:
            self.cli("account", "create", "bench", "--json")
            self.cli("domain", "add", "bench", "bench.test", "--verified")

    def cli(self, *args, timeout=STEP_TIMEOUT):
        r = subprocess.run([self.bin, *args, "--data", self.data, "--config", self.config],
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"tern {' '.join(args)}: {r.stderr}")
        return r.stdout

    def start(self):
        self.n += 1
        self.logf = os.path.join(self.base, f"serve{self.n}.log")
        with open(self.logf, "wb") as log_:
            self.proc = subprocess.Popen(
                [self.bin, "serve", "--data", self.data, "--config", self.config],
                stdin=subprocess.DEVNULL, stdout=log_, stderr=log_, start_new_session=True)
        return time.monotonic()

    def metrics(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return None
        return {m.group(1): float(m.group(2))
                for m in re.finditer(r"^(tern_\w+) ([0-9.e+]+)$", text, re.M)}

    def wait_metrics(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            m = self.metrics()
            if m is not None:
                last = m
                if pred(m):
                    return time.monotonic(), m
            if self.proc.poll() is not None:
                raise RuntimeError(f"tern exited {self.proc.returncode} while waiting for {what}:\n"
                                   + self.log_tail())
            time.sleep(0.02)
        raise TimeoutError(f"{what}: not within {timeout}s (last metrics: "
                           f"{ {k: v for k, v in (last or {}).items() if 'queue' in k or 'deferred' in k} })")

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log_tail(self):
        try:
            with open(self.logf, errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""


class Sink:
    """smtp-sink on 127.0.0.1:port; count() = messages received (its -c counter)."""

    def __init__(self, port, dir_):
        self.port, self.out, self.proc = port, os.path.join(dir_, "sink.out"), None

    def start(self):
        with open(self.out, "wb") as f:
            self.proc = subprocess.Popen(
                ["smtp-sink", "-u", "postfix", "-c", "-m", "1000", f"127.0.0.1:{self.port}", "1024"],
                stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                start_new_session=True)
        wait_port(self.port, 10)

    def count(self):
        with open(self.out, "rb") as f:
            found = re.findall(rb"mesg=(\d+)", f.read())
        return int(found[-1]) if found else 0

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def main():
    binary = os.path.realpath(sys.argv[1])
    base = tempfile.mkdtemp(prefix="tern-bench-queue-")
    sink_port = free_port()
    res = {"n": N, "sessions": SESSIONS, "size": SIZE, "smoke": SMOKE,
           "time_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "loadavg": open("/proc/loadavg").read().split()[:3]}
    if FROM_FILL:
        log(f"bench/queue: copying the kept fill {FROM_FILL} ({N} messages)")
    tern = Tern(base, binary, sink_port,
                os.path.join(FROM_FILL, "data") if FROM_FILL else None)
    sink = Sink(sink_port, base)
    perf = None
    try:
        if FROM_FILL:
            res["from_fill"] = FROM_FILL
            res["fill_s"] = FILL_INFO.get("fill_s")
        else:
            fill(tern, res)
        t0 = tern.start()
        if PERF_OUT:
            perf = subprocess.Popen(["perf", "record", "-g", "-o", PERF_OUT, "-p",
                                     str(tern.proc.pid)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        t_ready, _ = tern.wait_metrics(lambda m: m.get("tern_queue_messages") == N, STEP_TIMEOUT,
                                       "ready after restart")
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait(60)
            perf = None
        st = proc_status(tern.proc.pid)
        res["ready_s"] = round(t_ready - t0, 2)
        res["rss_ready"] = st.get("VmRSS")
        res["rss_peak_ready"] = st.get("VmHWM")
        res["loadavg_ready"] = open("/proc/loadavg").read().split()[:3]
        log(f"bench/queue: ready in {res['ready_s']} s, RSS {res['rss_ready'] / 2**20:.0f} MiB")
        after_ready(tern, sink, res)
        res["ok"] = True
    except Exception as e:  # noqa: BLE001 (reported, exit 1)
        res["ok"] = False
        res["error"] = str(e)
        log("bench/queue: FAILED:", e)
        log(tern.log_tail())
    finally:
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait(60)
        tern.stop()
        sink.stop()
        if os.environ.get("KEEP") == "1":  # for profiling: the data dir stays (drained)
            log(f"bench/queue: kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    report(res)
    return 0 if res["ok"] else 1


def fill(tern, res):
    """Fills N messages with delivery refused, then kill -9 (and KEEP_FILL's copy)."""
    tern.start()
    tern.wait_metrics(lambda m: True, 60, "first start")
    wait_port(tern.smtp, 30)
    log(f"bench/queue: filling {N} messages (delivery refused)")
    t = time.monotonic()
    subprocess.run(["smtp-source", "-s", str(SESSIONS), "-m", str(N), "-l", str(SIZE),
                    "-f", "bench@bench.test", "-t", "rcpt@dest.test", "-M", "bench.test",
                    f"127.0.0.1:{tern.smtp}"], check=True, timeout=FILL_TIMEOUT,
                   stdout=subprocess.DEVNULL)
    tern.wait_metrics(lambda m: m.get("tern_queue_messages") == N
                      and m.get("tern_deferred_total", 0) >= N, FILL_TIMEOUT, "all deferred")
    res["fill_s"] = round(time.monotonic() - t, 1)
    res["rss_before_kill"] = proc_status(tern.proc.pid).get("VmRSS")
    log(f"bench/queue: {N} deferred in {res['fill_s']} s; kill -9")
    tern.kill9()
    if KEEP_FILL:
        os.makedirs(KEEP_FILL)
        subprocess.run(["cp", "-a", tern.data, os.path.join(KEEP_FILL, "data")], check=True)
        with open(os.path.join(KEEP_FILL, "fill.json"), "w") as f:
            json.dump({"n": N, "sessions": SESSIONS, "size": SIZE, "fill_s": res["fill_s"],
                       "time_utc": res["time_utc"], "binary": tern.bin}, f, indent=2)
        log(f"bench/queue: fill kept in {KEEP_FILL}")


def after_ready(tern, sink, res):
    """The checkpoint's log line, one `queue list` page, then (unless READY_ONLY) the drain."""
    # Whether recovery read the spool's index checkpoint, and how much log it scanned after.
    with open(tern.logf, errors="replace") as f:
        found = re.findall(r"index checkpoint read; (\d+) bytes of log scanned", f.read())
    res["from_checkpoint"] = bool(found)
    if found:
        res["log_bytes_scanned_after_checkpoint"] = int(found[-1])
    t = time.monotonic()
    try:
        out = tern.cli("queue", "list", "--limit", "100", "--json")
        res["list_page_s"] = round(time.monotonic() - t, 2)
        if len(json.loads(out)) != min(100, N):
            raise RuntimeError("queue list --limit 100 printed the wrong number of messages")
    except RuntimeError as e:
        if "--limit" not in str(e):
            raise
        # A binary from before paging (for before/after runs): the whole list.
        out = tern.cli("queue", "list", "--json")
        res["list_all_s"] = round(time.monotonic() - t, 2)
    if READY_ONLY:
        return
    sink.start()
    t = time.monotonic()
    tern.cli("queue", "retry", "--all")
    deadline = t + STEP_TIMEOUT
    while sink.count() < N:
        if time.monotonic() > deadline:
            raise TimeoutError(f"drain: sink counted {sink.count()} of {N}")
        if tern.proc.poll() is not None:
            raise RuntimeError("tern exited during the drain:\n" + tern.log_tail())
        time.sleep(0.02)
    res["drain_s"] = round(time.monotonic() - t, 2)
    res["drain_msgs_per_s"] = round(N / max(res["drain_s"], 1e-3), 1)
    tern.wait_metrics(lambda m: m.get("tern_queue_messages") == 0, STEP_TIMEOUT, "empty queue")
    time.sleep(2)
    got = sink.count()
    if got != N:
        raise RuntimeError(f"sink counted {got}, expected exactly {N}")
    st = proc_status(tern.proc.pid)
    res["rss_after_drain"] = st.get("VmRSS")
    res["rss_peak"] = st.get("VmHWM")
    if not SMOKE:  # the events and reports of the drain are written by then
        time.sleep(13)
        res["rss_15s_after_drain"] = proc_status(tern.proc.pid).get("VmRSS")


def report(res):
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    name = "smoke.json" if SMOKE else "ready.json" if READY_ONLY else "last.json"
    with open(os.path.join(HERE, "results", name), "w") as f:
        json.dump(res, f, indent=2)
    mib = lambda v: f"{v / 2**20:.0f} MiB" if v else "-"  # noqa: E731
    print(f"bench/queue  N={N}  size={SIZE}  {res['time_utc']}")
    for k, label, fmt in [("from_fill", "kept fill (FROM_FILL)", str),
                          ("fill_s", "fill (submit + first refusal), s", str),
                          ("ready_s", "ready after kill -9, s", str),
                          ("rss_ready", "RSS when ready", mib),
                          ("rss_peak_ready", "peak RSS up to ready", mib),
                          ("from_checkpoint", "recovered from the index checkpoint", str),
                          ("log_bytes_scanned_after_checkpoint", "log scanned after it, bytes",
                           str),
                          ("list_page_s", "queue list --limit 100, s", str),
                          ("list_all_s", "queue list (all; no paging), s", str),
                          ("drain_s", "drain to smtp-sink, s", str),
                          ("drain_msgs_per_s", "drain, msg/s", str),
                          ("rss_after_drain", "RSS 2 s after the drain", mib),
                          ("rss_15s_after_drain", "RSS 15 s after the drain", mib),
                          ("rss_peak", "peak RSS", mib)]:
        if k in res:
            print(f"  {label:36} {fmt(res[k])}")


if __name__ == "__main__":
    sys.exit(main())
