#!/usr/bin/env bash
# bench/store_copy: how fast `tern store copy` moves a big message log from SQLite into a
# private PostgreSQL 15 (see run.py). Tern alone: there is no peer doing this job.
# Usage (as root: PostgreSQL runs as the postgres user): bench/store_copy/run.sh [TERN_BIN]
#   env ROWS=200000 (message-log rows, and as many delivery events)
#        SMOKE=1 bench/store_copy/run.sh [TERN_BIN]  the same code path with ROWS=200 (make test)
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "${SMOKE:-0}" = 1 ] && export ROWS=200
export TERN_BIN=$(realpath "${1:-build/tern}")
export PYTHONDONTWRITEBYTECODE=1
exec timeout --kill-after=30 1800 /usr/bin/python3 bench/store_copy/run.py
