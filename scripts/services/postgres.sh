#!/bin/sh
# postgres.sh - a throwaway PostgreSQL cluster in a directory, for tests.
#
#   scripts/services/postgres.sh start DIR [--docker-bridge]
#                                            initdb DIR/data if needed, start it on 127.0.0.1
#                                            on a free port (socket in DIR/sock); prints the DSN
#   scripts/services/postgres.sh stop DIR    fast shutdown (no-op when it is not running)
#   scripts/services/postgres.sh dsn DIR     the libpq connection string of the cluster
#
# --docker-bridge: also listen on this host's address on Docker's bridge
# (scripts/services/docker_bridge.sh, e.g. 172.17.0.1) and let the bridge's
# subnet in (a pg_hba.conf line, trust like loopback's), so that shims in
# containers reach it as host.docker.internal (docs/environments.md); the DSN
# printed stays the loopback one. Without it, loopback only.
#
# Idempotent, and bounded in time (pg_ctl waits at most PG_TIMEOUT seconds).
# Run as root, the server runs as the 'postgres' OS user (PostgreSQL refuses
# root); DIR and its parents must then be reachable by that user. The
# binaries come from Debian's postgresql package (scripts/setup.sh installs it).
set -eu

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
PG_TIMEOUT=${PG_TIMEOUT:-30}

die() { echo "postgres.sh: $*" >&2; exit 1; }

usage="usage: postgres.sh start DIR [--docker-bridge] | stop DIR | dsn DIR"
[ $# -eq 2 ] || [ $# -eq 3 ] || die "$usage"
cmd=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)
listen=127.0.0.1
subnet=""
if [ $# -eq 3 ]; then
  [ "$cmd" = start ] && [ "$3" = --docker-bridge ] || die "$usage"
  bridge=$("$(dirname "$0")/docker_bridge.sh") || die "--docker-bridge: no docker bridge address"
  listen="$listen,${bridge%% *}"
  subnet=${bridge#* }
fi
HBA_MARK="# shimkit: docker bridge (postgres.sh --docker-bridge)"
[ -x "$PG_BIN/pg_ctl" ] || die "no PostgreSQL binaries in '$PG_BIN' (run scripts/setup.sh)"

# as_pg CMD...: runs CMD as the cluster's owner.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

running() {
  [ -f "$dir/data/PG_VERSION" ] && as_pg "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

dsn() {
  [ -f "$dir/port" ] || die "no cluster in $dir (run: postgres.sh start $dir)"
  echo "host=127.0.0.1 port=$(cat "$dir/port") dbname=postgres user=postgres"
}

start() {
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    rm -rf "$dir/data"
    mkdir -p "$dir/data" "$dir/sock"
    if [ "$(id -u)" -eq 0 ]; then
      chown postgres "$dir" "$dir/data" "$dir/sock"
      runuser -u postgres -- test -w "$dir/data" ||
        die "$dir is not reachable by the postgres user (choose a directory outside a 0700 tree)"
    fi
    as_pg "$PG_BIN/initdb" -D "$dir/data" --username=postgres --auth=trust --locale=C --encoding=UTF8 \
      >"$dir/initdb.log" 2>&1 || die "initdb failed, see $dir/initdb.log"
  fi
  if running; then
    was=$(cat "$dir/listen" 2>/dev/null || echo 127.0.0.1)
    [ "$was" = "$listen" ] || die "the cluster in $dir listens on '$was', not '$listen': stop it first (postgres.sh stop $dir)"
    dsn
    return 0
  fi
  # The bridge's subnet may connect only while the server listens there.
  as_pg sed -i "/^# shimkit: docker bridge/,+1d" "$dir/data/pg_hba.conf"
  if [ -n "$subnet" ]; then
    printf '%s\nhost all all %s trust\n' "$HBA_MARK" "$subnet" | as_pg tee -a "$dir/data/pg_hba.conf" >/dev/null
  fi
  # Same port as last time, so that clients reconnect to a restarted cluster.
  if [ -f "$dir/port" ]; then port=$(cat "$dir/port"); else port=$(free_port); echo "$port" >"$dir/port"; fi
  as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t "$PG_TIMEOUT" \
    -o "-c listen_addresses=$listen -p $port -k $dir/sock -c fsync=on" start >/dev/null ||
    die "PostgreSQL did not start within ${PG_TIMEOUT}s, see $dir/server.log"
  echo "$listen" >"$dir/listen"
  dsn
}

stop() {
  if running; then
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t "$PG_TIMEOUT" stop >/dev/null ||
      die "PostgreSQL did not stop within ${PG_TIMEOUT}s"
  fi
}

case $cmd in
  start) start ;;
  stop) stop ;;
  dsn) dsn ;;
  *) die "unknown command '$cmd' (start, stop or dsn)" ;;
esac
