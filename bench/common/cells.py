"""What the benchmarks' drivers share to run their cells (bench/relay, bench/cluster): settings
read from the environment with bounds, a log line to stderr, a deadline per cell and a cell
whose failure is reported without ending the run.

Invariants:
  - A setting outside its bounds or not a whole number ends the run at once with a message
    naming the benchmark and the variable (nothing is measured with a value nobody asked for).
  - deadline() restores the previous SIGALRM handler and cancels the alarm on every exit.
  - guarded() turns any Exception (CellTimeout included) into {"error": ...}, so one stuck or
    failed cell never hides the others' numbers.

Also the end of a run: error_lines() for the table, failed() for the exit status,
write_results() (atomic: a reader never sees half a file), remove_temp() (kept with
TERN_BENCH_KEEP set).
"""
import contextlib
import json
import os
import shutil
import signal
import sys
import time


def env_int_reader(bench):
    """env_int(name, default, lo, hi) for the benchmark named bench ("bench/relay")."""

    def env_int(name, default, lo, hi):
        raw = os.environ.get(name, "").strip() or str(default)
        try:
            v = int(raw)
        except ValueError:
            sys.exit(f"{bench}: {name}={raw!r} is not a whole number")
        if not lo <= v <= hi:
            sys.exit(f"{bench}: {name}={v} is outside {lo}..{hi}")
        return v

    return env_int


def log(*a):
    print(*a, file=sys.stderr, flush=True)


class CellTimeout(Exception):
    pass


@contextlib.contextmanager
def deadline(seconds):
    """Raises CellTimeout in the block after seconds; yields the monotonic time limit."""
    def fire(signum, frame):
        raise CellTimeout(f"cell exceeded {seconds}s")
    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(int(seconds))
    try:
        yield time.monotonic() + seconds
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def guarded(name, fn, *args):
    try:
        return fn(*args)
    except Exception as e:  # CellTimeout included: the run goes on
        log(f"  {name}: FAILED: {type(e).__name__}: {e}")
        return {"error": f"{type(e).__name__}: {e}"[:2000]}


def error_lines(entries, cells):
    """The table's lines for failed cells and entries: entries are dicts with "name", each
    cell's list of runs and perhaps "error"."""
    out = []
    for r in entries:
        for cell in cells:
            for i, x in enumerate(r.get(cell, [])):
                if "error" in x:
                    out.append(f"{r['name']} {cell} run {i + 1}: {x['error'][:300]}")
        if "error" in r:
            out.append(f"{r['name']}: {r['error'][:500]}")
    return out


def failed(entries, cells):
    return any("error" in r or any("error" in x for c in cells for x in r.get(c, []))
               for r in entries)


def write_results(res, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(res, f, indent=1)
    os.replace(path + ".tmp", path)


def remove_temp(base):
    if os.environ.get("TERN_BENCH_KEEP"):
        log(f"kept {base}")
    else:
        shutil.rmtree(base, ignore_errors=True)
