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
SMOKE = os.environ.get("SMOKE", "") == "1"


def env_int(name, default, lo, hi):
    raw = os.environ.get(name, "").strip() or str(default)
    try:
        v = int(raw)
    except ValueError:
        sys.exit(f"bench/queue: {name}={raw!r} is not a whole number")
    if not lo <= v <= hi:
        sys.exit(f"bench/queue: {name}={v} is outside {lo}..{hi}")
    return v


N = env_int("N", 200 if SMOKE else 100000, 1, 10_000_000)
SESSIONS = env_int("SESSIONS", 20, 1, 1000)
SIZE = env_int("SIZE", 1024, 1, 10_000_000)
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
    def __init__(self, base, binary, sink_port):
        self.bin, self.base = binary, base
        self.data = os.path.join(base, "data")
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
    tern = Tern(base, binary, sink_port)
    sink = Sink(sink_port, base)
    res = {"n": N, "sessions": SESSIONS, "size": SIZE, "smoke": SMOKE,
           "time_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    try:
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
        t0 = tern.start()
        t_ready, _ = tern.wait_metrics(lambda m: m.get("tern_queue_messages") == N, STEP_TIMEOUT,
                                       "ready after restart")
        st = proc_status(tern.proc.pid)
        res["ready_s"] = round(t_ready - t0, 2)
        res["rss_ready"] = st.get("VmRSS")
        res["rss_peak_ready"] = st.get("VmHWM")
        log(f"bench/queue: ready in {res['ready_s']} s, RSS {res['rss_ready'] / 2**20:.0f} MiB")
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
        res["ok"] = True
    except Exception as e:  # noqa: BLE001 (reported, exit 1)
        res["ok"] = False
        res["error"] = str(e)
        log("bench/queue: FAILED:", e)
        log(tern.log_tail())
    finally:
        tern.stop()
        sink.stop()
        if os.environ.get("KEEP") == "1":  # for profiling: the data dir stays (drained)
            log(f"bench/queue: kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "smoke.json" if SMOKE else "last.json"), "w") as f:
        json.dump(res, f, indent=2)
    mib = lambda v: f"{v / 2**20:.0f} MiB" if v else "-"  # noqa: E731
    print(f"bench/queue  N={N}  size={SIZE}  {res['time_utc']}")
    for k, label, fmt in [("fill_s", "fill (submit + first refusal), s", str),
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
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
