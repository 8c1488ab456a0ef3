#!/usr/bin/env bash
# soak.sh: runs the soak test under faults (tests/soak/soak.cpp) against a throwaway cluster.
#
# Worker threads mix replica reads, primary writes and retrying transactions through one
# db::Database while a chaos driver stops and restarts replicas, terminates backends, restarts
# the primary and cuts or stalls connections through fault-injecting proxies. At the end every
# invariant is checked (no lost or duplicated write, nothing leaked, only typed errors, stable
# memory, no password in anything the library produced). CTest runs a short form (label soak);
# this script runs the long one:
#
#   scripts/soak.sh                        10 minutes, 10 rounds, 8 threads, release build
#   scripts/soak.sh --minutes 30 --rounds 15 --threads 16
#   scripts/soak.sh --faults primary_restart,proxy_stall     only these kinds of fault
#
# Options: --minutes N, --rounds N, --threads N, --seed N, --faults KIND,..., --preset NAME
# (default release), --no-setup. The JSON report is written to build/<preset>/soak-report.json.
# Exit status: 0 when every invariant held, 1 otherwise.
set -euo pipefail

readonly PROG=${0##*/}
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT

minutes=10
rounds=10
threads=8
seed=0
faults=""
preset=release
setup=1
while (( $# )); do
    case $1 in
        --minutes) minutes=${2:?--minutes needs a number}; shift ;;
        --rounds) rounds=${2:?--rounds needs a number}; shift ;;
        --threads) threads=${2:?--threads needs a number}; shift ;;
        --seed) seed=${2:?--seed needs a number}; shift ;;
        --faults) faults=${2:?--faults needs a list}; shift ;;
        --preset) preset=${2:?--preset needs a name}; shift ;;
        --no-setup) setup=0 ;;
        -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) printf '%s: unknown option %s (see --help)\n' "$PROG" "$1" >&2; exit 2 ;;
    esac
    shift
done
[[ $minutes =~ ^[1-9][0-9]*$ ]] || { printf '%s: --minutes needs a positive integer\n' "$PROG" >&2; exit 2; }

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
cmake --build --preset "$preset" --target sparc_soak --parallel "${SPARC_JOBS:-2}" ||
    die "building sparc_soak failed"
soak=$build_dir/tests/soak/sparc_soak
[[ -x $soak ]] || die "sparc_soak was not built under $build_dir"

cluster_dir=""
# shellcheck disable=SC2317  # invoked by the EXIT trap
stop_cluster() {
    if [[ -n $cluster_dir ]]; then
        bash scripts/cluster.sh stop "$cluster_dir" >/dev/null || true
    fi
}
trap stop_cluster EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cluster_dir=$(mktemp -u "${TMPDIR:-/tmp}/sparc-cluster-XXXXXXXX")
bash scripts/cluster.sh start "$cluster_dir" --owner $$
export SPARC_CLUSTER_ENV=$cluster_dir/cluster.env
export SPARC_CLUSTER_SCRIPT=$ROOT/scripts/cluster.sh

args=(--duration $((minutes * 60)) --rounds "$rounds" --threads "$threads"
      --report "$build_dir/soak-report.json")
(( seed == 0 )) || args+=(--seed "$seed")
[[ -z $faults ]] || args+=(--faults "$faults")
echo "$PROG: running $soak ${args[*]}"
status=0
"$soak" "${args[@]}" || status=$?
echo "$PROG: report in $build_dir/soak-report.json"
exit "$status"
