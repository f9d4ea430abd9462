#!/usr/bin/env bash
# Runs a unit test binary (with its arguments) in a fresh, empty TMPDIR and fails if anything is
# left there afterwards: tests clean up what they write (issue 14.14: TLS keys piled up in /tmp).
set -euo pipefail
dir=$(mktemp -d "${TMPDIR:-/tmp}/tern-leftover-check-XXXXXX")
trap 'rm -rf "$dir"' EXIT
TMPDIR=$dir TEST_TMPDIR=$dir "$@" >"$dir.log" 2>&1 || { cat "$dir.log"; rm -f "$dir.log"; exit 1; }
rm -f "$dir.log"
left=$(ls -A "$dir")
if [ -n "$left" ]; then
  echo "left behind in TMPDIR by $*:"
  ls -lA "$dir"
  exit 1
fi
echo "nothing left behind by $1"
