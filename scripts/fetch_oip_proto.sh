#!/usr/bin/env bash
# Fetches the public Open Inference Protocol file, grpc_predict_v2.proto,
# exactly as KServe publishes it, for the model execution contract test that
# generates its client from that file (tests/contract/model_execution/
# test_oip_public_proto.py). Not committed: it is KServe's file, taken from
# the KServe Python wheel on PyPI (kserve 0.15.2 is the newest release whose
# wheel ships kserve/protocol/grpc/grpc_predict_v2.proto), with pip
# checking the wheel's sha256 and this script the file's.
#
#   scripts/fetch_oip_proto.sh      prints the path of the file (.cache/oip/grpc_predict_v2.proto)
#
# Nothing is downloaded when the file is already there with the right sha256.
# Needs the .venv of scripts/setup.sh (its pip), which calls this script.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KSERVE_VERSION=0.15.2
WHEEL_SHA256=51d7576debfe0fbb2a9dfa08c9b9ee2350a03669950c5edbe107669b70612c93
PROTO_IN_WHEEL=kserve/protocol/grpc/grpc_predict_v2.proto
PROTO_SHA256=2661303b32e62dc473486d5839d150c869db9032182fbb71517ae09e92b892d6
OUT_DIR=$ROOT/.cache/oip
OUT=$OUT_DIR/grpc_predict_v2.proto
PY=${SHIMKIT_E2E_PYTHON:-$ROOT/.venv/bin/python}

die() { echo "fetch_oip_proto: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

if [[ -f $OUT && $(sha "$OUT") == "$PROTO_SHA256" ]]; then
  echo "$OUT"
  exit 0
fi
[[ -x $PY ]] || die "no $PY: run scripts/setup.sh first"

TMP=$(mktemp -d /tmp/shimkit-oip.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
echo "kserve==$KSERVE_VERSION --hash=sha256:$WHEEL_SHA256" >"$TMP/req.txt"
"$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
  -d "$TMP/wheel" -r "$TMP/req.txt" >&2 || die "pip could not download kserve==$KSERVE_VERSION"
"$PY" - "$TMP/wheel" "$PROTO_IN_WHEEL" "$TMP/grpc_predict_v2.proto" <<'PY' || die "no $PROTO_IN_WHEEL in the wheel"
import glob, sys, zipfile
(wheel,) = glob.glob(sys.argv[1] + "/kserve-*.whl")
with zipfile.ZipFile(wheel) as z, open(sys.argv[3], "wb") as out:
    out.write(z.read(sys.argv[2]))
PY
[[ $(sha "$TMP/grpc_predict_v2.proto") == "$PROTO_SHA256" ]] \
  || die "$PROTO_IN_WHEEL of kserve $KSERVE_VERSION does not have the expected sha256"
mkdir -p "$OUT_DIR"
mv "$TMP/grpc_predict_v2.proto" "$OUT"
echo "$OUT"
