#!/usr/bin/env bash
# Installs everything shimkit needs to build, test, demo and (with --bench)
# benchmark, on Debian 12, as root. Idempotent: a second run only checks.
#
#   scripts/setup.sh            build deps + test clients (grpcurl, Go protoc plugins,
#                               Python venv, Node packages)
#   scripts/setup.sh --bench    also the load tool ghz of bench/
#
# Test clients go into project-local, git-ignored folders:
#   .tools/bin/   grpcurl, protoc-gen-go, protoc-gen-go-grpc (e2e.go and bench/; ghz with --bench)
#   .venv/        grpcio, grpcio-tools, pytest (tests/e2e/python/requirements.txt)
#   tests/e2e/node/node_modules/   @grpc/grpc-js, @grpc/proto-loader (package-lock.json)
#   .cache/oip/   KServe's published grpc_predict_v2.proto (scripts/fetch_oip_proto.sh)
set -euo pipefail

# Pinned versions of the Go tools (Python and Node pins live in their own files).
GRPCURL_VERSION=v1.9.3
GHZ_VERSION=v0.120.0
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.0

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { echo "setup: $*"; }
die() { echo "setup: ERROR: $*" >&2; exit 1; }

WITH_BENCH=0
for arg in "$@"; do
  case "$arg" in
    --bench) WITH_BENCH=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) die "unknown argument '$arg' (try --help)" ;;
  esac
done

# ---------------------------------------------------------------- Debian packages
APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libgrpc-dev libgrpc++-dev protobuf-compiler-grpc
  libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libprotobuf-dev libprotoc-dev
  libcmocka-dev grpc-proto nghttp2-client openssl python3-venv
  # the fuzz targets (fuzz/, build-fuzz/): clang with libFuzzer and the
  # sanitizer runtimes, which clang-14 only recommends
  clang libclang-rt-14-dev
  # native back ends of the ML stack and the servers their tests start on loopback
  libsqlite3-dev sqlite3 libpq-dev postgresql libhiredis-dev redis-server libnghttp2-dev
  liblinear-dev libsvm-dev libxgboost-dev
  # liblinear-tools ships the heart_scale data set (FeatureStore contract test, issue-4 demo)
  liblinear-tools
  # shimctl's stack files (YAML)
  libyaml-dev
  # shimctl build (images FROM scratch) and the docker environment; dockerd is
  # started by scripts/services/docker.sh (scripts/test.sh calls it)
  docker.io
)

# Go: the machine's own toolchain in /usr/local/go if there is one, else Debian's.
GO=""
if [[ -x /usr/local/go/bin/go ]]; then
  GO=/usr/local/go/bin/go
elif command -v go >/dev/null 2>&1; then
  GO=$(command -v go)
else
  APT_PACKAGES+=(golang-go)
fi
# Node.js and npm: keep whatever is installed (often a newer Node than Debian's).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  APT_PACKAGES+=(nodejs npm)
fi

is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  is_installed "$p" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to install: ${missing[*]}"
    SUDO=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || die "apt-get update failed"
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install failed for: ${missing[*]}"
else
  log "Debian packages present (${#APT_PACKAGES[@]} checked)"
fi

if [[ -z "$GO" ]]; then
  GO=$(command -v go) || die "no go toolchain after installing golang-go"
fi

# ---------------------------------------------------------------- Go tools
mkdir -p "$ROOT/.tools/bin"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

# go_tool NAME MODULE_PATH@VERSION VERSION: go install into .tools/bin unless the
# stamp file says this exact version is already there.
go_tool() {
  local name=$1 pkg=$2 version=$3
  local bin="$ROOT/.tools/bin/$name" stamp="$ROOT/.tools/bin/.$name.version"
  if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
    log "$name $version present"
    return 0
  fi
  log "installing $name $version ..."
  GOBIN="$ROOT/.tools/bin" "$GO" install "$pkg@$version" \
    || die "go install $pkg@$version failed"
  echo "$version" >"$stamp"
}

go_tool grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl "$GRPCURL_VERSION"
# The Go stub generators: tests/e2e/go (e2e.go) and bench/peers/go use them.
go_tool protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION"
go_tool protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"
# The Kubernetes manifest checker of tests/kubernetes (k8s.io/api types, strict
# YAML): built from the project's own module, pinned by its go.sum.
K8S_SRC="$ROOT/tests/kubernetes"
k8s_hash=$(cat "$K8S_SRC"/go.mod "$K8S_SRC"/go.sum "$K8S_SRC"/*.go | sha256sum | cut -d' ' -f1)
k8s_bin="$ROOT/.tools/bin/shimkit-k8s-check" k8s_stamp="$ROOT/.tools/bin/.shimkit-k8s-check.sha256"
if [[ -x "$k8s_bin" && -f "$k8s_stamp" && "$(cat "$k8s_stamp")" == "$k8s_hash" ]]; then
  log "shimkit-k8s-check up to date"
else
  log "building shimkit-k8s-check (tests/kubernetes) ..."
  (cd "$K8S_SRC" && "$GO" build -o "$k8s_bin" .) || die "go build in tests/kubernetes failed"
  echo "$k8s_hash" >"$k8s_stamp"
fi
if ((WITH_BENCH)); then
  go_tool ghz github.com/bojand/ghz/cmd/ghz "$GHZ_VERSION"
fi

# ---------------------------------------------------------------- Python venv
REQ="$ROOT/tests/e2e/python/requirements.txt"
[[ -f "$REQ" ]] || die "missing $REQ"
# Debian's python3 (python3-venv is installed for it); a pyenv python3 earlier
# in PATH would work too, but the venv should not depend on one.
PY_BASE=/usr/bin/python3
[[ -x "$PY_BASE" ]] || PY_BASE=$(command -v python3) || die "no python3"
req_hash=$(sha256sum "$REQ" | cut -d' ' -f1)
venv_stamp="$ROOT/.venv/.requirements.sha256"
if [[ -x "$ROOT/.venv/bin/python" && -f "$venv_stamp" && "$(cat "$venv_stamp")" == "$req_hash" ]]; then
  log "Python venv .venv up to date"
else
  if [[ ! -x "$ROOT/.venv/bin/python" ]]; then
    log "creating Python venv .venv with $PY_BASE"
    "$PY_BASE" -m venv "$ROOT/.venv" || die "python3 -m venv failed (is python3-venv installed?)"
  fi
  log "installing Python packages from tests/e2e/python/requirements.txt ..."
  "$ROOT/.venv/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ" \
    || die "pip install -r $REQ failed"
  echo "$req_hash" >"$venv_stamp"
fi

# ---------------------------------------------------------------- public OIP proto
# KServe's own grpc_predict_v2.proto, pinned and sha256-checked, for the test
# that generates its client from the published file (not committed).
log "public grpc_predict_v2.proto: $("$ROOT/scripts/fetch_oip_proto.sh")" \
  || die "scripts/fetch_oip_proto.sh failed"

# ---------------------------------------------------------------- Node packages
NODE_DIR="$ROOT/tests/e2e/node"
[[ -f "$NODE_DIR/package-lock.json" ]] || die "missing $NODE_DIR/package-lock.json"
lock_hash=$(sha256sum "$NODE_DIR/package-lock.json" | cut -d' ' -f1)
node_stamp="$NODE_DIR/node_modules/.lock.sha256"
if [[ -d "$NODE_DIR/node_modules" && -f "$node_stamp" && "$(cat "$node_stamp")" == "$lock_hash" ]]; then
  log "Node packages in tests/e2e/node up to date"
else
  log "installing Node packages in tests/e2e/node (npm ci) ..."
  (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) \
    || die "npm ci in tests/e2e/node failed"
  echo "$lock_hash" >"$node_stamp"
fi

log "done: grpcurl $GRPCURL_VERSION, protoc-gen-go $PROTOC_GEN_GO_VERSION," \
  "protoc-gen-go-grpc $PROTOC_GEN_GO_GRPC_VERSION," \
  "python=$("$ROOT/.venv/bin/python" -c 'import grpc; print("grpcio", grpc.__version__)')," \
  "node=$(node --version)"
