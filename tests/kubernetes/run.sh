#!/usr/bin/env bash
# e2e.kubernetes: renders the kubernetes environment's manifests for a
# three-set stack plus the router (shimctl_k8s_tool), checks them with the
# Kubernetes API types (shimkit-k8s-check, this folder's Go program), checks
# that the checker does catch broken manifests, and that applying without a
# cluster context writes nothing to any cluster and says why (exit 3).
#
#   tests/kubernetes/run.sh K8S_TOOL OUT_DIR
set -euo pipefail
TOOL=$1
OUT=$2
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
echo "e2e.kubernetes: ok"
