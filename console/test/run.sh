#!/usr/bin/env bash
# The console's browser suite: Debian's Chromium driven by playwright-core under `node --test`,
# against a real `tern serve` (console/test/env.py starts it with a test DNS and an SMTP sink).
#   bash console/test/run.sh build/tern
#   UPDATE_SCREENSHOTS=1 bash console/test/run.sh build/tern   # rewrite the screenshot baselines
# The binary must embed the built console (make build does: npm ci, npm run build, then cmake).
set -euo pipefail
if [ $# -lt 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 path/to/tern (built with the console: make build)" >&2
  exit 2
fi
TERN_BIN="$(realpath "$1")"
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
  echo "console tests: /usr/bin/chromium is missing (make deps installs it)" >&2
  exit 1
fi
if [ ! -d node_modules ]; then npm ci --no-audit --no-fund --loglevel=error; fi
export TERN_BIN
exec node --test --test-concurrency=1 --test-timeout=600000 test/*.test.mjs
