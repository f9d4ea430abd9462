#!/usr/bin/env bash
# Relay benchmark (issue 4): Tern vs Postfix + OpenDKIM, both signing with RSA-2048, relaying to
# smtp-sink; delivered msgs/s (flow) and time to drain a queue of N messages. See bench.py.
# Usage (as root): bench/relay/run.sh [TERN_BIN]
#   env: N=100000 (drain queue size; N=2000 for a quick run)  FLOW_N  SESSIONS=20  SIZE=1024
#        RUNS=1  CELL_TIMEOUT (seconds per cell)  SERVERS=postfix,tern (SERVERS=postfix: no Tern)
# Writes bench/relay/results/last.json and prints a table. Exit 1 when any cell failed.
#        SMOKE=1 bench/relay/run.sh [TERN_BIN]  the same code path with N=FLOW_N=20, both relays
#                                               (make bench-smoke); writes nothing under results/
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${SMOKE:-0}" = 1 ]; then
  smoke_dir=$(mktemp -d)
  trap 'rm -rf "$smoke_dir"' EXIT
  export N=20 FLOW_N=20 RUNS=1 CELL_TIMEOUT=120 SERVERS=postfix,tern BENCH_RESULTS_DIR=$smoke_dir
fi
TERN_BIN=$(realpath -m "${1:-build/tern}")
[ "$(id -u)" = 0 ] || { echo "bench/relay: run as root (private Postfix, smtp-sink -u postfix)" >&2; exit 1; }
for t in postfix postqueue postsuper smtp-source smtp-sink opendkim opendkim-genkey openssl \
         /usr/sbin/nsd /usr/sbin/unbound; do
  command -v "$t" >/dev/null ||
    { echo "bench/relay: $t missing (scripts/install-deps.sh: postfix opendkim opendkim-tools nsd unbound)" >&2; exit 1; }
done
/usr/bin/python3 -c 'import dkim, dns.resolver, aiosmtpd' 2>/dev/null ||
  { echo "bench/relay: apt-get install python3-dkim python3-dnspython python3-aiosmtpd" >&2; exit 1; }
if [[ ",${SERVERS:-postfix,tern}," == *",tern,"* ]] && [ ! -x "$TERN_BIN" ]; then
  echo "bench/relay: $TERN_BIN not built (or SERVERS=postfix)" >&2; exit 1
fi
ulimit -n 20000
export PYTHONDONTWRITEBYTECODE=1
for v in N FLOW_N RUNS CELL_TIMEOUT; do
  [[ -z "${!v:-}" || "${!v}" =~ ^[0-9]+$ ]] || { echo "bench/relay: $v=${!v} is not a whole number" >&2; exit 2; }
done
N=${N:-100000}; FLOW_N=${FLOW_N:-$(( N < 20000 ? N : 20000 ))}
# Whole-run guard on top of the per-cell deadlines: 4 cells per run plus start-up and probes.
CELL=${CELL_TIMEOUT:-$(( 180 + (N + FLOW_N) / 25 ))}
LIMIT=$(( (4 * ${RUNS:-1} + 4) * CELL + 600 ))
if [ "${SMOKE:-0}" != 1 ]; then
  exec timeout --kill-after=30 "$LIMIT" /usr/bin/python3 bench/relay/bench.py "$TERN_BIN"
fi
# bench.py exits 1 when any cell or probe failed; both relays must have run both cells.
timeout --kill-after=30 600 /usr/bin/python3 bench/relay/bench.py "$TERN_BIN"
/usr/bin/python3 - "$smoke_dir/last.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for key in ("postfix", "tern"):
    med = r["relays"][key]["median"]
    assert med["flow"].get("delivered_msgs_s") and med["drain"].get("drain_msgs_s"), (key, med)
print("bench/relay smoke: ok")
PY
