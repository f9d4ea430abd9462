#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a short, bounded time.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! ls tests/fuzz/*_fuzz.cpp >/dev/null 2>&1; then echo "fuzz: no targets"; exit 0; fi
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
cmake -S . -B build-fuzz -G Ninja -DTERN_FUZZ=ON -DTERN_TESTS=OFF \
  -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz --target fuzz_all -j "$(nproc)"
for t in build-fuzz/tests/fuzz/*_fuzz; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  corpus="tests/fuzz/corpus/${name%_fuzz}"
  work=$(mktemp -d)
  [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
  echo "fuzz: $name for ${FUZZ_SECONDS}s"
  "$t" -max_total_time="$FUZZ_SECONDS" -max_len=4096 -print_final_stats=1 "$work" 2>&1 | tail -3
  rm -rf "$work"
done
