#!/usr/bin/env bash
# Store hot-path benchmark (bench_store: API-key AUTH, account context, suppression look-up,
# event batches, signing keys, on a SQLite file with synchronous=FULL). Prints a table of
# items/s, each benchmark's best of ROUNDS rounds (default 3).
# Usage: bench/store/run.sh [BUILD_DIR]        (default build; builds bench_store there)
#        BASELINE=/path/to/bench_store bench/store/run.sh [BUILD_DIR]
#            the same benchmarks of another build (e.g. the Store interface before issue 11,
#            built from bench_store.cpp with -DTERN_OLD_STORE_API) in alternating rounds, with a
#            ratio column
#        SMOKE=1 bench/store/run.sh [BUILD_DIR]  the same code path, one short round; fails if
#            a benchmark reports an error
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
ROUNDS=${ROUNDS:-3}
MIN_TIME=1
[ "${SMOKE:-0}" = 1 ] && ROUNDS=1 MIN_TIME=0.01
cmake --build "$BUILD" --target bench_store -j"$(nproc)" >/dev/null
BIN="$BUILD/bench/store/bench_store"
RAW=$(mktemp -d)
trap 'rm -rf "$RAW"' EXIT
for round in $(seq 1 "$ROUNDS"); do
  if [ -n "${BASELINE:-}" ]; then
    "$BASELINE" --benchmark_min_time="$MIN_TIME" --benchmark_format=json >"$RAW/old.$round.json"
  fi
  "$BIN" --benchmark_min_time="$MIN_TIME" --benchmark_format=json >"$RAW/new.$round.json"
done
PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 - "$RAW" <<'PY'
import glob, json, sys
raw = sys.argv[1]
def best(prefix):
    out, errors = {}, []
    for f in glob.glob(f"{raw}/{prefix}.*.json"):
        for b in json.load(open(f))["benchmarks"]:
            if b.get("error_occurred"):
                errors.append(f"{b['name']}: {b.get('error_message')}")
            out[b["name"]] = max(out.get(b["name"], 0), b.get("items_per_second", 0))
    return out, errors
new, errors = best("new")
old, old_errors = best("old")
if errors or old_errors:
    sys.exit("bench/store: " + "; ".join(errors + old_errors))
if old:
    print(f"{'benchmark':<22} {'baseline/s':>12} {'this/s':>12} {'ratio':>6}")
    for k, v in new.items():
        print(f"{k:<22} {old.get(k, 0):>12.0f} {v:>12.0f} {v / old[k] if old.get(k) else 0:>6.2f}")
else:
    print(f"{'benchmark':<22} {'items/s':>12}")
    for k, v in new.items():
        print(f"{k:<22} {v:>12.0f}")
PY
[ "${SMOKE:-0}" = 1 ] && echo "bench/store smoke: ok"
exit 0
