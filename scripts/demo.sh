#!/usr/bin/env bash
# The README's main command: the ML stack end to end, on loopback, with the
# embedded back ends (no server needed). Installs what is missing, builds the
# four shims, starts model_repository_shim (fs, temp dir), feature_store_shim
# (SQLite), training_shim (liblinear, and a libsvm one for contrast) and
# model_execution_shim, each on a free port; loads Debian's heart_scale
# (liblinear-tools) into the feature store (first 200 rows to train, last 70
# held out), trains, registers, loads the model into model execution, scores
# the held-out rows with ModelInfer and prints the accuracy; then stops every
# shim with SIGTERM and shows it drained. The client is scripts/demo_stack.py.
# The echo example (the toolkit on its own) is scripts/demo_echo.sh.
#
#   scripts/demo.sh [--no-setup] [--no-build]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

do_setup=1 do_build=1
for a in "$@"; do
  case "$a" in
    --no-setup) do_setup=0 ;;
    --no-build) do_build=0 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "demo: unknown argument '$a'" >&2; exit 2 ;;
  esac
done

n=0
section() { n=$((n + 1)); echo; echo "== $n. $* =="; }

if ((do_setup)); then
  section "setup: Debian packages and pinned clients (scripts/setup.sh)"
  scripts/setup.sh
fi
BUILD=$ROOT/build/services
if ((do_build)); then
  section "build: the four ML shims in build/ (scripts/build.sh)"
  build_log=$(mktemp /tmp/shimkit-demo-build.XXXXXX.log)
  if ! scripts/build.sh --target model_repository_shim --target feature_store_shim \
       --target training_shim --target model_execution_shim >"$build_log" 2>&1; then
    cat "$build_log"; rm -f "$build_log"
    echo "demo: build failed" >&2; exit 1
  fi
  rm -f "$build_log"
  echo "  built: model_repository_shim feature_store_shim training_shim model_execution_shim"
fi

MR=$BUILD/model_repository/model_repository_shim
FS=$BUILD/feature_store/feature_store_shim
TR=$BUILD/training/training_shim
ME=$BUILD/model_execution/model_execution_shim
GRPCURL=$ROOT/.tools/bin/grpcurl
PY=$ROOT/.venv/bin/python
DATA=/usr/share/doc/liblinear-tools/examples/heart_scale
for f in "$MR" "$FS" "$TR" "$ME" "$GRPCURL" "$PY"; do
  [[ -x "$f" ]] || { echo "demo: $f is missing (run scripts/setup.sh and scripts/build.sh)" >&2; exit 1; }
done
[[ -r "$DATA" ]] || { echo "demo: $DATA is missing (apt-get install liblinear-tools, or run scripts/setup.sh)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/shimkit-demo-stack.XXXXXX)
declare -A PID ADDR
ORDER=()
cleanup() {
  local s
  for s in "${ORDER[@]}"; do
    if [[ -n "${PID[$s]:-}" ]] && kill -0 "${PID[$s]}" 2>/dev/null; then kill -KILL "${PID[$s]}" 2>/dev/null || true; fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# cmdline ARGS...: the command as one would type it (paths shortened).
cmdline() {
  local out="\$" a
  for a in "$@"; do
    a=${a#"$ROOT/"}; a=${a//"$WORK"/\$WORK}
    if [[ "$a" =~ ^[A-Za-z0-9_./:=@%+,\$-]+$ ]]; then out+=" $a"; else out+=" '${a//\'/\'\\\'\'}'"; fi
  done
  echo "$out"
}
run() { cmdline "$@"; "$@" 2>&1 | sed 's/^/  /'; return "${PIPESTATUS[0]}"; }

# start NAME PROGRAM ARGS...: on a free loopback port; sets ADDR[NAME] from its "listening on" line.
start() {
  local name=$1; shift
  local log=$WORK/$name.log
  cmdline "$@" --listen 127.0.0.1:0
  "$@" --listen 127.0.0.1:0 --drain-grace-ms 3000 2>"$log" &
  PID[$name]=$!; ORDER+=("$name")
  for _ in $(seq 1 200); do
    grep -q 'listening on' "$log" && break
    kill -0 "${PID[$name]}" 2>/dev/null || { cat "$log"; echo "demo: $name exited early" >&2; exit 1; }
    sleep 0.05
  done
  grep -q 'listening on' "$log" || { cat "$log"; echo "demo: $name did not start" >&2; exit 1; }
  ADDR[$name]=$(grep -o 'listening on [0-9.]*:[0-9]*' "$log" | head -1 | cut -d' ' -f3)
  echo "  -> $name: pid ${PID[$name]}, ${ADDR[$name]}, idle RSS $(awk '/VmRSS/{print $2, $3}' /proc/${PID[$name]}/status)"
}

mkdir -p "$WORK/repo"
section "start the model repository: model_repository_shim, back end fs (files + SQLite in \$WORK/repo)"
start model_repository "$MR" --backend fs --data-dir "$WORK/repo"
section "start the feature store: feature_store_shim, back end sqlite (\$WORK/features.db)"
start feature_store "$FS" --backend sqlite --db "$WORK/features.db"
section "start training: training_shim, back ends liblinear and libsvm (one process each), client of both"
start training_liblinear "$TR" --backend liblinear \
  --model-repository "${ADDR[model_repository]}" --feature-store "${ADDR[feature_store]}"
start training_libsvm "$TR" --backend libsvm \
  --model-repository "${ADDR[model_repository]}" --feature-store "${ADDR[feature_store]}"
section "start model execution: model_execution_shim (Open Inference Protocol), fetches from the repository"
start model_execution "$ME" --model-repository "${ADDR[model_repository]}"
echo "  every shim serves health and reflection, e.g.:"
run "$GRPCURL" -plaintext "${ADDR[model_execution]}" list

section "load heart_scale into the feature store at ${ADDR[feature_store]} (sqlite): 200 rows to train, 70 held out"
run "$PY" scripts/demo_stack.py load "${ADDR[feature_store]}" --data "$DATA" --train 200

section "train liblinear (l2r_lr, C=1) in training_shim at ${ADDR[training_liblinear]}: reads the view, registers the model"
run "$PY" scripts/demo_stack.py train "${ADDR[training_liblinear]}" heart-liblinear liblinear solver=l2r_lr C=1

section "train libsvm (rbf kernel, C=1) in training_shim at ${ADDR[training_libsvm]}, for contrast"
run "$PY" scripts/demo_stack.py train "${ADDR[training_libsvm]}" heart-libsvm libsvm kernel=rbf C=1

section "the registered versions in the model repository at ${ADDR[model_repository]} (fs), via grpcurl + reflection"
for m in heart-liblinear heart-libsvm; do
  cmdline "$GRPCURL" -plaintext -d "{\"model_name\":\"$m\"}" "${ADDR[model_repository]}" shimkit.ml.v1.ModelRepository/ListVersions
  "$GRPCURL" -plaintext -d "{\"model_name\":\"$m\"}" "${ADDR[model_repository]}" shimkit.ml.v1.ModelRepository/ListVersions |
    "$PY" scripts/demo_stack.py versions
done

section "load each model into model execution at ${ADDR[model_execution]} and score the 70 held-out rows (ModelInfer)"
echo "  (held-out features come from the feature store at ${ADDR[feature_store]} through GetOnlineFeatures)"
run "$PY" scripts/demo_stack.py infer "${ADDR[model_execution]}" "${ADDR[feature_store]}" heart-liblinear 200 70
run "$PY" scripts/demo_stack.py infer "${ADDR[model_execution]}" "${ADDR[feature_store]}" heart-libsvm 200 70
run "$GRPCURL" -plaintext -d '{}' "${ADDR[model_execution]}" inference.GRPCInferenceService/RepositoryIndex

section "SIGTERM to every shim: each drains (health NOT_SERVING, in-flight calls finish) and exits 0"
bad=0
for ((i = ${#ORDER[@]} - 1; i >= 0; i--)); do
  s=${ORDER[$i]}
  lines_before=$(wc -l <"$WORK/$s.log")
  kill -TERM "${PID[$s]}"
  rc=0; wait "${PID[$s]}" || rc=$?
  echo "  $s (pid ${PID[$s]}, ${ADDR[$s]}) exited with $rc; its log since SIGTERM:"
  tail -n +"$((lines_before + 1))" "$WORK/$s.log" | grep -v '^{' | sed 's/^/    /'
  ((rc == 0)) || bad=1
  PID[$s]=""
done

echo
if ((bad)); then echo "demo: a shim did not exit cleanly" >&2; exit 1; fi
echo "demo: done (the toolkit's own demo, the echo example, is scripts/demo_echo.sh)"
