#!/usr/bin/env bash
# fuzz.sh: builds the libFuzzer targets (fuzz preset: clang, address + undefined) and runs them.
#
#   scripts/fuzz.sh                       every fuzzer for 60 s, two at a time
#   scripts/fuzz.sh fuzz_endpoint         only the fuzzers named (see tests/fuzz/)
#   scripts/fuzz.sh --seconds 3600        long run: an hour per fuzzer (overnight, or after a
#                                         parser changed); add --merge to keep what it found
#   scripts/fuzz.sh --seconds 0           no fuzzing: run each seed corpus once (regressions)
#
# Options: --seconds N (per fuzzer, default 60), --jobs N (fuzzers at once and build
# parallelism, default 2, or SPARC_JOBS), --no-build (use the binaries in build/fuzz), --merge
# (add the inputs that reached new coverage to tests/fuzz/corpus/<fuzzer>/; without it the
# repository is never written to), --keep-going (with --merge: also after a crash).
#
# Each fuzzer runs on a copy of tests/fuzz/corpus/<fuzzer>/ in build/fuzz/work/<fuzzer>/, with
# its dictionary tests/fuzz/<fuzzer>.dict when there is one, -timeout=10 and
# -rss_limit_mb=2048. A crash, timeout or out-of-memory input is saved in
# build/fuzz/artifacts/<fuzzer>/ (reproduce with build/fuzz/tests/fuzz/<fuzzer> FILE) and the
# full log is build/fuzz/logs/<fuzzer>.log. One summary line per fuzzer: executions, rate,
# coverage (edges and features) at start and end, corpus size, and the verdict.
# Exit status: 0 when no fuzzer failed, 1 when one did, 2 for a usage or build error.
set -euo pipefail

readonly PROG=${0##*/}
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly BUILD=$ROOT/build/fuzz
readonly SOURCES=$ROOT/tests/fuzz

seconds=60
jobs=${SPARC_JOBS:-2}
build=1
merge=0
keep_going=0
selected=()
while (( $# )); do
    case $1 in
        --seconds) seconds=${2:?--seconds needs a number}; shift ;;
        --jobs) jobs=${2:?--jobs needs a number}; shift ;;
        --no-build) build=0 ;;
        --merge) merge=1 ;;
        --keep-going) keep_going=1 ;;
        -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
        -*) printf '%s: unknown option %s (see --help)\n' "$PROG" "$1" >&2; exit 2 ;;
        *) selected+=("$1") ;;
    esac
    shift
done
[[ $seconds =~ ^[0-9]+$ ]] || { printf '%s: --seconds takes whole seconds\n' "$PROG" >&2; exit 2; }
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { printf '%s: --jobs takes a positive number\n' "$PROG" >&2; exit 2; }

# Every fuzzer is tests/fuzz/<name>.cpp.
all=()
for src in "$SOURCES"/fuzz_*.cpp; do
    name=${src##*/}
    all+=("${name%.cpp}")
done
if (( ${#selected[@]} == 0 )); then
    selected=("${all[@]}")
fi
for f in "${selected[@]}"; do
    [[ " ${all[*]} " == *" $f "* ]] || {
        printf '%s: no fuzzer %s (have: %s)\n' "$PROG" "$f" "${all[*]}" >&2
        exit 2
    }
done

# Longest input worth trying: a little above the largest real input of each kind.
max_len() {
    case $1 in
        fuzz_endpoint) echo 2048 ;;
        fuzz_environment) echo 4096 ;;
        fuzz_replicas) echo 8192 ;;  # room for more than 64 replica URLs
        fuzz_cdn_json) echo 65536 ;; # the preset's distribution is about 10 kB
        fuzz_cdn_match) echo 1024 ;; # patterns are at most 255 characters
        *) echo 4096 ;;
    esac
}

cd "$ROOT"
if (( build )); then
    printf '==== build (preset fuzz)\n'
    if ! cmake --preset fuzz >/dev/null || ! cmake --build --preset fuzz --parallel "$jobs"; then
        printf '%s: build failed\n' "$PROG" >&2
        exit 2
    fi
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}

mkdir -p "$BUILD/logs" "$BUILD/work" "$BUILD/artifacts"

# Runs one fuzzer; writes its log and its exit status next to it.
run_one() { # FUZZER
    local f=$1 bin=$BUILD/tests/fuzz/$1 work=$BUILD/work/$1 artifacts=$BUILD/artifacts/$1/
    local log=$BUILD/logs/$1.log args status=0
    rm -rf "$work"
    mkdir -p "$work/corpus" "$artifacts"
    if [[ -d $SOURCES/corpus/$f ]]; then
        cp -R "$SOURCES/corpus/$f/." "$work/corpus/"
    fi
    args=(-max_len="$(max_len "$f")" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
          -artifact_prefix="$artifacts")
    [[ ! -f $SOURCES/$f.dict ]] || args+=(-dict="$SOURCES/$f.dict")
    if (( seconds == 0 )); then
        args+=(-runs=0)
    else
        args+=(-max_total_time="$seconds")
    fi
    "$bin" "${args[@]}" "$work/corpus" >"$log" 2>&1 || status=$?
    echo "$status" >"$work/status"
}

# The summary line of one fuzzer, from its log.
summarize() { # FUZZER
    local f=$1 log=$BUILD/logs/$1.log status
    status=$(cat "$BUILD/work/$f/status" 2>/dev/null || echo "?")
    awk -v name="$f" -v status="$status" '
        /INITED cov: / { for (i = 1; i <= NF; i++) { if ($i == "cov:") c0 = $(i + 1); if ($i == "ft:") f0 = $(i + 1); if ($i == "corp:") { k0 = $(i + 1); sub(/\/.*/, "", k0) } } }
        /^#[0-9]+[[:space:]]/ && / cov: / { for (i = 1; i <= NF; i++) { if ($i == "cov:") c1 = $(i + 1); if ($i == "ft:") f1 = $(i + 1); if ($i == "corp:") { k1 = $(i + 1); sub(/\/.*/, "", k1) } } }
        /^stat::number_of_executed_units:/ { execs = $2 }
        /^stat::average_exec_per_sec:/ { rate = $2 }
        /^Done [0-9]+ runs in / { secs = $(NF - 1) }
        /^artifact_prefix=.*Test unit written to / { artifact = $NF }
        /==== fuzz invariant violated/ { if (invariant == "") invariant = $0 }
        /^terminate called / { if (thrown == "") thrown = $0 }
        /^SUMMARY: / { if (summary == "") summary = $0 }
        END {
            if (c1 == "") { c1 = c0; f1 = f0; k1 = k0 }
            verdict = status == "0" ? "ok" : "FAILED"
            printf "%-17s %-6s %9s execs %7s/s %5ss  cov %s -> %s (+%d)  ft %s -> %s (+%d)  corpus %s -> %s", \
                name, verdict, execs, rate, secs == "" ? "-" : secs, c0, c1, c1 - c0, f0, f1, f1 - f0, k0, k1
            if (status != "0") {
                why = invariant != "" ? invariant : thrown != "" ? thrown : summary
                sub(/^==== /, "", why)
                printf "  [exit %s] %s%s", status, why, artifact == "" ? "" : "  artifact: " artifact
            }
            printf "\n"
        }' "$log"
}

printf '==== fuzzing %s (%s s each, %s at a time)\n' "${selected[*]}" "$seconds" "$jobs"
started=$SECONDS
running=0
for f in "${selected[@]}"; do
    while (( running >= jobs )); do
        wait -n || true
        running=$(( running - 1 ))
    done
    printf '  start %s\n' "$f"
    run_one "$f" &
    running=$(( running + 1 ))
done
wait || true

printf '\n==== summary (%dm %ds)\n' $(( (SECONDS - started) / 60 )) $(( (SECONDS - started) % 60 ))
failed=0
for f in "${selected[@]}"; do
    summarize "$f"
    [[ $(cat "$BUILD/work/$f/status" 2>/dev/null) == 0 ]] || failed=1
done

if (( merge )) && (( seconds > 0 )); then
    if (( failed )) && (( ! keep_going )); then
        printf '%s: a fuzzer failed; not merging (fix it first, or --keep-going)\n' "$PROG" >&2
    else
        printf '\n==== merging new coverage into tests/fuzz/corpus/\n'
        for f in "${selected[@]}"; do
            mkdir -p "$SOURCES/corpus/$f"
            before=$(find "$SOURCES/corpus/$f" -type f | wc -l)
            "$BUILD/tests/fuzz/$f" -merge=1 -max_len="$(max_len "$f")" -timeout=10 \
                -rss_limit_mb=2048 "$SOURCES/corpus/$f" "$BUILD/work/$f/corpus" \
                >"$BUILD/logs/$f.merge.log" 2>&1 || failed=1
            after=$(find "$SOURCES/corpus/$f" -type f | wc -l)
            printf '%-17s %d -> %d seeds\n' "$f" "$before" "$after"
        done
    fi
fi

if (( failed )); then
    printf '%s: FAILED (logs in build/fuzz/logs/, inputs in build/fuzz/artifacts/)\n' "$PROG"
    exit 1
fi
printf '%s: no crash\n' "$PROG"
