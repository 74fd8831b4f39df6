#!/usr/bin/env bash
# A Redis server of the project's own for tests, on loopback, its data in DIR.
#
#   scripts/services/redis.sh start DIR [--docker-bridge]
#                                         start (or find running) redis-server; prints HOST:PORT
#   scripts/services/redis.sh stop DIR    SHUTDOWN (then SIGTERM, SIGKILL by pid); no-op if not running
#   scripts/services/redis.sh addr DIR    prints HOST:PORT if it is running, else exits 1
#
# Durable as the feature store expects: appendonly yes, appendfsync always, so a
# write Redis acknowledged survives a crash. The port is picked once (a free one)
# and kept in DIR/redis.port, so a restart comes back on the same address.
# --docker-bridge: also listen on this host's address on Docker's bridge
# (scripts/services/docker_bridge.sh, e.g. 172.17.0.1), where shims in
# containers reach it as host.docker.internal (docs/environments.md); the
# address printed stays the loopback one. Without it, loopback only.
# Every wait is bounded (REDIS_SH_TIMEOUT seconds, default 15). redis-server is
# installed by scripts/setup.sh.
set -euo pipefail

die() { echo "redis.sh: $*" >&2; exit 1; }
usage="usage: $0 start DIR [--docker-bridge] | stop DIR | addr DIR"
(($# == 2 || $# == 3)) || die "$usage"
CMD=$1
DIR=$2
BIND=127.0.0.1
if (($# == 3)); then
  [[ $CMD == start && $3 == --docker-bridge ]] || die "$usage"
  bridge=$("$(dirname "${BASH_SOURCE[0]}")/docker_bridge.sh") || die "--docker-bridge: no docker bridge address"
  BIND="$BIND ${bridge%% *}"
fi
TIMEOUT=${REDIS_SH_TIMEOUT:-15}
HOST=127.0.0.1

command -v redis-server >/dev/null || die "redis-server not found: run scripts/setup.sh"
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
PIDFILE=$DIR/redis.pid
PORTFILE=$DIR/redis.port

pid_alive() { [[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
port() { cat "$PORTFILE" 2>/dev/null; }
pings() { [[ -n $(port) ]] && [[ $(redis-cli -h $HOST -p "$(port)" PING 2>/dev/null) == PONG ]]; }

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

start() {
  if pid_alive && pings; then
    local running
    running=$(redis-cli -h $HOST -p "$(port)" CONFIG GET bind 2>/dev/null | sed -n 2p)
    [[ $running == "$BIND" ]] ||
      die "redis in $DIR runs with bind '$running', not '$BIND': stop it first ($0 stop $DIR)"
    echo "$HOST:$(port)"
    return 0
  fi
  [[ -n $(port) ]] || free_port >"$PORTFILE"
  cat >"$DIR/redis.conf" <<CONF
bind $BIND
port $(port)
protected-mode no
dir $DIR
daemonize yes
pidfile $PIDFILE
logfile $DIR/redis.log
appendonly yes
appendfsync always
save ""
CONF
  redis-server "$DIR/redis.conf" || die "redis-server did not start; see $DIR/redis.log"
  local deadline=$((SECONDS + TIMEOUT))
  until pings; do
    ((SECONDS < deadline)) || die "redis on port $(port) did not answer PING within ${TIMEOUT}s; see $DIR/redis.log"
    sleep 0.1
  done
  echo "$HOST:$(port)"
}

stop() {
  pid_alive || { rm -f "$PIDFILE"; return 0; }
  local pid
  pid=$(cat "$PIDFILE")
  timeout 5 redis-cli -h $HOST -p "$(port)" SHUTDOWN >/dev/null 2>&1 || true
  local deadline=$((SECONDS + TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    if ((SECONDS >= deadline - TIMEOUT / 2)); then kill -TERM "$pid" 2>/dev/null || true; fi
    sleep 0.1
  done
  rm -f "$PIDFILE"
}

case "$CMD" in
  start) start ;;
  stop) stop ;;
  addr) pid_alive && pings || exit 1; echo "$HOST:$(port)" ;;
  *) die "unknown command '$CMD' (start, stop, addr)" ;;
esac
