#!/usr/bin/env bash
# Sanitizer runs (make sanitize / make tsan; both part of make test). Builds the sanitizer build
# dir (scripts/sanitize-build.sh), runs every unit test in it, then a subset of the integration
# tests against its `tern` binary. A finding stops the process that made it (no recovery); the
# servers the integration tests start write their reports to files (log_path), and any report
# file fails the run, so a finding in a server that a test did not notice still counts.
#   asan  build-fuzz/  ASan + UBSan + LeakSanitizer
#   tsan  build-tsan/  ThreadSanitizer
# Usage: tests/sanitize/run.sh asan|tsan      env: SANITIZE_IT (override the integration subset;
#        "" = none), SANITIZE_UNIT=0 (skip the unit tests)
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:?usage: tests/sanitize/run.sh asan|tsan}
supp="$PWD/tests/sanitize"
run=()
case "$mode" in
  asan)
    dir=build-fuzz
    # The integration subset (~3 min here): the paths every message takes and the code that
    # reads outside bytes: SMTP submission and HTTP send (accept, spool commit, signing),
    # delivery (engine, SMTP client, retries, bounces), the REST API (handler pools, store),
    # the SMTP protocol limits, webhooks (their own thread and pool) and spool recovery on
    # the real binary. The whole suite passes under ASan too (~10 min: too long for CI).
    default_it="test_send test_delivery test_api test_protocol test_webhooks test_spool_integrity"
    export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:strict_init_order=1:detect_stack_use_after_return=0"
    export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
    ;;
  tsan)
    dir=build-tsan
    # The threads that share the most: submission, delivery (engine thread, its pool, the
    # report pipeline), the API pools and the webhook sender (~2.5 min here).
    default_it="test_send test_delivery test_api test_webhooks"
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp:print_suppressions=0"
    # Without address-space randomisation: clang-14's TSan refuses to start on kernels that
    # randomise more bits than it knows (vm.mmap_rnd_bits > 28); the flag is per process tree.
    run=(setarch "$(uname -m)" -R)
    ;;
  *) echo "sanitize: unknown mode $mode (asan or tsan)" >&2; exit 2 ;;
esac
IT=${SANITIZE_IT-$default_it}

t0=$SECONDS
bash scripts/sanitize-build.sh "$mode"
echo "sanitize $mode: built in $((SECONDS - t0)) s"

if [ "${SANITIZE_UNIT:-1}" != 0 ]; then
  t0=$SECONDS
  (cd "$dir" && "${run[@]}" ctest --output-on-failure -j "$(nproc)")
  echo "sanitize $mode: unit tests in $((SECONDS - t0)) s"
fi

if [ -n "$IT" ]; then
  t0=$SECONDS
  reports=$(mktemp -d)
  trap 'rm -rf "$reports"' EXIT
  # Only the processes that load a sanitizer runtime read these; Python and the peers ignore them.
  export ASAN_OPTIONS="${ASAN_OPTIONS:-}:log_path=$reports/asan"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:log_path=$reports/ubsan"
  export TSAN_OPTIONS="${TSAN_OPTIONS:-}:log_path=$reports/tsan"
  export TERN_BIN="$PWD/$dir/tern"
  export TERN_SANITIZER=$mode  # tests that measure memory or time skip themselves
  export PYTHONDONTWRITEBYTECODE=1
  rc=0
  (cd tests/integration && "${run[@]}" /usr/bin/python3 -m unittest $IT) || rc=$?
  found=$(find "$reports" -type f | sort)
  if [ -n "$found" ]; then
    for f in $found; do echo "=== $f"; cat "$f"; done
    echo "sanitize $mode: the sanitizer reported the findings above" >&2
    rc=1
  fi
  echo "sanitize $mode: integration tests ($IT) in $((SECONDS - t0)) s"
  exit $rc
fi
