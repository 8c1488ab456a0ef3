#!/usr/bin/env bash
# setup.sh: installs what building and testing sparc needs on Debian 12 (bookworm).
#
# Installs only the missing packages; when everything is present it does not touch apt at
# all. Runs as root, or through sudo otherwise. In CI (CI=true) or with
# SPARC_SETUP_NO_DAEMONS=1, package scripts are not allowed to start services (the Debian
# postgresql package would otherwise start a "15 main" cluster on port 5432; the tests never
# use it either way).
set -euo pipefail

readonly PROG=${0##*/}
readonly PACKAGES=(
    # toolchain
    build-essential cmake pkg-config g++ clang libclang-rt-14-dev llvm
    # libraries
    libpqxx-dev libpq-dev libfmt-dev nlohmann-json3-dev catch2 libbenchmark-dev
    libcpp-httplib-dev prometheus-cpp-dev
    # the test cluster and the tools tests judge output with
    postgresql postgresql-contrib pgbouncer python3 python3-botocore python3-yaml awscli prometheus
    shellcheck jq curl openssl procps iproute2 util-linux time
    # runs the Lambda@Edge function (cdn.edge_auth_function; CMake drops the test without it)
    nodejs
)

die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

installed() {
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]
}

command -v dpkg-query >/dev/null || die "this script supports Debian/Ubuntu (dpkg) only"

missing=()
for p in "${PACKAGES[@]}"; do
    installed "$p" || missing+=("$p")
done

if (( ${#missing[@]} == 0 )); then
    printf '%s: all %d packages are installed\n' "$PROG" "${#PACKAGES[@]}"
else
    sudo=()
    if (( EUID != 0 )); then
        command -v sudo >/dev/null || die "not root and no sudo: install ${missing[*]}"
        sudo=(sudo)
    fi
    printf '%s: installing %s\n' "$PROG" "${missing[*]}"

    policy=/usr/sbin/policy-rc.d
    added_policy=0
    if [[ ${CI:-} == true || ${SPARC_SETUP_NO_DAEMONS:-0} == 1 ]] && [[ ! -e $policy ]]; then
        # invoke-rc.d consults this: exit status 101 means "do not start services".
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod 755 "$policy"
        added_policy=1
    fi
    cleanup() { if (( added_policy )); then "${sudo[@]}" rm -f "$policy"; fi; }
    trap cleanup EXIT

    apt_opts=(-q -o Dpkg::Use-Pty=0 -o Acquire::Retries=3)
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y \
        --no-install-recommends "${missing[@]}"

    for p in "${missing[@]}"; do
        installed "$p" || die "package $p did not install"
    done
fi

# What the scripts rely on beyond the package names.
[[ -n $(compgen -G '/usr/lib/postgresql/*/bin/initdb') ]] || die "no PostgreSQL server binaries under /usr/lib/postgresql"
if (( EUID == 0 )); then
    id -u postgres >/dev/null 2>&1 || die "the postgres system user is missing (postgresql-common creates it)"
fi
cmake_version=$(cmake --version | awk 'NR == 1 { print $3 }')
if [[ $(printf '%s\n3.25\n' "$cmake_version" | sort -V | head -n1) != 3.25 ]]; then
    die "CMake $cmake_version is too old: CMakePresets.json needs 3.25"
fi
