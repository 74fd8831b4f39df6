#!/usr/bin/env bash
# Runs the Go end-to-end tests (ctest e2e.go): generates the echo stubs from
# proto/examples/echo.proto with protoc + protoc-gen-go + protoc-gen-go-grpc
# (pinned, installed in .tools/bin by scripts/setup.sh) into a work folder that
# also gets a copy of this module, then runs go test there. Nothing generated
# lands in the source tree.
#
#   SHIMKIT_ECHO_SHIM=build/services/echo/echo_shim tests/e2e/go/run.sh [WORKDIR] [go test args...]
#
# WORKDIR defaults to a temporary folder (removed afterwards); ctest passes one
# in the build tree.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
MODULE=shimkit.test/e2e

die() { echo "e2e.go: ERROR: $*" >&2; exit 1; }

[[ -n "${SHIMKIT_ECHO_SHIM:-}" ]] || die "SHIMKIT_ECHO_SHIM is not set: point it at build/services/echo/echo_shim"

GO=/usr/local/go/bin/go
[[ -x $GO ]] || GO=$(command -v go) || die "no go toolchain (run scripts/setup.sh)"
PROTOC=$(command -v protoc) || die "protoc not found (run scripts/setup.sh)"
for plugin in protoc-gen-go protoc-gen-go-grpc; do
  [[ -x "$ROOT/.tools/bin/$plugin" ]] || die "$ROOT/.tools/bin/$plugin missing (run scripts/setup.sh)"
done

if [[ $# -gt 0 && $1 != -* ]]; then
  WORK=$1; shift
  rm -rf "$WORK"
  mkdir -p "$WORK"
else
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/shimkit-e2e-go.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
fi

# The module (go.mod, go.sum, tests), then the stubs as package $MODULE/echopb.
cp "$HERE/go.mod" "$HERE/go.sum" "$HERE"/*.go "$WORK/"
M="Mexamples/echo.proto=$MODULE/echopb"
PATH="$ROOT/.tools/bin:$PATH" "$PROTOC" -I"$ROOT/proto" \
  --go_out="$WORK" --go_opt=module=$MODULE --go_opt="$M" \
  --go-grpc_out="$WORK" --go-grpc_opt=module=$MODULE --go-grpc_opt="$M" \
  "$ROOT/proto/examples/echo.proto" || die "protoc on proto/examples/echo.proto failed"
[[ -f "$WORK/echopb/echo.pb.go" && -f "$WORK/echopb/echo_grpc.pb.go" ]] \
  || die "protoc did not write $WORK/echopb/echo.pb.go and echo_grpc.pb.go"

# go.sum is committed; -mod=mod still lets a missing entry be filled in from the
# module cache or proxy (only in the copy). Without HOME (some CI runners) Go
# has no default cache folders, so they go into the work folder.
export GOFLAGS="-mod=mod -buildvcs=false"
if [[ -z "${HOME:-}" ]]; then
  export GOCACHE="${GOCACHE:-$WORK/.gocache}" GOMODCACHE="${GOMODCACHE:-$WORK/.gomodcache}"
fi
# Resolve the shim to an absolute path: go test runs in the package folder.
read -r shim_prog shim_rest <<<"$SHIMKIT_ECHO_SHIM"
if [[ $shim_prog != /* && -e $shim_prog ]]; then
  shim_prog=$(cd "$(dirname "$shim_prog")" && pwd)/$(basename "$shim_prog")
  export SHIMKIT_ECHO_SHIM="$shim_prog${shim_rest:+ $shim_rest}"
fi

cd "$WORK"
"$GO" test -count=1 -timeout 240s -v "$@" ./...
