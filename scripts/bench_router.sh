#!/usr/bin/env bash
# Router benchmark (issue 5 §7, first part), two loads, each straight to one
# replica and through shimkit_router to a set of replicas, in one run:
#   1. unary echo (h2load, as scripts/bench.sh): a hop against no work at all;
#      results in bench/results/router.json and router.md;
#   2. unary ModelInfer of an XGBoost model (a real ML call, h2load):
#      bench/results/router_model_infer.json and .md.
# Not a test: the issue's targets (>= 0.7x direct throughput, <= 0.3 ms added
# p50) are reported, never asserted.
#
#   scripts/bench_router.sh [--no-setup] [bench/router/run.py options, e.g. --duration 5 --replicas 2]
# (--duration, --warmup, --replicas, --router-workers and --out also go to bench/router/model_infer.py)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

do_setup=1
if [[ "${1:-}" == "--no-setup" ]]; then do_setup=0; shift; fi
log() { echo "bench-router: $*"; }
die() { echo "bench-router: ERROR: $*" >&2; exit 1; }

((do_setup)) && { scripts/setup.sh --bench || die "setup failed"; }

# echo_shim and the router, built as the README builds them (build/).
log "building echo_shim, shimkit_router and the model services in build/ ..."
scripts/build.sh --target echo_shim --target shimkit_router --target model_execution_shim \
  --target model_repository_shim --target me_xgb_train >/tmp/shimkit-bench-router-build.$$.log 2>&1 \
  || { cat /tmp/shimkit-bench-router-build.$$.log; die "building failed"; }
rm -f /tmp/shimkit-bench-router-build.$$.log

command -v h2load >/dev/null || die "h2load not found (nghttp2-client; run scripts/setup.sh)"

shared=() # the options both benchmarks take
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --duration|--warmup|--replicas|--router-workers|--out) shared+=("${args[i]}" "${args[i + 1]:-}"); i=$((i + 1)) ;;
  esac
done

log "1/2: echo, direct vs routed"
"$ROOT/.venv/bin/python" bench/router/run.py \
  --shim build/services/echo/echo_shim \
  --router build/runtime/router/shimkit_router "$@"
log "2/2: ModelInfer (XGBoost), direct vs routed"
exec "$ROOT/.venv/bin/python" bench/router/model_infer.py --build build "${shared[@]}"
