#!/usr/bin/env bash
# bench_stream.sh: peak memory of reading many rows through db::Database, as one Result
# (query()) and streamed row by row (for_each()), each in a process of its own, against a
# throwaway cluster. Prints one JSON line per run and the ratio; see bench/RESULTS.md.
set -euo pipefail

readonly PROG=${0##*/}
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT

usage() {
    cat <<USAGE
Usage: $PROG [OPTIONS]

  --rows N        rows per run (default 10000000)
  --rounds N      runs of each mode, alternating which goes first (default 1)
  --preset NAME   CMake preset to build and run (default release)
  --no-build      use the binary already built for the preset
  --jobs N        build parallelism (default 1)
USAGE
}

die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}
note() { printf '%s: %s\n' "$PROG" "$*" >&2; }

rows=10000000
rounds=1
preset=release
build=1
jobs=1
while (($#)); do
    case $1 in
        --rows) rows=${2:?}; shift 2 ;;
        --rounds) rounds=${2:?}; shift 2 ;;
        --preset) preset=${2:?}; shift 2 ;;
        --no-build) build=0; shift ;;
        --jobs) jobs=${2:?}; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown option $1" ;;
    esac
done

cd "$ROOT"
if ((build)); then
    note "building sparc_stream_memory ($preset preset)"
    cmake --preset "$preset" -DSPARC_BUILD_BENCH=ON >/dev/null
    cmake --build --preset "$preset" --target sparc_stream_memory -j "$jobs" >/dev/null
fi
exe=$ROOT/build/$preset/bench/sparc-stream-memory
[[ -x $exe ]] || die "$exe not built"

cluster_dir=""
cleanup() {
    if [[ -n $cluster_dir ]]; then
        bash "$ROOT/scripts/cluster.sh" stop "$cluster_dir" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cluster_dir=$(mktemp -d "${TMPDIR:-/tmp}/sparc-stream-cluster.XXXXXX")
note "starting a throwaway cluster in $cluster_dir"
bash "$ROOT/scripts/cluster.sh" start "$cluster_dir" --owner $$ >"$cluster_dir.log" 2>&1 ||
    die "cluster start failed, see $cluster_dir.log"
set -a
# shellcheck disable=SC1091
. "$cluster_dir/cluster.env"
set +a

printf 'date: %s, commit: %s, preset: %s, rows: %s, nproc: %s, load average: %s\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    "$preset" "$rows" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
for ((round = 1; round <= rounds; round++)); do
    modes=(query for_each)
    ((round % 2 == 0)) && modes=(for_each query)
    for mode in "${modes[@]}"; do
        "$exe" --url "$SPARC_PRIMARY_URL" --rows "$rows" --mode "$mode" ||
            die "$mode run failed"
    done
done
