#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, then builds and runs an
# outside project against it twice: with find_package(shimkit) + shimkit_generate(),
# and with plain pkg-config. Usage: run.sh BUILD_DIR SOURCE_DIR [SANITIZER_FLAGS]
# (a sanitizer build of shimkit needs the outside program built the same way).
set -euo pipefail
build=$1 src=$2 san=${3:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

echo "install: cmake --install into $prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log" || { cat "$work/install.log"; exit 1; }
for f in include/shimkit/shimkit.h bin/protoc-gen-shimkit lib/libshimkit.so lib/libshimkit.a \
         lib/pkgconfig/shimkit.pc lib/cmake/shimkit/shimkitConfig.cmake lib/cmake/shimkit/ShimkitGenerate.cmake; do
  found=$(ls "$prefix"/$f "$prefix"/lib/*/"${f#lib/}" 2>/dev/null | head -n1 || true)
  [ -n "$found" ] || { echo "install: missing $f in the installed tree"; exit 1; }
done

echo "install: building the outside project with find_package(shimkit)"
cmake -S "$src/tests/install/project" -B "$work/outside" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_FLAGS="$san" -DCMAKE_EXE_LINKER_FLAGS="$san" >"$work/cfg.log" 2>&1 \
  || { cat "$work/cfg.log"; exit 1; }
cmake --build "$work/outside" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
libdir=$(dirname "$(ls "$prefix"/lib/libshimkit.so "$prefix"/lib/*/libshimkit.so 2>/dev/null | head -n1)")
LD_LIBRARY_PATH=$libdir "$work/outside/greeter_selftest"

echo "install: building with pkg-config only"
pcdir=$(dirname "$(ls "$prefix"/lib/pkgconfig/shimkit.pc "$prefix"/lib/*/pkgconfig/shimkit.pc 2>/dev/null | head -n1)")
flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs shimkit)
cc -std=c11 -Wall -Wextra -Werror $san -o "$work/pc_check" "$src/tests/install/pkgconfig_check.c" $flags
LD_LIBRARY_PATH=$libdir "$work/pc_check"
echo "install: OK"
