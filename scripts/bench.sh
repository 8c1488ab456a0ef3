#!/usr/bin/env bash
# bench.sh: builds the benchmarks (release preset), runs the micro-benchmarks, starts a throwaway
# cluster and compares sparc-load with pgbench and with raw libpqxx, in alternating rounds.
# Prints medians and ratios; every raw output is kept in the results directory.
set -euo pipefail

readonly PROG=${0##*/}
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT

usage() {
    cat <<EOF
Usage: $PROG [OPTIONS]

  --duration S        seconds per load run (default 5; e.g. 30 for figures worth quoting)
  --rounds N          alternating rounds of each comparison (default 3)
  --scale N           pgbench scale factor (default 10: 1,000,000 accounts)
  --micro-min-time S  Google Benchmark --benchmark_min_time per benchmark (default 0.1)
  --no-micro          skip the micro-benchmarks
  --no-load           skip the cluster and the load comparisons
  --no-build          use the binaries already in build/release
  --out DIR           results directory (default build/release/bench-results/<UTC time>)
  --jobs N            build parallelism (default 1)
  -h, --help

Comparisons (same statement, SELECT abalance FROM pgbench_accounts WHERE aid = \$1, aid
uniform in 1..100000*scale):
  pgbench -S -M prepared -c 8 -j 2        vs  sparc-load --threads 8 (pool of 8)
  sparc-load --mode raw --threads 8       vs  sparc-load --threads 8, and --threads 64 on 8
  sparc-load --mode raw (1 libpqxx conn)  vs  sparc-load --threads 1 (pool of 1)
Replica failure (after the comparisons, once per round, 9 s or --duration if longer):
  sparc-load --use-replicas --threads 8 while replica1 is stopped (-m immediate) from 1/3 to
  2/3 of the run; latency percentiles and errors over the whole run
EOF
}

die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}
note() { printf '%s: %s\n' "$PROG" "$*" >&2; }

duration=5
failure_duration=9
rounds=3
scale=10
micro_min_time=0.1
run_micro=1
run_load=1
build=1
jobs=1
out=""
while (($#)); do
    case $1 in
        --duration) duration=${2:?}; shift 2 ;;
        --rounds) rounds=${2:?}; shift 2 ;;
        --scale) scale=${2:?}; shift 2 ;;
        --micro-min-time) micro_min_time=${2:?}; shift 2 ;;
        --no-micro) run_micro=0; shift ;;
        --no-load) run_load=0; shift ;;
        --no-build) build=0; shift ;;
        --out) out=${2:?}; shift 2 ;;
        --jobs) jobs=${2:?}; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown option $1" ;;
    esac
done
[[ $duration =~ ^[0-9]+$ && $duration -gt 0 ]] || die "--duration must be a whole number of seconds"
[[ $rounds =~ ^[0-9]+$ && $rounds -gt 0 ]] || die "--rounds must be a positive integer"
[[ $scale =~ ^[0-9]+$ && $scale -gt 0 ]] || die "--scale must be a positive integer"
(( duration <= failure_duration )) || failure_duration=$duration
command -v python3 >/dev/null || die "python3 not found (run scripts/setup.sh)"

readonly BUILD_DIR=$ROOT/build/release
readonly BENCH_BIN=$BUILD_DIR/bench
out=${out:-$BUILD_DIR/bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p -- "$out"
out=$(cd -- "$out" && pwd)

# ---------------------------------------------------------------------------------------------
# Build

if ((build)); then
    note "building the benchmarks (release preset, -j$jobs)"
    (cd -- "$ROOT" && cmake --preset release -DSPARC_BUILD_BENCH=ON >"$out/configure.log") ||
        die "configure failed, see $out/configure.log"
    targets=(sparc_load)
    if ((run_micro)); then
        targets+=(sparc_pool_benchmark sparc_db_benchmark sparc_cdn_benchmark)
    fi
    (cd -- "$ROOT" && cmake --build --preset release --parallel "$jobs" --target "${targets[@]}" \
        >"$out/build.log" 2>&1) || die "build failed, see $out/build.log"
fi

# The machine and its load when the measurements started (not rewritten by a summary-only run).
((run_micro || run_load)) && {
    printf 'date: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf 'nproc: %s\n' "$(nproc)"
    printf 'cpu: %s\n' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    printf 'load average: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
    printf 'commit: %s\n' "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    printf 'duration: %s s, rounds: %s, scale: %s, micro min time: %s s\n' \
        "$duration" "$rounds" "$scale" "$micro_min_time"
} | tee "$out/machine.txt"

# ---------------------------------------------------------------------------------------------
# Micro-benchmarks (no I/O)

if ((run_micro)); then
    for b in pool db cdn; do
        exe=$BENCH_BIN/sparc_${b}_benchmark
        [[ -x $exe ]] || die "$exe not built (Google Benchmark missing?)"
        note "micro-benchmarks: sparc_${b}_benchmark"
        "$exe" --benchmark_min_time="$micro_min_time" \
            --benchmark_out="$out/micro_$b.json" --benchmark_out_format=json \
            >"$out/micro_$b.txt" 2>&1 || die "sparc_${b}_benchmark failed, see $out/micro_$b.txt"
    done
fi

# ---------------------------------------------------------------------------------------------
# Load comparisons against a throwaway cluster

find_pgbench() {
    local d best=""
    if [[ -n ${SPARC_PG_BINDIR:-} && -x $SPARC_PG_BINDIR/pgbench ]]; then
        printf '%s\n' "$SPARC_PG_BINDIR/pgbench"
        return
    fi
    for d in /usr/lib/postgresql/*/bin; do
        [[ -x $d/pgbench ]] || continue
        if [[ -z $best ]] || ((${d//[^0-9]/} > ${best//[^0-9]/})); then best=$d; fi
    done
    if [[ -n $best ]]; then
        printf '%s\n' "$best/pgbench"
    else
        command -v pgbench || die "pgbench not found (postgresql-contrib / postgresql-15)"
    fi
}

cluster_dir=""
cleanup() {
    if [[ -n $cluster_dir ]]; then
        bash "$ROOT/scripts/cluster.sh" stop "$cluster_dir" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ((run_load)); then
    pgbench=$(find_pgbench)
    load=$BENCH_BIN/sparc-load
    [[ -x $load ]] || die "$load not built"
    cluster_dir=$(mktemp -d "${TMPDIR:-/tmp}/sparc-bench-cluster.XXXXXX")
    note "starting a throwaway cluster in $cluster_dir"
    bash "$ROOT/scripts/cluster.sh" start "$cluster_dir" --owner $$ >"$out/cluster.log" 2>&1 ||
        die "cluster start failed, see $out/cluster.log"
    set -a
    # shellcheck disable=SC1091
    . "$cluster_dir/cluster.env"
    set +a
    url=$SPARC_PRIMARY_URL
    note "pgbench -i -s $scale"
    "$pgbench" -i -s "$scale" -q "$url" >"$out/pgbench_init.log" 2>&1 ||
        die "pgbench -i failed, see $out/pgbench_init.log"

    # shellcheck disable=SC2016 # $1 is the statement's parameter, not a shell variable
    readonly SQL='SELECT abalance FROM pgbench_accounts WHERE aid = $1'
    range=1:$((100000 * scale))
    : >"$out/load.jsonl"

    # One run: NAME, then the command; appends {"run": NAME, "round": R, ...} to load.jsonl.
    record() {
        local name=$1 line
        shift
        note "round $round: $name"
        if [[ $name == pgbench* ]]; then
            "$@" >"$out/$name.$round.log" 2>&1 || die "$name failed, see $out/$name.$round.log"
            line=$(python3 - "$out/$name.$round.log" <<'EOF'
import json, re, sys
text = open(sys.argv[1]).read()
tps = re.search(r"^tps = ([0-9.]+) \(without initial connection time\)", text, re.M)
lat = re.search(r"^latency average = ([0-9.]+) ms", text, re.M)
print(json.dumps({"tool": "pgbench", "qps": float(tps.group(1)),
                  "latency_us": {"mean": float(lat.group(1)) * 1000} if lat else None}))
EOF
            )
        else
            line=$("$@" 2>"$out/$name.$round.err") || die "$name failed, see $out/$name.$round.err"
        fi
        python3 -c 'import json,sys; d=json.loads(sys.argv[3]); d["run"]=sys.argv[1]; d["round"]=int(sys.argv[2]); print(json.dumps(d))' \
            "$name" "$round" "$line" >>"$out/load.jsonl"
    }

    pgbench8=("$pgbench" -n -S -M prepared -c 8 -j 2 -T "$duration" "$url")
    sparc8=("$load" --url "$url" --threads 8 --max-connections 8 --duration "$duration"
        --sql "$SQL" --param-range "$range")
    raw1=("$load" --mode raw --url "$url" --threads 1 --duration "$duration" --sql "$SQL"
        --param-range "$range")
    raw8=("$load" --mode raw --url "$url" --threads 8 --duration "$duration" --sql "$SQL"
        --param-range "$range")
    sparc64=("$load" --url "$url" --threads 64 --max-connections 8 --duration "$duration"
        --sql "$SQL" --param-range "$range")
    sparc1=("$load" --url "$url" --threads 1 --max-connections 1 --duration "$duration"
        --sql "$SQL" --param-range "$range")
    for ((round = 1; round <= rounds; round++)); do
        # The baseline goes first in odd rounds and second in even ones, so a drift in the
        # machine's load does not always favour the same side.
        if ((round % 2)); then
            record pgbench_c8 "${pgbench8[@]}"
            record sparc_t8 "${sparc8[@]}"
            record raw_pqxx_t8 "${raw8[@]}"
            record sparc_t64c8 "${sparc64[@]}"
            record raw_pqxx_t1 "${raw1[@]}"
            record sparc_t1 "${sparc1[@]}"
        else
            record sparc_t8 "${sparc8[@]}"
            record pgbench_c8 "${pgbench8[@]}"
            record sparc_t64c8 "${sparc64[@]}"
            record raw_pqxx_t8 "${raw8[@]}"
            record sparc_t1 "${sparc1[@]}"
            record raw_pqxx_t1 "${raw1[@]}"
        fi
    done

    # Replica failure: 8 threads reading from both replicas; replica1 is stopped
    # (pg_ctl -m immediate) a third of the way in and started again at two thirds. The latency
    # percentiles cover the whole run, the failure included.
    replica_failure=("$load" --url "$url" --replicas "$SPARC_REPLICA_URLS" --use-replicas
        --threads 8 --max-connections 8 --duration "$failure_duration" --sql "$SQL"
        --param-range "$range")
    for ((round = 1; round <= rounds; round++)); do
        (
            sleep "$(python3 -c "print($failure_duration / 3)")"
            bash "$ROOT/scripts/cluster.sh" stop-node "$cluster_dir" replica1 immediate
            sleep "$(python3 -c "print($failure_duration / 3)")"
            bash "$ROOT/scripts/cluster.sh" start-node "$cluster_dir" replica1
        ) >>"$out/replica_failure.chaos.log" 2>&1 &
        chaos=$!
        record replica_failure "${replica_failure[@]}"
        wait "$chaos" || die "stopping or starting replica1 failed, see $out/replica_failure.chaos.log"
    done
fi

# ---------------------------------------------------------------------------------------------
# Summary

python3 - "$out" <<'EOF' | tee "$out/summary.txt"
import json, os, re, statistics, sys

out = sys.argv[1]

def load_micro(name):
    path = os.path.join(out, f"micro_{name}.json")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)["benchmarks"]

pool = load_micro("pool")
if pool:
    print("\n== acquire + release (items/s over all threads; ratio = sparc / textbook) ==")
    rows = {}
    for b in pool:
        m = re.match(r"acquire_release/(\w+)/(\w+)/conns:(\d+)/real_time/threads:(\d+)", b["name"])
        if m:
            rows[(m.group(2), int(m.group(3)), int(m.group(4)), m.group(1))] = b
    print(f"{'backend':8} {'conns':>5} {'threads':>7} {'sparc ns/op':>12} {'textbook ns/op':>15}"
          f" {'sparc Mops/s':>13} {'textbook Mops/s':>16} {'ratio':>7}")
    keys = sorted({k[:3] for k in rows})
    for backend, conns, threads in keys:
        s = rows.get((backend, conns, threads, "sparc"))
        t = rows.get((backend, conns, threads, "textbook"))
        if not s or not t:
            continue
        ratio = s["items_per_second"] / t["items_per_second"]
        print(f"{backend:8} {conns:5d} {threads:7d} {s['real_time']:12.1f} {t['real_time']:15.1f}"
              f" {s['items_per_second'] / 1e6:13.3f} {t['items_per_second'] / 1e6:16.3f}"
              f" {ratio:7.3f}")
    for backend in ("null", "fake"):
        s = rows.get((backend, 16, 1, "sparc"))
        if s:
            print(f"uncontended sparc acquire+release ({backend} backend, 1 thread): "
                  f"{s['real_time']:.1f} ns real, {s['cpu_time']:.1f} ns CPU (target < 50 ns)")

    for b in pool:
        if b["name"].startswith("reference/"):
            print(f"{b['name']:40} {b['real_time']:8.1f} ns real, {b['cpu_time']:8.1f} ns CPU")

for name, title in (("db", "params, results, router"), ("cdn", "CDN, video-platform preset")):
    rows = load_micro(name)
    if not rows:
        continue
    print(f"\n== {title} ==")
    for b in rows:
        extra = ""
        if "items_per_second" in b:
            extra = f"  ({1e9 / b['items_per_second']:.1f} ns/item)"
        for c in ("problems", "bytes"):
            if c in b:
                extra += f"  {c}={b[c]:.0f}"
        print(f"{b['name']:60} {b['real_time']:12.1f} {b['time_unit']}"
              f"  cpu {b['cpu_time']:10.1f} {b['time_unit']}{extra}")

path = os.path.join(out, "load.jsonl")
if os.path.exists(path) and os.path.getsize(path) > 0:
    runs = {}
    with open(path) as f:
        for line in f:
            d = json.loads(line)
            runs.setdefault(d["run"], []).append(d)
    print("\n== load (queries/s; median of rounds) ==")
    med = {}
    for name, rs in sorted(runs.items()):
        q = [r["qps"] for r in rs]
        med[name] = statistics.median(q)
        line = f"{name:12} median {med[name]:10.0f} q/s   rounds: " + ", ".join(f"{v:.0f}" for v in q)
        lat = [r["latency_us"] for r in rs if r.get("latency_us") and "p50" in r["latency_us"]]
        if lat:
            line += ("   p50/p95/p99/max us (median of rounds): " + "/".join(
                f"{statistics.median(l[k] for l in lat):.0f}" for k in ("p50", "p95", "p99", "max")))
        waits = [r["acquire_wait_us"] for r in rs if r.get("acquire_wait_us")]
        if waits:
            line += ("   acquire wait p50/p99 us: " + "/".join(
                f"{statistics.median(w[k] for w in waits):.1f}" for k in ("p50", "p99")))
        errors = sum(r.get("errors", 0) for r in rs)
        if errors:
            line += f"   errors: {errors}"
        print(line)
    def compare(title, a, b, target):
        if a not in med or b not in med:
            return
        # Ratio of the medians, and the ratios within each round (the two runs of a round ran
        # back to back, so they share the machine's load at the time).
        by_round = {r["round"]: r["qps"] for r in runs[b]}
        paired = sorted(r["qps"] / by_round[r["round"]] for r in runs[a] if r["round"] in by_round)
        print(f"{title}: {med[a] / med[b]:.3f} (target >= {target}); within rounds: median "
              f"{statistics.median(paired):.3f}, range {paired[0]:.3f}..{paired[-1]:.3f}")
    compare("sparc 8 threads / pgbench -c 8", "sparc_t8", "pgbench_c8", 0.95)
    compare("sparc 8 threads / raw libpqxx 8 threads", "sparc_t8", "raw_pqxx_t8", 1.0)
    compare("sparc 64 threads on 8 connections / raw libpqxx 8 threads", "sparc_t64c8",
            "raw_pqxx_t8", 1.0)
    compare("sparc 1 thread / raw libpqxx 1 thread", "sparc_t1", "raw_pqxx_t1", 0.95)
    if "replica_failure" in runs:
        p99 = [r["latency_us"]["p99"] for r in runs["replica_failure"]]
        print(f"replica failure: read p99 {statistics.median(p99) / 1000:.1f} ms (median of rounds; "
              f"target < 100 ms), rounds: " + ", ".join(f"{v / 1000:.1f}" for v in p99) +
              f"; errors {sum(r.get('errors', 0) for r in runs['replica_failure'])}")
print(f"\nraw outputs: {out}")
EOF
