#!/usr/bin/env bash
# Every benchmark's smoke mode (make bench-smoke; part of make test): the same code path as the
# full run with tiny counts and both peers (Tern and Postfix, Postfix + OpenDKIM, OpenSSL; queue:
# Tern alone: queue, kill -9, restart, drain; store_copy: Tern alone, SQLite into PostgreSQL;
# cluster: Tern alone, one node on SQLite, one and three on PostgreSQL, flow, accept, outbox),
# so a broken benchmark fails CI. Writes nothing under docs/ or bench/*/results/.
# Usage: scripts/bench-smoke.sh [BUILD_DIR]   (default build; needs root, like the benchmarks)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
for b in "accept" "accept SIGN=1" "relay" "dkim" "queue" "store" "store_copy" "cluster"; do
  set -- $b
  t0=$SECONDS
  arg="$BUILD/tern"
  [ "$1" = dkim ] || [ "$1" = store ] && arg=$BUILD
  env SMOKE=1 ${2:-} bash "bench/$1/run.sh" "$arg"
  echo "bench-smoke: $b in $((SECONDS - t0)) s"
done
