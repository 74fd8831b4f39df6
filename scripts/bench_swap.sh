#!/usr/bin/env bash
# Swap benchmark (issue 5 §7, second part): `shimctl swap` under a steady 500
# calls/s through shimkit_router (tests/e2e/loadgen/loadgen.py), one fresh
# stack per swap: training liblinear -> libsvm at once and by canary,
# feature_store sqlite -> redis and model_repository fs -> postgres (Redis and
# PostgreSQL of our own, scripts/services/), model_execution when the catalog
# has a second implementation, and training in the docker environment when
# dockerd answers (scripts/services/docker.sh start). Builds shimctl, the
# router and the shims in build/, then runs bench/swap/run.py. Results:
# bench/results/swap.json and swap.md. Not a test: zero failed calls is
# reported, never asserted.
#
#   scripts/bench_swap.sh [--no-setup] [bench/swap/run.py options, e.g. --rate 200 --docker no --only training-canary]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

do_setup=1
if [[ "${1:-}" == "--no-setup" ]]; then do_setup=0; shift; fi
for a in "$@"; do
  case "$a" in -h|--help) sed -n '2,13p' "$0"; echo; exec "$ROOT/.venv/bin/python" bench/swap/run.py --help ;; esac
done
log() { echo "bench-swap: $*"; }
die() { echo "bench-swap: ERROR: $*" >&2; exit 1; }

((do_setup)) && { scripts/setup.sh || die "setup failed"; }
[[ -x .venv/bin/python ]] || die "no .venv: run scripts/setup.sh"

log "building shimctl, shimkit_router and the shims in build/ ..."
BUILD_LOG=$(mktemp /tmp/shimkit-bench-swap-build.XXXXXX)
scripts/build.sh --target shimctl --target shimkit_router --target training_shim --target feature_store_shim \
  --target model_repository_shim >"$BUILD_LOG" 2>&1 \
  || { cat "$BUILD_LOG"; rm -f "$BUILD_LOG"; die "build failed"; }
rm -f "$BUILD_LOG"

exec .venv/bin/python bench/swap/run.py --shimctl build/runtime/shimctl/shimctl --out bench/results "$@"
