#!/usr/bin/env bash
# build_time.sh [BUILD_DIR] [ROUNDS]: what a service pays to compile one file that uses sparc.
#
# Compiles four small files with `g++ -std=c++20 -O2 -c`, each connecting, running one statement
# with a bound parameter and reading an int64:
#   libpqxx   libpqxx 6.4 alone (the baseline)
#   db.hpp    <sparc/db.hpp>, db::Database and query()
#   fake      the same code on ConnectionPool<db::testing::FakeBackend> (a unit test's file)
#   client    <sparc/db/client.hpp> and a db::Client& (service code that takes the interface)
# ROUNDS rounds (default 3), the four files interleaved in each round; prints the median wall
# time, processor time (user + system) and peak memory (RSS) of each, and its times' ratios to
# the libpqxx file's. On a machine shared with other builds the processor time is the steadier
# figure: the wall time also counts the waits for a core.
#
# The include flags and definitions are the ones the sparc::db target gives its users, read
# from BUILD_DIR/compile_commands.json (default build/dev; CMAKE_EXPORT_COMPILE_COMMANDS=ON).
# CXX overrides the compiler (default: the one that built BUILD_DIR). With BASELINE=DIR, another
# sparc checkout (`git worktree add DIR COMMIT`), the three sparc files are also compiled
# against DIR/include in the same rounds, as rows marked "@base": before and after in one run.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
build=$(cd -- "${1:-$here/../build/dev}" && pwd)
rounds=${2:-3}
commands="$build/compile_commands.json"
if [[ ! -f $commands ]]; then
    echo "build_time.sh: $commands not found (configure with CMAKE_EXPORT_COMPILE_COMMANDS=ON)" >&2
    exit 2
fi
if [[ ! -x /usr/bin/time ]]; then
    echo "build_time.sh: /usr/bin/time is missing (apt-get install time)" >&2
    exit 2
fi

# The -I, -isystem and -D flags of a sparc::db source file: what a target linking sparc::db gets
# (its own include directory and those of its public dependencies).
read -r cxx flags < <(python3 - "$commands" <<'EOF'
import json, shlex, sys
for entry in json.load(open(sys.argv[1])):
    if "/src/db/" not in entry["file"]:
        continue
    args = entry.get("arguments") or shlex.split(entry["command"])
    keep, i = [], 1
    while i < len(args):
        a = args[i]
        if a in ("-I", "-isystem", "-D"):
            keep += [a, args[i + 1]]
            i += 2
            continue
        if a.startswith(("-I", "-D", "-isystem")):
            keep.append(a)
        i += 1
    print(args[0], shlex.join(keep))
    break
else:
    sys.exit("no src/db/ file in " + sys.argv[1])
EOF
)
cxx=${CXX:-$cxx}
eval "flags=($flags)"

work=$(mktemp -d "${TMPDIR:-/tmp}/sparc-build-time.XXXXXXXX")
trap 'rm -rf -- "$work"' EXIT

cat >"$work/libpqxx.cpp" <<'EOF'
#include <pqxx/pqxx>

#include <cstdint>

std::int64_t videos_of(const char* url, std::int64_t tenant) {
    pqxx::connection conn(url);
    pqxx::work tx(conn);
    const pqxx::result r = tx.exec_params("SELECT count(*) FROM videos WHERE tenant_id = $1", tenant);
    tx.commit();
    return r[0][0].as<std::int64_t>();
}
EOF

cat >"$work/db.cpp" <<'EOF'
#include <sparc/db.hpp>

#include <cstdint>

namespace db = sparc::db;

std::int64_t videos_of(const char* url, std::int64_t tenant) {
    db::PoolConfig cfg;
    cfg.primary = db::Endpoint::parse(url);
    db::Database pool(cfg);
    const db::Result r = pool.query("SELECT count(*) FROM videos WHERE tenant_id = $1", {tenant});
    return r[0][0].as<std::int64_t>();
}
EOF

cat >"$work/fake.cpp" <<'EOF'
#include <sparc/db.hpp>
#include <sparc/db/testing/fake_backend.hpp>

#include <cstdint>

namespace db = sparc::db;

std::int64_t videos_of(const char* url, std::int64_t tenant) {
    db::testing::FakeBackend fake;
    fake.on("SELECT count(*)").returns({"count"}, {{"3"}});
    db::PoolConfig cfg;
    cfg.primary = db::Endpoint::parse(url);
    db::ConnectionPool<db::testing::FakeBackend> pool(cfg, fake);
    const db::Result r = pool.query("SELECT count(*) FROM videos WHERE tenant_id = $1", {tenant});
    return r[0][0].as<std::int64_t>();
}
EOF

cat >"$work/client.cpp" <<'EOF'
#include <sparc/db/client.hpp>

#include <cstdint>

namespace db = sparc::db;

std::int64_t videos_of(db::Client& pool, std::int64_t tenant) {
    const db::Result r = pool.query("SELECT count(*) FROM videos WHERE tenant_id = $1", {tenant});
    return r[0][0].as<std::int64_t>();
}
EOF

names=(libpqxx db.hpp fake client)
files=(libpqxx db fake client)
# The flags with the baseline's include directory in place of this checkout's.
base_flags=()
if [[ -n ${BASELINE:-} ]]; then
    baseline=$(cd -- "$BASELINE" && pwd)
    [[ -f $baseline/include/sparc/db.hpp ]] || { echo "build_time.sh: no sparc checkout at $baseline" >&2; exit 2; }
    own_include=$(cd -- "$here/../include" && pwd)
    for f in "${flags[@]}"; do
        [[ $f == "-I$own_include" ]] && f="-I$baseline/include"
        base_flags+=("$f")
    done
    for file in db fake client; do
        cp "$work/$file.cpp" "$work/$file@base.cpp"
        names+=("$(case $file in db) echo db.hpp ;; *) echo "$file" ;; esac)@base")
        files+=("$file@base")
    done
fi

# One compile: appends "wall-seconds cpu-seconds kilobytes" to $work/<file>.times.
measure() {
    local file=$1
    local -a use=("${flags[@]}")
    [[ $file == *@base ]] && use=("${base_flags[@]}")
    if ! /usr/bin/time -f '%e %U %S %M' -o "$work/$file.one" \
        "$cxx" -std=c++20 -O2 "${use[@]}" -c "$work/$file.cpp" -o "$work/$file.o" \
        2>"$work/$file.err"; then
        echo "build_time.sh: $file.cpp did not compile:" >&2
        cat "$work/$file.err" >&2
        exit 1
    fi
    tail -n 1 "$work/$file.one" | awk '{ print $1, $2 + $3, $4 }' >>"$work/$file.times"
}

for ((round = 1; round <= rounds; ++round)); do
    for file in "${files[@]}"; do measure "$file"; done
done

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "build time of one file, g++ -std=c++20 -O2 -c ($("$cxx" -dumpfullversion)), median of $rounds"
printf '%-14s %8s %7s %8s %7s %8s\n' file 'wall s' ratio 'cpu s' ratio 'peak MB'
base_wall=""
base_cpu=""
for i in "${!files[@]}"; do
    file=${files[$i]}
    wall=$(cut -d' ' -f1 "$work/$file.times" | median)
    cpu=$(cut -d' ' -f2 "$work/$file.times" | median)
    kb=$(cut -d' ' -f3 "$work/$file.times" | median)
    [[ -n $base_wall ]] || { base_wall=$wall; base_cpu=$cpu; }
    awk -v n="${names[$i]}" -v w="$wall" -v bw="$base_wall" -v c="$cpu" -v bc="$base_cpu" \
        -v kb="$kb" 'BEGIN { printf "%-14s %8.2f %6.2fx %8.2f %6.2fx %8d\n", n, w, w / bw, c, c / bc, kb / 1024 }'
done
