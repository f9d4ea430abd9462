#!/usr/bin/env bash
# Builds the web console (console/ -> console/dist) for `make build`: npm ci with the committed
# lock file (exact pinned versions), then the type check and the Vite build. Skips, with a note,
# when Node.js is missing or older than Vite needs, unless TERN_CONSOLE_REQUIRED=1: then tern
# serves a placeholder page at /console/ saying how to build it.
set -euo pipefail
cd "$(dirname "$0")/../console"
need="20.19.0"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  msg="console: node/npm not found; tern will serve a placeholder at /console/ (make deps installs Node.js)"
  if [ "${TERN_CONSOLE_REQUIRED:-0}" = 1 ]; then echo "$msg" >&2; exit 1; fi
  echo "$msg"
  exit 0
fi
have="$(node -p 'process.versions.node')"
if [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" != "$need" ]; then
  msg="console: Node.js $have is older than $need (Vite 8); tern will serve a placeholder at /console/"
  if [ "${TERN_CONSOLE_REQUIRED:-0}" = 1 ]; then echo "$msg" >&2; exit 1; fi
  echo "$msg"
  exit 0
fi
# npm ci only when the lock file changed since the last install (it wipes node_modules).
stamp=node_modules/.tern-lock.sha256
sum="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$sum" > "$stamp"
fi
# Rebuild only when a source changed since the last build.
if [ -f dist/index.html ] && [ -z "$(find src index.html public vite.config.ts tsconfig.json package-lock.json scripts -newer dist/index.html -print -quit)" ]; then
  exit 0
fi
npm run --silent build
