#!/usr/bin/env bash
# The toolkit demo (the README's main command, scripts/demo.sh, shows the ML
# stack): installs what is missing, builds, starts the example shim
# (echo_shim) on a free loopback port and calls it with grpcurl (through
# reflection), the generated C client and a Python client, then stops it with
# SIGTERM and shows how it drained.
#
#   scripts/demo_echo.sh [--no-setup] [--no-build]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

do_setup=1 do_build=1
for a in "$@"; do
  case "$a" in
    --no-setup) do_setup=0 ;;
    --no-build) do_build=0 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "demo: unknown argument '$a'" >&2; exit 2 ;;
  esac
done

if ((do_setup)); then scripts/setup.sh; fi
if ((do_build)); then
  build_log=$(mktemp /tmp/shimkit-demo-build.XXXXXX.log)
  echo "demo: building echo_shim and echo_client in build/ ..."
  if ! scripts/build.sh --target echo_shim --target echo_client >"$build_log" 2>&1; then
    cat "$build_log"; rm -f "$build_log"
    echo "demo: build failed" >&2; exit 1
  fi
  rm -f "$build_log"
fi

SHIM=$ROOT/build/services/echo/echo_shim
CLIENT=$ROOT/build/services/echo/echo_client
GRPCURL=$ROOT/.tools/bin/grpcurl
PY=$ROOT/.venv/bin/python
for f in "$SHIM" "$CLIENT" "$GRPCURL" "$PY"; do
  [[ -x "$f" ]] || { echo "demo: $f is missing (run scripts/setup.sh and scripts/build.sh)" >&2; exit 1; }
done

LOG=$(mktemp /tmp/shimkit-demo-shim.XXXXXX.log)
SHIM_PID=""
cleanup() {
  if [[ -n "$SHIM_PID" ]] && kill -0 "$SHIM_PID" 2>/dev/null; then kill -KILL "$SHIM_PID" 2>/dev/null || true; fi
  rm -f "$LOG"
}
trap cleanup EXIT

n=0
section() { n=$((n + 1)); echo; echo "== $n. $* =="; }
# cmdline ARGS...: the command as one would type it (quoted where needed, paths relative).
cmdline() {
  local out="\$" a
  for a in "$@"; do
    a=${a#"$ROOT/"}
    if [[ "$a" =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then out+=" $a"; else out+=" '${a//\'/\'\\\'\'}'"; fi
  done
  echo "$out"
}
show() { cmdline "$@"; "$@" 2>&1 | sed 's/^/  /'; }
# show_status: like show, but a non-zero exit is part of the demo, not a failure.
show_status() { cmdline "$@"; { "$@" 2>&1 || echo "(exit status $?)"; } | sed 's/^/  /'; }

section "echo_shim starts on a free loopback port"
"$SHIM" --listen 127.0.0.1:0 --name demo --drain-grace-ms 3000 2>"$LOG" &
SHIM_PID=$!
for _ in $(seq 1 200); do
  grep -q 'listening on' "$LOG" && break
  kill -0 "$SHIM_PID" 2>/dev/null || { cat "$LOG"; echo "demo: echo_shim exited early" >&2; exit 1; }
  sleep 0.05
done
grep -q 'listening on' "$LOG" || { cat "$LOG"; echo "demo: echo_shim did not start" >&2; exit 1; }
ADDR=$(grep -o 'listening on [0-9.]*:[0-9]*' "$LOG" | head -1 | cut -d' ' -f3)
sed 's/^/  /' "$LOG"
echo "  (pid $SHIM_PID, address $ADDR, idle RSS $(awk '/VmRSS/{print $2, $3}' /proc/$SHIM_PID/status))"

section "grpcurl lists services through reflection"
show "$GRPCURL" -plaintext "$ADDR" list

section "grpcurl describes the Echo service and a message"
show "$GRPCURL" -plaintext "$ADDR" describe shimkit.examples.v1.Echo
show "$GRPCURL" -plaintext "$ADDR" describe shimkit.examples.v1.EchoRequest

section "grpcurl calls Say (unary), with a header echoed back"
show "$GRPCURL" -plaintext -v -H 'x-echo-demo: yes' -d '{"message":"hello from grpcurl"}' "$ADDR" shimkit.examples.v1.Echo/Say

section "grpcurl calls Expand (server streaming)"
show "$GRPCURL" -plaintext -d '{"message":"tick","count":3,"interval_ms":100}' "$ADDR" shimkit.examples.v1.Echo/Expand

section "grpcurl: health check, an error status, a deadline"
show "$GRPCURL" -plaintext -d '{"service":""}' "$ADDR" grpc.health.v1.Health/Check
show_status "$GRPCURL" -plaintext -d '{"fail_code":5,"fail_message":"no such model"}' "$ADDR" shimkit.examples.v1.Echo/Say
show_status "$GRPCURL" -plaintext -max-time 0.3 -d '{"delay_ms":3000}' "$ADDR" shimkit.examples.v1.Echo/Say

section "the generated C client (echo_client) makes all four kinds of call"
show "$CLIENT" --target "$ADDR" -H 'x-echo-user: demo' say "hello from C"
show "$CLIENT" --target "$ADDR" expand tock 3
show "$CLIENT" --target "$ADDR" collect one two three
show "$CLIENT" --target "$ADDR" chat ping pong

section "a Python grpcio client, stubs generated from echo.proto"
show "$PY" "$ROOT/scripts/demo_client.py" "$ADDR"

section "SIGTERM with a call in flight: the shim drains, the call completes"
lines_before=$(wc -l <"$LOG")
"$CLIENT" --target "$ADDR" --delay-ms 1000 say "finished during the drain" >/tmp/shimkit-demo-inflight.$$ 2>&1 &
CALL_PID=$!
sleep 0.3
echo "\$ kill -TERM $SHIM_PID"
kill -TERM "$SHIM_PID"
call_rc=0; wait "$CALL_PID" || call_rc=$?
shim_rc=0; wait "$SHIM_PID" || shim_rc=$?
SHIM_PID=""
echo "  in-flight call (exit $call_rc):"
sed 's/^/    /' /tmp/shimkit-demo-inflight.$$; rm -f /tmp/shimkit-demo-inflight.$$
echo "  echo_shim exited with $shim_rc; its log since SIGTERM:"
tail -n +"$((lines_before + 1))" "$LOG" | sed 's/^/    /'

echo
if ((call_rc == 0 && shim_rc == 0)); then
  echo "demo: done"
else
  echo "demo: the drain did not go as expected (call exit $call_rc, shim exit $shim_rc)" >&2
  exit 1
fi
