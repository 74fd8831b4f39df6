#!/usr/bin/env bash
# Configures and builds shimkit with CMake + Ninja.
#
#   scripts/build.sh [--dir DIR] [--target T]... [extra cmake args...]
#
# The build goes into build/, or into build-asan/ when the extra arguments turn
# a sanitizer on (-DSHIMKIT_ASAN=ON or -DSHIMKIT_UBSAN=ON), unless --dir says
# otherwise. Example: scripts/build.sh -DSHIMKIT_ASAN=ON -DSHIMKIT_UBSAN=ON -DSHIMKIT_WERROR=ON
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

dir=""
args=()
targets=()
while (($#)); do
  case "$1" in
    --dir) dir=${2:?--dir needs a directory}; shift 2 ;;
    --dir=*) dir=${1#--dir=}; shift ;;
    --target) targets+=(--target "${2:?--target needs a target name}"); shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
if [[ -z "$dir" ]]; then
  dir=build
  for a in "${args[@]}"; do
    case "$a" in
      -DSHIMKIT_ASAN=ON|-DSHIMKIT_ASAN:BOOL=ON|-DSHIMKIT_UBSAN=ON|-DSHIMKIT_UBSAN:BOOL=ON) dir=build-asan ;;
    esac
  done
fi

command -v cmake >/dev/null || { echo "build: cmake not found (run scripts/setup.sh)" >&2; exit 1; }
command -v ninja >/dev/null || { echo "build: ninja not found (run scripts/setup.sh)" >&2; exit 1; }

echo "build: configuring $dir ${args[*]}"
cmake -S "$ROOT" -B "$ROOT/$dir" -G Ninja "${args[@]}"
echo "build: building $dir"
cmake --build "$ROOT/$dir" --parallel "$(nproc)" "${targets[@]}"
echo "build: $dir done"
