#!/usr/bin/env bash
# Lints Tern's whole OpenAPI document (`tern openapi` prints what GET /api/v1/openapi.json
# answers, every route of every branch included) with Redocly's recommended rules. The linter is
# @redocly/cli, pinned exactly in package.json and package-lock.json and installed here with
# `npm ci` (Node.js and npm come from scripts/install-deps.sh). Any problem fails: errors and
# warnings alike, each printed with its rule and place.
# Usage: tests/openapi/lint.sh [path/to/tern]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
TERN_BIN=$(realpath "${1:-$here/../../build/tern}")
if [ ! -x "$TERN_BIN" ]; then echo "openapi-lint: $TERN_BIN is missing: build it first" >&2; exit 1; fi
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "openapi-lint: $tool is missing (make deps)" >&2; exit 1; }
done
# @redocly/cli 2.77.0 declares node ">=20.19.0 <21 || >=22.12.0"; say so rather than fail oddly.
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number);
  process.exit((a===20&&b>=19)||a>22||(a===22&&b>=12)?0:1)'; then
  echo "openapi-lint: @redocly/cli 2.77.0 needs Node.js 20.19+ or 22.12+, not $(node --version)" >&2
  exit 1
fi

cd "$here"
npm ci --no-audit --no-fund --loglevel=error >/dev/null
# No network for the linter itself: no usage telemetry, no update check.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$TERN_BIN" openapi >"$work/openapi.json"
# Exit status 1 with errors only; the JSON report counts warnings too.
npx --no-install redocly lint "$work/openapi.json" --config "$here/redocly.yaml" --format json \
  --max-problems 10000 >"$work/report.json" 2>"$work/stderr" || true
/usr/bin/python3 - "$work/report.json" "$work/stderr" <<'PY'
import json, sys
try:
    report = json.load(open(sys.argv[1]))
except ValueError:
    sys.stderr.write("openapi-lint: redocly printed no JSON report:\n" + open(sys.argv[2]).read())
    sys.exit(1)
problems = report.get("problems", [])
for p in problems:
    where = ", ".join(l.get("pointer", "?") for l in p.get("location", []))
    print(f"openapi-lint: {p.get('severity')} {p.get('ruleId')}: {p.get('message')} at {where}")
t = report.get("totals", {})
print(f"openapi-lint: @redocly/cli {report.get('version', '?')} recommended rules: "
      f"{t.get('errors', '?')} errors, {t.get('warnings', '?')} warnings")
sys.exit(1 if problems or t.get("errors") or t.get("warnings") else 0)
PY
