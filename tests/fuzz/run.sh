#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build-fuzz/ (ASan + UBSan, shared with the
# sanitizer unit tests: scripts/sanitize-build.sh asan) and runs each for a short, bounded
# time from its seed corpus (tests/fuzz/corpus/<name>/), with tests/fuzz/dict/<name>.dict when
# there is one. A crash, a leak, UB or a timeout fails the run and prints the finding.
# env: FUZZ_SECONDS (20 per target)  FUZZ_ONLY (space-separated target names, e.g. "spf spool")
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! ls tests/fuzz/*_fuzz.cpp >/dev/null 2>&1; then echo "fuzz: no targets"; exit 0; fi
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
bash scripts/sanitize-build.sh asan --target fuzz_all
failed=()
for t in build-fuzz/tests/fuzz/*_fuzz; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  name=${name%_fuzz}
  if [ -n "${FUZZ_ONLY:-}" ] && [[ " $FUZZ_ONLY " != *" $name "* ]]; then continue; fi
  corpus="tests/fuzz/corpus/$name"
  work=$(mktemp -d)
  [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
  dict=()
  [ -f "tests/fuzz/dict/$name.dict" ] && dict=(-dict="tests/fuzz/dict/$name.dict")
  out=$(mktemp)
  echo "fuzz: ${name}_fuzz for ${FUZZ_SECONDS}s"
  if "$t" -max_total_time="$FUZZ_SECONDS" -max_len=4096 -timeout=10 -print_final_stats=1 \
       "${dict[@]}" -artifact_prefix="$work/" "$work" >"$out" 2>&1; then
    tail -3 "$out"
  else
    tail -60 "$out"
    for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
      [ -f "$a" ] && { echo "fuzz: finding $(basename "$a") (base64):"; base64 -w0 "$a"; echo; }
    done
    failed+=("$name")
  fi
  rm -rf "$work" "$out"
done
if [ ${#failed[@]} -gt 0 ]; then echo "fuzz: FAILED: ${failed[*]}" >&2; exit 1; fi
