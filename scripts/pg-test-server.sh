#!/usr/bin/env bash
# A private PostgreSQL 15 for tests and benchmarks: initdb into a fresh temp dir, started on a
# free 127.0.0.1 port with its socket in that dir, stopped and removed afterwards.
#
#   pg-test-server.sh start [--durable] [--watch PID | --watch-parent] [--url-file FILE]
#       prints the server's dir on line 1 and its URL (postgres://tern@127.0.0.1:PORT/tern) on
#       line 2; FILE, when given, receives the URL and the dir (written last: its presence means
#       ready). --watch-parent watches the process that ran this script (ctest).
#   pg-test-server.sh halt DIR     stops the server of DIR but keeps its data (an outage)
#   pg-test-server.sh resume DIR   starts it again on the same port
#   pg-test-server.sh stop DIR     stops the server of DIR (fast, then immediate) and removes DIR
#   pg-test-server.sh stop-file FILE   the same for the server whose URL is in FILE (and FILE)
#
# Invariants:
#  - Everything the server writes is under DIR (data, log, socket); stop removes DIR.
#  - --watch PID: a detached watchdog stops the server and removes DIR once PID is gone, so a
#    test run that is interrupted or crashes leaves no server behind. It exits by itself once
#    DIR is gone (a normal stop). It only ever stops the server of DIR (pg_ctl -D DIR/data).
#  - initdb refuses to run as root: as root the server runs as the `postgres` user (runuser),
#    otherwise as the calling user. Trust authentication on loopback and the socket only.
#  - Without --durable the server runs with fsync off (unit and integration tests: a crashed
#    machine loses the test server anyway); benchmarks pass --durable.
set -euo pipefail

PGBIN=${TERN_PG_BIN:-/usr/lib/postgresql/15/bin}
BASE=${TERN_PG_TMP:-/tmp}

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

stop_dir() {
  local d=$1
  [ -n "$d" ] || return 0
  case "$d" in "$BASE"/tern-pg.*) ;; *) echo "pg-test-server: refusing to stop $d" >&2; return 1 ;; esac
  if [ -f "$d/data/postmaster.pid" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$d/data" -m fast -w -t 20 stop >/dev/null 2>&1 ||
      as_pg "$PGBIN/pg_ctl" -D "$d/data" -m immediate -w -t 20 stop >/dev/null 2>&1 || true
  fi
  rm -rf "$d"
}

cmd=${1:-}
shift || true
case "$cmd" in
  start)
    durable=0 watch="" url_file=""
    while [ $# -gt 0 ]; do
      case "$1" in
        --durable) durable=1 ;;
        --watch) watch=$2; shift ;;
        --watch-parent) watch=$PPID ;;
        --url-file) url_file=$2; shift ;;
        *) echo "pg-test-server: unknown option $1" >&2; exit 2 ;;
      esac
      shift
    done
    if [ ! -x "$PGBIN/initdb" ]; then
      echo "pg-test-server: $PGBIN/initdb not found (make deps installs postgresql)" >&2
      exit 1
    fi
    D=$(mktemp -d "$BASE/tern-pg.XXXXXX")
    trap 'stop_dir "$D"' ERR INT TERM
    chmod 700 "$D"
    if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$D"; fi
    as_pg "$PGBIN/initdb" -D "$D/data" -U tern --auth=trust -E UTF8 --locale=C.UTF-8 -N \
      >"$D/initdb.log" 2>&1 || { cat "$D/initdb.log" >&2; stop_dir "$D"; exit 1; }
    opts="-c listen_addresses=127.0.0.1 -c unix_socket_directories=$D -c max_connections=300"
    opts+=" -c shared_buffers=64MB"
    if [ "$durable" = 0 ]; then opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"; fi
    # Extra server settings for a measurement (e.g. bench/cluster's PGSS=1), "-c name=value ...".
    opts+=" ${PG_EXTRA_OPTS:-}"
    started=0
    for _ in 1 2 3 4 5; do
      port=$(free_port)
      if as_pg "$PGBIN/pg_ctl" -D "$D/data" -l "$D/server.log" -w -t 30 -o "$opts -p $port" start \
        >/dev/null 2>&1; then
        started=1
        break
      fi
    done
    if [ "$started" = 0 ]; then
      echo "pg-test-server: the server did not start:" >&2
      tail -20 "$D/server.log" >&2 || true
      stop_dir "$D"
      exit 1
    fi
    # The database the URL names (the superuser "tern" exists: initdb -U tern).
    as_pg "$PGBIN/psql" -h "$D" -p "$port" -U tern -d postgres -qAt -c "CREATE DATABASE tern" \
      >/dev/null || { stop_dir "$D"; exit 1; }
    url="postgres://tern@127.0.0.1:$port/tern"
    printf '%s -p %s\n' "$opts" "$port" >"$D/options"
    if [ -n "$watch" ]; then
      # Detached (own session, no inherited descriptors): ctest does not wait for it.
      setsid bash -c '
        while kill -0 "$1" 2>/dev/null && [ -d "$2/data" ]; do sleep 1; done
        if [ -d "$2/data" ]; then "$3" stop "$2"; [ -z "$4" ] || rm -f "$4"; fi' \
        watchdog "$watch" "$D" "$(readlink -f "$0")" "$url_file" </dev/null >/dev/null 2>&1 &
    fi
    trap - ERR INT TERM
    if [ -n "$url_file" ]; then
      printf '%s\n%s\n' "$url" "$D" >"$url_file.tmp"
      mv "$url_file.tmp" "$url_file"
    fi
    echo "$D"
    echo "$url"
    ;;
  halt)
    d=${1:?usage: pg-test-server.sh halt DIR}
    as_pg "$PGBIN/pg_ctl" -D "$d/data" -m fast -w -t 30 stop >/dev/null
    ;;
  resume)
    d=${1:?usage: pg-test-server.sh resume DIR}
    as_pg "$PGBIN/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t 30 -o "$(cat "$d/options")" start \
      >/dev/null
    ;;
  stop)
    stop_dir "${1:?usage: pg-test-server.sh stop DIR}"
    ;;
  stop-file)
    f=${1:?usage: pg-test-server.sh stop-file FILE}
    if [ -f "$f" ]; then
      d=$(sed -n 2p "$f")
      stop_dir "$d"
      rm -f "$f"
    fi
    ;;
  *)
    echo "usage: pg-test-server.sh start [--durable] [--watch PID] [--url-file FILE] | halt DIR | resume DIR | stop DIR | stop-file FILE" >&2
    exit 2
    ;;
esac
