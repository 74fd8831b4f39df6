#!/usr/bin/env bash
# The README's test command: installs what is missing, builds with warnings as
# errors and runs every ctest test (unit, codegen, e2e, install), then does the
# same in build-asan/ under AddressSanitizer + UndefinedBehaviorSanitizer, then
# builds the libFuzzer targets with clang in build-fuzz/ and runs each for
# SHIMKIT_FUZZ_SECONDS (20 s; fuzz/CMakeLists.txt).
#
#   scripts/test.sh [--no-asan] [--no-fuzz] [--no-setup] [-- extra ctest args, e.g. -L e2e]
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

run_asan=1
run_fuzz=1
run_setup=1
ctest_args=()
while (($#)); do
  case "$1" in
    --no-asan) run_asan=0; shift ;;
    --no-fuzz) run_fuzz=0; shift ;;
    --no-setup) run_setup=0; shift ;;
    --) shift; ctest_args=("$@"); break ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "test: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

declare -a summary=()
failed=0
step() { # step NAME COMMAND...: runs it, records PASS/FAIL
  local name=$1; shift
  echo
  echo "==== test: $name"
  local t0=$SECONDS
  if "$@"; then
    summary+=("PASS  $name ($((SECONDS - t0)) s)")
  else
    summary+=("FAIL  $name ($((SECONDS - t0)) s)")
    failed=1
    return 1
  fi
}

print_summary() {
  echo
  echo "==== test summary"
  printf '  %s\n' "${summary[@]}"
  if ((failed)); then echo "test: FAILED"; else echo "test: all passed"; fi
}

run_ctest() { # run_ctest DIR
  (cd "$ROOT/$1" && ctest --output-on-failure --timeout 600 "${ctest_args[@]}")
}

if ((run_setup)); then
  step "setup" "$ROOT/scripts/setup.sh" || { print_summary; exit 1; }
fi

# dockerd for the image and docker-environment tests (e2e.images, e2e.shimctl_docker);
# they skip, saying why, only when it cannot start.
if ! "$ROOT/scripts/services/docker.sh" start; then
  echo "test: dockerd could not be started; the docker tests will be skipped"
fi

# etcd, kube-apiserver and kubectl for e2e.shimctl.kubernetes, built once into
# .tools/k8s/bin (minutes when cold); the test skips, saying why, when they
# cannot be built or started.
if ! "$ROOT/scripts/services/kube-apiserver.sh" build >/dev/null; then
  echo "test: kube-apiserver could not be built; e2e.shimctl.kubernetes will be skipped"
fi

# Plain build with -Werror.
if step "build (build/, -DSHIMKIT_WERROR=ON)" "$ROOT/scripts/build.sh" --dir build -DSHIMKIT_WERROR=ON; then
  step "ctest (build/)" run_ctest build
fi

if ((run_asan)); then
  # Sanitized build: leaks inside libgrpc's own threads at exit are not ours,
  # but ASan's leak checker must still see our code, so it stays on; tests
  # that need a different setting set ASAN_OPTIONS themselves.
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  if step "build (build-asan/, ASan+UBSan, -DSHIMKIT_WERROR=ON)" "$ROOT/scripts/build.sh" --dir build-asan \
      -DSHIMKIT_ASAN=ON -DSHIMKIT_UBSAN=ON -DSHIMKIT_WERROR=ON; then
    step "ctest (build-asan/, ASan+UBSan)" run_ctest build-asan
  fi
fi

if ((run_fuzz)); then
  # Coverage-guided fuzzing (fuzz/): a clang build of the fuzz targets only,
  # each run for a bounded time from its seeds; any crash, leak or sanitizer
  # report fails. The seeds and regression inputs also replay in the two
  # builds above (fuzz.<name>.replay).
  if step "build (build-fuzz/, clang libFuzzer + ASan + UBSan, -DSHIMKIT_WERROR=ON)" "$ROOT/scripts/build.sh" \
      --dir build-fuzz --target fuzz -DCMAKE_C_COMPILER=clang -DSHIMKIT_FUZZ=ON -DSHIMKIT_BUILD_TESTS=OFF \
      -DSHIMKIT_WERROR=ON; then
    step "ctest (build-fuzz/, libFuzzer)" run_ctest build-fuzz
  fi
fi

print_summary
exit $failed
