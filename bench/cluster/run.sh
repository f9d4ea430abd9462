#!/usr/bin/env bash
# Cluster benchmark (issue 12): relay flow (submit -> DKIM-signed -> delivered to smtp-sink),
# accept, and webhook outbox throughput, for one node on SQLite, one node on PostgreSQL and three
# nodes on PostgreSQL (load spread over them), in one run; row writes per delivered recipient on
# PostgreSQL. See bench.py for the method. PostgreSQL 15 is started here (as the postgres user,
# a free loopback port, a temp dir, fsync on) and removed on exit.
# Usage (as root): bench/cluster/run.sh [TERN_BIN]
#   env: FLOW_N=10000 ACCEPT_N=5000 OUTBOX_N=20000 HOOK_HOSTS=8 SESSIONS=20 SIZE=1024 RUNS=3
#        CELL_TIMEOUT (seconds per cell)  REGIONS=sqlite1,pg1,pg3  CELLS=flow,accept,outbox
#        PGSS=1: print the flow cell's top PostgreSQL statements (pg_stat_statements)
# Writes bench/cluster/results/last.json and prints a table. Exit 1 when any cell failed.
#        SMOKE=1 bench/cluster/run.sh [TERN_BIN]  the same code path with tiny counts, every
#                                                 region and cell (make bench-smoke); writes
#                                                 nothing under results/
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${SMOKE:-0}" = 1 ]; then
  smoke_dir=$(mktemp -d)
  trap 'rm -rf "$smoke_dir"' EXIT
  export FLOW_N=20 ACCEPT_N=20 OUTBOX_N=200 HOOK_HOSTS=2 SESSIONS=6 RUNS=1 CELL_TIMEOUT=120 \
    REGIONS=sqlite1,pg1,pg3 CELLS=flow,accept,outbox BENCH_RESULTS_DIR=$smoke_dir
fi
TERN_BIN=$(realpath -m "${1:-build/tern}")
[ "$(id -u)" = 0 ] || { echo "bench/cluster: run as root (PostgreSQL runs as the postgres user, smtp-sink -u postfix)" >&2; exit 1; }
[ -x "$TERN_BIN" ] || { echo "bench/cluster: $TERN_BIN not built" >&2; exit 1; }
for t in smtp-source smtp-sink openssl /usr/sbin/nsd /usr/sbin/unbound \
         /usr/lib/postgresql/15/bin/initdb /usr/lib/postgresql/15/bin/psql; do
  command -v "$t" >/dev/null ||
    { echo "bench/cluster: $t missing (scripts/install-deps.sh: postfix nsd unbound postgresql)" >&2; exit 1; }
done
/usr/bin/python3 -c 'import dkim, dns.resolver, aiosmtpd' 2>/dev/null ||
  { echo "bench/cluster: apt-get install python3-dkim python3-dnspython python3-aiosmtpd" >&2; exit 1; }
for v in FLOW_N ACCEPT_N OUTBOX_N HOOK_HOSTS RUNS CELL_TIMEOUT; do
  [[ -z "${!v:-}" || "${!v}" =~ ^[0-9]+$ ]] || { echo "bench/cluster: $v=${!v} is not a whole number" >&2; exit 2; }
done
ulimit -n 20000
export PYTHONDONTWRITEBYTECODE=1
# Whole-run guard on top of the per-cell deadlines: 9 cells per run plus start-up and probes.
big=$(( ${FLOW_N:-10000} > ${OUTBOX_N:-20000} ? ${FLOW_N:-10000} : ${OUTBOX_N:-20000} ))
CELL=${CELL_TIMEOUT:-$(( 240 + big / 50 ))}
LIMIT=$(( (9 * ${RUNS:-3} + 3) * CELL + 600 ))
if [ "${SMOKE:-0}" != 1 ]; then
  exec timeout --kill-after=30 "$LIMIT" /usr/bin/python3 bench/cluster/bench.py "$TERN_BIN"
fi
# bench.py exits 1 when any cell failed; every region must have a median of every cell.
timeout --kill-after=30 1200 /usr/bin/python3 bench/cluster/bench.py "$TERN_BIN"
/usr/bin/python3 - "$smoke_dir/last.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for key in ("sqlite1", "pg1", "pg3"):
    med = r["regions"][key]["median"]
    assert med["flow"].get("delivered_msgs_s") and med["accept"].get("msgs_s") \
        and med["outbox"].get("reports_s"), (key, med)
    if key != "sqlite1":
        assert med["flow"].get("row_writes_per_rcpt") and \
            med["outbox"].get("row_writes_per_report"), (key, med)
for k in ("flow_pg1_over_sqlite1", "flow_pg3_over_pg1", "accept_pg1_over_sqlite1",
          "outbox_pg3_over_pg1"):
    assert k in r["ratios"], (k, r["ratios"])
print("bench/cluster smoke: ok")
PY
