#!/usr/bin/env bash
# demo.sh: builds and runs examples/sparc-demo.
#
# With DATABASE_URL set, the demo runs against that database (and DATABASE_READ_REPLICAS, if
# set). Without it, a throwaway cluster (primary, two streaming replicas, PgBouncer) is started
# for the run and removed afterwards.
#
#   scripts/demo.sh [--preset release|dev] [--no-setup] [-- DEMO-ARGS...]
set -euo pipefail

readonly PROG=${0##*/}
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT

preset=${SPARC_DEMO_PRESET:-release}
setup=1
demo_args=()
while (( $# )); do
    case $1 in
        --preset) preset=${2:?--preset needs a name}; shift ;;
        --no-setup) setup=0 ;;
        --) shift; demo_args=("$@"); break ;;
        -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) demo_args+=("$1") ;;
    esac
    shift
done

die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

cd "$ROOT"
if (( setup )); then
    bash scripts/setup.sh
fi

build_dir=$ROOT/build/$preset
cmake --preset "$preset" >/dev/null || die "cmake --preset $preset failed"
targets=$(cmake --build "$build_dir" --target help 2>/dev/null || true)
if ! grep -qw sparc_demo <<<"$targets"; then
    die "the build has no sparc_demo target (examples/CMakeLists.txt defines it; is SPARC_BUILD_EXAMPLES off?)"
fi
cmake --build --preset "$preset" --target sparc_demo --parallel "${SPARC_JOBS:-2}" ||
    die "building sparc_demo failed"

demo=$build_dir/examples/sparc-demo
if [[ ! -x $demo ]]; then
    demo=$(find "$build_dir" -type f -name sparc-demo -perm -u+x -print -quit)
fi
[[ -n $demo && -x $demo ]] || die "sparc-demo was not built under $build_dir"

cluster_dir=""
# shellcheck disable=SC2317  # invoked by the EXIT trap
stop_cluster() {
    if [[ -n $cluster_dir ]]; then
        bash scripts/cluster.sh stop "$cluster_dir" >/dev/null || true
    fi
}

if [[ -z ${DATABASE_URL:-} ]]; then
    echo "$PROG: DATABASE_URL is not set; starting a throwaway cluster"
    trap stop_cluster EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    cluster_dir=$(mktemp -u "${TMPDIR:-/tmp}/sparc-cluster-XXXXXXXX")
    bash scripts/cluster.sh start "$cluster_dir" --owner $$
    # Only what the demo needs; the file also holds SPARC_* test variables.
    DATABASE_URL=$(sed -n "s/^SPARC_PRIMARY_URL='\(.*\)'$/\1/p" "$cluster_dir/cluster.env")
    DATABASE_READ_REPLICAS=$(sed -n "s/^SPARC_REPLICA_URLS='\(.*\)'$/\1/p" "$cluster_dir/cluster.env")
    [[ -n $DATABASE_URL && -n $DATABASE_READ_REPLICAS ]] || die "cannot read $cluster_dir/cluster.env"
    export DATABASE_URL DATABASE_READ_REPLICAS
fi

echo "$PROG: running $demo"
status=0
"$demo" "${demo_args[@]}" || status=$?
exit "$status"
