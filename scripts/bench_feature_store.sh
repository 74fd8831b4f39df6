#!/usr/bin/env bash
# GetOnlineFeatures benchmark (issue 4): 100-feature rows looked up through
# feature_store_shim (generated C client stubs) against the same lookup
# straight at SQLite and Redis from C, 1 and 8 client threads. Builds
# feature_store_shim and bench/feature_store's fs_bench in build/, starts a
# Redis (scripts/services/redis.sh) and one shim per back end in a temp dir,
# runs fs_bench, stops everything. Results: bench/results/feature_store_online.json
# and .md. Not a test: the target (shim adds <= 0.2 ms at p50) is reported, never asserted.
#
#   scripts/bench_feature_store.sh [--no-setup] [fs_bench options, e.g. --duration 5 --threads 1]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

do_setup=1
if [[ "${1:-}" == "--no-setup" ]]; then do_setup=0; shift; fi
log() { echo "bench: $*"; }
die() { echo "bench: ERROR: $*" >&2; exit 1; }

((do_setup)) && { scripts/setup.sh || die "setup failed"; }

log "building feature_store_shim and fs_bench in build/ ..."
BUILD_LOG=$(mktemp /tmp/shimkit-fsbench-build.XXXXXX)
scripts/build.sh --target feature_store_shim --target fs_bench >"$BUILD_LOG" 2>&1 \
  || { cat "$BUILD_LOG"; die "building fs_bench failed"; }
rm -f "$BUILD_LOG"

WORK=$(mktemp -d /tmp/shimkit-fsbench.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  local deadline=$((SECONDS + 15))
  for pid in "${PIDS[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  scripts/services/redis.sh stop "$WORK/redis" || true
  rm -rf "$WORK"
}
trap cleanup EXIT

log "starting redis in $WORK/redis ..."
REDIS=$(scripts/services/redis.sh start "$WORK/redis") || die "redis did not start"

# start_shim NAME ARGS...: starts feature_store_shim on a free port; sets ADDR.
start_shim() {
  local name=$1 logf=$WORK/$1.log
  shift
  : >"$logf"
  build/services/feature_store/feature_store_shim --listen 127.0.0.1:0 --no-access-log "$@" \
    </dev/null >"$logf" 2>&1 &
  PIDS+=($!)
  local deadline=$((SECONDS + 30))
  ADDR=""
  until [[ -n $ADDR ]]; do
    ADDR=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\).*/\1/p' "$logf" | head -1 || true)
    [[ -n $ADDR ]] && break
    kill -0 "${PIDS[-1]}" 2>/dev/null || { cat "$logf"; die "$name shim exited"; }
    ((SECONDS < deadline)) || { cat "$logf"; die "$name shim did not start within 30 s"; }
    sleep 0.1
  done
  log "$name shim listening on $ADDR"
}

start_shim sqlite --backend sqlite --db "$WORK/features.db"
SQLITE_SHIM=$ADDR
start_shim redis --backend redis --redis "$REDIS"
REDIS_SHIM=$ADDR

mkdir -p bench/results
build/bench/feature_store/fs_bench --sqlite-shim "$SQLITE_SHIM" --db "$WORK/features.db" \
  --redis-shim "$REDIS_SHIM" --redis "$REDIS" --out bench/results "$@"
