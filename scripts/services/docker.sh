#!/usr/bin/env bash
# Docker Engine for shimctl's images and its docker environment (issue 5):
# installs Debian's docker.io if dockerd is missing and starts dockerd if
# `docker info` does not answer. Idempotent: a second run only checks.
#
#   scripts/services/docker.sh start    install if needed, start if needed, wait for `docker info`
#   scripts/services/docker.sh status   exit 0 if the daemon answers, else 1 (prints why)
#   scripts/services/docker.sh stop     stop a dockerd this script started (pid in its state dir)
#
# On a machine with systemd (a developer's), `systemctl start docker` is tried
# first; in a container or CI without systemd, dockerd runs detached with its
# log in $DOCKER_SH_DIR/dockerd.log (default /var/lib/shimkit-docker). Every
# wait is bounded (DOCKER_SH_TIMEOUT seconds, default 60). Needs root.
set -euo pipefail

die() { echo "docker.sh: $*" >&2; exit 1; }
log() { echo "docker.sh: $*" >&2; }
(($# == 1)) || die "usage: $0 start|status|stop"
CMD=$1
TIMEOUT=${DOCKER_SH_TIMEOUT:-60}
DIR=${DOCKER_SH_DIR:-/var/lib/shimkit-docker}
PIDFILE=$DIR/dockerd.pid

answers() { timeout 10 docker info >/dev/null 2>&1; }

install() {
  command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1 && return 0
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to install docker.io"
    sudo=sudo
  fi
  log "installing docker.io (Debian) ..."
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq || die "apt-get update failed"
  $sudo apt-get install -y -qq --no-install-recommends docker.io >/dev/null || die "apt-get install docker.io failed"
}

start() {
  install
  if answers; then
    return 0
  fi
  [[ $(id -u) -eq 0 ]] || die "dockerd is not running and starting it needs root"
  if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    systemctl start docker >/dev/null 2>&1 || log "systemctl start docker failed; starting dockerd directly"
  fi
  if ! answers; then
    mkdir -p "$DIR"
    # A dockerd we started earlier may still be coming up.
    if ! { [[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }; then
      # A stale pid file of dockerd's own would make it refuse to start.
      if [[ -f /var/run/docker.pid ]] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        rm -f /var/run/docker.pid
      fi
      log "starting dockerd (log: $DIR/dockerd.log)"
      setsid dockerd >>"$DIR/dockerd.log" 2>&1 </dev/null &
      echo $! >"$PIDFILE"
    fi
  fi
  local deadline=$((SECONDS + TIMEOUT))
  until answers; do
    if ((SECONDS >= deadline)); then
      tail -n 20 "$DIR/dockerd.log" >&2 2>/dev/null || true
      die "dockerd did not answer 'docker info' within ${TIMEOUT}s (log above: $DIR/dockerd.log)"
    fi
    if [[ -f $PIDFILE ]] && ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null && ! answers; then
      tail -n 20 "$DIR/dockerd.log" >&2 2>/dev/null || true
      die "dockerd exited (log above: $DIR/dockerd.log)"
    fi
    sleep 0.5
  done
  log "dockerd answers ($(docker info --format '{{.ServerVersion}} {{.Driver}}' 2>/dev/null))"
}

status() {
  command -v docker >/dev/null 2>&1 || { echo "docker.sh: docker CLI not installed" >&2; return 1; }
  answers || { echo "docker.sh: dockerd does not answer 'docker info'" >&2; return 1; }
  docker info --format 'dockerd {{.ServerVersion}}, storage {{.Driver}}'
}

stop() {
  [[ -f $PIDFILE ]] || return 0
  local pid
  pid=$(cat "$PIDFILE")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    local deadline=$((SECONDS + TIMEOUT))
    while kill -0 "$pid" 2>/dev/null; do
      ((SECONDS < deadline)) || { kill -KILL "$pid" 2>/dev/null || true; break; }
      sleep 0.2
    done
  fi
  rm -f "$PIDFILE"
}

case "$CMD" in
  start) start ;;
  status) status ;;
  stop) stop ;;
  *) die "unknown command '$CMD' (start, status, stop)" ;;
esac
