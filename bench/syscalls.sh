#!/usr/bin/env bash
# System calls per query: runs sparc-load for a few seconds under `strace -f -c` against
# $DATABASE_URL (a pgbench database, `pgbench -i`), through sparc (one thread, a pool of one)
# and through raw libpqxx (the baseline), and prints the calls per query of each kind.
# strace slows every call down, so the counts are meaningful and the times are not.
#
#   bash bench/syscalls.sh [BUILD_DIR] [--duration S] [--sql SQL] [--rounds N]
#
# BUILD_DIR defaults to build/release, then build/dev. Needs strace and python3.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build=""
duration=2
rounds=1
sql='SELECT abalance FROM pgbench_accounts WHERE aid = $1'
while [[ $# -gt 0 ]]; do
    case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --sql) sql="$2"; shift 2 ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) build="$1"; shift ;;
    esac
done
if [[ -z "$build" ]]; then
    for b in "$here/build/release" "$here/build/dev"; do
        [[ -x "$b/bench/sparc-load" ]] && build="$b" && break
    done
fi
load="$build/bench/sparc-load"
[[ -x "$load" ]] || { echo "syscalls.sh: no sparc-load under '$build' (build the bench first)" >&2; exit 2; }
command -v strace >/dev/null || { echo "syscalls.sh: strace is not installed" >&2; exit 2; }
[[ -n "${DATABASE_URL:-}" ]] || { echo "syscalls.sh: DATABASE_URL is not set" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Every call of the run, connecting and the warm-up statement included (a few dozen calls,
# against tens of thousands of queries), divided by the queries run.
measure() {  # mode duration -> {"queries": N, "calls": {name: count}}
    local mode="$1" secs="$2"
    strace -f -c -o "$work/strace.txt" "$load" --mode "$mode" --threads 1 \
        --duration "$secs" --sql "$sql" >"$work/out.json"
    python3 - "$work/strace.txt" "$work/out.json" <<'EOF'
import json, sys
counts = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 5 and f[0][0].isdigit() and f[-1] not in ("total",):
        try:
            counts[f[-1]] = int(f[3])
        except ValueError:
            pass
q = json.load(open(sys.argv[2]))["queries"]
print(json.dumps({"queries": q, "calls": counts}))
EOF
}

report() {  # mode run-json
    python3 - "$@" <<'EOF'
import json, sys
mode, run = sys.argv[1], json.loads(sys.argv[2])
q = run["queries"]
per = {n: c / q for n, c in run["calls"].items() if c / q >= 0.005}
total = sum(per.values())
parts = ", ".join(f"{n} {v:.2f}" for n, v in sorted(per.items(), key=lambda kv: -kv[1]))
print(f"{mode:6} {q:8d} queries  {total:5.2f} system calls per query ({parts})")
EOF
}

for ((r = 1; r <= rounds; ++r)); do
    for mode in sparc raw; do
        report "$mode" "$(measure "$mode" "$duration")"
    done
done
