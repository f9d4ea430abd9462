#!/usr/bin/env bash
# Accept benchmark: Tern vs a private Postfix instance on 127.0.0.1, same run, same client.
# Usage (as root): bench/accept/run.sh [TERN_BIN]   env: RUNS N_SMALL N_LARGE IDLE_N SESSIONS
#        SIGN=1 bench/accept/run.sh [TERN_BIN]   DKIM signing on vs off vs Postfix (sign.py;
#                                                env RUNS N_SMALL N_LARGE SIGN_SESSIONS)
# Writes the tables into docs/performance.md (its own section; other sections are kept).
#        SMOKE=1 bench/accept/run.sh [TERN_BIN]  the same code path with tiny counts, both
#                                                servers; writes nothing under docs/ or results/
#                                                (make bench-smoke; a broken benchmark fails CI)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT_MD=docs/performance.md
if [ "${SMOKE:-0}" = 1 ]; then
  smoke_dir=$(mktemp -d)
  trap 'rm -rf "$smoke_dir"' EXIT
  export RUNS=1 N_SMALL=20 N_LARGE=4 SESSIONS=1,5 IDLE_N=20 FSYNC_N=20 LATENCY_N=40 \
    SIGN_SESSIONS=5 BENCH_RESULTS_DIR=$smoke_dir
  OUT_MD=$smoke_dir/performance.md
fi
TERN_BIN=$(realpath "${1:-build/tern}")
[ -x "$TERN_BIN" ] || { echo "bench/accept: $TERN_BIN not built" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench/accept: run as root (private Postfix instance)" >&2; exit 1; }
for t in postfix smtp-source strace; do
  command -v $t >/dev/null || { echo "bench/accept: $t missing (apt-get install postfix strace)" >&2; exit 1; }
done
if [ "${SIGN:-0}" = 1 ]; then
  for t in /usr/sbin/nsd /usr/sbin/unbound; do
    [ -x $t ] || { echo "bench/accept: $t missing (apt-get install nsd unbound)" >&2; exit 1; }
  done
  /usr/bin/python3 -c 'import dkim, dns.resolver' 2>/dev/null ||
    { echo "bench/accept: apt-get install python3-dkim python3-dnspython" >&2; exit 1; }
fi
ulimit -n 20000   # 10,000 idle connections: the client and Tern each need one fd per connection
export PYTHONDONTWRITEBYTECODE=1
if [ "${SMOKE:-0}" != 1 ]; then
  exec timeout 1800 /usr/bin/python3 bench/accept/bench.py "$TERN_BIN" "$OUT_MD"
fi
timeout 600 /usr/bin/python3 bench/accept/bench.py "$TERN_BIN" "$OUT_MD" >/dev/null
# The run rendered its table: the section is there with a row per cell.
section=$([ "${SIGN:-0}" = 1 ] && echo accept-sign || echo accept)
grep -q "<!-- bench/$section:end -->" "$OUT_MD" &&
  [ "$(grep -c '^| [0-9]' "$OUT_MD")" -ge 4 ] ||
  { echo "bench/accept smoke: no table rendered" >&2; cat "$OUT_MD" >&2; exit 1; }
echo "bench/accept smoke${SIGN:+ (SIGN=$SIGN)}: ok"
