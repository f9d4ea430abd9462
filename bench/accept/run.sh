#!/usr/bin/env bash
# Accept benchmark: Tern vs a private Postfix instance on 127.0.0.1, same run, same client.
# Usage (as root): bench/accept/run.sh [TERN_BIN]   env: RUNS N_SMALL N_LARGE IDLE_N SESSIONS
# Writes the tables into docs/performance.md (its own section; other sections are kept).
set -euo pipefail
cd "$(dirname "$0")/../.."
TERN_BIN=$(realpath "${1:-build/tern}")
[ -x "$TERN_BIN" ] || { echo "bench/accept: $TERN_BIN not built" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench/accept: run as root (private Postfix instance)" >&2; exit 1; }
for t in postfix smtp-source strace; do
  command -v $t >/dev/null || { echo "bench/accept: $t missing (apt-get install postfix strace)" >&2; exit 1; }
done
ulimit -n 20000   # 10,000 idle connections: the client and Tern each need one fd per connection
export PYTHONDONTWRITEBYTECODE=1
exec timeout 1800 /usr/bin/python3 bench/accept/bench.py "$TERN_BIN" docs/performance.md
