#!/usr/bin/env bash
# Queue-scale benchmark (issue 11): queue N messages with delivery refused, kill -9, restart
# (time to ready, RSS), `queue list` one page, then drain to smtp-sink (msg/s). See bench.py.
# Usage (as root: smtp-sink -u postfix): bench/queue/run.sh [--smoke] [TERN_BIN]
#   env: N=100000 (N=1000000 for the issue's target)  SESSIONS=20  SIZE=1024
#   --smoke: N=200 and short deadlines, the same steps (make test runs it).
#   Repeated restarts without refilling (bench.py's header has the details):
#     KEEP_FILL=DIR  keep a copy of the data dir right after the fill's kill -9 in DIR
#     FROM_FILL=DIR  skip the fill: start from a copy of DIR's kept data dir (N from DIR)
#     READY_ONLY=1   stop after "ready" (no drain; results/ready.json)
#     PERF_OUT=FILE  perf record -g of the restart, from the exec until ready
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${1:-}" = "--smoke" ]; then export SMOKE=1; shift; fi
TERN_BIN=$(realpath -m "${1:-build/tern}")
[ "$(id -u)" = 0 ] || { echo "bench/queue: run as root (smtp-sink -u postfix)" >&2; exit 1; }
for t in smtp-source smtp-sink; do
  command -v "$t" >/dev/null || { echo "bench/queue: $t missing (scripts/install-deps.sh: postfix)" >&2; exit 1; }
done
[ -x "$TERN_BIN" ] || { echo "bench/queue: $TERN_BIN not built" >&2; exit 1; }
ulimit -n 20000
export PYTHONDONTWRITEBYTECODE=1
N=${N:-100000}
[[ "$N" =~ ^[0-9]+$ ]] || { echo "bench/queue: N=$N is not a whole number" >&2; exit 2; }
if [ -n "${SMOKE:-}" ]; then LIMIT=300; else LIMIT=$(( 1800 + N / 100 )); fi
exec timeout --kill-after=30 "$LIMIT" /usr/bin/python3 bench/queue/bench.py "$TERN_BIN"
