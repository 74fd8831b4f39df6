#!/usr/bin/env bash
# e2e.kubernetes: renders the kubernetes environment's manifests for a
# three-set stack plus the router (shimctl_k8s_tool), checks them with the
# Kubernetes API types (shimkit-k8s-check, this folder's Go program), checks
# that the checker does catch broken manifests, and that applying without a
# cluster context writes nothing to any cluster and says why (exit 3).
# With SHIMCTL, also `shimctl up` of a stack with environment: kubernetes:
# it must write the manifests of every service and the router under its
# state folder, pass the same check, and fail saying there is no context.
# With ROUTER, shimkit_router must read the router's sets file (the one the
# ConfigMap holds) and serve its sets (RouterAdmin/ListSets, with grpcurl).
#
#   tests/kubernetes/run.sh K8S_TOOL OUT_DIR [SHIMCTL [ROUTER]]
set -euo pipefail
TOOL=$1
OUT=$2
SHIMCTL=${3:-}
ROUTER=${4:-}
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
# resum FILE: the router's checksum annotation made right again for its edited sets file, so that
# the check has to refuse the sets themselves (the text is a JSON-compatible quoted string).
resum() {
  python3 - "$1" <<'PY'
import hashlib, json, re, sys
p = sys.argv[1]
t = open(p).read()
sets = json.loads(re.search(r'^  router\.sets: (".*")$', t, re.M).group(1))
t = re.sub(r'(shimkit\.io/sets-sha256: )"[^"]*"', r'\g<1>"%s"' % hashlib.sha256(sets.encode()).hexdigest(), t)
open(p, "w").write(t)
PY
}
broken() { # broken NAME SED_EXPR [FILE [resum]]: a copy of the manifests with one edit must fail the check
  local d=$OUT/broken-$1 f=${3:-ml-echo-builtin.yaml}
  rm -rf "$d"; cp -r "$M" "$d"
  sed -i "$2" "$d/$f"
  ! cmp -s "$M/$f" "$d/$f" || fail "broken copy $1: the edit changed nothing"
  if [[ ${4:-} == resum ]]; then resum "$d/$f"; fi
  if "$CHECK" "$d" >"$d.log" 2>&1; then fail "checker accepted broken manifests ($1)"; fi
  if [[ ${4:-} == resum ]] && grep -q 'sets-sha256' "$d.log"; then fail "broken copy $1: refused for its checksum"; fi
  echo "e2e.kubernetes: broken manifests refused as expected ($1): $(grep -m1 FAIL "$d.log")"
}
broken unknown-field 's/^      automountServiceAccountToken: false/      automountServiceAccountToken: false\n      notAField: 1/'
broken tcp-probe '0,/^            grpc:/s//            tcpSocket:/'
broken short-grace 's/terminationGracePeriodSeconds: 15/terminationGracePeriodSeconds: 5/'
broken port-mismatch '0,/containerPort: 50110/s//containerPort: 50111/'
# The headless Service and the router's sets.
broken not-headless '/^  clusterIP: "None"$/d'
broken not-ready-published 's/^  publishNotReadyAddresses: false$/  publishNotReadyAddresses: true/'
R=ml-router.yaml
broken sets-unknown-set 's/\\nset echo-builtin\\n/\\nset echo-other\\n/' $R resum
broken sets-missing-set 's/\\nset echo-builtin\\n.*\\nend\\nset feature_store-sqlite/\\nset feature_store-sqlite/; s/end-state 3/end-state 2/' $R resum
broken sets-backend-port 's/dns:ml-echo-builtin-pods:50110/dns:ml-echo-builtin-pods:50111/' $R resum
broken sets-backend-clusterip 's/dns:ml-echo-builtin-pods:50110/dns:ml-echo-builtin:50110/' $R resum
broken sets-cut 's/end-state 3\\n//' $R resum
broken sets-checksum 's/\\nweight 100\\npolicy round_robin/\\nweight 99\\npolicy round_robin/' $R
broken router-state-arg 's/"--sets-file"/"--state"/' $R
broken router-mount-writable '/^              readOnly: true$/d' $R
broken router-not-configmap 's/^          configMap:$/          emptyDir: {}\n          configMapX:/; /configMapX:/,/path: "router.sets"/d' $R

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

# The router reads the sets file the ConfigMap holds, with --sets-file as in
# its pod: its dns: names do not resolve here, which it must live with (its
# sets then have no replica until they do).
if [[ -n $ROUTER ]]; then
  SETS=$OUT/router.sets
  "$TOOL" sets "$SETS"
  cp "$SETS" "$SETS.orig"
  "$ROUTER" --listen 127.0.0.1:0 --no-access-log --sets-file "$SETS" >"$OUT/router.log" 2>&1 &
  rpid=$!
  addr=
  for _ in $(seq 1 600); do # bounded: until it listens or exits
    addr=$(sed -n 's/.*shimkit_router listening on \([0-9.]*:[0-9]*\).*/\1/p' "$OUT/router.log" | head -1)
    [[ -n $addr ]] || ! kill -0 $rpid 2>/dev/null && break
    sleep 0.1
  done
  if [[ -z $addr ]]; then
    kill $rpid 2>/dev/null; wait $rpid 2>/dev/null || true
    cat "$OUT/router.log"
    fail "shimkit_router did not start with the sets file"
  fi
  GRPCURL=${GRPCURL:-$ROOT/.tools/bin/grpcurl}
  "$GRPCURL" -plaintext -d '{}' "$addr" shimkit.router.v1.RouterAdmin/ListSets >"$OUT/listsets.json" 2>&1 ||
    { kill $rpid; cat "$OUT/listsets.json"; fail "ListSets failed"; }
  kill $rpid; wait $rpid 2>/dev/null || true
  for s in echo-builtin feature_store-sqlite training-liblinear; do
    grep -q "\"$s\"" "$OUT/listsets.json" || { cat "$OUT/listsets.json"; fail "the router does not list set $s"; }
  done
  grep -q '"dns:ml-training-liblinear-pods:50140"' "$OUT/listsets.json" || fail "the router does not list training's dns backend"
  grep -q '"hashField": "model_name"' "$OUT/listsets.json" || fail "the router does not hash training on model_name"
  grep -q '"retryNotFound": true' "$OUT/listsets.json" || fail "the router does not ask training's other replicas on NOT_FOUND"
  grep -q '"hashKey": "x-entity"' "$OUT/listsets.json" || fail "the router does not hash feature_store on x-entity"
  cmp -s "$SETS" "$SETS.orig" || fail "the router wrote its sets file"
  echo "e2e.kubernetes: shimkit_router serves the 3 sets of its sets file (--sets-file, left unchanged)"
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
