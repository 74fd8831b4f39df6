#!/usr/bin/env bash
# ModelInfer benchmark (issue 4): one XGBoost model file (heart_scale, trained by
# me_xgb_train) served by model_execution_shim (fetched from a model_repository_shim,
# fs back end) and by MLServer + mlserver-xgboost, loaded by ghz with the same
# ModelInferRequest at 1 and 32 concurrent streams. Builds the shims and
# me_xgb_train in build/ (needs libxgboost-dev: scripts/setup.sh), installs
# MLServer into .bench-venv/ from bench/model_infer/requirements.txt (git-ignored,
# reinstalled when that file changes), then runs bench/model_infer/run.py, which
# starts and stops every server itself. Results: bench/results/model_infer.json
# and .md. Not a test: the target (shim >= 10x MLServer's req/s) is reported,
# never asserted.
#
#   scripts/bench_model_infer.sh [--no-setup] [run.py options, e.g. --duration 5 --warmup 1 --datatype FP64]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

do_setup=1
if [[ "${1:-}" == "--no-setup" ]]; then do_setup=0; shift; fi
log() { echo "bench: $*"; }
die() { echo "bench: ERROR: $*" >&2; exit 1; }

((do_setup)) && { scripts/setup.sh --bench || die "setup failed"; }
[[ -x .venv/bin/python ]] || die "no .venv: run scripts/setup.sh"
[[ -x .tools/bin/ghz ]] || die "no .tools/bin/ghz: run scripts/setup.sh --bench"

log "building model_execution_shim, model_repository_shim and me_xgb_train in build/ ..."
BUILD_LOG=$(mktemp /tmp/shimkit-mlbench-build.XXXXXX)
scripts/build.sh --target model_execution_shim --target model_repository_shim --target me_xgb_train \
  >"$BUILD_LOG" 2>&1 || { cat "$BUILD_LOG"; rm -f "$BUILD_LOG"; die "build failed (me_xgb_train needs libxgboost-dev)"; }
rm -f "$BUILD_LOG"

# MLServer lives in its own venv: its pins (protobuf, grpcio, numpy...) are not .venv's.
REQ=bench/model_infer/requirements.txt
VENV=.bench-venv
req_hash=$(sha256sum "$REQ" | cut -d' ' -f1)
stamp=$VENV/.requirements.sha256
if [[ -x $VENV/bin/mlserver && -f $stamp && "$(cat "$stamp")" == "$req_hash" ]]; then
  log "MLServer venv $VENV up to date"
else
  PY_BASE=/usr/bin/python3
  [[ -x $PY_BASE ]] || PY_BASE=$(command -v python3) || die "no python3"
  [[ -x $VENV/bin/python ]] || "$PY_BASE" -m venv "$VENV" || die "python3 -m venv failed"
  log "installing MLServer into $VENV from $REQ (a few minutes the first time) ..."
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ" || die "pip install -r $REQ failed"
  echo "$req_hash" >"$stamp"
fi

mkdir -p bench/results
exec .venv/bin/python bench/model_infer/run.py --build build --mlserver "$VENV/bin/mlserver" \
  --ghz .tools/bin/ghz --out bench/results "$@"
