#!/usr/bin/env bash
# Configures and builds one of the two sanitizer build dirs with clang-14 (docs/development.md):
#   asan  build-fuzz/  ASan + UBSan (TERN_FUZZ=ON: the libFuzzer targets share the libraries,
#                      so they compile once for both), RelWithDebInfo
#   tsan  build-tsan/  ThreadSanitizer, -O1 -g; unit tests of the threaded modules only
# No benches (TERN_BENCH=OFF). Both scripts that use build-fuzz (tests/fuzz/run.sh,
# tests/sanitize/run.sh) configure it through here, so its cache never flips between them.
# Usage: scripts/sanitize-build.sh asan|tsan [--target T ...]   (default: every target)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?usage: sanitize-build.sh asan|tsan [--target T ...]}
shift
case "$mode" in
  asan) dir=build-fuzz
        args=(-DTERN_FUZZ=ON -DTERN_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=RelWithDebInfo
              -DTERN_UNIT_ONLY=) ;;
  # Only the unit tests of modules whose code or tests share state between threads (pools,
  # io_context threads, the spool's sync thread, SQLite connections, caches behind mutexes);
  # the single-threaded parsers and sans-IO cores gain nothing from TSan.
  tsan) dir=build-tsan
        args=(-DTERN_SANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo
              "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g"
              "-DTERN_UNIT_ONLY=core;dkim;pipeline;policy;queue;store;net;api;app;domain") ;;
  *) echo "sanitize-build: unknown mode $mode (asan or tsan)" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DTERN_TESTS=ON -DTERN_BENCH=OFF \
  "${args[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)" "$@"
