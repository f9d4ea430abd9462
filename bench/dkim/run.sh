#!/usr/bin/env bash
# DKIM signing benchmark: bench_dkim (Release build) and `openssl speed` for the same algorithms
# in the same run; prints the table and writes it into docs/performance.md between
# <!-- bench/dkim:begin --> and <!-- bench/dkim:end --> (other sections are kept).
# Usage: bench/dkim/run.sh [BUILD_DIR]   (default build-bench-dkim; env NO_DOC=1: print only)
#        SMOKE=1 bench/dkim/run.sh [BUILD_DIR]   the same code path, one short round of each
#        program (make bench-smoke: BUILD_DIR=build, the build make test already made; default
#        there is build); writes nothing under docs/ or results/
set -euo pipefail
cd "$(dirname "$0")/../.."
RAW=$(mktemp -d)
trap 'rm -rf "$RAW"' EXIT
MIN_TIME=2 SPEED_S=3 RESULTS=bench/dkim/results/last.json
if [ "${SMOKE:-0}" = 1 ]; then
  BUILD=${1:-build}
  ROUNDS=1 MIN_TIME=0.01 SPEED_S=1 NO_DOC=1 RESULTS=$RAW/last.json
  # The benchmark library reports a build type; the smoke run accepts any (the numbers are
  # thrown away), the real run builds Release below.
  cmake --build "$BUILD" --target bench_dkim -j"$(nproc)" >/dev/null
else
  BUILD=${1:-build-bench-dkim}
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTERN_TESTS=OFF >/dev/null
  cmake --build "$BUILD" --target bench_dkim -j"$(nproc)" >/dev/null
fi
BIN="$BUILD/bench/dkim/bench_dkim"
START=$(date -u +%s)
# Rounds alternate the two programs so both see the same conditions on a shared machine; the
# report takes each program's best round.
for round in $(seq 1 "${ROUNDS:-3}"); do
  "$BIN" --benchmark_min_time="$MIN_TIME" --benchmark_format=json >"$RAW/bench.$round.json"
  openssl speed -mr -seconds "$SPEED_S" rsa2048 ed25519 >"$RAW/speed.$round.txt" 2>&1
done
export PYTHONDONTWRITEBYTECODE=1
/usr/bin/python3 bench/dkim/report.py "$RAW" "$START" "${ROUNDS:-3}" "$RESULTS" \
  "$([ "${NO_DOC:-}" = 1 ] || echo docs/performance.md)"
if [ "${SMOKE:-0}" = 1 ]; then
  [ -s "$RESULTS" ] || { echo "bench/dkim smoke: no results written" >&2; exit 1; }
  echo "bench/dkim smoke: ok"
fi
