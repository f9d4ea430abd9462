#!/usr/bin/env bash
# Accept benchmark: Tern vs a private Postfix instance on 127.0.0.1, same run, same client.
# Usage (as root): bench/accept/run.sh [TERN_BIN]   env: RUNS N_SMALL N_LARGE IDLE_N SESSIONS
#        SIGN=1 bench/accept/run.sh [TERN_BIN]   DKIM signing on vs off vs Postfix (sign.py;
#                                                env RUNS N_SMALL N_LARGE SIGN_SESSIONS)
# Writes the tables into docs/performance.md (its own section; other sections are kept).
set -euo pipefail
cd "$(dirname "$0")/../.."
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
exec timeout 1800 /usr/bin/python3 bench/accept/bench.py "$TERN_BIN" docs/performance.md
