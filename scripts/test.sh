#!/usr/bin/env bash
# test.sh: builds sparc and runs every test, as CI does.
#
#   scripts/test.sh            setup, then the dev preset (all tests: unit, integration against
#                              a throwaway PostgreSQL cluster, the short soak test, package
#                              consumer), then the asan preset (unit and integration tests),
#                              then the tsan preset (pool, router and transaction unit tests,
#                              and the pool and faults integration tests: the real backend's
#                              cancel path), then short fuzz runs (scripts/fuzz.sh)
#   scripts/test.sh --quick    the dev preset only
#
# Options: --quick, --no-setup (skip scripts/setup.sh), --jobs N (default 2, or SPARC_JOBS).
# Extra arguments after `--` go to the dev and asan ctest runs (e.g. -- -R router); the tsan
# stage runs its own selection.
set -euo pipefail

readonly PROG=${0##*/}
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT

quick=0
setup=1
jobs=${SPARC_JOBS:-2}
ctest_extra=()
while (( $# )); do
    case $1 in
        --quick) quick=1 ;;
        --no-setup) setup=0 ;;
        --jobs) jobs=${2:?--jobs needs a number}; shift ;;
        --) shift; ctest_extra=("$@"); break ;;
        -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) printf '%s: unknown option %s (see --help)\n' "$PROG" "$1" >&2; exit 2 ;;
    esac
    shift
done

cd "$ROOT"
declare -a summary=()
failed=0
started=$SECONDS

last_record=$SECONDS
stage() { printf '\n==== %s ====\n' "$*"; }
record() { # NAME STATUS (with the time since the previous record, to see where a run goes)
    summary+=("$(printf '%-28s %-7s %4d s' "$1" "$2" $((SECONDS - last_record)))")
    last_record=$SECONDS
    [[ $2 == passed ]] || failed=1
}
finish() {
    stage "summary ($(( (SECONDS - started) / 60 ))m $(( (SECONDS - started) % 60 ))s)"
    printf '%s\n' "${summary[@]}"
    if (( failed )); then
        printf '%s: FAILED\n' "$PROG"
        exit 1
    fi
    printf '%s: all passed\n' "$PROG"
    exit 0
}

# Builds and tests one preset; LABELS is a ctest label regex, empty for all tests; tests with a
# label matching EXCLUDE are left out.
run_preset() { # PRESET LABELS [EXCLUDE]
    local preset=$1 labels=$2 exclude=${3:-} args
    stage "$preset: configure"
    if ! cmake --preset "$preset"; then record "$preset configure" failed; return 1; fi
    stage "$preset: build"
    if ! cmake --build --preset "$preset" --parallel "$jobs"; then record "$preset build" failed; return 1; fi
    record "$preset build" passed
    stage "$preset: test${labels:+ (labels $labels)}"
    args=(--preset "$preset" --output-on-failure --parallel "$jobs" --timeout 300 --no-tests=error)
    [[ -z $labels ]] || args+=(--label-regex "$labels")
    [[ -z $exclude ]] || args+=(--label-exclude "$exclude")
    if ctest "${args[@]}" "${ctest_extra[@]}"; then
        record "$preset tests" passed
    else
        record "$preset tests" failed
    fi
}

if (( setup )); then
    stage "setup"
    if ! bash "$ROOT/scripts/setup.sh"; then record setup failed; finish; fi
fi

# Clusters left behind by killed runs would only cost memory; remove them up front.
bash "$ROOT/scripts/cluster.sh" cleanup-stale || true

# ThreadSanitizer on the concurrent parts: the pool, the router, transactions and topology
# changes (with the fake backend and the user-code tests that drive them from many threads),
# then the real PqxxBackend against the test cluster where it is concurrent: a client query
# timeout or a shutdown cancels a statement with PQcancel on the backend's canceller thread
# while the caller's thread waits, and connections die under the pool (tsan.db.pool and
# tsan.db.faults, the [pool] and [faults] integration tests; the pg_cluster fixture starts the
# cluster). The tsan build makes binaries of those sources only (sparc_db_tsan_unit_tests,
# sparc_db_tsan_pgtests). libpq and libpqxx are not instrumented: tests/tsan.supp holds the
# suppressions, each with its reason.
run_tsan() {
    local dir=$ROOT/build/tsan
    local tests="[pool],[router],[transaction],[fake],[user_code],[metrics],[topology],[client],[listen]"
    # halt_on_error: the first report fails the run; second_deadlock_stack for lock reports.
    local options=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:history_size=4}
    options+=":suppressions=$ROOT/tests/tsan.supp"
    stage "tsan: configure"
    if ! cmake --preset tsan; then record "tsan configure" failed; return 1; fi
    stage "tsan: build"
    if ! cmake --build --preset tsan --target sparc_db_tsan_unit_tests sparc_db_tsan_pgtests \
        --parallel "$jobs"; then
        record "tsan build" failed
        return 1
    fi
    record "tsan build" passed
    stage "tsan: unit tests ($tests)"
    if TSAN_OPTIONS=$options "$dir/tests/unit/db/sparc_db_tsan_unit_tests" "$tests"; then
        record "tsan unit tests" passed
    else
        record "tsan unit tests" failed
    fi
    stage "tsan: integration tests (tsan.db.pool, tsan.db.faults)"
    if TSAN_OPTIONS=$options ctest --preset tsan --output-on-failure --timeout 600 \
        --no-tests=error --tests-regex '^tsan\.db\.(pool|faults)$'; then
        record "tsan integration tests" passed
    else
        record "tsan integration tests" failed
    fi
}

# Short fuzz runs (scripts/fuzz.sh: the fuzz preset, clang + libFuzzer + ASan/UBSan) on every
# parser of outside input; SPARC_FUZZ_SECONDS per fuzzer (default 30), two at a time.
run_fuzz() {
    stage "fuzz: ${SPARC_FUZZ_SECONDS:-30} s per fuzzer"
    if bash "$ROOT/scripts/fuzz.sh" --seconds "${SPARC_FUZZ_SECONDS:-30}" --jobs "$jobs"; then
        record "fuzz" passed
    else
        record "fuzz" failed
    fi
}

if ! run_preset dev ""; then finish; fi
if (( ! quick )); then
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    # The test-support library's own tests (label support: ClusterEnv, FaultProxy, the
    # topology operations of cluster.sh) check the test harness, not sparc: dev runs them.
    run_preset asan '^(unit|integration)$' '^support$' || true
    run_tsan || true
    run_fuzz
fi
finish
