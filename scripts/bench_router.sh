#!/usr/bin/env bash
# Router benchmark (issue 5 §7, first part): the same unary echo load (h2load,
# as scripts/bench.sh) straight to one echo_shim replica and through
# shimkit_router to a set of replicas, in one run. Results:
# bench/results/router.json and router.md. Not a test: the issue's targets
# (>= 0.7x direct throughput, <= 0.3 ms added p50) are reported, never asserted.
#
#   scripts/bench_router.sh [--no-setup] [bench/router/run.py options, e.g. --duration 5 --replicas 2]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

do_setup=1
if [[ "${1:-}" == "--no-setup" ]]; then do_setup=0; shift; fi
log() { echo "bench-router: $*"; }
die() { echo "bench-router: ERROR: $*" >&2; exit 1; }

((do_setup)) && { scripts/setup.sh --bench || die "setup failed"; }

# echo_shim and the router, built as the README builds them (build/).
log "building echo_shim and shimkit_router in build/ ..."
scripts/build.sh --target echo_shim --target shimkit_router >/tmp/shimkit-bench-router-build.$$.log 2>&1 \
  || { cat /tmp/shimkit-bench-router-build.$$.log; die "building failed"; }
rm -f /tmp/shimkit-bench-router-build.$$.log

command -v h2load >/dev/null || die "h2load not found (nghttp2-client; run scripts/setup.sh)"

exec "$ROOT/.venv/bin/python" bench/router/run.py \
  --shim build/services/echo/echo_shim \
  --router build/runtime/router/shimkit_router "$@"
