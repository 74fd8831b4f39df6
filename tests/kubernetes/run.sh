#!/usr/bin/env bash
# e2e.kubernetes: renders the kubernetes environment's manifests for a
# three-set stack plus the router (shimctl_k8s_tool), checks them with the
# Kubernetes API types (shimkit-k8s-check, this folder's Go program), checks
# that the checker does catch broken manifests, and that applying without a
# cluster context writes nothing to any cluster and says why (exit 3).
# With SHIMCTL, also `shimctl up` of a stack with environment: kubernetes:
# it must write the manifests of every service and the router under its
# state folder, pass the same check, and fail saying there is no context.
#
#   tests/kubernetes/run.sh K8S_TOOL OUT_DIR [SHIMCTL]
set -euo pipefail
TOOL=$1
OUT=$2
SHIMCTL=${3:-}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
fail() { echo "e2e.kubernetes: FAIL: $*" >&2; exit 1; }

GO=${GO:-}
if [[ -z $GO ]]; then
  if [[ -x /usr/local/go/bin/go ]]; then GO=/usr/local/go/bin/go; else GO=$(command -v go) || fail "no go toolchain (scripts/setup.sh)"; fi
fi
rm -rf "$OUT"
mkdir -p "$OUT"
CHECK=$OUT/shimkit-k8s-check
(cd "$HERE" && GOFLAGS=-buildvcs=false "$GO" build -o "$CHECK" .) || fail "go build of tests/kubernetes failed (scripts/setup.sh fetches its modules)"

M=$OUT/manifests
"$TOOL" render "$M"
"$CHECK" -sets 3 -router "$M" || fail "rendered manifests do not pass"

# The checker must refuse what is wrong: each broken copy has to fail.
broken() { # broken NAME SED_EXPR: a copy of the manifests with one edit must fail the check
  local d=$OUT/broken-$1
  rm -rf "$d"; cp -r "$M" "$d"
  sed -i "$2" "$d/ml-echo-builtin.yaml"
  if "$CHECK" "$d" >"$d.log" 2>&1; then fail "checker accepted broken manifests ($1)"; fi
  echo "e2e.kubernetes: broken manifests refused as expected ($1): $(grep -m1 FAIL "$d.log")"
}
broken unknown-field 's/^      automountServiceAccountToken: false/      automountServiceAccountToken: false\n      notAField: 1/'
broken tcp-probe '0,/^            grpc:/s//            tcpSocket:/'
broken short-grace 's/terminationGracePeriodSeconds: 15/terminationGracePeriodSeconds: 5/'
broken port-mismatch '0,/containerPort: 50110/s//containerPort: 50111/'

# No cluster here: apply must not pretend, and must say where the manifests are.
set +e
KUBECONFIG=$OUT/no-such-kubeconfig "$TOOL" apply "$M" >"$OUT/apply.log" 2>&1
rc=$?
set -e
cat "$OUT/apply.log"
if command -v kubectl >/dev/null 2>&1; then
  [[ $rc -eq 3 ]] || fail "apply without a context exited $rc, want 3"
  grep -q "no current context" "$OUT/apply.log" || fail "apply's message does not say there is no context"
  grep -q "$M" "$OUT/apply.log" || fail "apply's message does not say where the manifests are"
else
  [[ $rc -ne 0 ]] || fail "apply without kubectl exited 0"
fi

if [[ -n $SHIMCTL ]]; then
  S=$OUT/stack
  mkdir -p "$S"
  cat >"$S/stack.yaml" <<'YAML'
stack: ml
environment: kubernetes
router:
  listen: 127.0.0.1:50100
services:
  model_repository:
    implementation: fs
    port: 50120
  feature_store:
    implementation: sqlite
    replicas: 2
    drain_grace_ms: 20000
  training:
    implementation: xgboost
    replicas: 3
  model_execution:
    implementation: oip
    port: 50150
YAML
  set +e
  KUBECONFIG=$OUT/no-such-kubeconfig "$SHIMCTL" -f "$S/stack.yaml" up >"$OUT/up.log" 2>&1
  rc=$?
  set -e
  cat "$OUT/up.log"
  [[ $rc -ne 0 ]] || fail "shimctl up with no cluster context exited 0"
  grep -q "no current context\|kubectl not found" "$OUT/up.log" || fail "shimctl up does not say why nothing was applied"
  K=$S/.shimctl/ml/kubernetes
  "$CHECK" -sets 4 -router "$K" || fail "shimctl up's manifests do not pass"
  # Flags naming another service point at the router's Service, not at loopback.
  grep -q '"ml-router:50100"' "$K/ml-training-xgboost.yaml" || fail "training's --model-repository is not the router Service"
  ! grep -q '127.0.0.1' "$K"/*.yaml || fail "a manifest names 127.0.0.1"
  grep -q 'terminationGracePeriodSeconds: 25' "$K/ml-feature-store-sqlite.yaml" || fail "feature_store's grace does not follow its drain"
fi
echo "e2e.kubernetes: ok"
