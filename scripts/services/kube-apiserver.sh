#!/usr/bin/env bash
# A Kubernetes API server of the project's own for tests: etcd + kube-apiserver
# on loopback, its data, certificates and kubeconfig in DIR. No kubelet, no
# controller-manager, no scheduler: objects are stored and validated by the real
# API server (admission, defaulting, schema), nothing runs them.
#
#   scripts/services/kube-apiserver.sh build       build etcd, kube-apiserver, kubectl into .tools/k8s/ (if missing);
#                                                  prints the folder
#   scripts/services/kube-apiserver.sh start DIR   build if needed, start etcd + kube-apiserver (or find them
#                                                  running); prints the kubeconfig's path
#   scripts/services/kube-apiserver.sh stop DIR    stop both (SIGTERM, then SIGKILL); no-op if not running
#   scripts/services/kube-apiserver.sh env DIR     prints export lines: KUBECONFIG, and PATH with the built kubectl
#   scripts/services/kube-apiserver.sh --help
#
# The binaries come from tests/kubernetes/apiserver (a Go module that pins
# k8s.io/kubernetes and points its staging modules at their published versions):
# kube-apiserver and kubectl are upstream's own main packages, etcd is etcdmain
# of the etcd server k8s.io/kubernetes depends on. Only the Go toolchain and the
# Go module proxy are needed. They are built once into .tools/k8s/bin and built
# again only when missing or when that module's files change (a hash in
# .tools/k8s/bin/.sha256); a cold build takes minutes, see docs/environments.md.
#
# Certificates (openssl): a CA, the server's (127.0.0.1, localhost), an admin
# client certificate in group system:masters (the kubeconfig's user), and the
# service-account signing key. Ports are picked once (free ones) and kept in
# DIR/ports, so a restart comes back on the same addresses. Every wait is bounded
# (KUBE_APISERVER_SH_TIMEOUT seconds, default 180, for the API server to be
# ready; 15 for etcd and for stops). Logs: DIR/etcd.log, DIR/kube-apiserver.log.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SRC=$ROOT/tests/kubernetes/apiserver
BIN=$ROOT/.tools/k8s/bin
TIMEOUT=${KUBE_APISERVER_SH_TIMEOUT:-180}
HOST=127.0.0.1

die() { echo "kube-apiserver.sh: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

go_bin() {
  if [[ -n ${GO:-} ]]; then echo "$GO"; return; fi
  if [[ -x /usr/local/go/bin/go ]]; then echo /usr/local/go/bin/go; return; fi
  command -v go || die "no go toolchain (scripts/setup.sh)"
}

src_hash() { cat "$SRC/go.mod" "$SRC/go.sum" "$SRC"/etcd/*.go | sha256sum | cut -d' ' -f1; }

built() {
  [[ -x $BIN/etcd && -x $BIN/kube-apiserver && -x $BIN/kubectl ]] &&
    [[ $(cat "$BIN/.sha256" 2>/dev/null) == "$(src_hash)" ]]
}

build() { # under a lock (two test runs at once build once); fd 9 is not left to the servers
  mkdir -p "$BIN"
  exec 9>"$BIN/.build.lock"
  flock -w 1800 9 || die "another build holds $BIN/.build.lock"
  local rc=0
  built || build_locked || rc=$?
  exec 9>&-
  ((rc == 0)) && echo "$BIN"
  return $rc
}

build_locked() {
  local go version ld p t0=$SECONDS
  go=$(go_bin)
  # The version the binaries report: the pinned k8s.io/kubernetes (kubectl and
  # the server compare it; without it they would say v0.0.0-master).
  version=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$SRC/go.mod")
  [[ $version =~ ^v([0-9]+)\.([0-9]+)\. ]] || die "no k8s.io/kubernetes version in $SRC/go.mod"
  ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$version -X $p.gitMajor=${BASH_REMATCH[1]} -X $p.gitMinor=${BASH_REMATCH[2]}"
    ld+=" -X $p.gitTreeState=clean"
  done
  echo "kube-apiserver.sh: building etcd, kube-apiserver, kubectl $version into $BIN (minutes when cold) ..." >&2
  rm -f "$BIN/.sha256"
  (cd "$SRC" && GOFLAGS=-buildvcs=false "$go" build -trimpath -ldflags "$ld" -o "$BIN/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl ./etcd) >&2 ||
    die "go build in $SRC failed (it needs the Go module proxy)"
  src_hash >"$BIN/.sha256"
  echo "kube-apiserver.sh: built in $((SECONDS - t0)) s" >&2
}

(($# >= 1)) || { usage >&2; exit 2; }
CMD=$1
case "$CMD" in
  -h|--help|help) usage; exit 0 ;;
  build) (($# == 1)) || die "usage: $0 build"; build; exit 0 ;;
  start|stop|env) (($# == 2)) || die "usage: $0 $CMD DIR" ;;
  *) die "unknown command '$CMD' (build, start, stop, env; --help)" ;;
esac

mkdir -p "$2"
DIR=$(cd "$2" && pwd)
KUBECONFIG_FILE=$DIR/kubeconfig
PORTS=$DIR/ports

pid_alive() { [[ -f $DIR/$1.pid ]] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }
port() { sed -n "s/^$1 //p" "$PORTS" 2>/dev/null; }
kctl() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" --request-timeout=5s "$@"; }
api_ready() { [[ -f $KUBECONFIG_FILE ]] && [[ $(kctl get --raw /readyz 2>/dev/null) == ok ]]; }
etcd_ready() {
  python3 - "http://$HOST:$(port etcd)/health" <<'PY' 2>/dev/null
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    sys.exit(0 if json.load(r).get("health") == "true" else 1)
PY
}

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

certs() { # CA, server, admin client, service-account key: made once per DIR
  local c=$DIR/pki
  [[ -f $c/admin.crt ]] && return 0
  mkdir -p "$c"
  (
    cd "$c"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=shimkit-e2e-ca" \
      -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout server.key -out server.csr 2>/dev/null
    printf '%s\n' 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc' \
      'extendedKeyUsage=serverAuth' >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile server.ext \
      -out server.crt 2>/dev/null
    # The kubeconfig's user: group system:masters, which RBAC lets do everything.
    openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=shimkit-admin" -keyout admin.key \
      -out admin.csr 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >admin.ext
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile admin.ext \
      -out admin.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    chmod 600 ./*.key
  ) || die "openssl could not make the certificates in $c"
}

kubeconfig() {
  local c=$DIR/pki
  cat >"$KUBECONFIG_FILE.tmp" <<YAML
# Written by scripts/services/kube-apiserver.sh: the e2e API server on loopback.
apiVersion: v1
kind: Config
clusters:
  - name: shimkit-e2e
    cluster:
      server: https://$HOST:$(port apiserver)
      certificate-authority: $c/ca.crt
users:
  - name: shimkit-admin
    user:
      client-certificate: $c/admin.crt
      client-key: $c/admin.key
contexts:
  - name: shimkit-e2e
    context:
      cluster: shimkit-e2e
      user: shimkit-admin
      namespace: default
current-context: shimkit-e2e
YAML
  mv "$KUBECONFIG_FILE.tmp" "$KUBECONFIG_FILE"
}

wait_until() { # wait_until SECONDS WHAT LOG CHECK...
  local secs=$1 what=$2 log=$3
  shift 3
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what not ready within ${secs}s; see $log"
    sleep 0.5
  done
}

start() {
  if pid_alive etcd && pid_alive kube-apiserver && api_ready; then
    echo "$KUBECONFIG_FILE"
    return 0
  fi
  build >/dev/null
  command -v openssl >/dev/null || die "openssl not found: run scripts/setup.sh"
  if [[ ! -s $PORTS ]]; then
    printf 'etcd %s\netcd-peer %s\napiserver %s\n' "$(free_port)" "$(free_port)" "$(free_port)" >"$PORTS"
  fi
  certs
  kubeconfig
  local c=$DIR/pki
  if ! pid_alive etcd; then
    # Single member, loopback only; no fsync: a test store, thrown away with DIR.
    setsid "$BIN/etcd" --name shimkit-e2e --data-dir "$DIR/etcd" \
      --listen-client-urls "http://$HOST:$(port etcd)" --advertise-client-urls "http://$HOST:$(port etcd)" \
      --listen-peer-urls "http://$HOST:$(port etcd-peer)" \
      --initial-advertise-peer-urls "http://$HOST:$(port etcd-peer)" \
      --initial-cluster "shimkit-e2e=http://$HOST:$(port etcd-peer)" \
      --unsafe-no-fsync --log-level warn </dev/null >>"$DIR/etcd.log" 2>&1 &
    echo $! >"$DIR/etcd.pid"
  fi
  wait_until 15 "etcd on port $(port etcd)" "$DIR/etcd.log" etcd_ready
  if ! pid_alive kube-apiserver; then
    # --endpoint-reconciler-type=none: the 'kubernetes' Service's endpoints
    # would name 127.0.0.1, which Endpoints validation refuses.
    setsid "$BIN/kube-apiserver" \
      --etcd-servers "http://$HOST:$(port etcd)" \
      --bind-address $HOST --advertise-address $HOST --secure-port "$(port apiserver)" \
      --cert-dir "$c" --tls-cert-file "$c/server.crt" --tls-private-key-file "$c/server.key" \
      --client-ca-file "$c/ca.crt" \
      --service-account-key-file "$c/sa.pub" --service-account-signing-key-file "$c/sa.key" \
      --service-account-issuer https://kubernetes.default.svc \
      --service-cluster-ip-range 10.96.0.0/16 \
      --authorization-mode RBAC \
      --endpoint-reconciler-type none \
      --profiling=false \
      </dev/null >>"$DIR/kube-apiserver.log" 2>&1 &
    echo $! >"$DIR/kube-apiserver.pid"
  fi
  wait_until "$TIMEOUT" "kube-apiserver on port $(port apiserver)" "$DIR/kube-apiserver.log" api_ready
  # The bootstrap controller makes the 'default' namespace just after /readyz.
  wait_until 30 "namespace default" "$DIR/kube-apiserver.log" kctl get namespace default -o name
  echo "$KUBECONFIG_FILE"
}

stop_one() { # stop_one NAME
  pid_alive "$1" || { rm -f "$DIR/$1.pid"; return 0; }
  local pid deadline=$((SECONDS + 15))
  pid=$(cat "$DIR/$1.pid")
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
  rm -f "$DIR/$1.pid"
}

case "$CMD" in
  start) start ;;
  stop) stop_one kube-apiserver; stop_one etcd ;;
  env) printf 'export KUBECONFIG=%q\nexport PATH=%q:"$PATH"\n' "$KUBECONFIG_FILE" "$BIN" ;;
esac
