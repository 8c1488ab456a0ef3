#!/usr/bin/env bash
# Requests per second and latency of examples/video_service.cpp under keep-alive load: starts
# the service against a throwaway cluster (or the one in --cluster-env), adds a few videos,
# then runs sparc-http-load on GET /videos (a replica read) and prints its JSON line.
#
#   bash bench/video_service_bench.sh --service build/release/examples/sparc-video-service \
#        --load build/release/bench/sparc-http-load [--threads 4] [--duration 5]
#        [--cluster-env DIR/cluster.env]
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
service="" load="" threads=4 duration=5 cluster_env=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --service) service=$2; shift 2 ;;
        --load) load=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --cluster-env) cluster_env=$2; shift 2 ;;
        *) echo "video_service_bench.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[[ -x "$service" && -x "$load" ]] || { echo "need --service and --load executables" >&2; exit 2; }

work=$(mktemp -d)
cluster_dir=""
svc_pid=""
cleanup() {
    if [[ -n "$svc_pid" ]]; then kill -TERM "$svc_pid" 2>/dev/null || true; wait "$svc_pid" || true; fi
    if [[ -n "$cluster_dir" ]]; then
        bash "$here/scripts/cluster.sh" stop "$cluster_dir" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

if [[ -z "$cluster_env" ]]; then
    # Not under $work: mktemp -d makes it private, and the servers run as another user.
    cluster_dir=$(mktemp -u "${TMPDIR:-/tmp}/sparc-bench-cluster.XXXXXX")
    bash "$here/scripts/cluster.sh" start "$cluster_dir" --owner $$ >&2
    cluster_env=$cluster_dir/cluster.env
fi
# shellcheck disable=SC1090
set -a; . "$cluster_env"; set +a
export DATABASE_URL=$SPARC_PRIMARY_URL DATABASE_READ_REPLICAS=$SPARC_REPLICA_URLS

"$service" --port 0 --host 127.0.0.1 >"$work/service.out" 2>"$work/service.err" &
svc_pid=$!
for _ in $(seq 1 300); do
    grep -q '^listening on' "$work/service.out" && break
    kill -0 "$svc_pid" 2>/dev/null || { cat "$work/service.err" >&2; exit 1; }
    sleep 0.1
done
port=$(sed -n 's/^listening on \([0-9]*\)$/\1/p' "$work/service.out")
[[ -n "$port" ]] || { echo "the service did not start" >&2; cat "$work/service.err" >&2; exit 1; }

tenant=$((RANDOM * 1000 + RANDOM))
position=""
for i in 1 2 3 4 5; do
    position=$(curl -sf -X POST -H 'Content-Type: application/json' \
        -d "{\"tenant_id\": $tenant, \"title\": \"bench $i\"}" "http://127.0.0.1:$port/videos" |
        sed -n 's/.*"position":"\([^"]*\)".*/\1/p')
done
# Wait until a replica has replayed the inserts, so that every GET below is a replica read.
curl -sf "http://127.0.0.1:$port/videos?tenant=$tenant&after=$position" >/dev/null

"$load" --port "$port" --path "/videos?tenant=$tenant&limit=5" --threads "$threads" \
    --duration "$duration"
