#!/usr/bin/env bash
# run.sh SRC BUILD: builds and runs the consumer project in tests/package twice:
#   1. against `cmake --install BUILD` in a temporary prefix, through find_package(sparc)
#   2. against the source tree SRC, through add_subdirectory()
# BUILD must be an already built sparc build tree.
set -euo pipefail

if (( $# != 2 )); then
    echo "usage: ${0##*/} SOURCE_DIR BUILD_DIR" >&2
    exit 2
fi
src=$(cd -- "$1" && pwd)
build=$(cd -- "$2" && pwd)
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/sparc-package.XXXXXXXX")
trap 'rm -rf -- "$work"' EXIT

# The consumer uses the compiler and build type sparc was built with.
cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
cxx=$(cache_value CMAKE_CXX_COMPILER)
build_type=$(cache_value CMAKE_BUILD_TYPE)
common=(-DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE="${build_type:-Release}")

echo "== install $build to a temporary prefix"
cmake --install "$build" --prefix "$work/prefix" >"$work/install.log" ||
    { cat "$work/install.log"; exit 1; }
[[ -f $work/prefix/include/sparc/db.hpp ]] || { echo "db.hpp was not installed" >&2; exit 1; }

echo "== consumer through find_package(sparc)"
cmake -S "$here" -B "$work/installed" "${common[@]}" -DCMAKE_PREFIX_PATH="$work/prefix" \
    -DSPARC_CHECK_HEADERS=ON
found=$(sed -n 's/^sparc_DIR:[A-Z]*=//p' "$work/installed/CMakeCache.txt")
if [[ $found != "$work/prefix/"* ]]; then
    echo "find_package(sparc) found $found, not the fresh install" >&2
    exit 1
fi
cmake --build "$work/installed" --parallel "${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
"$work/installed/consumer"
"$work/installed/consumer_testing"

echo "== consumer through add_subdirectory($src)"
cmake -S "$here" -B "$work/subdir" "${common[@]}" -DSPARC_SOURCE_DIR="$src"
cmake --build "$work/subdir" --parallel "${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
"$work/subdir/consumer"
"$work/subdir/consumer_testing"
echo "== package consumer: both routes passed"
