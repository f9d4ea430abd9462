#!/usr/bin/env bash
# DKIM signing benchmark: bench_dkim (Release build) and `openssl speed` for the same algorithms
# in the same run; prints the table and writes it into docs/performance.md between
# <!-- bench/dkim:begin --> and <!-- bench/dkim:end --> (other sections are kept).
# Usage: bench/dkim/run.sh [BUILD_DIR]   (default build-bench-dkim; env NO_DOC=1: print only)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build-bench-dkim}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTERN_TESTS=OFF >/dev/null
cmake --build "$BUILD" --target bench_dkim -j"$(nproc)" >/dev/null
BIN="$BUILD/bench/dkim/bench_dkim"
RAW=$(mktemp -d)
trap 'rm -rf "$RAW"' EXIT
START=$(date -u +%s)
# Rounds alternate the two programs so both see the same conditions on a shared machine; the
# report takes each program's best round.
for round in $(seq 1 "${ROUNDS:-3}"); do
  "$BIN" --benchmark_min_time=2 --benchmark_format=json >"$RAW/bench.$round.json"
  openssl speed -mr -seconds 3 rsa2048 ed25519 >"$RAW/speed.$round.txt" 2>&1
done
export PYTHONDONTWRITEBYTECODE=1
/usr/bin/python3 bench/dkim/report.py "$RAW" "$START" "${ROUNDS:-3}" bench/dkim/results/last.json \
  "$([ "${NO_DOC:-}" = 1 ] || echo docs/performance.md)"
