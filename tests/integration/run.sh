#!/usr/bin/env bash
# Runs the integration tests against the real binary with real peers on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."
TERN_BIN=$(realpath "${1:-build/tern}")
if [ ! -x "$TERN_BIN" ]; then echo "integration: $TERN_BIN is missing: build it first (make build)" >&2; exit 1; fi
export TERN_BIN
export PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 -m unittest discover -s tests/integration -p 'test_*.py' -v
