#!/usr/bin/env bash
# Unary echo benchmark: echo_shim against gRPC C++, grpc-go and Python grpcio
# peers of the same service, in one run, loaded by h2load (1 and 50 streams).
# Results: bench/results/echo_unary.json and echo_unary.md. Not a test: the
# issue's targets are reported, never asserted.
#
#   scripts/bench.sh [--no-setup] [bench/run.py options, e.g. --duration 5 --only shim --only go]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

do_setup=1
if [[ "${1:-}" == "--no-setup" ]]; then do_setup=0; shift; fi
log() { echo "bench: $*"; }
die() { echo "bench: ERROR: $*" >&2; exit 1; }

((do_setup)) && { scripts/setup.sh --bench || die "setup failed"; }

# The shim, built as the README builds it (RelWithDebInfo in build/).
log "building echo_shim in build/ ..."
scripts/build.sh --target echo_shim >/tmp/shimkit-bench-build.$$.log 2>&1 \
  || { cat /tmp/shimkit-bench-build.$$.log; die "building echo_shim failed"; }
rm -f /tmp/shimkit-bench-build.$$.log

OUT=$ROOT/build-bench
mkdir -p "$OUT"

# gRPC C++ peer: Debian's libgrpc++ + grpc_cpp_plugin, Release.
log "building the gRPC C++ peer in build-bench/cpp ..."
cmake -S bench/peers/cpp -B "$OUT/cpp" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null \
  || die "configuring bench/peers/cpp failed"
cmake --build "$OUT/cpp" >/dev/null || die "building bench/peers/cpp failed"

# grpc-go peer: its go.mod/go.sum pin grpc and protobuf; stubs are generated
# into the build tree next to a copy of main.go (nothing generated is in git).
log "building the grpc-go peer in build-bench/go ..."
GO=/usr/local/go/bin/go
[[ -x $GO ]] || GO=$(command -v go) || die "no go toolchain"
rm -rf "$OUT/go" && mkdir -p "$OUT/go/echopb"
cp bench/peers/go/main.go bench/peers/go/go.mod bench/peers/go/go.sum "$OUT/go/"
M=Mecho.proto=shimkit.local/bench/peers/go/echopb
PATH="$ROOT/.tools/bin:$PATH" protoc -Iproto/examples \
  --go_out="$OUT/go/echopb" --go_opt=paths=source_relative --go_opt=$M \
  --go-grpc_out="$OUT/go/echopb" --go-grpc_opt=paths=source_relative --go-grpc_opt=$M \
  proto/examples/echo.proto || die "protoc-gen-go on echo.proto failed"
(cd "$OUT/go" && GOFLAGS=-buildvcs=false "$GO" build -o echo_server_go .) || die "building the grpc-go peer failed"

command -v h2load >/dev/null || die "h2load not found (nghttp2-client; run scripts/setup.sh)"

exec "$ROOT/.venv/bin/python" bench/run.py \
  --shim build/services/echo/echo_shim \
  --cpp "$OUT/cpp/echo_server_cpp" \
  --go "$OUT/go/echo_server_go" "$@"
